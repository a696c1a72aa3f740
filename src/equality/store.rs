//! SQL of the equality plan: its period, actions and comments, indicators and manual
//! values, the population and the per-person facts indicators aggregate, snapshots.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::{Action, ActionStatus, Cell, Definition, Direction, Indicator, Measure, Source, Unit};
use crate::db::{Arg, Db, WritePool};
use crate::error::{Error, Result};
use crate::on_db;

/// The plan's period, when HR recorded it.
pub async fn period(db: &Db) -> Result<Option<(NaiveDate, NaiveDate)>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT starts_on, ends_on FROM equality_plan WHERE id = 1")
        .fetch_optional(pool).await)?)
}

pub async fn save_period(
    db: &Db,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO equality_plan (id, starts_on, ends_on, updated_by, updated_at) VALUES (1, $1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET starts_on = $1, ends_on = $2, updated_by = $3, updated_at = $4")
        .bind(starts_on).bind(ends_on).bind(by).bind(now).execute(pool).await.map(|_| ()))?;
    Ok(())
}

#[derive(FromRow)]
struct ActionRow {
    id: Uuid,
    axis: String,
    title: String,
    description: String,
    owner_id: Uuid,
    owner_name: String,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    #[sqlx(try_from = "String")]
    status: ActionStatus,
    progress: i64,
    modules: String,
    offers: String,
}

impl From<ActionRow> for Action {
    fn from(r: ActionRow) -> Action {
        Action {
            id: r.id,
            axis: r.axis,
            title: r.title,
            description: r.description,
            owner_id: r.owner_id,
            owner_name: r.owner_name,
            starts_on: r.starts_on,
            ends_on: r.ends_on,
            status: r.status,
            progress: r.progress.clamp(0, 100) as u8,
            modules: r.modules.split_whitespace().map(String::from).collect(),
            offers: r
                .offers
                .split_whitespace()
                .filter_map(|o| Uuid::parse_str(o).ok())
                .collect(),
        }
    }
}

const ACTION_COLUMNS: &str =
    "a.id, a.axis, a.title, a.description, a.owner_id, u.display_name AS owner_name,
     a.starts_on, a.ends_on, a.status, a.progress, a.modules, a.offers
     FROM equality_actions a JOIN users u ON u.id = a.owner_id";

/// Every action, by axis and end date.
pub async fn actions(db: &Db) -> Result<Vec<Action>> {
    let sql = format!("SELECT {ACTION_COLUMNS} ORDER BY a.axis, a.ends_on, a.title");
    let rows: Vec<ActionRow> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(pool).await)?;
    Ok(rows.into_iter().map(Action::from).collect())
}

pub async fn action(db: &Db, id: Uuid) -> Result<Option<Action>> {
    let sql = format!("SELECT {ACTION_COLUMNS} WHERE a.id = $1");
    let row: Option<ActionRow> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id).fetch_optional(pool).await)?;
    Ok(row.map(Action::from))
}

/// Creates or replaces an action.
pub async fn save_action(db: &Db, a: &Action, by: Uuid, now: DateTime<Utc>) -> Result<()> {
    let modules = a.modules.join(" ");
    let offers = a
        .offers
        .iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    on_db!(db, pool => sqlx::query(
        "INSERT INTO equality_actions (id, axis, title, description, owner_id, starts_on, ends_on, status,
                                       progress, modules, offers, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
         ON CONFLICT (id) DO UPDATE SET axis = $2, title = $3, description = $4, owner_id = $5,
             starts_on = $6, ends_on = $7, status = $8, progress = $9, modules = $10, offers = $11,
             updated_at = $13")
        .bind(a.id).bind(&a.axis).bind(&a.title).bind(&a.description).bind(a.owner_id)
        .bind(a.starts_on).bind(a.ends_on).bind(a.status.code()).bind(i64::from(a.progress))
        .bind(&modules).bind(&offers).bind(by).bind(now)
        .execute(pool).await.map(|_| ()))?;
    Ok(())
}

/// A dated comment on an action.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Comment {
    pub author_name: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

pub async fn comments(db: &Db, action: Uuid) -> Result<Vec<Comment>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT author_name, body, created_at FROM equality_action_comments WHERE action_id = $1
         ORDER BY created_at, id")
        .bind(action).fetch_all(pool).await)?)
}

pub async fn add_comment(
    db: &Db,
    action: Uuid,
    author: Uuid,
    author_name: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO equality_action_comments (id, action_id, author_id, author_name, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(Uuid::new_v4()).bind(action).bind(author).bind(author_name).bind(body).bind(now)
        .execute(pool).await.map(|_| ()))?;
    Ok(())
}

/// The name of an active person, to check an action's owner.
pub async fn person_name(db: &Db, id: Uuid) -> Result<Option<String>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT display_name FROM users WHERE id = $1 AND active")
        .bind(id).fetch_optional(pool).await)?)
}

/// People who may own an action: the city's active staff (not partner staff), by name.
pub async fn owners(db: &Db) -> Result<Vec<(Uuid, String)>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, display_name FROM users WHERE active AND partner_id IS NULL
         AND role IN ('hr', 'manager', 'admin', 'trainer') ORDER BY display_name, id")
        .fetch_all(pool).await)?)
}

#[derive(FromRow)]
struct IndicatorRow {
    id: Uuid,
    code: String,
    axis: String,
    action_id: Option<Uuid>,
    title: String,
    kind: String,
    definition: Option<String>,
    unit: String,
    min_value: Option<f64>,
    max_value: Option<f64>,
    target: Option<f64>,
    direction: String,
    deadline: Option<NaiveDate>,
}

impl IndicatorRow {
    fn into_indicator(self) -> Option<Indicator> {
        let source = match self.kind.as_str() {
            "manual" => Source::Manual {
                min: self.min_value.unwrap_or(f64::MIN),
                max: self.max_value.unwrap_or(f64::MAX),
            },
            _ => Source::Auto {
                definition: serde_json::from_str::<Definition>(self.definition.as_deref()?).ok()?,
            },
        };
        Some(Indicator {
            id: self.id,
            code: self.code,
            axis: self.axis,
            action_id: self.action_id,
            title: self.title,
            source,
            unit: Unit::parse(&self.unit).unwrap_or(Unit::Number),
            target: self.target,
            direction: Direction::parse(&self.direction).unwrap_or(Direction::AtLeast),
            deadline: self.deadline,
        })
    }
}

const INDICATOR_COLUMNS: &str =
    "id, code, axis, action_id, title, kind, definition, unit, min_value, max_value,
     target, direction, deadline FROM equality_indicators";

/// Every indicator, by axis and code. A definition that no longer parses is skipped with
/// a log line rather than failing every page.
pub async fn indicators(db: &Db) -> Result<Vec<Indicator>> {
    let sql = format!("SELECT {INDICATOR_COLUMNS} ORDER BY axis, code");
    let rows: Vec<IndicatorRow> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let id = r.id;
            let i = r.into_indicator();
            if i.is_none() {
                tracing::error!(indicator = %id, "indicator definition unreadable");
            }
            i
        })
        .collect())
}

pub async fn indicator(db: &Db, id: Uuid) -> Result<Option<Indicator>> {
    let sql = format!("SELECT {INDICATOR_COLUMNS} WHERE id = $1");
    let row: Option<IndicatorRow> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id).fetch_optional(pool).await)?;
    Ok(row.and_then(IndicatorRow::into_indicator))
}

pub async fn code_taken(db: &Db, code: &str, except: Uuid) -> Result<bool> {
    let n: i64 = on_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM equality_indicators WHERE code = $1 AND id <> $2")
        .bind(code).bind(except).fetch_one(pool).await)?;
    Ok(n > 0)
}

/// Creates or replaces an indicator.
pub async fn save_indicator(db: &Db, i: &Indicator, now: DateTime<Utc>) -> Result<()> {
    write_indicator(db, i, now, "ON CONFLICT (id) DO UPDATE SET code = $2, axis = $3, action_id = $4, title = $5, kind = $6,
             definition = $7, unit = $8, min_value = $9, max_value = $10, target = $11, direction = $12,
             deadline = $13, updated_at = $14").await
}

/// Creates an indicator unless its code exists (the seed, which instances starting
/// together may run at the same moment).
pub async fn seed_indicator(db: &Db, i: &Indicator, now: DateTime<Utc>) -> Result<()> {
    write_indicator(db, i, now, "ON CONFLICT DO NOTHING").await
}

async fn write_indicator(
    db: &Db,
    i: &Indicator,
    now: DateTime<Utc>,
    on_conflict: &str,
) -> Result<()> {
    let (kind, definition, min, max) = match &i.source {
        Source::Auto { definition } => (
            "auto",
            Some(serde_json::to_string(definition).unwrap_or_default()),
            None,
            None,
        ),
        Source::Manual { min, max } => ("manual", None, Some(*min), Some(*max)),
    };
    let sql = format!(
        "INSERT INTO equality_indicators (id, code, axis, action_id, title, kind, definition, unit, min_value,
                                          max_value, target, direction, deadline, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) {on_conflict}"
    );
    on_db!(db, pool => sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(i.id).bind(&i.code).bind(&i.axis).bind(i.action_id).bind(&i.title).bind(kind)
        .bind(definition).bind(i.unit.code()).bind(min).bind(max).bind(i.target)
        .bind(i.direction.code()).bind(i.deadline).bind(now)
        .execute(pool).await.map(|_| ()))?;
    Ok(())
}

/// A value typed in by HR for a period.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct ManualValue {
    pub indicator_id: Uuid,
    pub period: String,
    pub period_end: NaiveDate,
    pub value: f64,
    pub source: String,
    pub entered_at: DateTime<Utc>,
}

pub async fn manual_values(db: &Db, indicator: Uuid) -> Result<Vec<ManualValue>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT indicator_id, period, period_end, value, source, entered_at FROM equality_manual_values
         WHERE indicator_id = $1 ORDER BY period_end")
        .bind(indicator).fetch_all(pool).await)?)
}

/// The latest value of every manual indicator whose period ended by `day`.
pub async fn latest_manual(db: &Db, day: NaiveDate) -> Result<HashMap<Uuid, ManualValue>> {
    let rows: Vec<ManualValue> = on_db!(db, pool => sqlx::query_as(
        "SELECT indicator_id, period, period_end, value, source, entered_at FROM equality_manual_values
         WHERE period_end <= $1 ORDER BY period_end")
        .bind(day).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|v| (v.indicator_id, v)).collect())
}

/// Records (or corrects) the value of a period.
#[allow(clippy::too_many_arguments)] // the value's fields
pub async fn save_manual_value(
    db: &Db,
    indicator: Uuid,
    period: &str,
    period_end: NaiveDate,
    value: f64,
    source: &str,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO equality_manual_values (id, indicator_id, period, period_end, value, source, entered_by, entered_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (indicator_id, period) DO UPDATE SET value = $5, source = $6, entered_by = $7, entered_at = $8")
        .bind(Uuid::new_v4()).bind(indicator).bind(period).bind(period_end).bind(value).bind(source)
        .bind(by).bind(now).execute(pool).await.map(|_| ()))?;
    Ok(())
}

/// What a measure needs besides the database.
pub struct Window {
    /// Since the plan started (the beginning of time without a plan).
    pub since: DateTime<Utc>,
    /// The instant measured.
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
    /// Validity of the module's certificates in months (0: no end).
    pub validity_months: u32,
}

/// A measure as SQL: a subquery giving one row per person (`user_id, num, den`), its
/// binds, and whether people without a row count in the denominator as `(0, 1)` (a share
/// or a count over the population) or not at all (an average, a rate).
fn measure_sql(db: &Db, m: &Measure, w: &Window) -> (String, Vec<Arg>, bool) {
    let module = Arg::OptText(m.module().map(str::to_string));
    let offer = Arg::OptId(m.offer());
    match m {
        Measure::ValidCertificate { module } => {
            let cutoff = if w.validity_months == 0 {
                DateTime::<Utc>::UNIX_EPOCH
            } else {
                w.now
                    .checked_sub_months(chrono::Months::new(w.validity_months))
                    .unwrap_or(w.now)
            };
            (
                "SELECT user_id, 1 AS num, 1 AS den FROM certificates
                 WHERE module_slug = $1 AND revoked_at IS NULL AND issued_at >= $2 AND #R(user_id)# GROUP BY user_id"
                    .into(),
                vec![Arg::OptText(Some(module.clone())), Arg::Time(cutoff)],
                true,
            )
        }
        Measure::Completed { .. } => (
            "SELECT user_id, 1 AS num, 1 AS den FROM completions
             WHERE completed_at >= $1 AND completed_at <= $2 AND ($3 IS NULL OR module_slug = $3) AND #R(user_id)#
             GROUP BY user_id"
                .into(),
            vec![Arg::Time(w.since), Arg::Time(w.now), module],
            true,
        ),
        Measure::OnTime { .. } => {
            // Completed by the end of the due day: 22:00 UTC, midnight in Paris in summer
            // (in winter, the last hour of the day counts as late: never the reverse).
            let bound = match db {
                Db::Sqlite(_) => "due_on || 'T22:00:00+00:00'",
                Db::Postgres(_) => "((due_on + TIME '22:00') AT TIME ZONE 'UTC')",
            };
            (
                format!(
                    "SELECT user_id, SUM(CASE WHEN completed_at IS NOT NULL AND completed_at < {bound} THEN 1 ELSE 0 END) AS num,
                            COUNT(*) AS den
                     FROM obligations
                     WHERE due_on >= $1 AND due_on <= $2 AND ($3 IS NULL OR module_slug = $3) AND closure IS NULL AND #R(user_id)#
                     GROUP BY user_id"
                ),
                vec![
                    Arg::Date(crate::certificates::paris_today(w.since)),
                    Arg::Date(w.today),
                    module,
                ],
                false,
            )
        }
        Measure::Overdue { .. } => (
            "SELECT user_id, COUNT(*) AS num, 1 AS den FROM obligations
             WHERE current AND completed_at IS NULL AND closed_at IS NULL AND due_on < $1
               AND ($2 IS NULL OR module_slug = $2) AND #R(user_id)#
             GROUP BY user_id"
                .into(),
            vec![Arg::Date(w.today), module],
            true,
        ),
        // Each person's best score per module, summed with the number of modules.
        Measure::AverageScore { .. } => (
            match db {
                // When a person has one completion per module in the window (the common
                // case: one per certification cycle), that is the plain sum and count of one
                // pass in the order of the person-module index; only people with several
                // completions of a module read their best ones again. Nesting the two
                // groupings made every (person, module) a row and sorted them all by person
                // (a million completions: about 470 → 320 ms per half of the people).
                Db::Sqlite(_) => {
                    "SELECT user_id,
                            CASE WHEN COUNT(*) = COUNT(DISTINCT module_slug) THEN SUM(score)
                            ELSE (SELECT SUM(best) FROM (
                                      SELECT MAX(c.score) AS best FROM completions c
                                      WHERE c.user_id = completions.user_id AND c.completed_at >= $1
                                        AND c.completed_at <= $2 AND ($3 IS NULL OR c.module_slug = $3)
                                      GROUP BY c.module_slug) b)
                            END AS num,
                            COUNT(DISTINCT module_slug) AS den
                     FROM completions
                     WHERE completed_at >= $1 AND completed_at <= $2 AND ($3 IS NULL OR module_slug = $3) AND #R(user_id)#
                     GROUP BY user_id"
                }
                // PostgreSQL streams the nested groupings in index order; its COUNT(DISTINCT)
                // sorts each person's rows instead (140 → 260 ms per half).
                Db::Postgres(_) => {
                    "SELECT user_id, SUM(best) AS num, COUNT(*) AS den FROM (
                         SELECT user_id, module_slug, MAX(score) AS best FROM completions
                         WHERE completed_at >= $1 AND completed_at <= $2 AND ($3 IS NULL OR module_slug = $3) AND #R(user_id)#
                         GROUP BY user_id, module_slug) b
                     GROUP BY user_id"
                }
            }
            .into(),
            vec![Arg::Time(w.since), Arg::Time(w.now), module],
            false,
        ),
        Measure::SharedTrained { .. } => (
            "SELECT e.user_id, 1 AS num, 1 AS den FROM enrolments e JOIN training_sessions s ON s.id = e.session_id
             WHERE e.attended_at IS NOT NULL AND e.attended_at >= $1 AND e.attended_at <= $2
               AND ($3 IS NULL OR s.offer_id = $3) AND #R(e.user_id)#
             GROUP BY e.user_id"
                .into(),
            vec![Arg::Time(w.since), Arg::Time(w.now), offer],
            true,
        ),
        Measure::AttendanceRate { .. } => (
            "SELECT e.user_id, SUM(CASE WHEN a.status = 'present' THEN 1 ELSE 0 END) AS num, COUNT(*) AS den
             FROM attendance a JOIN enrolments e ON e.id = a.enrolment_id
             JOIN training_sessions s ON s.id = e.session_id
             WHERE a.status IN ('present', 'absent') AND a.marked_at >= $1 AND a.marked_at <= $2
               AND ($3 IS NULL OR s.offer_id = $3) AND #R(e.user_id)#
             GROUP BY e.user_id"
                .into(),
            vec![Arg::Time(w.since), Arg::Time(w.now), offer],
            false,
        ),
    }
}

/// People who share every attribute aggregates split or filter by, with the sums of a
/// measure: what crosses the driver is a few thousand groups, not every person.
#[derive(Debug, Clone, FromRow)]
pub struct Group {
    /// The territorial axis (0 when not grouped by axis).
    pub axis: i64,
    pub unit: String,
    pub audiences: String,
    pub sex: String,
    pub category: String,
    pub partner: String,
    pub manages: bool,
    pub people: i64,
    pub num: f64,
    pub den: f64,
}

/// The active people grouped by unit, audiences, sex, category, partner and management
/// duty, with the sums of a measure (grouped in SQL).
pub async fn groups(db: &Db, m: &Measure, w: &Window, unit: Unit) -> Result<Vec<Group>> {
    let (facts, binds, per_person) = measure_sql(db, m, w);
    grouped(db, facts, binds, per_person, unit).await
}

/// The people trained over a period on each territorial axis, grouped as [`groups`] does
/// with the axis (`Group::axis`): a completion of a module carrying the axis
/// (`module_axes`: module, axis), or a session attended of an offer carrying it.
///
/// One pass for every axis: each person's completions give the list of their modules
/// (read in the order of the person-module index, no sort), the attended sessions the
/// axes of their offers; the directory is joined once and grouped with that list, and the
/// lists (a few distinct ones) are turned into axes here. Testing every module against
/// every axis in SQL instead cost five `IN` tests per completion (a million completions:
/// about 414 → 335 ms per half of the people on SQLite). The two halves of the person ids
/// run at once.
pub async fn trained_by_axis(
    db: &Db,
    module_axes: &[(String, u8)],
    axes: &[u8],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Group>> {
    if axes.is_empty() {
        return Ok(Vec::new());
    }
    let binds = vec![Arg::Time(from), Arg::Time(to)];
    // A person's list may repeat a module (a recertification): the axes are a set.
    let list = |expression: &str| match db {
        Db::Sqlite(_) => format!("group_concat({expression})"),
        Db::Postgres(_) => format!("string_agg({expression}, ',')"),
    };
    let facts = format!(
        "SELECT user_id, {} AS tags FROM (
             SELECT user_id, {} AS tags FROM completions
             WHERE completed_at >= $1 AND completed_at < $2 AND #R(user_id)#
             GROUP BY user_id
             UNION ALL
             SELECT e.user_id, {} FROM enrolments e JOIN training_sessions s ON s.id = e.session_id
             JOIN training_offers o ON o.id = s.offer_id
             WHERE e.attended_at IS NOT NULL AND e.attended_at >= $1 AND e.attended_at < $2
               AND #R(e.user_id)#
             GROUP BY e.user_id) x
         GROUP BY user_id",
        list("tags"),
        list("module_slug"),
        list("o.axes")
    );
    let half = |upper: bool| {
        let range = range_of(db, Some(upper));
        let sql = format!(
            "SELECT COALESCE(o.path, '') AS unit, u.audiences, COALESCE(u.sex, '') AS sex,
                    COALESCE(u.category, '') AS category, COALESCE(p.name, '') AS partner, u.manages,
                    f.tags, COUNT(*) AS people
             FROM users u LEFT JOIN org_units o ON o.id = u.org_unit_id LEFT JOIN partners p ON p.id = u.partner_id
             JOIN ({}) f ON f.user_id = u.id
             WHERE u.active AND {}
             GROUP BY COALESCE(o.path, ''), u.audiences, COALESCE(u.sex, ''), COALESCE(u.category, ''),
                      COALESCE(p.name, ''), u.manages, f.tags",
            with_range(&facts, &range),
            range("u.id")
        );
        let (db, binds) = (db.clone(), binds.clone());
        tokio::spawn(async move {
            Ok::<_, Error>(on_db!(&db, pool => {
                crate::bind_args!(sqlx::query_as::<_, TaggedGroup>(sqlx::AssertSqlSafe(sql.as_str())), &binds)
                    .persistent(false)
                    .fetch_all(pool)
                    .await?
            }))
        })
    };
    let (lower, upper) = (half(false), half(true));
    let joined = |e: tokio::task::JoinError| Error::Internal(format!("territorial groups: {e}"));
    let mut rows = lower.await.map_err(joined)??;
    rows.extend(upper.await.map_err(joined)??);
    // The people of each group of attributes, per axis: lists that differ (the order of a
    // person's sessions and modules, a module repeated) but serve the same axes add up.
    let mut axes_of: HashMap<String, Vec<u8>> = HashMap::new();
    let mut people: HashMap<(u8, Attributes), i64> = HashMap::new();
    for row in rows {
        let served = axes_of
            .entry(row.tags)
            .or_insert_with_key(|tags| axes_of_tags(tags, module_axes, axes));
        for axis in served.iter() {
            let key = (
                *axis,
                (
                    row.unit.clone(),
                    row.audiences.clone(),
                    row.sex.clone(),
                    row.category.clone(),
                    row.partner.clone(),
                    row.manages,
                ),
            );
            *people.entry(key).or_default() += row.people;
        }
    }
    Ok(people
        .into_iter()
        .map(
            |((axis, (unit, audiences, sex, category, partner, manages)), n)| Group {
                axis: i64::from(axis),
                unit,
                audiences,
                sex,
                category,
                partner,
                manages,
                people: n,
                num: n as f64,
                den: n as f64,
            },
        )
        .collect())
}

/// What a group's people share: unit, audiences, sex, category, partner, management duty.
type Attributes = (String, String, String, String, String, bool);

/// People who share their attributes and the list of what trained them.
#[derive(FromRow)]
struct TaggedGroup {
    unit: String,
    audiences: String,
    sex: String,
    category: String,
    partner: String,
    manages: bool,
    tags: String,
    people: i64,
}

/// The territorial axes (among `axes`) a person's list serves: module slugs, and offers'
/// axis codes (`T2`; the equality plan's `E1`… are not territorial).
fn axes_of_tags(tags: &str, module_axes: &[(String, u8)], axes: &[u8]) -> Vec<u8> {
    let mut served: Vec<u8> = Vec::new();
    for tag in tags.split([',', ' ']).filter(|t| !t.is_empty()) {
        let found = match tag.strip_prefix('T').and_then(|n| n.parse::<u8>().ok()) {
            Some(axis) => vec![axis],
            None => module_axes
                .iter()
                .filter(|(m, _)| m == tag)
                .map(|(_, a)| *a)
                .collect(),
        };
        for axis in found {
            if axes.contains(&axis) && !served.contains(&axis) {
                served.push(axis);
            }
        }
    }
    served.sort_unstable();
    served
}

/// The active people grouped with the sums of `facts`, a subquery giving one row per
/// person (`user_id, num, den`) whose conditions hold `#R(column)#` where the person's id
/// is limited; `per_person`: a person without a row counts as (0, 1).
///
/// When the facts drive the join (not `per_person`), the two halves of the person ids are
/// grouped at once, on two connections (two threads on SQLite): each reads half of the
/// indexes the measure scans (the average score over a million completions: 986 → 597 ms
/// on SQLite). Groups are additive over disjoint people, and `cells_of_groups` sums the
/// groups that share their attributes, so the two lists are simply put together. A
/// per-person measure reads the whole directory anyway: split, each half read it through
/// the id index instead of in one scan, which was slower (E5-ENC-HARC 357 → 597 ms).
async fn grouped(
    db: &Db,
    facts: String,
    binds: Vec<Arg>,
    per_person: bool,
    unit: Unit,
) -> Result<Vec<Group>> {
    if per_person {
        let sql = group_sql(db, &facts, per_person, unit, None);
        return run_grouped(db, &sql, &binds).await;
    }
    let half = |upper: bool| {
        let sql = group_sql(db, &facts, per_person, unit, Some(upper));
        let (db, binds) = (db.clone(), binds.clone());
        tokio::spawn(async move { run_grouped(&db, &sql, &binds).await })
    };
    let (lower, upper) = (half(false), half(true));
    let joined = |e: tokio::task::JoinError| Error::Internal(format!("indicator groups: {e}"));
    let mut out = lower.await.map_err(joined)??;
    out.extend(upper.await.map_err(joined)??);
    Ok(out)
}

/// The condition that keeps one half of the person ids in a column (`Some(false)`: below
/// the middle id; `Some(true)`: from it up), or everyone (`None`).
fn range_of(db: &Db, half: Option<bool>) -> impl Fn(&str) -> String {
    // A constant of the code, never input: written in the SQL of each backend.
    let middle = match db {
        Db::Sqlite(_) => "x'80000000000000000000000000000000'",
        Db::Postgres(_) => "'80000000-0000-0000-0000-000000000000'::uuid",
    };
    move |column: &str| match half {
        None => "1 = 1".to_string(),
        Some(upper) => format!("{column} {} {middle}", if upper { ">=" } else { "<" }),
    }
}

/// `facts` with its `#R(column)#` markers replaced by `range` of the column.
fn with_range(facts: &str, range: &dyn Fn(&str) -> String) -> String {
    facts
        .replace("#R(user_id)#", &range("user_id"))
        .replace("#R(e.user_id)#", &range("e.user_id"))
}

/// The grouping query of everyone (`half`: `None`) or of one half of the person ids
/// (`Some(false)`: below the middle one; `Some(true)`: from it up).
fn group_sql(db: &Db, facts: &str, per_person: bool, unit: Unit, half: Option<bool>) -> String {
    let range = range_of(db, half);
    let facts = with_range(facts, &range);
    let (join, default_den) = if per_person {
        ("LEFT JOIN", "1")
    } else {
        ("JOIN", "0")
    };
    let counted = match unit {
        Unit::Count => "COALESCE(f.num, 0) > 0".to_string(),
        _ => format!("COALESCE(f.den, {default_den}) > 0"),
    };
    format!(
        "SELECT CAST(0 AS BIGINT) AS axis, COALESCE(o.path, '') AS unit, u.audiences, COALESCE(u.sex, '') AS sex,
                COALESCE(u.category, '') AS category, COALESCE(p.name, '') AS partner, u.manages,
                SUM(CASE WHEN {counted} THEN 1 ELSE 0 END) AS people,
                CAST(SUM(COALESCE(f.num, 0)) AS DOUBLE PRECISION) AS num,
                CAST(SUM(COALESCE(f.den, {default_den})) AS DOUBLE PRECISION) AS den
         FROM users u LEFT JOIN org_units o ON o.id = u.org_unit_id LEFT JOIN partners p ON p.id = u.partner_id
         {join} ({facts}) f ON f.user_id = u.id
         WHERE u.active AND {}
         GROUP BY COALESCE(o.path, ''), u.audiences, COALESCE(u.sex, ''), COALESCE(u.category, ''),
                  COALESCE(p.name, ''), u.manages",
        range("u.id")
    )
}

/// Planned for its parameters at each run (`persistent(false)`): PostgreSQL switches a
/// prepared statement to a generic plan after five runs, and for these aggregates over a
/// million rows that plan (parallel sequential scans, sorts) made the territorial review
/// climb from half a second to two after a few requests.
async fn run_grouped(db: &Db, sql: &str, binds: &[Arg]) -> Result<Vec<Group>> {
    Ok(on_db!(db, pool => {
        crate::bind_args!(sqlx::query_as::<_, Group>(sqlx::AssertSqlSafe(sql)), binds)
            .persistent(false)
            .fetch_all(pool)
            .await?
    }))
}

/// One indicator's value as a snapshot keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredValue {
    pub indicator_id: Uuid,
    pub code: String,
    pub title: String,
    pub axis: String,
    pub unit: String,
    pub target: Option<f64>,
    pub direction: String,
    pub deadline: Option<NaiveDate>,
    pub source: String,
    pub people: i64,
    pub value: Option<f64>,
    pub cells: Vec<Cell>,
}

/// A snapshot's heading.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct SnapshotHead {
    pub id: Uuid,
    pub taken_on: NaiveDate,
    pub taken_at: DateTime<Utc>,
    pub slot: Option<String>,
    pub plan_from: Option<NaiveDate>,
    pub plan_to: Option<NaiveDate>,
}

/// Stores a snapshot in one transaction. With a `slot` (the monthly job), a second
/// snapshot of the same slot is not taken: returns `None`.
#[allow(clippy::too_many_arguments)] // the snapshot's parts
pub async fn insert_snapshot(
    db: &Db,
    taken_on: NaiveDate,
    now: DateTime<Utc>,
    slot: Option<&str>,
    by: Option<Uuid>,
    actions: &[Action],
    plan: Option<(NaiveDate, NaiveDate)>,
    values: &[StoredValue],
) -> Result<Option<Uuid>> {
    let id = Uuid::new_v4();
    let actions = serde_json::to_string(actions).unwrap_or_else(|_| "[]".into());
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let inserted = sqlx::query(
            "INSERT INTO equality_snapshots (id, taken_on, taken_at, slot, taken_by, actions, plan_from, plan_to)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (slot) DO NOTHING")
            .bind(id).bind(taken_on).bind(now).bind(slot).bind(by).bind(&actions)
            .bind(plan.map(|p| p.0)).bind(plan.map(|p| p.1))
            .execute(&mut *conn).await?.rows_affected();
        if inserted == 0 {
            return Ok(None);
        }
        for v in values {
            sqlx::query(
                "INSERT INTO equality_snapshot_values (snapshot_id, indicator_id, code, title, axis, unit, target,
                     direction, deadline, source, people, value, cells)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
                .bind(id).bind(v.indicator_id).bind(&v.code).bind(&v.title).bind(&v.axis).bind(&v.unit)
                .bind(v.target).bind(&v.direction).bind(v.deadline).bind(&v.source).bind(v.people)
                .bind(v.value).bind(serde_json::to_string(&v.cells).unwrap_or_else(|_| "[]".into()))
                .execute(&mut *conn).await?;
        }
        tx.commit().await?;
    });
    Ok(Some(id))
}

const HEAD_COLUMNS: &str =
    "id, taken_on, taken_at, slot, plan_from, plan_to FROM equality_snapshots";

/// Snapshots, newest first.
pub async fn snapshots(db: &Db, limit: i64) -> Result<Vec<SnapshotHead>> {
    let sql = format!(
        "SELECT {HEAD_COLUMNS} ORDER BY taken_at DESC, id {}",
        crate::db::limit(limit, 0)
    );
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(pool).await)?,
    )
}

pub async fn snapshot(db: &Db, id: Uuid) -> Result<Option<SnapshotHead>> {
    let sql = format!("SELECT {HEAD_COLUMNS} WHERE id = $1");
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id).fetch_optional(pool).await)?,
    )
}

/// The plan's actions as they stood at a snapshot.
pub async fn snapshot_actions(db: &Db, id: Uuid) -> Result<Vec<serde_json::Value>> {
    let text: Option<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT actions FROM equality_snapshots WHERE id = $1")
        .bind(id).fetch_optional(pool).await)?;
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default())
}

#[derive(FromRow)]
struct ValueRow {
    indicator_id: Uuid,
    code: String,
    title: String,
    axis: String,
    unit: String,
    target: Option<f64>,
    direction: String,
    deadline: Option<NaiveDate>,
    source: String,
    people: i64,
    value: Option<f64>,
    cells: String,
}

impl ValueRow {
    fn stored(self, with_cells: bool) -> StoredValue {
        StoredValue {
            indicator_id: self.indicator_id,
            code: self.code,
            title: self.title,
            axis: self.axis,
            unit: self.unit,
            target: self.target,
            direction: self.direction,
            deadline: self.deadline,
            source: self.source,
            people: self.people,
            value: self.value,
            cells: if with_cells {
                serde_json::from_str(&self.cells).unwrap_or_default()
            } else {
                Vec::new()
            },
        }
    }
}

/// The values of a snapshot, with their cells when `with_cells`.
pub async fn snapshot_values(db: &Db, id: Uuid, with_cells: bool) -> Result<Vec<StoredValue>> {
    let cells = if with_cells { "cells" } else { "'' AS cells" };
    let sql = format!(
        "SELECT indicator_id, code, title, axis, unit, target, direction, deadline, source, people, value, {cells}
         FROM equality_snapshot_values WHERE snapshot_id = $1 ORDER BY axis, code"
    );
    let rows: Vec<ValueRow> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|r| r.stored(with_cells)).collect())
}

/// An indicator's values over the snapshots taken between two days, oldest first, with
/// their cells when `with_cells` (to filter them).
pub async fn trend(
    db: &Db,
    indicator: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    with_cells: bool,
) -> Result<Vec<(NaiveDate, StoredValue)>> {
    let cells = if with_cells { "v.cells" } else { "'' AS cells" };
    let sql = format!(
        "SELECT s.taken_on, v.indicator_id, v.code, v.title, v.axis, v.unit, v.target, v.direction, v.deadline,
                v.source, v.people, v.value, {cells}
         FROM equality_snapshot_values v JOIN equality_snapshots s ON s.id = v.snapshot_id
         WHERE v.indicator_id = $1 AND s.taken_on >= $2 AND s.taken_on <= $3
         ORDER BY s.taken_at"
    );
    #[derive(FromRow)]
    struct Row {
        taken_on: NaiveDate,
        #[sqlx(flatten)]
        value: ValueRow,
    }
    let rows: Vec<Row> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(indicator).bind(from).bind(to).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.taken_on, r.value.stored(with_cells)))
        .collect())
}

/// Open actions with their owner's address, for the reminders.
#[derive(Debug, Clone, FromRow)]
pub struct OwnedAction {
    pub id: Uuid,
    pub title: String,
    pub ends_on: NaiveDate,
    pub owner_id: Uuid,
}

pub async fn open_actions(db: &Db) -> Result<Vec<OwnedAction>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT a.id, a.title, a.ends_on, a.owner_id FROM equality_actions a JOIN users u ON u.id = a.owner_id
         WHERE a.status IN ('not_started', 'in_progress') AND u.active ORDER BY a.ends_on, a.id")
        .fetch_all(pool).await)?)
}
