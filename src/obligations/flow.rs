//! Use cases of obligations shared by pages and API: rules with their dry run, the sweep,
//! the lists for the learner, managers and HR, exemptions. Handlers call these only.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::store::{self, ListQuery, ObligationRow};
use super::{difference, sweep, targets, DueFrom, Rule, State, Target};
use crate::audit::{Event, Kind};
use crate::catalog::{Audience, Catalog};
use crate::certificates::paris_today;
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::people::{self, User, Visibility};

/// The longest delay a rule may give, in days (ten years).
pub const MAX_DUE_DAYS: u32 = 3650;

/// A rule as typed in the editor or sent to the API: text fields, checked here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuleInput {
    pub name: String,
    pub module: String,
    #[serde(default)]
    pub audience: String,
    #[serde(default)]
    pub org_unit: String,
    #[serde(default)]
    pub partner: String,
    #[serde(default)]
    pub arrived_after: String,
    #[serde(default)]
    pub title_word: String,
    pub due_days: String,
    #[serde(default)]
    pub due_from: String,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Checks a rule as typed; every problem is reported at once, in French.
pub async fn parse_rule(db: &Db, catalog: &Catalog, id: Uuid, input: &RuleInput) -> Result<Rule> {
    let mut problems = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        problems.push("Donnez un nom à la règle (200 caractères au plus).".to_string());
    }
    let module = input.module.trim();
    match super::duty_offer(module) {
        Some(offer) => {
            if crate::trainings::store::offer(db, offer).await?.is_none() {
                problems.push(format!("Formation partagée inconnue : « {module} »."));
            }
        }
        None => {
            if catalog.get(module).is_none() {
                problems.push(format!("Module inconnu : « {module} »."));
            }
        }
    }
    let opt = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    };
    let audience = match opt(&input.audience) {
        None => None,
        Some(a) => match Audience::parse(&a) {
            Some(a) => Some(a),
            None => {
                problems.push(format!("Public inconnu : « {a} »."));
                None
            }
        },
    };
    let org_unit = opt(&input.org_unit);
    if let Some(u) = &org_unit {
        if !people::store::org_units(db)
            .await?
            .iter()
            .any(|o| &o.path == u)
        {
            problems.push(format!("Service inconnu : « {u} »."));
        }
    }
    let partner_id = match opt(&input.partner) {
        None => None,
        Some(p) => {
            let known = people::store::partners(db).await?;
            match Uuid::parse_str(&p)
                .ok()
                .filter(|id| known.iter().any(|k| k.id == *id))
            {
                Some(id) => Some(id),
                None => {
                    problems.push("Structure partenaire inconnue.".to_string());
                    None
                }
            }
        }
    };
    let arrived_after = match opt(&input.arrived_after) {
        None => None,
        Some(s) => match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                problems.push(format!(
                    "Date d'arrivée invalide : « {s} » (attendu : AAAA-MM-JJ, une date qui existe)."
                ));
                None
            }
        },
    };
    let title_word = opt(&input.title_word);
    if title_word.as_ref().is_some_and(|w| w.chars().count() > 100) {
        problems.push("Le mot de la fonction est trop long (100 caractères au plus).".into());
    }
    let due_days = match input.due_days.trim().parse::<i64>() {
        Ok(n) if (0..=i64::from(MAX_DUE_DAYS)).contains(&n) => n as u32,
        _ => {
            problems.push(format!(
                "Le délai doit être un nombre entier de jours, de 0 à {MAX_DUE_DAYS}."
            ));
            0
        }
    };
    let due_from = match input.due_from.trim() {
        "" => DueFrom::Assignment,
        s => DueFrom::parse(s).unwrap_or_else(|| {
            problems.push(format!(
                "Point de départ du délai inconnu : « {s} » (assignment ou arrival)."
            ));
            DueFrom::Assignment
        }),
    };
    let target = Target {
        audience,
        org_unit,
        partner_id,
        arrived_after,
        title_word,
    };
    if target.is_empty() {
        problems.push("Une règle doit cibler quelqu'un : choisissez au moins un public, un service, une structure partenaire, une date d'arrivée ou un mot de la fonction.".into());
    }
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems.join(" ")));
    }
    Ok(Rule {
        id,
        name: name.to_string(),
        module_slug: module.to_string(),
        target,
        due_days,
        due_from,
        active: input.active,
    })
}

/// A person named in a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct Named {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub module: String,
}

/// What saving a rule would change.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    pub gained: usize,
    pub lost: usize,
    /// The first people of each list (the counts are complete).
    pub gained_people: Vec<Named>,
    pub lost_people: Vec<Named>,
    /// Saving needs an explicit confirmation.
    pub needs_confirmation: bool,
}

const DRY_RUN_NAMES: usize = 200;

/// Who would gain and who would lose an obligation if `rule` replaced its current version
/// (or were added), today.
pub async fn dry_run(db: &Db, rule: &Rule, max_without_confirmation: u64) -> Result<DryRun> {
    let today = paris_today(db::now());
    let people = store::candidates(db).await?;
    let before_rules = store::rules(db).await?;
    let mut after_rules: Vec<Rule> = before_rules
        .iter()
        .filter(|r| r.id != rule.id)
        .cloned()
        .collect();
    after_rules.push(rule.clone());
    let diff = difference(
        &targets(&before_rules, &people, today),
        &targets(&after_rules, &people, today),
    );
    let names: HashMap<Uuid, (String, String)> = people::store::names(db).await?;
    let named = |list: &[(Uuid, String)]| {
        list.iter()
            .take(DRY_RUN_NAMES)
            .map(|(id, module)| {
                let (name, email) = names.get(id).cloned().unwrap_or_default();
                Named {
                    id: *id,
                    name,
                    email,
                    module: module.clone(),
                }
            })
            .collect()
    };
    Ok(DryRun {
        gained: diff.gained.len(),
        lost: diff.lost.len(),
        gained_people: named(&diff.gained),
        lost_people: named(&diff.lost),
        needs_confirmation: diff.gained.len() as u64 > max_without_confirmation,
    })
}

/// Saves a rule after its dry run, then applies the rules at once. A rule that would give
/// more than `max_without_confirmation` people a new obligation needs `confirmed`.
#[allow(clippy::too_many_arguments)] // the rule, who saves it and the policy
pub async fn save_rule(
    db: &Db,
    catalog: &Catalog,
    by: &User,
    id: Option<Uuid>,
    input: &RuleInput,
    confirmed: bool,
    max_without_confirmation: u64,
    client: Option<IpAddr>,
) -> Result<(Rule, DryRun, SweepReport)> {
    let id = match id {
        Some(id) => {
            store::rule(db, id).await?.ok_or_else(rule_not_found)?;
            id
        }
        None => Uuid::new_v4(),
    };
    let rule = parse_rule(db, catalog, id, input).await?;
    let preview = dry_run(db, &rule, max_without_confirmation).await?;
    if preview.needs_confirmation && !confirmed {
        return Err(Error::Unprocessable(format!(
            "Cette règle donnerait une nouvelle obligation à {} personnes (plus de {max_without_confirmation}) : vérifiez l'aperçu, puis confirmez l'enregistrement.",
            preview.gained
        )));
    }
    let now = db::now();
    let event = Event::by(Some(by), Kind::RuleSaved, &rule.name)
        .details(format!(
            "module {} ; {} obligation(s) en plus, {} en moins{}",
            rule.module_slug,
            preview.gained,
            preview.lost,
            if rule.active {
                ""
            } else {
                " ; règle inactive"
            }
        ))
        .client(client);
    store::save_rule(db, &rule, Some(by.id), now, &event).await?;
    let report = reevaluate(db, catalog, now).await?;
    Ok((rule, preview, report))
}

pub fn rule_not_found() -> Error {
    Error::NotFound("Cette règle n'existe pas.".into())
}

/// Every rule, for the editor and the API.
pub async fn rules(db: &Db) -> Result<Vec<Rule>> {
    store::rules(db).await
}

pub async fn rule(db: &Db, id: Uuid) -> Result<Rule> {
    store::rule(db, id).await?.ok_or_else(rule_not_found)
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub opened: u64,
    pub withdrawn: u64,
    pub left: u64,
}

impl SweepReport {
    pub fn summary(&self) -> String {
        format!(
            "{} cycle(s) ouvert(s), {} retiré(s), {} clos (départ)",
            self.opened, self.withdrawn, self.left
        )
    }
}

/// Applies the rules to everyone as of `now`: opens first cycles and renewals, withdraws
/// what no rule targets any more, closes the open cycles of people who left. Run nightly,
/// after a directory import, after a role change and after a rule is saved; running it
/// twice changes nothing the second time.
pub async fn reevaluate(db: &Db, catalog: &Catalog, now: DateTime<Utc>) -> Result<SweepReport> {
    let today = paris_today(now);
    let started = std::time::Instant::now();
    let rules = store::rules(db).await?;
    let people = store::candidates(db).await?;
    // Who the rules target is computed on a blocking thread while the current cycles and
    // the completions are read (two connections): the three overlap on two cores.
    let targeting = tokio::task::spawn_blocking(move || targets(&rules, &people, today));
    let (current, completions) =
        tokio::try_join!(store::current_cycles(db), store::latest_completions(db))?;
    let targeted = targeting
        .await
        .map_err(|e| Error::Internal(format!("targets of the rules: {e}")))?;
    let read = started.elapsed();
    let validity = |slug: &str, at: DateTime<Utc>| {
        paris_today(crate::learning::valid_until(
            at,
            validity_months(catalog, slug),
        ))
    };
    let changes = sweep::plan(&targeted, &current, &completions, &validity, today);
    drop((targeted, current, completions));
    let decided = started.elapsed();
    let (opened, withdrawn, left) = store::apply(db, &changes, now).await?;
    tracing::info!(
        read_ms = read.as_millis() as u64,
        decide_ms = (decided - read).as_millis() as u64,
        write_ms = (started.elapsed() - decided).as_millis() as u64,
        opened,
        withdrawn,
        left,
        "obligations sweep"
    );
    Ok(SweepReport {
        opened,
        withdrawn,
        left,
    })
}

/// A cycle as the pages and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct ObligationView {
    pub id: Uuid,
    pub person_id: Uuid,
    pub person: String,
    pub email: String,
    pub org_unit: Option<String>,
    pub partner: Option<String>,
    pub module: String,
    pub module_title: String,
    pub cycle: i64,
    pub state: State,
    pub state_label: &'static str,
    pub overdue: bool,
    pub open: bool,
    pub due_on: NaiveDate,
    pub due_label: String,
    pub completed_at: Option<DateTime<Utc>>,
    pub valid_until: Option<NaiveDate>,
    pub valid_until_label: Option<String>,
    pub exemption_reason: Option<String>,
}

/// How many months a completion of a duty counts: the module's validity, or
/// `OFFER_VALIDITY_MONTHS` for a shared training offer.
pub fn validity_months(catalog: &Catalog, duty: &str) -> u32 {
    if super::duty_offer(duty).is_some() {
        return super::OFFER_VALIDITY_MONTHS;
    }
    catalog.get(duty).map(|m| m.validity_months).unwrap_or(12)
}

/// The title of every duty a rule can assign: the catalogue's modules and the shared
/// training offers (« Formation partagée : … »).
pub async fn titles(db: &Db, catalog: &Catalog) -> Result<HashMap<String, String>> {
    let mut out = module_titles(catalog);
    for o in crate::trainings::store::offers(db).await? {
        out.insert(
            super::offer_duty(o.id),
            format!("Formation partagée : {}", o.title),
        );
    }
    Ok(out)
}

/// The titles of the catalogue's modules only (no read).
fn module_titles(catalog: &Catalog) -> HashMap<String, String> {
    catalog
        .modules()
        .iter()
        .map(|m| (m.slug.clone(), m.title.clone()))
        .collect()
}

fn title_of(titles: &HashMap<String, String>, duty: &str) -> String {
    titles
        .get(duty)
        .cloned()
        .unwrap_or_else(|| duty.to_string())
}

fn view(titles: &HashMap<String, String>, r: ObligationRow) -> ObligationView {
    use crate::certificates::pdf::french_date;
    ObligationView {
        module_title: title_of(titles, &r.module_slug),
        id: r.id,
        person_id: r.user_id,
        person: r.display_name,
        email: r.email,
        org_unit: r.org_path,
        partner: r.partner_name,
        module: r.module_slug,
        cycle: r.cycle,
        state: r.state,
        state_label: r.state.label(),
        overdue: r.state == State::Overdue,
        open: r.state.is_open(),
        due_on: r.due_on,
        due_label: french_date(r.due_on),
        completed_at: r.completed_at,
        valid_until: r.valid_until,
        valid_until_label: r.valid_until.map(french_date),
        exemption_reason: r.closure_reason,
    }
}

/// The viewer's own current obligations: what is due, by when, what expires soon.
pub async fn mine(db: &Db, catalog: &Catalog, me: &User) -> Result<Vec<ObligationView>> {
    let today = paris_today(db::now());
    let rows = store::page(
        db,
        me.id,
        &Visibility::OnlySelf,
        &ListQuery::default(),
        today,
        1000,
        0,
    )
    .await?;
    // The home page shows this list: the offers are read only when a shared training is
    // among the person's duties.
    let titles = if rows
        .iter()
        .any(|r| super::duty_offer(&r.module_slug).is_some())
    {
        titles(db, catalog).await?
    } else {
        module_titles(catalog)
    };
    Ok(rows.into_iter().map(|r| view(&titles, r)).collect())
}

/// Filters of the team and HR lists, as typed in a query string.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Filters {
    pub state: String,
    pub module: String,
    pub org_unit: String,
    pub history: bool,
}

impl Filters {
    /// The list query, the state checked.
    pub fn query(&self) -> Result<ListQuery> {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let state = match opt(&self.state) {
            None => None,
            Some(s) => Some(State::parse(&s).ok_or_else(|| {
                Error::BadRequest(format!(
                    "État inconnu : « {s} ». États possibles : {}.",
                    State::ALL.map(State::code).join(", ")
                ))
            })?),
        };
        Ok(ListQuery {
            user: None,
            state,
            module: opt(&self.module),
            org_unit: opt(&self.org_unit),
            history: self.history,
        })
    }
}

/// What a viewer may see of others' obligations (a role without a scope is refused).
pub fn scope(viewer: &User) -> Result<Visibility> {
    match viewer.visibility() {
        Visibility::OnlySelf => Err(Error::Forbidden),
        v => Ok(v),
    }
}

/// One page of the obligations within the viewer's scope, overdue first.
pub async fn team(
    db: &Db,
    catalog: &Catalog,
    viewer: Uuid,
    visibility: &Visibility,
    filters: &Filters,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ObligationView>, i64)> {
    let titles = titles(db, catalog).await?;
    let today = paris_today(db::now());
    let (rows, total) = store::list(
        db,
        viewer,
        visibility,
        &filters.query()?,
        today,
        limit,
        offset,
    )
    .await?;
    Ok((rows.into_iter().map(|r| view(&titles, r)).collect(), total))
}

/// One page of an export, in id order after `after`.
#[allow(clippy::too_many_arguments)] // the scope, the filters and the page
pub async fn export_page(
    db: &Db,
    catalog: &Catalog,
    viewer: Uuid,
    visibility: &Visibility,
    query: &ListQuery,
    today: NaiveDate,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ObligationView>> {
    let titles = titles(db, catalog).await?;
    Ok(
        store::after_id(db, viewer, visibility, query, today, after, limit)
            .await?
            .into_iter()
            .map(|r| view(&titles, r))
            .collect(),
    )
}

/// One line of the HR overview: a module and how many current cycles are in each state.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleCounts {
    pub module: String,
    pub module_title: String,
    pub counts: Vec<(State, &'static str, i64)>,
    pub total: i64,
    pub overdue: i64,
    /// Completed (valid or expiring) among the open-or-done cycles, in percent.
    pub completion_rate: i64,
}

pub async fn overview(
    db: &Db,
    catalog: &Catalog,
    viewer: Uuid,
    visibility: &Visibility,
    org_unit: Option<&str>,
) -> Result<Vec<ModuleCounts>> {
    let titles = titles(db, catalog).await?;
    let today = paris_today(db::now());
    let rows = store::counts(db, viewer, visibility, org_unit, today).await?;
    let mut by_module: Vec<ModuleCounts> = Vec::new();
    for (module, state, n) in rows {
        if by_module.last().map(|m| &m.module) != Some(&module) {
            by_module.push(ModuleCounts {
                module_title: title_of(&titles, &module),
                module,
                counts: Vec::new(),
                total: 0,
                overdue: 0,
                completion_rate: 0,
            });
        }
        if let Some(m) = by_module.last_mut() {
            m.counts.push((state, state.label(), n));
            m.total += n;
            if state == State::Overdue {
                m.overdue = n;
            }
        }
    }
    for m in &mut by_module {
        m.counts.sort();
        let done: i64 = m
            .counts
            .iter()
            .filter(|(s, _, _)| matches!(s, State::Completed | State::Expiring))
            .map(|(_, _, n)| n)
            .sum();
        let due: i64 = m
            .counts
            .iter()
            .filter(|(s, _, _)| !matches!(s, State::Exempt | State::Left | State::Withdrawn))
            .map(|(_, _, n)| n)
            .sum();
        m.completion_rate = (done * 100).checked_div(due).unwrap_or(0);
    }
    Ok(by_module)
}

/// Exempts a person from an open cycle (HR), with a reason; audited.
pub async fn exempt(
    db: &Db,
    hr: &User,
    id: Uuid,
    reason: &str,
    client: Option<IpAddr>,
) -> Result<ObligationRow> {
    let missing = || Error::NotFound("Cette obligation n'existe pas.".into());
    let today = paris_today(db::now());
    let row = store::find(db, id, today).await?.ok_or_else(missing)?;
    let reason = reason.trim();
    if !(5..=500).contains(&reason.chars().count()) {
        return Err(Error::Unprocessable(
            "Indiquez le motif de la dispense (5 à 500 caractères) : il est conservé et montré à la personne.".into(),
        ));
    }
    if !row.state.is_open() {
        return Err(Error::Conflict(format!(
            "Cette obligation n'est plus à faire (état : {}) : il n'y a rien à dispenser.",
            row.state.label().to_lowercase()
        )));
    }
    let event = Event::by(Some(hr), Kind::Exemption, &row.email)
        .details(format!(
            "{} (cycle {}) : {reason}",
            row.module_slug, row.cycle
        ))
        .client(client);
    if !store::exempt(db, id, hr.id, reason, db::now(), &event).await? {
        return Err(Error::Conflict(
            "Cette obligation vient d'être close : rechargez la page.".into(),
        ));
    }
    Ok(row)
}

/// One obligation and the history of its person and module (every cycle, newest first).
pub async fn one(
    db: &Db,
    catalog: &Catalog,
    id: Uuid,
) -> Result<(ObligationView, Vec<ObligationView>)> {
    let titles = titles(db, catalog).await?;
    let today = paris_today(db::now());
    let row = store::find(db, id, today)
        .await?
        .ok_or_else(|| Error::NotFound("Cette obligation n'existe pas.".into()))?;
    let query = ListQuery {
        user: Some(row.user_id),
        module: Some(row.module_slug.clone()),
        history: true,
        ..ListQuery::default()
    };
    let mut history =
        store::page(db, row.user_id, &Visibility::All, &query, today, 1000, 0).await?;
    history.sort_by_key(|r| std::cmp::Reverse(r.cycle));
    Ok((
        view(&titles, row),
        history.into_iter().map(|r| view(&titles, r)).collect(),
    ))
}

/// A rule as the editor's list and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    #[serde(flatten)]
    pub rule: Rule,
    pub module_title: String,
    /// The target in words: « Public : Agents d'accueil ; service : Ville/CCAS ».
    pub target_label: String,
    pub due_label: String,
}

pub async fn rule_views(db: &Db, catalog: &Catalog) -> Result<Vec<RuleView>> {
    let titles = titles(db, catalog).await?;
    let partners = people::store::partners(db).await?;
    Ok(store::rules(db)
        .await?
        .into_iter()
        .map(|rule| {
            let t = &rule.target;
            let mut parts = Vec::new();
            if let Some(a) = t.audience {
                parts.push(format!("public : {}", a.label()));
            }
            if let Some(u) = &t.org_unit {
                parts.push(format!("service : {u} (et ses services)"));
            }
            if let Some(p) = t.partner_id {
                let name = partners
                    .iter()
                    .find(|x| x.id == p)
                    .map(|x| x.name.clone())
                    .unwrap_or_else(|| p.to_string());
                parts.push(format!("structure : {name}"));
            }
            if let Some(d) = t.arrived_after {
                parts.push(format!(
                    "arrivée à partir du {}",
                    crate::certificates::pdf::french_date(d)
                ));
            }
            if let Some(w) = &t.title_word {
                parts.push(format!("fonction contenant « {w} »"));
            }
            let due_label = match rule.due_from {
                DueFrom::Assignment => format!("{} jours après l'assignation", rule.due_days),
                DueFrom::Arrival => format!("{} jours après l'arrivée", rule.due_days),
            };
            RuleView {
                module_title: title_of(&titles, &rule.module_slug),
                target_label: parts.join(" ; "),
                due_label,
                rule,
            }
        })
        .collect())
}
