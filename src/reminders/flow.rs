//! Use cases of reminders: what is due on a day (the preview), the sweep that queues one
//! digest per recipient and per day, the campaigns, the settings and the preferences.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::store::{self, Digest, Person};
use super::{stages, Campaign, Recipient, Settings, Stage, StageKind};
use crate::audit::{Event, Kind};
use crate::catalog::Catalog;
use crate::certificates::paris_today;
use crate::certificates::pdf::french_date;
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::notifications::{MailKind, Outgoing};
use crate::people::{in_subtree, Role, User};
use crate::views::Views;

/// What a sweep needs besides the database.
pub struct Context<'a> {
    pub catalog: &'a Catalog,
    pub views: &'a Views,
    pub public_url: &'a str,
}

/// One line of a digest.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub person: String,
    pub person_id: Uuid,
    pub title: String,
    pub module: String,
    pub url: String,
    pub sentence: String,
    #[serde(skip)]
    pub key: String,
    #[serde(skip)]
    pub obligation: Uuid,
    /// Still to do: the digest is dropped at delivery when none of its lines is.
    #[serde(skip)]
    pub open: bool,
}

/// Everything one recipient is due on a day.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub recipient: Uuid,
    pub name: String,
    pub email: String,
    pub own: Vec<Line>,
    pub team: Vec<Line>,
    pub hr: Vec<Line>,
    /// Shared sessions coming soon where the recipient holds a seat.
    pub sessions: Vec<Line>,
    /// The equality plan: actions the recipient owns, HR's monthly digest.
    pub plan: Vec<Line>,
}

impl Planned {
    fn lines(&self) -> impl Iterator<Item = &Line> {
        self.own
            .iter()
            .chain(&self.team)
            .chain(&self.hr)
            .chain(&self.sessions)
            .chain(&self.plan)
    }
}

fn sentence(stage: &Stage, due_on: NaiveDate) -> String {
    let due = french_date(due_on);
    match (stage.kind, stage.to) {
        (StageKind::BeforeDue, _) => {
            format!("à suivre avant le {due} (dans {} jours au plus)", stage.days)
        }
        (StageKind::BeforeExpiry, _) => format!(
            "votre attestation arrive à échéance le {due} : suivez le module à nouveau pour la renouveler"
        ),
        (StageKind::Overdue, Recipient::Person) => {
            format!("en retard depuis le {due} : à suivre dès que possible")
        }
        (StageKind::Overdue, _) => format!("en retard de {} jours (échéance : {due})", stage.days),
    }
}

/// The managers of a person: the partner referents of their organisation for partner
/// staff; otherwise the managers of the closest org unit above or at theirs.
fn managers_of<'a>(p: &Person, everyone: &'a [Person]) -> Vec<&'a Person> {
    if let Some(partner) = p.partner_id {
        return everyone
            .iter()
            .filter(|m| m.role == Role::PartnerReferent && m.partner_id == Some(partner))
            .filter(|m| m.id != p.id)
            .collect();
    }
    let Some(path) = &p.org_path else {
        return Vec::new();
    };
    let above: Vec<&Person> = everyone
        .iter()
        .filter(|m| m.role == Role::Manager && m.id != p.id)
        .filter(|m| {
            m.org_path
                .as_deref()
                .is_some_and(|root| in_subtree(root, path))
        })
        .collect();
    let deepest = above
        .iter()
        .filter_map(|m| m.org_path.as_ref().map(String::len))
        .max();
    above
        .into_iter()
        .filter(|m| m.org_path.as_ref().map(String::len) == deepest)
        .collect()
}

/// The digest of `recipient` in `out`, started when it is their first line.
fn digest_of<'a>(
    out: &'a mut BTreeMap<Uuid, Planned>,
    recipient: Uuid,
    person: &Person,
) -> &'a mut Planned {
    out.entry(recipient).or_insert_with(|| Planned {
        recipient,
        name: person.display_name.clone(),
        email: person.email.clone(),
        own: Vec::new(),
        team: Vec::new(),
        hr: Vec::new(),
        sessions: Vec::new(),
        plan: Vec::new(),
    })
}

/// Who receives what on `today`: every stage reached and not queued yet, grouped by
/// recipient. Nothing is written.
pub async fn plan(
    db: &Db,
    catalog: &Catalog,
    public_url: &str,
    today: NaiveDate,
) -> Result<Vec<Planned>> {
    let settings = store::settings(db).await?;
    let cycles = store::cycles(db, today).await?;
    let people = store::people(db).await?;
    let by_id: HashMap<Uuid, &Person> = people.iter().map(|p| (p.id, p)).collect();
    let hr: Vec<&Person> = people.iter().filter(|p| p.role == Role::Hr).collect();
    // (recipient, stage key with recipient, line, which list)
    let mut candidates: Vec<(Uuid, String, Line, Recipient)> = Vec::new();
    let titles = crate::obligations::flow::titles(db, catalog).await?;
    for c in &cycles {
        let Some(person) = by_id.get(&c.user) else {
            continue;
        };
        let title = titles
            .get(&c.module)
            .cloned()
            .unwrap_or_else(|| c.module.clone());
        // A shared training offer is taken by enrolling in one of its sessions.
        let url = match crate::obligations::duty_offer(&c.module) {
            Some(offer) => format!("{public_url}/formations?offre={offer}"),
            None => format!("{public_url}/modules/{}", c.module),
        };
        for stage in stages(&settings, c, today) {
            let date = match stage.kind {
                StageKind::BeforeExpiry => c.valid_until.unwrap_or(c.due_on),
                _ => c.due_on,
            };
            let line = Line {
                person: person.display_name.clone(),
                person_id: person.id,
                title: title.clone(),
                module: c.module.clone(),
                url: url.clone(),
                sentence: sentence(&stage, date),
                key: String::new(),
                obligation: c.obligation,
                open: c.open,
            };
            let recipients: Vec<&Person> = match stage.to {
                Recipient::Person => vec![person],
                Recipient::Manager => managers_of(person, &people),
                Recipient::Hr => hr.clone(),
            };
            for r in recipients {
                let mut line = line.clone();
                line.key = format!("{}>{}", stage.key, r.id);
                candidates.push((r.id, line.key.clone(), line, stage.to));
            }
        }
    }
    // Shared sessions: the people holding a seat hear of it days before (7 and 1).
    let mut session_lines: Vec<(Uuid, Line)> = Vec::new();
    if let Some(furthest) = settings.before_session.iter().max() {
        let from = crate::trainings::end_of_paris_day(today);
        let to = crate::trainings::end_of_paris_day(
            today + chrono::Duration::days(i64::from(*furthest)),
        );
        for b in crate::trainings::store::booked_between(db, from - chrono::Duration::days(1), to)
            .await?
        {
            let day = paris_today(b.starts_at);
            let days = (day - today).num_days();
            if days < 1 || !settings.before_session.contains(&(days as u32)) {
                continue;
            }
            let Some(person) = by_id.get(&b.user_id) else {
                continue;
            };
            let line = Line {
                person: person.display_name.clone(),
                person_id: person.id,
                title: b.title.clone(),
                module: String::new(),
                url: format!("{public_url}/formations/sessions/{}", b.session_id),
                sentence: format!(
                    "session partagée le {}{}",
                    crate::trainings::paris_label(b.starts_at),
                    if days == 1 {
                        " (demain)".to_string()
                    } else {
                        format!(" (dans {days} jours)")
                    }
                ),
                key: format!("session:{}:{days}:{day}>{}", b.enrolment_id, person.id),
                obligation: Uuid::nil(),
                open: false,
            };
            session_lines.push((person.id, line));
        }
    }
    // The equality plan: its action owners and HR's monthly digest.
    let hr_ids: Vec<Uuid> = hr.iter().map(|p| p.id).collect();
    let mut plan_lines: Vec<(Uuid, Line)> = Vec::new();
    for r in crate::equality::flow::reminders(db, public_url, &hr_ids, today).await? {
        let Some(person) = by_id.get(&r.recipient) else {
            continue;
        };
        plan_lines.push((
            person.id,
            Line {
                person: person.display_name.clone(),
                person_id: person.id,
                title: r.title,
                module: String::new(),
                url: r.url,
                sentence: r.sentence,
                key: r.key,
                obligation: Uuid::nil(),
                open: false,
            },
        ));
    }
    let mut keys: Vec<String> = candidates.iter().map(|c| c.1.clone()).collect();
    keys.extend(session_lines.iter().map(|(_, l)| l.key.clone()));
    keys.extend(plan_lines.iter().map(|(_, l)| l.key.clone()));
    let done = store::logged(db, &keys).await?;
    let mut out: BTreeMap<Uuid, Planned> = BTreeMap::new();
    for (recipient, key, line, to) in candidates {
        if done.contains(&key) {
            continue;
        }
        let Some(r) = by_id.get(&recipient) else {
            continue;
        };
        let entry = digest_of(&mut out, recipient, r);
        match to {
            Recipient::Person => entry.own.push(line),
            Recipient::Manager => entry.team.push(line),
            Recipient::Hr => entry.hr.push(line),
        }
    }
    for (recipient, line) in session_lines {
        if done.contains(&line.key) {
            continue;
        }
        let Some(r) = by_id.get(&recipient) else {
            continue;
        };
        digest_of(&mut out, recipient, r).sessions.push(line);
    }
    for (recipient, line) in plan_lines {
        if done.contains(&line.key) {
            continue;
        }
        let Some(r) = by_id.get(&recipient) else {
            continue;
        };
        digest_of(&mut out, recipient, r).plan.push(line);
    }
    Ok(out.into_values().collect())
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub digests: u64,
    pub stages: u64,
    pub campaign_mails: u64,
}

impl SweepReport {
    pub fn summary(&self) -> String {
        format!(
            "{} courriel(s) de rappel ({} rappel(s)), {} courriel(s) de campagne",
            self.digests, self.stages, self.campaign_mails
        )
    }
}

fn digest_mail(ctx: &Context<'_>, p: &Planned, today: NaiveDate, hr_days: u32) -> Result<Outgoing> {
    let count = p.lines().count();
    let subject =
        if p.own.is_empty() && p.team.is_empty() && p.hr.is_empty() && p.sessions.is_empty() {
            match p.plan.as_slice() {
                [one] => format!("Plan d'égalité professionnelle : {}", one.title),
                _ => format!("Plan d'égalité professionnelle : {count} rappels"),
            }
        } else if p.own.is_empty() && p.team.is_empty() && p.hr.is_empty() {
            match p.sessions.as_slice() {
                [one] => format!("Formation partagée : {}", one.title),
                _ => format!("Vos formations partagées à venir : {count} rappels"),
            }
        } else if p.team.is_empty() && p.hr.is_empty() {
            if p.own.len() == 1 {
                format!("Formation obligatoire : {}", p.own[0].title)
            } else {
                format!("Vos formations obligatoires : {count} rappels")
            }
        } else {
            format!(
                "Formations obligatoires : {count} rappel(s) du {}",
                french_date(today)
            )
        };
    let context = json!({
        "subject": subject,
        "name": p.name,
        "own": p.own,
        "team": p.team,
        "hr": p.hr,
        "sessions": p.sessions,
        "plan": p.plan,
        "hr_days": hr_days,
        "team_url": format!("{}/equipe/obligations?etat=overdue", ctx.public_url),
        "hr_url": format!("{}/rh/obligations", ctx.public_url),
        "public_url": ctx.public_url,
    });
    let (text, html) = ctx.views.mail("reminder", &context)?;
    let mut obligations: Vec<Uuid> = p.lines().map(|l| l.obligation).collect();
    obligations.sort();
    obligations.dedup();
    Ok(Outgoing {
        kind: MailKind::Reminder,
        user_id: Some(p.recipient),
        recipient: p.email.clone(),
        subject,
        text,
        html: Some(html),
        attachments: Vec::new(),
        sensitive: false,
        dedupe_key: Some(format!("digest:{}:{today}", p.recipient)),
        // A digest of expiry notices only (nothing open) is never dropped.
        obligation_ids: if p.lines().all(|l| l.open) {
            obligations
        } else {
            Vec::new()
        },
        list_unsubscribe: None,
    })
}

/// The hourly sweep (working hours): queues today's digests and the campaigns that go out
/// today. Running it again the same day queues nothing new.
pub async fn sweep(db: &Db, ctx: &Context<'_>, now: DateTime<Utc>) -> Result<SweepReport> {
    let today = paris_today(now);
    let settings = store::settings(db).await?;
    let planned = plan(db, ctx.catalog, ctx.public_url, today).await?;
    let (mut queued, mut recorded) = (0, 0);
    // Rendered and queued a thousand recipients at a time: the mails of the whole city are
    // never all in memory at once.
    for chunk in planned.chunks(1000) {
        let mut digests = Vec::with_capacity(chunk.len());
        for p in chunk {
            digests.push(Digest {
                recipient: p.recipient,
                mail: digest_mail(ctx, p, today, settings.escalate_hr)?,
                stages: p
                    .lines()
                    .map(|l| {
                        (
                            l.key.clone(),
                            (!l.obligation.is_nil()).then_some(l.obligation),
                        )
                    })
                    .collect(),
            });
        }
        let (q, r) = store::queue(db, &digests, now).await?;
        queued += q;
        recorded += r;
    }
    let campaign_mails = campaigns_due(db, ctx, today, now).await?;
    Ok(SweepReport {
        digests: queued,
        stages: recorded,
        campaign_mails,
    })
}

/// Queues the campaign mails that go out on `today`, once per person, campaign and year.
async fn campaigns_due(
    db: &Db,
    ctx: &Context<'_>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<u64> {
    let due: Vec<(Campaign, i32)> = store::campaigns(db)
        .await?
        .into_iter()
        .filter(|c| c.active)
        .filter_map(|c| c.year_sending_on(today).map(|y| (c, y)))
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let subscribers = store::subscribers(db).await?;
    let mut sent = 0;
    for (c, year) in due {
        let modules: Vec<_> = c
            .modules
            .iter()
            .filter_map(|slug| ctx.catalog.get(slug))
            .map(|m| json!({ "title": m.title, "url": format!("{}/modules/{}", ctx.public_url, m.slug) }))
            .collect();
        let mut digests = Vec::new();
        for s in subscribers.iter().filter(|s| c.for_person(&s.audiences())) {
            let Some(token) = &s.preference_token else {
                continue;
            };
            let unsubscribe = format!("{}/desabonnement/{token}", ctx.public_url);
            let context = json!({
                "subject": c.name, "name": s.display_name, "text": c.text, "modules": modules,
                "unsubscribe_url": unsubscribe,
                "preferences_url": format!("{}/preferences", ctx.public_url),
            });
            let (text, html) = ctx.views.mail("campaign", &context)?;
            digests.push(Digest {
                recipient: s.id,
                mail: Outgoing {
                    kind: MailKind::Campaign,
                    user_id: Some(s.id),
                    recipient: s.email.clone(),
                    subject: c.name.clone(),
                    text,
                    html: Some(html),
                    attachments: Vec::new(),
                    sensitive: false,
                    dedupe_key: Some(format!("campaign:{}:{year}:{}", c.id, s.id)),
                    obligation_ids: Vec::new(),
                    list_unsubscribe: Some(unsubscribe),
                },
                stages: Vec::new(),
            });
        }
        sent += store::queue(db, &digests, now).await?.0;
    }
    Ok(sent)
}

/// The reminder rules as typed in the form.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct SettingsInput {
    pub before_due: String,
    pub overdue_first: String,
    pub overdue_every: String,
    pub escalate_team: String,
    pub escalate_hr: String,
    pub before_expiry: String,
    /// Empty: the default days (7 and 1).
    #[serde(default)]
    pub before_session: String,
}

impl SettingsInput {
    pub fn of(s: &Settings) -> SettingsInput {
        let days = |d: &[u32]| d.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        SettingsInput {
            before_due: days(&s.before_due),
            overdue_first: s.overdue_first.to_string(),
            overdue_every: s.overdue_every.to_string(),
            escalate_team: s.escalate_team.to_string(),
            escalate_hr: s.escalate_hr.to_string(),
            before_expiry: days(&s.before_expiry),
            before_session: days(&s.before_session),
        }
    }
}

/// Checks and saves the reminder rules (HR); audited.
pub async fn save_settings(
    db: &Db,
    by: &User,
    input: &SettingsInput,
    client: Option<IpAddr>,
) -> Result<Settings> {
    let mut problems = Vec::new();
    let mut days = |label: &str, text: &str| match super::parse_days(label, text) {
        Ok(d) => d,
        Err(e) => {
            problems.push(e);
            Vec::new()
        }
    };
    let before_due = days("Avant l'échéance", &input.before_due);
    let before_expiry = days("Avant la fin de validité", &input.before_expiry);
    let before_session = if input.before_session.trim().is_empty() {
        Settings::default().before_session
    } else {
        days("Avant une session partagée", &input.before_session)
    };
    let mut number = |label: &str, text: &str| match text.trim().parse::<u32>() {
        Ok(n) if (1..=365).contains(&n) => n,
        _ => {
            problems.push(format!(
                "{label} : « {} » n'est pas un nombre de jours entre 1 et 365.",
                text.trim()
            ));
            1
        }
    };
    let s = Settings {
        before_due,
        overdue_first: number("Premier rappel de retard", &input.overdue_first),
        overdue_every: number("Puis tous les", &input.overdue_every),
        escalate_team: number("Alerte à l'encadrement", &input.escalate_team),
        escalate_hr: number("Alerte aux RH", &input.escalate_hr),
        before_expiry,
        before_session,
    };
    if problems.is_empty() && s.escalate_hr < s.escalate_team {
        problems.push(
            "Les RH sont alertées après l'encadrement : leur délai doit être au moins aussi long."
                .into(),
        );
    }
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems.join(" ")));
    }
    let event = Event::by(Some(by), Kind::ReminderSettings, "rappels")
        .details(format!(
            "avant l'échéance {:?}, retard {}+{}, encadrement {}, RH {}, fin de validité {:?}, sessions {:?}",
            s.before_due,
            s.overdue_first,
            s.overdue_every,
            s.escalate_team,
            s.escalate_hr,
            s.before_expiry,
            s.before_session
        ))
        .client(client);
    store::save_settings(db, &s, by.id, db::now(), &event).await?;
    Ok(s)
}

pub async fn settings(db: &Db) -> Result<Settings> {
    store::settings(db).await
}

/// A campaign as typed in the form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CampaignInput {
    pub name: String,
    pub month: String,
    pub day: String,
    pub days_before: String,
    pub text: String,
    pub modules: Vec<String>,
    pub audiences: Vec<String>,
    pub active: bool,
}

/// Checks and saves a campaign (HR); audited.
pub async fn save_campaign(
    db: &Db,
    catalog: &Catalog,
    by: &User,
    id: Option<Uuid>,
    input: &CampaignInput,
    client: Option<IpAddr>,
) -> Result<Campaign> {
    let mut problems = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        problems.push("Donnez un nom à la campagne (200 caractères au plus).".to_string());
    }
    let text = input.text.trim();
    if text.chars().count() < 10 || text.chars().count() > 4000 {
        problems.push("Le texte du message doit compter de 10 à 4 000 caractères.".to_string());
    }
    let month = input.month.trim().parse::<u32>().unwrap_or(0);
    let day = input.day.trim().parse::<u32>().unwrap_or(0);
    if !super::valid_key_day(month, day) {
        problems.push(format!(
            "Le {} / {} n'est pas une date du calendrier.",
            input.day.trim(),
            input.month.trim()
        ));
    }
    let days_before = match input.days_before.trim().parse::<u32>() {
        Ok(n) if n <= 60 => n,
        _ => {
            problems.push("L'envoi se fait de 0 à 60 jours avant la journée.".to_string());
            0
        }
    };
    for m in &input.modules {
        if catalog.get(m).is_none() {
            problems.push(format!("Module inconnu : « {m} »."));
        }
    }
    let mut audiences = Vec::new();
    for a in &input.audiences {
        match crate::catalog::Audience::parse(a) {
            Some(a) => audiences.push(a),
            None => problems.push(format!("Public inconnu : « {a} ».")),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems.join(" ")));
    }
    let id = match id {
        Some(id) => {
            campaign(db, id).await?;
            id
        }
        None => Uuid::new_v4(),
    };
    let c = Campaign {
        id,
        name: name.into(),
        month,
        day,
        days_before,
        text: text.into(),
        modules: input.modules.clone(),
        audiences,
        active: input.active,
    };
    let event = Event::by(Some(by), Kind::CampaignSaved, &c.name)
        .details(format!(
            "le {day:02}/{month:02}, {days_before} jour(s) avant{}",
            if c.active { "" } else { ", inactive" }
        ))
        .client(client);
    store::save_campaign(db, &c, db::now(), Some(&event)).await?;
    Ok(c)
}

pub async fn campaigns(db: &Db) -> Result<Vec<Campaign>> {
    store::campaigns(db).await
}

pub async fn campaign(db: &Db, id: Uuid) -> Result<Campaign> {
    store::campaigns(db)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| Error::NotFound("Cette campagne n'existe pas.".into()))
}

/// The default campaigns, with the modules that fit each key day when the catalogue has
/// them.
pub async fn seed(db: &Db, catalog: &Catalog) -> Result<()> {
    let fit = |name: &str| -> Vec<String> {
        let wanted: &[&str] = if name.contains("femmes") {
            &["sexisme-et-harcelement", "egalite-professionnelle"]
        } else if name.contains("raciale") {
            &["comprendre-les-discriminations", "stereotypes-et-prejuges"]
        } else if name.contains("handicap") {
            &["accueillir-les-personnes-handicapees"]
        } else {
            &["comprendre-les-discriminations"]
        };
        wanted
            .iter()
            .filter(|s| catalog.get(s).is_some())
            .map(|s| s.to_string())
            .collect()
    };
    store::seed_campaigns(db, fit, db::now()).await
}

pub async fn receives_campaigns(db: &Db, user: Uuid) -> Result<bool> {
    store::receives_campaigns(db, user).await
}

pub async fn set_campaigns(db: &Db, user: Uuid, receive: bool) -> Result<()> {
    store::set_campaigns(db, user, receive).await
}

/// One-click unsubscribe from a campaign mail: true when the token was known.
pub async fn unsubscribe(db: &Db, token: &str) -> Result<bool> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(false);
    }
    Ok(store::unsubscribe(db, token).await?.is_some())
}
