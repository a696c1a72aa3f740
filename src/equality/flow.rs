//! Use cases of the equality plan, shared by the pages and the API: who may see or change
//! what, input checks in French, the computation of indicators, snapshots, the dashboard,
//! the committee report and the territorial review.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::report::{Report, ReportAction, ReportAxis, ReportIndicator};
use super::store::{self, StoredValue, Window};
use super::{
    axes, axis, breakdown, cells_of_groups, check_action, check_indicator, check_manual,
    check_period, month_key, on_target, period_end, total, total_line, Action, ActionStatus,
    Breakdown, Cell, Definition, Dimension, Direction, Filter, Indicator, Line, Measure,
    Population, Profile, Source, Sum, Unit,
};
use crate::catalog::{Audience, Catalog, TERRITORIAL_AXES};
use crate::certificates::paris_today;
use crate::certificates::pdf::french_date;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::people::{User, Visibility};

/// What the computations need besides the database.
pub struct Ctx<'a> {
    pub catalog: &'a Catalog,
    /// Cells counting fewer people are not shown.
    pub threshold: u64,
}

/// A field that API clients send as a string or as a number (`"80"` or `80`).
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    use serde::de::Error as _;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Null => Ok(String::new()),
        _ => Err(D::Error::custom("expected a string or a number")),
    }
}

fn unprocessable(m: impl Into<String>) -> Error {
    Error::Unprocessable(m.into())
}

pub fn action_not_found() -> Error {
    Error::NotFound("Cette action du plan n'existe pas.".into())
}

pub fn indicator_not_found() -> Error {
    Error::NotFound("Cet indicateur n'existe pas.".into())
}

pub fn snapshot_not_found() -> Error {
    Error::NotFound("Cet instantané n'existe pas.".into())
}

/// The org-unit subtree a viewer may read: everything for HR; their own subtree for a
/// manager (a unit outside it is refused); nothing for anyone else.
pub fn scope(visibility: &Visibility, requested: &str) -> Result<String> {
    let requested = requested.trim().trim_matches('/').to_string();
    match visibility.clone() {
        Visibility::All => Ok(requested),
        Visibility::OrgSubtree(root) => {
            if requested.is_empty() {
                Ok(root)
            } else if crate::people::in_subtree(&root, &requested) {
                Ok(requested)
            } else {
                Err(Error::ForbiddenWith(
                    "Vous ne suivez que les services placés sous le vôtre.".into(),
                ))
            }
        }
        _ => Err(Error::Forbidden),
    }
}

fn date(label: &str, text: &str) -> Result<NaiveDate> {
    crate::trainings::parse_date(text.trim()).ok_or_else(|| {
        unprocessable(format!(
            "{label} : « {} » n'est pas une date (AAAA-MM-JJ).",
            text.trim()
        ))
    })
}

/// The plan's period as typed in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeriodInput {
    pub starts_on: String,
    pub ends_on: String,
}

pub async fn save_period(
    db: &Db,
    hr: &User,
    input: &PeriodInput,
    now: DateTime<Utc>,
) -> Result<(NaiveDate, NaiveDate)> {
    let starts = date("Début du plan", &input.starts_on)?;
    let ends = date("Fin du plan", &input.ends_on)?;
    check_period(starts, ends).map_err(unprocessable)?;
    store::save_period(db, starts, ends, hr.id, now).await?;
    Ok((starts, ends))
}

/// An action as typed in (form or API).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ActionInput {
    pub axis: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub owner: String,
    pub starts_on: String,
    pub ends_on: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, deserialize_with = "text")]
    pub progress: String,
    #[serde(default)]
    pub modules: Vec<String>,
    #[serde(default)]
    pub offers: Vec<String>,
}

impl ActionInput {
    pub fn of(a: &Action) -> ActionInput {
        ActionInput {
            axis: a.axis.clone(),
            title: a.title.clone(),
            description: a.description.clone(),
            owner: a.owner_id.to_string(),
            starts_on: a.starts_on.to_string(),
            ends_on: a.ends_on.to_string(),
            status: a.status.code().into(),
            progress: a.progress.to_string(),
            modules: a.modules.clone(),
            offers: a.offers.iter().map(Uuid::to_string).collect(),
        }
    }
}

/// Checks and saves an action (a new one without `id`). Nothing is written on a problem.
pub async fn save_action(
    db: &Db,
    catalog: &Catalog,
    hr: &User,
    id: Option<Uuid>,
    input: &ActionInput,
    now: DateTime<Utc>,
) -> Result<Action> {
    if let Some(id) = id {
        store::action(db, id).await?.ok_or_else(action_not_found)?;
    }
    let axis = axis(&input.axis).ok_or_else(|| {
        unprocessable(format!(
            "Axe « {} » inconnu : choisissez E1 à E5.",
            input.axis.trim()
        ))
    })?;
    let starts_on = date("Début de l'action", &input.starts_on)?;
    let ends_on = date("Fin de l'action", &input.ends_on)?;
    let progress_text = input.progress.trim().trim_end_matches('%').trim();
    let progress: i64 = if progress_text.is_empty() {
        0
    } else {
        progress_text.parse().map_err(|_| {
            unprocessable(format!(
                "Avancement « {progress_text} » : un nombre entre 0 et 100."
            ))
        })?
    };
    check_action(&input.title, starts_on, ends_on, progress).map_err(unprocessable)?;
    let status = if input.status.trim().is_empty() {
        ActionStatus::NotStarted
    } else {
        ActionStatus::parse(input.status.trim())
            .ok_or_else(|| unprocessable(format!("Statut « {} » inconnu.", input.status.trim())))?
    };
    let owner_id = Uuid::parse_str(input.owner.trim())
        .map_err(|_| unprocessable("Choisissez la personne responsable de l'action."))?;
    let owner_name = store::person_name(db, owner_id).await?.ok_or_else(|| {
        unprocessable("La personne responsable n'existe pas ou a quitté la ville.")
    })?;
    for m in &input.modules {
        if catalog.get(m).is_none() {
            return Err(unprocessable(format!("Module « {m} » inconnu.")));
        }
    }
    let mut offers = Vec::new();
    for o in &input.offers {
        let offer = Uuid::parse_str(o.trim()).ok();
        match offer {
            Some(id) if crate::trainings::store::offer(db, id).await?.is_some() => offers.push(id),
            _ => {
                return Err(unprocessable(format!(
                    "Formation partagée « {o} » inconnue."
                )))
            }
        }
    }
    if input.description.chars().count() > 4000 {
        return Err(unprocessable(
            "La description compte 4 000 caractères au plus.",
        ));
    }
    let action = Action {
        id: id.unwrap_or_else(Uuid::new_v4),
        axis: axis.code,
        title: input.title.trim().to_string(),
        description: input.description.trim().to_string(),
        owner_id,
        owner_name,
        starts_on,
        ends_on,
        status,
        progress: progress as u8,
        modules: input.modules.clone(),
        offers,
    };
    store::save_action(db, &action, hr.id, now).await?;
    Ok(action)
}

/// Adds a dated comment to an action's history.
pub async fn comment(
    db: &Db,
    author: &User,
    action: Uuid,
    body: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    store::action(db, action)
        .await?
        .ok_or_else(action_not_found)?;
    let body = body.trim();
    let len = body.chars().count();
    if !(2..=2000).contains(&len) {
        return Err(unprocessable(
            "Un commentaire compte de 2 à 2 000 caractères.",
        ));
    }
    store::add_comment(db, action, author.id, &author.display_name, body, now).await
}

/// An action as the pages and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    #[serde(flatten)]
    pub action: Action,
    pub status_label: &'static str,
    pub late: bool,
    pub due_soon: bool,
    pub ends_label: String,
    pub starts_label: String,
}

impl ActionView {
    pub fn of(a: Action, today: NaiveDate) -> ActionView {
        ActionView {
            status_label: a.status.label(),
            late: a.late(today),
            due_soon: a.due_soon(today),
            ends_label: french_date(a.ends_on),
            starts_label: french_date(a.starts_on),
            action: a,
        }
    }
}

/// One axis of the plan with its actions.
#[derive(Debug, Clone, Serialize)]
pub struct AxisView {
    pub code: String,
    pub number: usize,
    pub title: String,
    pub actions: Vec<ActionView>,
    pub done: usize,
    pub total: usize,
    pub late: usize,
}

/// The plan: its period and its axes.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub period_label: Option<String>,
    pub axes: Vec<AxisView>,
}

pub async fn plan(db: &Db, today: NaiveDate) -> Result<PlanView> {
    let period = store::period(db).await?;
    let mut actions = store::actions(db).await?;
    let axes = axes()
        .into_iter()
        .map(|a| {
            let mine: Vec<ActionView> = actions
                .iter()
                .filter(|x| x.axis == a.code)
                .cloned()
                .map(|x| ActionView::of(x, today))
                .collect();
            AxisView {
                done: mine
                    .iter()
                    .filter(|x| x.action.status == ActionStatus::Done)
                    .count(),
                total: mine
                    .iter()
                    .filter(|x| x.action.status != ActionStatus::Abandoned)
                    .count(),
                late: mine.iter().filter(|x| x.late).count(),
                code: a.code,
                number: a.number,
                title: a.title,
                actions: mine,
            }
        })
        .collect();
    actions.clear();
    Ok(PlanView {
        starts_on: period.map(|p| p.0),
        ends_on: period.map(|p| p.1),
        period_label: period.map(|(s, e)| format!("du {} au {}", french_date(s), french_date(e))),
        axes,
    })
}

/// An indicator as typed in (form or API).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IndicatorInput {
    pub code: String,
    pub axis: String,
    #[serde(default)]
    pub action: String,
    pub title: String,
    /// `auto` or `manual`.
    pub kind: String,
    /// Automatic: the measure (see [`Measure::KINDS`]) and its module or offer.
    #[serde(default)]
    pub measure: String,
    #[serde(default)]
    pub module: String,
    #[serde(default)]
    pub offer: String,
    /// Automatic: the population.
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub managers_only: bool,
    #[serde(default)]
    pub staff: String,
    #[serde(default)]
    pub categories: Vec<String>,
    /// Manual: `percent`, `count` or `number`, and the bounds of a value.
    #[serde(default)]
    pub unit: String,
    #[serde(default, deserialize_with = "text")]
    pub min: String,
    #[serde(default, deserialize_with = "text")]
    pub max: String,
    #[serde(default, deserialize_with = "text")]
    pub target: String,
    #[serde(default)]
    pub direction: String,
    #[serde(default)]
    pub deadline: String,
}

fn number(label: &str, text: &str) -> Result<Option<f64>> {
    let t = text.trim().trim_end_matches('%').trim().replace(',', ".");
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Some)
        .ok_or_else(|| {
            unprocessable(format!(
                "{label} : « {} » n'est pas un nombre.",
                text.trim()
            ))
        })
}

impl IndicatorInput {
    pub fn of(i: &Indicator) -> IndicatorInput {
        let mut input = IndicatorInput {
            code: i.code.clone(),
            axis: i.axis.clone(),
            action: i.action_id.map(|a| a.to_string()).unwrap_or_default(),
            title: i.title.clone(),
            unit: i.unit.code().into(),
            target: i.target.map(|t| t.to_string()).unwrap_or_default(),
            direction: i.direction.code().into(),
            deadline: i.deadline.map(|d| d.to_string()).unwrap_or_default(),
            ..IndicatorInput::default()
        };
        match &i.source {
            Source::Auto { definition } => {
                input.kind = "auto".into();
                input.measure = definition.measure.code().into();
                input.module = definition.measure.module().unwrap_or("").into();
                input.offer = definition
                    .measure
                    .offer()
                    .map(|o| o.to_string())
                    .unwrap_or_default();
                input.audiences = definition
                    .population
                    .audiences
                    .iter()
                    .map(|a| a.code().to_string())
                    .collect();
                input.managers_only = definition.population.managers_only;
                input.staff = definition.population.staff.clone();
                input.categories = definition.population.categories.clone();
            }
            Source::Manual { min, max } => {
                input.kind = "manual".into();
                input.min = min.to_string();
                input.max = max.to_string();
            }
        }
        input
    }
}

/// Checks and saves an indicator (a new one without `id`). Nothing is written on a problem.
pub async fn save_indicator(
    db: &Db,
    catalog: &Catalog,
    id: Option<Uuid>,
    input: &IndicatorInput,
    now: DateTime<Utc>,
) -> Result<Indicator> {
    if let Some(id) = id {
        store::indicator(db, id)
            .await?
            .ok_or_else(indicator_not_found)?;
    }
    let axis = axis(&input.axis).ok_or_else(|| {
        unprocessable(format!(
            "Axe « {} » inconnu : choisissez E1 à E5.",
            input.axis.trim()
        ))
    })?;
    let action_id = match input.action.trim() {
        "" => None,
        a => {
            let a = Uuid::parse_str(a).ok();
            match a {
                Some(a) if store::action(db, a).await?.is_some() => Some(a),
                _ => return Err(unprocessable("L'action liée n'existe pas.")),
            }
        }
    };
    let (source, unit) = match input.kind.trim() {
        "auto" => {
            let module = Some(input.module.trim().to_string()).filter(|m| !m.is_empty());
            if let Some(m) = &module {
                if catalog.get(m).is_none() {
                    return Err(unprocessable(format!("Module « {m} » inconnu.")));
                }
            }
            let offer = match input.offer.trim() {
                "" => None,
                o => match Uuid::parse_str(o).ok() {
                    Some(id) if crate::trainings::store::offer(db, id).await?.is_some() => Some(id),
                    _ => {
                        return Err(unprocessable(format!(
                            "Formation partagée « {o} » inconnue."
                        )))
                    }
                },
            };
            let measure =
                Measure::build(input.measure.trim(), module, offer).map_err(unprocessable)?;
            let mut audiences = Vec::new();
            for a in &input.audiences {
                audiences.push(
                    Audience::parse(a.trim())
                        .ok_or_else(|| unprocessable(format!("Public « {a} » inconnu.")))?,
                );
            }
            let staff = match input.staff.trim() {
                "" | "all" => "all",
                "city" => "city",
                "partners" => "partners",
                other => {
                    return Err(unprocessable(format!(
                        "Personnel « {other} » inconnu : all, city ou partners."
                    )))
                }
            };
            let mut categories = Vec::new();
            for c in &input.categories {
                let c = c.trim().to_uppercase();
                if !crate::people::import::CATEGORIES.contains(&c.as_str()) {
                    return Err(unprocessable(format!("Catégorie « {c} » inconnue.")));
                }
                categories.push(c);
            }
            let unit = measure.unit();
            (
                Source::Auto {
                    definition: Definition {
                        population: Population {
                            audiences,
                            managers_only: input.managers_only,
                            staff: staff.into(),
                            categories,
                        },
                        measure,
                    },
                },
                unit,
            )
        }
        "manual" => {
            let unit = match input.unit.trim() {
                "" | "number" => Unit::Number,
                "percent" => Unit::Percent,
                "count" => Unit::Count,
                other => return Err(unprocessable(format!("Unité « {other} » inconnue."))),
            };
            let (dmin, dmax) = match unit {
                Unit::Percent => (0.0, 100.0),
                Unit::Count => (0.0, 1e9),
                _ => (-1e9, 1e9),
            };
            let min = number("Valeur minimale", &input.min)?.unwrap_or(dmin);
            let max = number("Valeur maximale", &input.max)?.unwrap_or(dmax);
            (Source::Manual { min, max }, unit)
        }
        other => {
            return Err(unprocessable(format!(
                "Type d'indicateur « {other} » inconnu : auto (calculé) ou manual (saisi)."
            )))
        }
    };
    let target = number("Cible", &input.target)?;
    let bounds = match &source {
        Source::Manual { min, max } => Some((*min, *max)),
        Source::Auto { .. } => None,
    };
    check_indicator(&input.code, &input.title, target, unit, bounds).map_err(unprocessable)?;
    let code = input.code.trim().to_uppercase();
    let this = id.unwrap_or_else(Uuid::new_v4);
    if store::code_taken(db, &code, this).await? {
        return Err(Error::Conflict(format!(
            "Le code « {code} » est déjà pris par un autre indicateur."
        )));
    }
    let direction = match input.direction.trim() {
        "" => Direction::AtLeast,
        d => Direction::parse(d).ok_or_else(|| {
            unprocessable(format!(
                "Sens de la cible « {d} » inconnu : at_least ou at_most."
            ))
        })?,
    };
    let deadline = match input.deadline.trim() {
        "" => None,
        d => Some(date("Échéance", d)?),
    };
    let indicator = Indicator {
        id: this,
        code,
        axis: axis.code,
        action_id,
        title: input.title.trim().to_string(),
        source,
        unit,
        target,
        direction,
        deadline,
    };
    store::save_indicator(db, &indicator, now).await?;
    Ok(indicator)
}

/// A manual value as typed in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ValueInput {
    pub period: String,
    #[serde(deserialize_with = "text")]
    pub value: String,
    pub source: String,
}

/// Records a manual indicator's value for a period. Nothing is written on a problem.
pub async fn save_value(
    db: &Db,
    hr: &User,
    id: Uuid,
    input: &ValueInput,
    now: DateTime<Utc>,
) -> Result<()> {
    let indicator = store::indicator(db, id)
        .await?
        .ok_or_else(indicator_not_found)?;
    let Source::Manual { min, max } = indicator.source else {
        return Err(unprocessable(
            "Cet indicateur est calculé par Repères : il ne se saisit pas.",
        ));
    };
    let end = period_end(&input.period).map_err(unprocessable)?;
    let value =
        number("Valeur", &input.value)?.ok_or_else(|| unprocessable("Saisissez la valeur."))?;
    check_manual(value, min, max).map_err(unprocessable)?;
    let source = input.source.trim();
    if !(2..=300).contains(&source.chars().count()) {
        return Err(unprocessable(
            "Indiquez la source de la valeur (par exemple : rapport social unique 2025).",
        ));
    }
    store::save_manual_value(
        db,
        indicator.id,
        input.period.trim(),
        end,
        value,
        source,
        hr.id,
        now,
    )
    .await
}

/// Computes every indicator at `now`: the population is read once.
pub async fn compute_all(
    db: &Db,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<Vec<StoredValue>> {
    let indicators = store::indicators(db).await?;
    let period = store::period(db).await?;
    let manual = store::latest_manual(db, paris_today(now)).await?;
    let mut out = Vec::with_capacity(indicators.len());
    for i in &indicators {
        out.push(compute(db, catalog, i, period, &manual, now).await?);
    }
    Ok(out)
}

/// Computes one indicator at `now`.
pub async fn compute(
    db: &Db,
    catalog: &Catalog,
    i: &Indicator,
    period: Option<(NaiveDate, NaiveDate)>,
    manual: &HashMap<Uuid, store::ManualValue>,
    now: DateTime<Utc>,
) -> Result<StoredValue> {
    let today = paris_today(now);
    let base = |people: i64, value: Option<f64>, source: String, cells: Vec<Cell>| StoredValue {
        indicator_id: i.id,
        code: i.code.clone(),
        title: i.title.clone(),
        axis: i.axis.clone(),
        unit: i.unit.code().into(),
        target: i.target,
        direction: i.direction.code().into(),
        deadline: i.deadline,
        source,
        people,
        value,
        cells,
    };
    match &i.source {
        Source::Manual { .. } => Ok(match manual.get(&i.id) {
            Some(v) => base(
                0,
                Some(v.value),
                format!("{} (période {})", v.source, v.period),
                Vec::new(),
            ),
            None => base(0, None, "Aucune valeur saisie".into(), Vec::new()),
        }),
        Source::Auto { definition } => {
            let since = period
                .map(|(s, _)| crate::jobs::paris_instant(s, 0, 0))
                // Without a recorded period: everything since 2000 (a date both databases store).
                .unwrap_or_else(|| {
                    crate::jobs::paris_instant(
                        NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default(),
                        0,
                        0,
                    )
                });
            let validity = definition
                .measure
                .module()
                .and_then(|m| catalog.get(m))
                .map(|m| m.validity_months)
                .unwrap_or(0);
            let window = Window {
                since,
                now,
                today,
                validity_months: validity,
            };
            let groups = store::groups(db, &definition.measure, &window, i.unit).await?;
            let cells = cells_of(&definition.population, groups);
            let sum = total(&cells, &Filter::default());
            Ok(base(
                sum.people as i64,
                sum.value(i.unit),
                "Calcul automatique (Repères)".into(),
                cells,
            ))
        }
    }
}

/// Takes a snapshot of every indicator and of the plan's actions. With a `slot` (the
/// monthly job), a slot already taken is not taken again: `None`.
pub async fn take_snapshot(
    db: &Db,
    catalog: &Catalog,
    now: DateTime<Utc>,
    slot: Option<&str>,
    by: Option<Uuid>,
) -> Result<Option<Uuid>> {
    let values = compute_all(db, catalog, now).await?;
    let actions = store::actions(db).await?;
    let period = store::period(db).await?;
    store::insert_snapshot(
        db,
        paris_today(now),
        now,
        slot,
        by,
        &actions,
        period,
        &values,
    )
    .await
}

/// The monthly job: the month's snapshot, once.
pub async fn monthly_snapshot(db: &Db, catalog: &Catalog, now: DateTime<Utc>) -> Result<String> {
    let slot = month_key(paris_today(now));
    let started = std::time::Instant::now();
    Ok(
        match take_snapshot(db, catalog, now, Some(&slot), None).await? {
            Some(_) => format!(
                "instantané de {slot} pris en {} ms",
                started.elapsed().as_millis()
            ),
            None => format!("instantané de {slot} déjà pris"),
        },
    )
}

/// The filters of the dashboard and of an indicator's page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Query {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub audience: String,
}

struct Resolved {
    from: NaiveDate,
    to: NaiveDate,
    filter: Filter,
}

fn resolve(viewer: &Visibility, q: &Query, today: NaiveDate) -> Result<Resolved> {
    let to = match q.to.trim() {
        "" => today,
        t => date("Au", t)?,
    };
    let from = match q.from.trim() {
        "" => to - chrono::Duration::days(365),
        f => date("Du", f)?,
    };
    if from > to {
        return Err(Error::BadRequest(
            "La période choisie finit avant de commencer.".into(),
        ));
    }
    let audience = q.audience.trim();
    if !audience.is_empty() && Audience::parse(audience).is_none() {
        return Err(Error::BadRequest(format!("Public « {audience} » inconnu.")));
    }
    Ok(Resolved {
        from,
        to,
        filter: Filter {
            unit: scope(viewer, &q.unit)?,
            audience: audience.into(),
            partner: String::new(),
        },
    })
}

/// One point of a trend, as the table under the chart shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub date: NaiveDate,
    pub date_label: String,
    pub shown: String,
    pub value: Option<f64>,
}

/// An indicator on the dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub id: Uuid,
    pub code: String,
    pub title: String,
    pub axis: String,
    pub unit: Unit,
    pub current: Line,
    pub target: String,
    pub deadline: Option<String>,
    pub on_target: Option<bool>,
    pub source: String,
    pub trend: Vec<Point>,
    /// The chart, drawn on the server (decorative: the table gives the same figures).
    pub svg: String,
    /// The same figures in a sentence, for everyone.
    pub summary: String,
    /// A manual indicator: a city-wide figure that filters do not narrow.
    pub city_wide: bool,
}

/// The value of a stored indicator under a filter, suppressed.
fn filtered(v: &StoredValue, filter: &Filter, unit: Unit, k: u64) -> Line {
    let manual = v.cells.is_empty() && v.people == 0;
    let unfiltered =
        filter.unit.is_empty() && filter.audience.is_empty() && filter.partner.is_empty();
    if manual || unfiltered {
        let people = v.people.max(0) as u64;
        let hidden = !manual && people > 0 && people < k;
        return Line {
            label: "Ensemble".into(),
            people: (!manual && !hidden).then_some(people),
            value: if hidden { None } else { v.value },
            shown: if hidden {
                format!("< {k}")
            } else {
                v.value
                    .map(|x| unit.format(x))
                    .unwrap_or_else(|| "—".into())
            },
            suppressed: hidden,
        };
    }
    total_line(&v.cells, filter, unit, k)
}

fn summary(title: &str, points: &[Point], target: &str, on: Option<bool>) -> String {
    let shown: Vec<&Point> = points.iter().filter(|p| p.value.is_some()).collect();
    let mut s = match (shown.first(), shown.last()) {
        (Some(first), Some(last)) if shown.len() > 1 => format!(
            "{title} : {} au {}, {} au {}.",
            first.shown, first.date_label, last.shown, last.date_label
        ),
        (Some(only), _) => format!("{title} : {} au {}.", only.shown, only.date_label),
        _ => format!("{title} : aucune valeur affichable sur la période."),
    };
    if !target.is_empty() {
        s.push_str(&format!(
            " Cible {target}{}.",
            match on {
                Some(true) => ", atteinte",
                Some(false) => ", non atteinte",
                None => "",
            }
        ));
    }
    s
}

async fn figure(db: &Db, v: &StoredValue, r: &Resolved, k: u64, live: bool) -> Result<Figure> {
    let unit = Unit::parse(&v.unit).unwrap_or(Unit::Number);
    let filtering = !(r.filter.unit.is_empty() && r.filter.audience.is_empty());
    let mut trend: Vec<Point> = Vec::new();
    for (day, stored) in store::trend(db, v.indicator_id, r.from, r.to, filtering).await? {
        let l = filtered(&stored, &r.filter, unit, k);
        trend.push(Point {
            date: day,
            date_label: french_date(day),
            shown: l.shown,
            value: l.value,
        });
    }
    let current = filtered(v, &r.filter, unit, k);
    if live {
        let today = paris_today(crate::db::now());
        trend.push(Point {
            date: today,
            date_label: format!("{} (calcul à l'instant)", french_date(today)),
            shown: current.shown.clone(),
            value: current.value,
        });
    }
    let direction = Direction::parse(&v.direction).unwrap_or(Direction::AtLeast);
    let target = v
        .target
        .map(|t| format!("{} {}", direction.symbol(), unit.format(t)))
        .unwrap_or_default();
    let on = match (current.value, v.target) {
        (Some(x), Some(t)) => Some(on_target(x, t, direction)),
        _ => None,
    };
    let chart_points: Vec<(NaiveDate, Option<f64>)> =
        trend.iter().map(|p| (p.date, p.value)).collect();
    Ok(Figure {
        id: v.indicator_id,
        code: v.code.clone(),
        title: v.title.clone(),
        axis: v.axis.clone(),
        unit,
        svg: super::chart::trend(&chart_points, unit, v.target),
        summary: summary(&v.title, &trend, &target, on),
        target,
        deadline: v.deadline.map(french_date),
        on_target: on,
        source: v.source.clone(),
        city_wide: v.cells.is_empty() && v.people == 0,
        current,
        trend,
    })
}

/// One axis on the dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct DashboardAxis {
    pub code: String,
    pub number: usize,
    pub title: String,
    pub actions_done: usize,
    pub actions_total: usize,
    pub actions_late: usize,
    pub indicators_on_target: usize,
    pub indicators_with_target: usize,
    pub figures: Vec<Figure>,
}

/// The dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// The snapshot the figures come from; `None`: computed now (no snapshot yet).
    pub snapshot_on: Option<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub unit: String,
    pub audience: String,
    pub threshold: u64,
    pub period_label: Option<String>,
    pub axes: Vec<DashboardAxis>,
}

/// The dashboard: per axis, actions done and indicators on target; per indicator, its
/// value at the latest snapshot of the period and its trend, under the filters.
pub async fn dashboard(
    db: &Db,
    ctx: &Ctx<'_>,
    viewer: &Visibility,
    q: &Query,
) -> Result<Dashboard> {
    let today = paris_today(crate::db::now());
    let r = resolve(viewer, q, today)?;
    let filtering = !(r.filter.unit.is_empty() && r.filter.audience.is_empty());
    let latest = store::snapshots(db, 400)
        .await?
        .into_iter()
        .find(|s| s.taken_on <= r.to);
    let (values, live) = match &latest {
        Some(s) => (store::snapshot_values(db, s.id, filtering).await?, false),
        None => (compute_all(db, ctx.catalog, crate::db::now()).await?, true),
    };
    let plan = plan(db, today).await?;
    let mut out = Vec::new();
    for a in plan.axes {
        let mut figures = Vec::new();
        for v in values.iter().filter(|v| v.axis == a.code) {
            figures.push(figure(db, v, &r, ctx.threshold, live).await?);
        }
        out.push(DashboardAxis {
            indicators_on_target: figures.iter().filter(|f| f.on_target == Some(true)).count(),
            indicators_with_target: figures.iter().filter(|f| !f.target.is_empty()).count(),
            actions_done: a.done,
            actions_total: a.total,
            actions_late: a.late,
            code: a.code,
            number: a.number,
            title: a.title,
            figures,
        });
    }
    Ok(Dashboard {
        snapshot_on: latest.map(|s| french_date(s.taken_on)),
        from: r.from,
        to: r.to,
        unit: r.filter.unit,
        audience: r.filter.audience,
        threshold: ctx.threshold,
        period_label: plan.period_label,
        axes: out,
    })
}

/// An indicator's own page: the value now, its breakdowns, its trend, its manual values.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub indicator: Indicator,
    pub figure: Figure,
    pub breakdowns: Vec<Breakdown>,
    pub values: Vec<store::ManualValue>,
    pub unit: String,
    pub audience: String,
    pub threshold: u64,
    pub definition: Option<String>,
}

/// What an automatic indicator counts, in French.
pub fn describe(d: &Definition, catalog: &Catalog, offers: &HashMap<Uuid, String>) -> String {
    let measure = Measure::KINDS
        .iter()
        .find(|(c, _)| *c == d.measure.code())
        .map(|(_, l)| *l)
        .unwrap_or("");
    let mut s = measure.to_string();
    if let Some(m) = d.measure.module() {
        s.push_str(&format!(
            " — module « {} »",
            catalog.get(m).map(|m| m.title.as_str()).unwrap_or(m)
        ));
    }
    if let Some(o) = d.measure.offer() {
        s.push_str(&format!(
            " — formation « {} »",
            offers.get(&o).map(String::as_str).unwrap_or("?")
        ));
    }
    let mut who = Vec::new();
    if !d.population.audiences.is_empty() {
        who.push(
            d.population
                .audiences
                .iter()
                .map(|a| a.label())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if d.population.managers_only {
        who.push("personnes encadrantes".into());
    }
    match d.population.staff.as_str() {
        "city" => who.push("agents de la ville".into()),
        "partners" => who.push("personnel des structures partenaires".into()),
        _ => {}
    }
    if !d.population.categories.is_empty() {
        who.push(format!("catégories {}", d.population.categories.join(", ")));
    }
    s.push_str(&format!(
        ". Population : {}.",
        if who.is_empty() {
            "toutes les personnes actives".to_string()
        } else {
            who.join(" ; ")
        }
    ));
    s
}

pub async fn detail(
    db: &Db,
    ctx: &Ctx<'_>,
    viewer: &Visibility,
    id: Uuid,
    q: &Query,
) -> Result<Detail> {
    let today = paris_today(crate::db::now());
    let r = resolve(viewer, q, today)?;
    let indicator = store::indicator(db, id)
        .await?
        .ok_or_else(indicator_not_found)?;
    let period = store::period(db).await?;
    let manual = store::latest_manual(db, today).await?;
    let now = crate::db::now();
    let v = compute(db, ctx.catalog, &indicator, period, &manual, now).await?;
    let figure = figure(db, &v, &r, ctx.threshold, true).await?;
    let mut breakdowns = Vec::new();
    if let Source::Auto { definition } = &indicator.source {
        let mut dims = vec![
            Dimension::Sex,
            Dimension::Category,
            Dimension::Audience,
            Dimension::Unit,
        ];
        if definition.population.staff != "city" && r.filter.unit.is_empty() {
            dims.push(Dimension::Partner);
        }
        for d in dims {
            breakdowns.push(breakdown(
                &v.cells,
                &r.filter,
                d,
                indicator.unit,
                ctx.threshold,
            ));
        }
    }
    let offers: HashMap<Uuid, String> = crate::trainings::store::offers(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.title))
        .collect();
    Ok(Detail {
        definition: match &indicator.source {
            Source::Auto { definition } => Some(describe(definition, ctx.catalog, &offers)),
            Source::Manual { .. } => None,
        },
        values: store::manual_values(db, id).await?,
        indicator,
        figure,
        breakdowns,
        unit: r.filter.unit,
        audience: r.filter.audience,
        threshold: ctx.threshold,
    })
}

/// The committee report of a snapshot.
pub async fn report(db: &Db, ctx: &Ctx<'_>, issuer: &str, id: Uuid) -> Result<Report> {
    let head = store::snapshot(db, id)
        .await?
        .ok_or_else(snapshot_not_found)?;
    let values = store::snapshot_values(db, id, false).await?;
    let actions: Vec<Action> = store::snapshot_actions(db, id)
        .await?
        .into_iter()
        .filter_map(|a| action_of_json(&a))
        .collect();
    let earliest = head
        .plan_from
        .unwrap_or(head.taken_on - chrono::Duration::days(3 * 366));
    let mut report_axes = Vec::new();
    for a in axes() {
        let mut indicators = Vec::new();
        for v in values.iter().filter(|v| v.axis == a.code) {
            let unit = Unit::parse(&v.unit).unwrap_or(Unit::Number);
            let direction = Direction::parse(&v.direction).unwrap_or(Direction::AtLeast);
            let line = filtered(v, &Filter::default(), unit, ctx.threshold);
            let trend = store::trend(db, v.indicator_id, earliest, head.taken_on, false)
                .await?
                .into_iter()
                .filter(|(day, _)| *day <= head.taken_on)
                .map(|(day, s)| {
                    (
                        day,
                        filtered(&s, &Filter::default(), unit, ctx.threshold).value,
                    )
                })
                .collect();
            indicators.push(ReportIndicator {
                code: v.code.clone(),
                title: v.title.clone(),
                value: line.value,
                shown: line.shown,
                target: v
                    .target
                    .map(|t| format!("{} {}", direction.symbol(), unit.format(t)))
                    .unwrap_or_default(),
                target_value: v.target,
                deadline: v.deadline,
                on_target: match (line.value, v.target) {
                    (Some(x), Some(t)) => Some(on_target(x, t, direction)),
                    _ => None,
                },
                source: v.source.clone(),
                trend,
                unit: v.unit.clone(),
            });
        }
        report_axes.push(ReportAxis {
            actions: actions
                .iter()
                .filter(|x| x.axis == a.code)
                .map(|x| ReportAction {
                    title: x.title.clone(),
                    owner: x.owner_name.clone(),
                    starts_on: x.starts_on,
                    ends_on: x.ends_on,
                    status: x.status.label().into(),
                    progress: x.progress,
                    late: x.late(head.taken_on),
                    done: x.status == ActionStatus::Done,
                    abandoned: x.status == ActionStatus::Abandoned,
                })
                .collect(),
            code: a.code,
            title: a.title,
            indicators,
        });
    }
    Ok(Report {
        title: format!(
            "Plan d'égalité professionnelle — suivi au {}",
            french_date(head.taken_on)
        ),
        snapshot_on: head.taken_on,
        taken_at: head.taken_at,
        plan_from: head.plan_from,
        plan_to: head.plan_to,
        threshold: ctx.threshold,
        issuer: issuer.into(),
        axes: report_axes,
    })
}

fn action_of_json(v: &serde_json::Value) -> Option<Action> {
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let d = |k: &str| s(k).and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok());
    Some(Action {
        id: s("id").and_then(|i| Uuid::parse_str(&i).ok())?,
        axis: s("axis")?,
        title: s("title")?,
        description: s("description").unwrap_or_default(),
        owner_id: s("owner_id")
            .and_then(|i| Uuid::parse_str(&i).ok())
            .unwrap_or_default(),
        owner_name: s("owner_name").unwrap_or_default(),
        starts_on: d("starts_on")?,
        ends_on: d("ends_on")?,
        status: s("status").and_then(|c| ActionStatus::parse(&c))?,
        progress: v
            .get("progress")
            .and_then(|p| p.as_u64())
            .unwrap_or(0)
            .min(100) as u8,
        modules: Vec::new(),
        offers: Vec::new(),
    })
}

/// A snapshot in the list.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotView {
    pub id: Uuid,
    pub taken_on: NaiveDate,
    pub label: String,
    pub monthly: bool,
}

pub async fn snapshots(db: &Db) -> Result<Vec<SnapshotView>> {
    Ok(store::snapshots(db, 200)
        .await?
        .into_iter()
        .map(|s| SnapshotView {
            id: s.id,
            taken_on: s.taken_on,
            label: format!(
                "{} à {}",
                french_date(s.taken_on),
                crate::trainings::paris_hour(s.taken_at)
            ),
            // The monthly job's slots are months (`2026-12`); the demo's is `demo`.
            monthly: s
                .slot
                .as_deref()
                .is_some_and(|k| k.len() == 7 && k.as_bytes()[4] == b'-'),
        })
        .collect())
}

/// The territorial review: people trained per axis of the territorial plan and per
/// partner organisation (the city's staff in one column) over a period.
#[derive(Debug, Clone, Serialize)]
pub struct Territorial {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub threshold: u64,
    pub axes: Vec<TerritorialAxis>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TerritorialAxis {
    pub code: String,
    pub title: String,
    pub breakdown: Breakdown,
}

/// The cells of `population` from people grouped in SQL.
fn cells_of(population: &Population, groups: Vec<store::Group>) -> Vec<Cell> {
    cells_of_groups(
        population,
        groups.into_iter().map(|g| {
            (
                Profile {
                    id: Uuid::nil(),
                    unit: g.unit,
                    audiences: crate::people::store::parse_audiences(&g.audiences),
                    sex: g.sex,
                    category: g.category,
                    partner: g.partner,
                    manages: g.manages,
                },
                g.people.max(0) as u64,
                g.num,
                g.den,
            )
        }),
    )
}

pub async fn territorial(db: &Db, ctx: &Ctx<'_>, from: &str, to: &str) -> Result<Territorial> {
    let today = paris_today(crate::db::now());
    let to = match to.trim() {
        "" => today,
        t => date("Au", t)?,
    };
    let from = match from.trim() {
        "" => NaiveDate::from_ymd_opt(to.year(), 1, 1).unwrap_or(to),
        f => date("Du", f)?,
    };
    if from > to {
        return Err(Error::BadRequest(
            "La période choisie finit avant de commencer.".into(),
        ));
    }
    let (start, end) = (
        crate::jobs::paris_instant(from, 0, 0),
        crate::trainings::end_of_paris_day(to),
    );
    let everyone = Population::default();
    let numbers: Vec<u8> = (1..=TERRITORIAL_AXES.len() as u8).collect();
    let module_axes: Vec<(String, u8)> = ctx
        .catalog
        .modules()
        .iter()
        .flat_map(|m| {
            m.territorial_axes
                .iter()
                .filter(|a| numbers.contains(a))
                .map(|a| (m.slug.clone(), *a))
        })
        .collect();
    let mut by_axis: HashMap<i64, Vec<store::Group>> = HashMap::new();
    for g in store::trained_by_axis(db, &module_axes, &numbers, start, end).await? {
        by_axis.entry(g.axis).or_default().push(g);
    }
    let mut axes = Vec::new();
    for (i, title) in TERRITORIAL_AXES.iter().enumerate() {
        let n = (i + 1) as u8;
        let groups = by_axis.remove(&i64::from(n)).unwrap_or_default();
        let c = cells_of(&everyone, groups);
        axes.push(TerritorialAxis {
            code: format!("T{n}"),
            title: (*title).to_string(),
            breakdown: breakdown(
                &c,
                &Filter::default(),
                Dimension::Partner,
                Unit::Count,
                ctx.threshold,
            ),
        });
    }
    Ok(Territorial {
        from,
        to,
        threshold: ctx.threshold,
        axes,
    })
}

/// A reminder about the plan for one person: its key (never queued twice), what it is
/// about, a link and a sentence.
#[derive(Debug, Clone)]
pub struct PlanReminder {
    pub recipient: Uuid,
    pub key: String,
    pub title: String,
    pub url: String,
    pub sentence: String,
}

/// Reminders of the plan due on `today`: owners hear of actions ending within 30 days
/// (once per end date) and of late actions (the day after, then weekly); HR gets a
/// monthly digest (late actions, indicators off target, what moved since the previous
/// snapshot) from the first working day of the month, when there is any of these.
pub async fn reminders(
    db: &Db,
    public_url: &str,
    hr: &[Uuid],
    today: NaiveDate,
) -> Result<Vec<PlanReminder>> {
    let mut out = Vec::new();
    let actions = store::open_actions(db).await?;
    for a in &actions {
        let url = format!("{public_url}/rh/egalite/actions/{}", a.id);
        let days = (a.ends_on - today).num_days();
        if (0..=super::DUE_SOON_DAYS).contains(&days) {
            out.push(PlanReminder {
                recipient: a.owner_id,
                key: format!("action:{}:soon:{}>{}", a.id, a.ends_on, a.owner_id),
                title: a.title.clone(),
                url,
                sentence: format!(
                    "action du plan d'égalité à terminer d'ici le {}",
                    french_date(a.ends_on)
                ),
            });
        } else if days < 0 {
            let late = -days;
            let round = (late - 1) / super::LATE_EVERY_DAYS;
            out.push(PlanReminder {
                recipient: a.owner_id,
                key: format!("action:{}:late:{}:{round}>{}", a.id, a.ends_on, a.owner_id),
                title: a.title.clone(),
                url,
                sentence: format!(
                    "action du plan d'égalité en retard de {late} jour(s) (fin prévue le {}) : mettez à jour son statut",
                    french_date(a.ends_on)
                ),
            });
        }
    }
    if hr.is_empty() {
        return Ok(out);
    }
    let indicators = store::indicators(db).await?;
    if actions.is_empty() && indicators.is_empty() {
        return Ok(out);
    }
    let month = month_key(today);
    let late: Vec<&store::OwnedAction> = actions.iter().filter(|a| a.ends_on < today).collect();
    let heads = store::snapshots(db, 2).await?;
    let mut off_target = Vec::new();
    let mut moved = Vec::new();
    if let Some(latest) = heads.first() {
        let now_values = store::snapshot_values(db, latest.id, false).await?;
        let before: HashMap<Uuid, Option<f64>> = match heads.get(1) {
            Some(prev) => store::snapshot_values(db, prev.id, false)
                .await?
                .into_iter()
                .map(|v| (v.indicator_id, v.value))
                .collect(),
            None => HashMap::new(),
        };
        for v in &now_values {
            let unit = Unit::parse(&v.unit).unwrap_or(Unit::Number);
            let direction = Direction::parse(&v.direction).unwrap_or(Direction::AtLeast);
            if let (Some(x), Some(t)) = (v.value, v.target) {
                if !on_target(x, t, direction) {
                    off_target.push(format!(
                        "{} : {} (cible {} {})",
                        v.title,
                        unit.format(x),
                        direction.symbol(),
                        unit.format(t)
                    ));
                }
            }
            if let (Some(Some(b)), Some(x)) = (before.get(&v.indicator_id), v.value) {
                if (b - x).abs() > 1e-9 {
                    moved.push(format!(
                        "{} : {} → {}",
                        v.title,
                        unit.format(*b),
                        unit.format(x)
                    ));
                }
            }
        }
    }
    // Nothing late, nothing off target, nothing moved: no digest this month.
    if late.is_empty() && off_target.is_empty() && moved.is_empty() {
        return Ok(out);
    }
    let mut sentence = format!(
        "{} action(s) en retard, {} indicateur(s) hors cible, {} indicateur(s) en mouvement depuis l'instantané précédent",
        late.len(),
        off_target.len(),
        moved.len()
    );
    let details: Vec<String> = late
        .iter()
        .map(|a| {
            format!(
                "en retard : {} (fin prévue le {})",
                a.title,
                french_date(a.ends_on)
            )
        })
        .chain(off_target.into_iter().map(|t| format!("hors cible : {t}")))
        .chain(moved.into_iter().map(|m| format!("évolution : {m}")))
        .collect();
    if !details.is_empty() {
        sentence.push_str(" — ");
        sentence.push_str(&details.join(" ; "));
    }
    for h in hr {
        out.push(PlanReminder {
            recipient: *h,
            key: format!("plan-digest:{month}>{h}"),
            title: format!("Suivi mensuel du plan d'égalité professionnelle ({month})"),
            url: format!("{public_url}/egalite"),
            sentence: sentence.clone(),
        });
    }
    Ok(out)
}

/// The default indicators, written once at the first start: HR edits them from there.
pub async fn seed(db: &Db, catalog: &Catalog) -> Result<()> {
    if !store::indicators(db).await?.is_empty() {
        return Ok(());
    }
    let now = crate::db::now();
    let module = |slug: &str| catalog.get(slug).map(|m| m.slug.clone());
    let auto = |measure: Measure, population: Population| Source::Auto {
        definition: Definition {
            population,
            measure,
        },
    };
    let everyone = Population {
        staff: "city".into(),
        ..Population::default()
    };
    // (code, axis, title, source, unit, target, direction)
    type Seed = (
        &'static str,
        &'static str,
        &'static str,
        Source,
        Unit,
        Option<f64>,
        Direction,
    );
    let mut seeds: Vec<Seed> = Vec::new();
    if let Some(m) = module("sexisme-et-harcelement") {
        seeds.push((
            "E5-ENC-HARC",
            "E5",
            "Personnes encadrantes titulaires d'une attestation valide du module sexisme et harcèlement",
            auto(
                Measure::ValidCertificate { module: m },
                Population {
                    managers_only: true,
                    staff: "city".into(),
                    ..Population::default()
                },
            ),
            Unit::Percent,
            Some(80.0),
            Direction::AtLeast,
        ));
    }
    if let Some(m) = module("recruter-sans-discriminer") {
        seeds.push((
            "E2-JURY",
            "E2",
            "Membres de jurys de recrutement formés avant leur jury",
            auto(Measure::OnTime { module: Some(m) }, everyone.clone()),
            Unit::Percent,
            Some(100.0),
            Direction::AtLeast,
        ));
    }
    seeds.extend([
        (
            "E1-DELAIS",
            "E1",
            "Obligations de formation suivies dans les délais",
            auto(Measure::OnTime { module: None }, everyone.clone()),
            Unit::Percent,
            Some(90.0),
            Direction::AtLeast,
        ),
        (
            "E1-RETARD",
            "E1",
            "Obligations de formation en retard",
            auto(Measure::Overdue { module: None }, everyone.clone()),
            Unit::Count,
            Some(0.0),
            Direction::AtMost,
        ),
        (
            "E1-SCORE",
            "E1",
            "Score moyen aux quiz des modules",
            auto(
                Measure::AverageScore { module: None },
                Population::default(),
            ),
            Unit::Mean,
            Some(75.0),
            Direction::AtLeast,
        ),
        (
            "E1-PARTENAIRES",
            "E1",
            "Personnel des structures partenaires formé en session partagée",
            auto(
                Measure::SharedTrained { offer: None },
                Population {
                    staff: "partners".into(),
                    ..Population::default()
                },
            ),
            Unit::Count,
            None,
            Direction::AtLeast,
        ),
        (
            "E1-PRESENCE",
            "E1",
            "Taux de présence aux sessions partagées",
            auto(
                Measure::AttendanceRate { offer: None },
                Population::default(),
            ),
            Unit::Percent,
            Some(85.0),
            Direction::AtLeast,
        ),
        (
            "E3-ECART-REM",
            "E3",
            "Écart de rémunération entre femmes et hommes (rapport social unique)",
            Source::Manual {
                min: -100.0,
                max: 100.0,
            },
            Unit::Percent,
            Some(5.0),
            Direction::AtMost,
        ),
    ]);
    for (code, axis, title, source, unit, target, direction) in seeds {
        store::seed_indicator(
            db,
            &Indicator {
                id: Uuid::new_v4(),
                code: code.into(),
                axis: axis.into(),
                action_id: None,
                title: title.into(),
                source,
                unit,
                target,
                direction,
                deadline: None,
            },
            now,
        )
        .await?;
    }
    Ok(())
}

/// The demo's plan, on a database without actions: its period, four actions (one late),
/// the pay gap of the last social report and a first snapshot, so that `cargo run` shows
/// the dashboard and the report at once.
pub async fn seed_demo(db: &Db, catalog: &Catalog, now: DateTime<Utc>) -> Result<()> {
    if !store::actions(db).await?.is_empty() {
        return Ok(());
    }
    let owner = |email: &'static str| async move {
        crate::on_db!(db, pool => sqlx::query_scalar::<_, Uuid>("SELECT id FROM users WHERE email = $1")
            .bind(email).fetch_optional(pool).await)
    };
    let (Some(hr), Some(manager)) = (
        owner("karim.benali@demo.reperes.test").await?,
        owner("jean-pierre.muller@demo.reperes.test").await?,
    ) else {
        return Ok(());
    };
    let today = paris_today(now);
    let year = today.year();
    let day = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d).unwrap_or(today);
    store::save_period(db, day(year, 1, 1), day(year + 2, 12, 31), hr, now).await?;
    let actions = [
        (
            "E1",
            "Installer le comité de suivi du plan",
            hr,
            day(year, 1, 15),
            day(year, 3, 31),
            ActionStatus::Done,
            100,
        ),
        (
            "E2",
            "Former les membres des jurys de recrutement",
            hr,
            day(year, 2, 1),
            today + chrono::Duration::days(20),
            ActionStatus::InProgress,
            60,
        ),
        (
            "E3",
            "Analyser les écarts de primes par filière",
            hr,
            day(year, 3, 1),
            today - chrono::Duration::days(10),
            ActionStatus::InProgress,
            40,
        ),
        (
            "E5",
            "Former l'encadrement au repérage du harcèlement",
            manager,
            day(year, 4, 1),
            day(year + 1, 6, 30),
            ActionStatus::NotStarted,
            0,
        ),
    ];
    for (axis, title, owner_id, starts_on, ends_on, status, progress) in actions {
        // A fixed id per demo action: instances starting together write the same rows.
        let digest = <sha2::Sha256 as sha2::Digest>::digest(title.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        let action = Action {
            id: Uuid::from_bytes(bytes),
            axis: axis.into(),
            title: title.into(),
            description: String::new(),
            owner_id,
            owner_name: String::new(),
            starts_on: starts_on.min(ends_on),
            ends_on,
            status,
            progress,
            modules: Vec::new(),
            offers: Vec::new(),
        };
        store::save_action(db, &action, hr, now).await?;
    }
    if let Some(gap) = store::indicators(db)
        .await?
        .into_iter()
        .find(|i| i.code == "E3-ECART-REM")
    {
        let last = year - 1;
        store::save_manual_value(
            db,
            gap.id,
            &last.to_string(),
            day(last, 12, 31),
            4.2,
            &format!("Rapport social unique {last}"),
            hr,
            now,
        )
        .await?;
    }
    // Slot `demo`: one demo snapshot, however many instances start together.
    take_snapshot(db, catalog, now, Some("demo"), Some(hr)).await?;
    Ok(())
}

/// A figure of the report without a filter: kept for the API's snapshot reading.
pub fn plain(v: &StoredValue, k: u64) -> Line {
    let unit = Unit::parse(&v.unit).unwrap_or(Unit::Number);
    filtered(v, &Filter::default(), unit, k)
}

/// The sum of a snapshot's cells, for tests and benchmarks.
pub fn sum_of(cells: &[Cell]) -> Sum {
    total(cells, &Filter::default())
}
