//! SQL for assignment rules and obligation cycles.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::{Candidate, Closure, DueFrom, Rule, State, Target, EXPIRING_DAYS};
use crate::audit::Event;
use crate::catalog::Audience;
use crate::db::{Arg, Db, WritePool};
use crate::error::Result;
use crate::people::store::{in_subtree, parse_audiences, visibility_condition};
use crate::people::Visibility;
use crate::{bind_args, on_db};

#[derive(FromRow)]
struct RuleRow {
    id: Uuid,
    name: String,
    module_slug: String,
    audience: Option<String>,
    org_unit: Option<String>,
    partner_id: Option<Uuid>,
    arrived_after: Option<NaiveDate>,
    title_word: Option<String>,
    due_days: i64,
    #[sqlx(try_from = "String")]
    due_from: DueFrom,
    active: bool,
}

impl From<RuleRow> for Rule {
    fn from(r: RuleRow) -> Rule {
        Rule {
            id: r.id,
            name: r.name,
            module_slug: r.module_slug,
            target: Target {
                audience: r.audience.as_deref().and_then(Audience::parse),
                org_unit: r.org_unit,
                partner_id: r.partner_id,
                arrived_after: r.arrived_after,
                title_word: r.title_word,
            },
            due_days: u32::try_from(r.due_days).unwrap_or(0),
            due_from: r.due_from,
            active: r.active,
        }
    }
}

const RULE_SELECT: &str = "SELECT id, name, module_slug, audience, org_unit, partner_id, \
    arrived_after, title_word, due_days, due_from, active FROM assignment_rules";

/// Every rule, active or not, oldest first.
pub async fn rules(db: &Db) -> Result<Vec<Rule>> {
    let sql = format!("{RULE_SELECT} ORDER BY created_at, id");
    let rows: Vec<RuleRow> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(pool).await)?;
    Ok(rows.into_iter().map(Rule::from).collect())
}

pub async fn rule(db: &Db, id: Uuid) -> Result<Option<Rule>> {
    let sql = format!("{RULE_SELECT} WHERE id = $1");
    let row: Option<RuleRow> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id).fetch_optional(pool).await)?;
    Ok(row.map(Rule::from))
}

/// Writes a rule (new or changed) and its audit line in one transaction.
pub async fn save_rule(
    db: &Db,
    rule: &Rule,
    by: Option<Uuid>,
    now: DateTime<Utc>,
    event: &Event,
) -> Result<()> {
    let t = &rule.target;
    let audience = t.audience.map(|a| a.code());
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let updated = sqlx::query(
            "UPDATE assignment_rules SET name = $1, module_slug = $2, audience = $3, org_unit = $4,
                    partner_id = $5, arrived_after = $6, title_word = $7, due_days = $8,
                    due_from = $9, active = $10, updated_at = $11
             WHERE id = $12"
        ).bind(&rule.name).bind(&rule.module_slug).bind(audience).bind(&t.org_unit)
            .bind(t.partner_id).bind(t.arrived_after).bind(&t.title_word)
            .bind(i64::from(rule.due_days)).bind(rule.due_from.code()).bind(rule.active)
            .bind(now).bind(rule.id)
            .execute(&mut *conn).await?.rows_affected();
        if updated == 0 {
            sqlx::query(
                "INSERT INTO assignment_rules (id, name, module_slug, audience, org_unit, partner_id,
                        arrived_after, title_word, due_days, due_from, active, created_by, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)"
            ).bind(rule.id).bind(&rule.name).bind(&rule.module_slug).bind(audience).bind(&t.org_unit)
                .bind(t.partner_id).bind(t.arrived_after).bind(&t.title_word)
                .bind(i64::from(rule.due_days)).bind(rule.due_from.code()).bind(rule.active)
                .bind(by).bind(now)
                .execute(&mut *conn).await?;
        }
        crate::audit::store::insert_event!(conn, event, now)?;
        tx.commit().await?;
    });
    Ok(())
}

#[derive(FromRow)]
struct CandidateRow {
    id: Uuid,
    audiences: String,
    org_path: Option<String>,
    partner_id: Option<Uuid>,
    hire_date: Option<NaiveDate>,
    job_title: Option<String>,
}

/// Every active person, as rules see them.
pub async fn candidates(db: &Db) -> Result<Vec<Candidate>> {
    let rows: Vec<CandidateRow> = on_db!(db, pool => sqlx::query_as(
        "SELECT u.id, u.audiences, o.path AS org_path, u.partner_id, u.hire_date, u.job_title
         FROM users u LEFT JOIN org_units o ON o.id = u.org_unit_id WHERE u.active"
    ).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|r| Candidate {
            id: r.id,
            audiences: parse_audiences(&r.audiences),
            org_path: r.org_path,
            partner_id: r.partner_id,
            hire_date: r.hire_date,
            job_title: r.job_title,
        })
        .collect())
}

/// The latest cycle of a person and module, as the sweep needs it.
#[derive(Debug, Clone, FromRow)]
pub struct LatestCycle {
    pub user_id: Uuid,
    pub module_slug: String,
    pub cycle: i64,
    pub completed_at: Option<DateTime<Utc>>,
    pub valid_until: Option<NaiveDate>,
    pub closure: Option<String>,
}

/// The current cycle of every person and module.
pub async fn current_cycles(db: &Db) -> Result<Vec<LatestCycle>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT user_id, module_slug, cycle, completed_at, valid_until, closure
         FROM obligations WHERE current"
    ).fetch_all(pool).await)?)
}

/// The latest completion of each person and duty: the completion row (`None` for an
/// attended shared training, which has none) and when.
pub type Completions = HashMap<(Uuid, String), (Option<Uuid>, DateTime<Utc>)>;

/// The latest completion of each person and duty. Attending in full a session of an offer
/// counts as a completion of the offer's duty (without a completion row: `None`).
pub async fn latest_completions(db: &Db) -> Result<Completions> {
    let rows: Vec<(Uuid, String, Uuid, DateTime<Utc>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT user_id, module_slug, id, completed_at FROM completions"
    ).fetch_all(pool).await)?;
    let attended: Vec<(Uuid, Uuid, DateTime<Utc>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT e.user_id, s.offer_id, e.attended_at FROM enrolments e
         JOIN training_sessions s ON s.id = e.session_id WHERE e.attended_at IS NOT NULL"
    ).fetch_all(pool).await)?;
    let rows = rows
        .into_iter()
        .map(|(user, module, id, at)| (user, module, Some(id), at))
        .chain(
            attended
                .into_iter()
                .map(|(user, offer, at)| (user, super::offer_duty(offer), None, at)),
        );
    let mut out: Completions = HashMap::new();
    for (user, module, id, at) in rows {
        let e = out.entry((user, module)).or_insert((id, at));
        if at > e.1 {
            *e = (id, at);
        }
    }
    Ok(out)
}

/// A cycle to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCycle {
    pub user_id: Uuid,
    pub module_slug: String,
    pub cycle: i64,
    pub rule_id: Uuid,
    pub due_on: NaiveDate,
    /// A completion that already satisfies it: (completion, completed at, valid until); an
    /// attended shared training has no completion row.
    pub completion: Option<(Option<Uuid>, DateTime<Utc>, NaiveDate)>,
}

/// What one sweep writes.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub open: Vec<NewCycle>,
    /// Open cycles no rule targets any more: (person, module).
    pub withdraw: Vec<(Uuid, String)>,
}

/// Rows per multi-row insert (8 parameters each; well under SQLite's limit).
const CHUNK: usize = 500;

/// Applies a sweep's changes, closes the open cycles of deactivated people as « left »,
/// in one transaction. Returns (opened, withdrawn, left). Opening a cycle that another
/// sweep opened meanwhile does nothing (unique person, module, cycle).
pub async fn apply(db: &Db, changes: &Changes, now: DateTime<Utc>) -> Result<(u64, u64, u64)> {
    let left_sql = "UPDATE obligations SET closure = 'left', closed_at = $1
        WHERE completed_at IS NULL AND closed_at IS NULL
          AND user_id IN (SELECT id FROM users WHERE NOT active)";
    let outcome = on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        // Departures first: a person who left is no longer targeted, and must read « left »,
        // not « withdrawn ».
        let left = sqlx::query(left_sql).bind(now).execute(&mut *conn).await?.rows_affected();
        let mut opened = 0;
        for chunk in changes.open.chunks(CHUNK) {
            // The previous cycle stops being current (first cycles have none).
            let mut retire = String::from("UPDATE obligations SET current = FALSE WHERE current AND (");
            let mut args: Vec<Arg> = Vec::new();
            for c in chunk.iter().filter(|c| c.cycle > 1) {
                if !args.is_empty() {
                    retire.push_str(" OR ");
                }
                args.push(Arg::Id(c.user_id));
                args.push(Arg::Text(c.module_slug.clone()));
                args.push(Arg::Int(c.cycle));
                let n = args.len();
                retire.push_str(&format!("(user_id = ${} AND module_slug = ${} AND cycle < ${})", n - 2, n - 1, n));
            }
            retire.push(')');
            if !args.is_empty() {
                bind_args!(sqlx::query(sqlx::AssertSqlSafe(retire)), &args).execute(&mut *conn).await?;
            }
            let mut insert = String::from(
                "INSERT INTO obligations (id, user_id, module_slug, cycle, rule_id, assigned_at, due_on,
                        completion_id, completed_at, valid_until, current) VALUES ");
            for (i, _) in chunk.iter().enumerate() {
                let b = i * 10;
                if i > 0 {
                    insert.push_str(", ");
                }
                insert.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, TRUE)",
                    b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10
                ));
            }
            insert.push_str(" ON CONFLICT (user_id, module_slug, cycle) DO NOTHING");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(insert));
            for c in chunk {
                q = q.bind(Uuid::new_v4()).bind(c.user_id).bind(&c.module_slug).bind(c.cycle)
                    .bind(c.rule_id).bind(now).bind(c.due_on)
                    .bind(c.completion.and_then(|x| x.0)).bind(c.completion.map(|x| x.1))
                    .bind(c.completion.map(|x| x.2));
            }
            opened += q.execute(&mut *conn).await?.rows_affected();
        }
        let mut withdrawn = 0;
        for chunk in changes.withdraw.chunks(CHUNK) {
            let mut sql = String::from(
                "UPDATE obligations SET closure = 'withdrawn', closed_at = $1
                 WHERE completed_at IS NULL AND closed_at IS NULL AND (");
            let mut args: Vec<Arg> = Vec::new();
            for (i, (user, module)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(" OR ");
                }
                args.push(Arg::Id(*user));
                args.push(Arg::Text(module.clone()));
                sql.push_str(&format!("(user_id = ${} AND module_slug = ${})", args.len(), args.len() + 1));
            }
            sql.push(')');
            let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            withdrawn += bind_args!(q, &args).execute(&mut *conn).await?.rows_affected();
        }
        tx.commit().await?;
        (opened, withdrawn, left)
    });
    Ok(outcome)
}

/// Closes the open cycle of `user` and `module` with a completion, on the caller's
/// transaction (the completion's own): no completion recorded without its obligation met.
macro_rules! complete_open_cycle {
    ($conn:expr, $user:expr, $module:expr, $completion:expr, $now:expr, $valid_until:expr) => {{
        let valid_until: chrono::NaiveDate = $valid_until;
        sqlx::query(
            "UPDATE obligations SET completion_id = $1, completed_at = $2, valid_until = $3
             WHERE user_id = $4 AND module_slug = $5 AND completed_at IS NULL AND closed_at IS NULL",
        )
        .bind($completion)
        .bind($now)
        .bind(valid_until)
        .bind($user)
        .bind($module)
        .execute(&mut *$conn)
        .await
    }};
}
pub(crate) use complete_open_cycle;

/// SQL: the state code of obligation `o` on the day bound at `today` (`expiring` is that
/// day plus [`EXPIRING_DAYS`]). The same decision as [`super::state`], which a test checks
/// against this one on both backends.
fn state_sql(today: &str, expiring: &str) -> String {
    format!(
        "CASE WHEN o.closure IS NOT NULL THEN o.closure \
              WHEN o.completed_at IS NOT NULL AND o.valid_until < {today} THEN 'expired' \
              WHEN o.completed_at IS NOT NULL AND o.valid_until < {expiring} THEN 'expiring' \
              WHEN o.completed_at IS NOT NULL THEN 'completed' \
              WHEN o.due_on < {today} THEN 'overdue' \
              WHEN EXISTS (SELECT 1 FROM attempts a WHERE a.user_id = o.user_id \
                   AND a.module_slug = o.module_slug AND a.started_at >= o.assigned_at) THEN 'in_progress' \
              ELSE 'assigned' END"
    )
}

/// The columns of an [`ObligationRow`], over the FROM of `list_from`.
const ROW_COLUMNS: &str = "o.id, o.user_id, u.display_name, u.email, org.path AS org_path, \
    p.name AS partner_name, o.module_slug, o.cycle, o.assigned_at, o.due_on, o.completed_at, \
    o.valid_until, o.closure_reason, o.state";

/// A cycle as lists show it.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct ObligationRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub org_path: Option<String>,
    pub partner_name: Option<String>,
    pub module_slug: String,
    pub cycle: i64,
    pub assigned_at: DateTime<Utc>,
    pub due_on: NaiveDate,
    pub completed_at: Option<DateTime<Utc>>,
    pub valid_until: Option<NaiveDate>,
    pub closure_reason: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: State,
}

impl TryFrom<String> for State {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<State, String> {
        State::parse(&s).ok_or_else(|| format!("unknown obligation state {s:?}"))
    }
}

/// Which cycles a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub user: Option<Uuid>,
    pub state: Option<State>,
    pub module: Option<String>,
    pub org_unit: Option<String>,
    /// Past cycles too (otherwise only the current one of each person and module).
    pub history: bool,
}

/// The filtered part of a list query: FROM, WHERE and the arguments so far.
fn list_from(
    viewer: Uuid,
    visibility: &Visibility,
    q: &ListQuery,
    today: NaiveDate,
) -> (String, String, Vec<Arg>) {
    let mut args = vec![
        Arg::Date(today),
        Arg::Date(today + Duration::days(EXPIRING_DAYS)),
    ];
    let state = state_sql("$1", "$2");
    // People who left stay visible by their « left » cycle, and in the history.
    let mut conditions = if q.history {
        vec!["TRUE".to_string()]
    } else {
        vec!["u.active OR o.closure = 'left'".to_string()]
    };
    let next = crate::db::push_arg;
    conditions.extend(visibility_condition(
        visibility, viewer, "org.path", &mut args,
    ));
    if !q.history {
        conditions.push("o.current".into());
    }
    if let Some(user) = q.user {
        let p = next(&mut args, Arg::Id(user));
        conditions.push(format!("o.user_id = {p}"));
    }
    if let Some(module) = &q.module {
        let p = next(&mut args, Arg::Text(module.clone()));
        conditions.push(format!("o.module_slug = {p}"));
    }
    if let Some(unit) = &q.org_unit {
        let p = next(&mut args, Arg::Text(unit.clone()));
        conditions.push(in_subtree("org.path", &p));
    }
    let from = format!(
        "FROM (SELECT o.*, {state} AS state FROM obligations o) o \
         JOIN users u ON u.id = o.user_id \
         LEFT JOIN org_units org ON org.id = u.org_unit_id \
         LEFT JOIN partners p ON p.id = u.partner_id"
    );
    if let Some(s) = q.state {
        let p = next(&mut args, Arg::Text(s.code().into()));
        conditions.push(format!("o.state = {p}"));
    }
    let filter = conditions
        .iter()
        .map(|c| format!("({c})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    (from, format!("WHERE {filter}"), args)
}

/// The cycles after `after` in id order, `limit` of them: the pages of an export that
/// streams any number of rows (keyset paging, so the last page costs what the first does).
pub async fn after_id(
    db: &Db,
    viewer: Uuid,
    visibility: &Visibility,
    q: &ListQuery,
    today: NaiveDate,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ObligationRow>> {
    let (from, mut filter, mut args) = list_from(viewer, visibility, q, today);
    if let Some(after) = after {
        args.push(Arg::Id(after));
        filter.push_str(&format!(" AND o.id > ${}", args.len()));
    }
    let sql = format!(
        "SELECT {ROW_COLUMNS} {from} {filter} ORDER BY o.id {}",
        crate::db::limit(limit, 0)
    );
    Ok(on_db!(db, pool => {
        let q = sqlx::query_as::<_, ObligationRow>(sqlx::AssertSqlSafe(sql.as_str()));
        bind_args!(q, &args).fetch_all(pool).await?
    }))
}

/// One page of cycles within a visibility, overdue first, then by due date and name.
pub async fn page(
    db: &Db,
    viewer: Uuid,
    visibility: &Visibility,
    q: &ListQuery,
    today: NaiveDate,
    limit: i64,
    offset: i64,
) -> Result<Vec<ObligationRow>> {
    let (from, filter, args) = list_from(viewer, visibility, q, today);
    let sql = format!(
        "SELECT {ROW_COLUMNS} {from} {filter}
         ORDER BY CASE o.state WHEN 'overdue' THEN 0 WHEN 'assigned' THEN 1 WHEN 'in_progress' THEN 1
                  WHEN 'expired' THEN 2 WHEN 'expiring' THEN 3 ELSE 4 END,
                  o.due_on, u.display_name, o.module_slug, o.cycle DESC
         {}",
        crate::db::limit(limit, offset)
    );
    Ok(on_db!(db, pool => {
        let q = sqlx::query_as::<_, ObligationRow>(sqlx::AssertSqlSafe(sql.as_str()));
        bind_args!(q, &args).fetch_all(pool).await?
    }))
}

/// One page of cycles (as [`page`]) and how many match in all.
pub async fn list(
    db: &Db,
    viewer: Uuid,
    visibility: &Visibility,
    q: &ListQuery,
    today: NaiveDate,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ObligationRow>, i64)> {
    let rows = page(db, viewer, visibility, q, today, limit, offset).await?;
    let (from, filter, args) = list_from(viewer, visibility, q, today);
    let sql = format!("SELECT COUNT(*) {from} {filter}");
    let total: i64 = on_db!(db, pool => {
        let q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.as_str()));
        bind_args!(q, &args).fetch_one(pool).await?
    });
    Ok((rows, total))
}

/// How many current cycles are in each state, per module, within a visibility and an
/// optional org unit.
pub async fn counts(
    db: &Db,
    viewer: Uuid,
    visibility: &Visibility,
    org_unit: Option<&str>,
    today: NaiveDate,
) -> Result<Vec<(String, State, i64)>> {
    let q = ListQuery {
        org_unit: org_unit.map(String::from),
        ..ListQuery::default()
    };
    let (from, filter, args) = list_from(viewer, visibility, &q, today);
    let sql = format!(
        "SELECT o.module_slug, o.state, COUNT(*) {from} {filter} GROUP BY o.module_slug, o.state ORDER BY o.module_slug"
    );
    let rows: Vec<(String, String, i64)> = on_db!(db, pool => {
        let q = sqlx::query_as::<_, (String, String, i64)>(sqlx::AssertSqlSafe(sql.as_str()));
        bind_args!(q, &args).fetch_all(pool).await?
    });
    Ok(rows
        .into_iter()
        .filter_map(|(m, s, n)| State::parse(&s).map(|s| (m, s, n)))
        .collect())
}

/// One cycle with its holder, whoever asks (scope is checked by the caller).
pub async fn find(db: &Db, id: Uuid, today: NaiveDate) -> Result<Option<ObligationRow>> {
    let q = ListQuery {
        history: true,
        ..ListQuery::default()
    };
    let (from, filter, mut args) = list_from(Uuid::nil(), &Visibility::All, &q, today);
    args.push(Arg::Id(id));
    let sql = format!(
        "SELECT {ROW_COLUMNS} {from} {filter} AND o.id = ${}",
        args.len()
    );
    Ok(on_db!(db, pool => {
        let q = sqlx::query_as::<_, ObligationRow>(sqlx::AssertSqlSafe(sql.as_str()));
        bind_args!(q, &args).fetch_optional(pool).await?
    }))
}

/// Exempts a person from an open cycle, with the reason and its audit line, in one
/// transaction. False when the cycle is no longer open.
pub async fn exempt(
    db: &Db,
    id: Uuid,
    by: Uuid,
    reason: &str,
    now: DateTime<Utc>,
    event: &Event,
) -> Result<bool> {
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let changed = sqlx::query(
            "UPDATE obligations SET closure = $1, closure_reason = $2, closed_by = $3, closed_at = $4
             WHERE id = $5 AND completed_at IS NULL AND closed_at IS NULL"
        ).bind(Closure::Exempt.code()).bind(reason).bind(by).bind(now).bind(id)
            .execute(&mut *conn).await?.rows_affected();
        if changed == 1 {
            crate::audit::store::insert_event!(conn, event, now)?;
        }
        tx.commit().await?;
        changed == 1
    }))
}

/// Two demo rules, so that `cargo run` shows obligations: reception staff and HR. Only on
/// a database without rules; true when they were added.
pub async fn seed_demo(
    db: &Db,
    catalog: &crate::catalog::Catalog,
    now: DateTime<Utc>,
) -> Result<bool> {
    let demo = [
        (
            "Accueil : prévenir les discriminations au guichet",
            "accueil-sans-discrimination",
            Audience::Accueil,
            60,
        ),
        (
            "Recrutement : recruter sans discriminer",
            "recruter-sans-discriminer",
            Audience::Rh,
            90,
        ),
    ];
    let existing: i64 = on_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM assignment_rules")
        .fetch_one(pool).await)?;
    if existing > 0 {
        return Ok(false);
    }
    for (name, module, audience, days) in demo {
        if catalog.get(module).is_none() {
            continue;
        }
        let rule = Rule {
            id: Uuid::new_v4(),
            name: name.into(),
            module_slug: module.into(),
            target: Target {
                audience: Some(audience),
                ..Target::default()
            },
            due_days: days,
            due_from: DueFrom::Assignment,
            active: true,
        };
        let event = Event::by(None, crate::audit::Kind::RuleSaved, name)
            .details("données de démonstration");
        save_rule(db, &rule, None, now, &event).await?;
    }
    Ok(true)
}
