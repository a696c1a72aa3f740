//! SQL for reminders: the settings, the log of stages queued, the campaigns, and the
//! preferences of campaign mail.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use super::{Campaign, Cycle, Settings, DEFAULT_CAMPAIGNS};
use crate::audit::Event;
use crate::catalog::Audience;
use crate::db::{Db, WritePool};
use crate::error::{Error, Result};
use crate::notifications::Outgoing;
use crate::on_db;
use crate::people::store::{audiences_text, parse_audiences};
use crate::people::Role;

fn days_text(days: &[u32]) -> String {
    days.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn days_of(text: &str) -> Vec<u32> {
    super::parse_days("", text).unwrap_or_default()
}

/// The reminder rules: the saved ones, or the defaults.
pub async fn settings(db: &Db) -> Result<Settings> {
    let row: Option<(String, i64, i64, i64, i64, String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT before_due, overdue_first, overdue_every, escalate_team, escalate_hr, before_expiry,
                before_session
         FROM reminder_settings WHERE id = 1"
    ).fetch_optional(pool).await)?;
    let n = |x: i64| u32::try_from(x).unwrap_or(1);
    Ok(match row {
        None => Settings::default(),
        Some((due, first, every, manager, hr, expiry, session)) => Settings {
            before_due: days_of(&due),
            overdue_first: n(first),
            overdue_every: n(every),
            escalate_team: n(manager),
            escalate_hr: n(hr),
            before_expiry: days_of(&expiry),
            before_session: days_of(&session),
        },
    })
}

/// Saves the reminder rules and the audit line in one transaction.
pub async fn save_settings(
    db: &Db,
    s: &Settings,
    by: Uuid,
    now: DateTime<Utc>,
    event: &Event,
) -> Result<()> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        sqlx::query(
            "INSERT INTO reminder_settings (id, before_due, overdue_first, overdue_every, escalate_team,
                                            escalate_hr, before_expiry, updated_at, updated_by, before_session)
             VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET before_due = $1, overdue_first = $2, overdue_every = $3,
                 escalate_team = $4, escalate_hr = $5, before_expiry = $6, updated_at = $7, updated_by = $8,
                 before_session = $9"
        ).bind(days_text(&s.before_due)).bind(i64::from(s.overdue_first)).bind(i64::from(s.overdue_every))
            .bind(i64::from(s.escalate_team)).bind(i64::from(s.escalate_hr)).bind(days_text(&s.before_expiry))
            .bind(now).bind(by).bind(days_text(&s.before_session))
            .execute(&mut *conn).await?;
        crate::audit::store::insert_event!(conn, event, now)?;
        tx.commit().await?;
    });
    Ok(())
}

/// A person a reminder may be about or for.
#[derive(Debug, Clone, FromRow)]
pub struct Person {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub org_path: Option<String>,
    pub partner_id: Option<Uuid>,
}

/// Every active person with their role, org unit and partner.
pub async fn people(db: &Db) -> Result<Vec<Person>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT u.id, u.email, u.display_name, u.role, o.path AS org_path, u.partner_id
         FROM users u LEFT JOIN org_units o ON o.id = u.org_unit_id WHERE u.active"
    ).fetch_all(pool).await)?)
}

#[derive(FromRow)]
struct CycleRow {
    id: Uuid,
    user_id: Uuid,
    module_slug: String,
    cycle: i64,
    due_on: NaiveDate,
    open: bool,
    valid_until: Option<NaiveDate>,
}

/// The current cycles that can have a reminder stage on `today` (`super::stages` decides):
/// open ones that are late or due within the furthest reminder before a due date (before
/// an end of validity for a renewal), and completed ones whose validity ends within the
/// furthest expiry reminder. On an ordinary day that is a small part of the cycles. Those of people who
/// left are among them (skipped by the caller, which knows the active people: no join per
/// cycle). Decoding rows is most of the time: the two halves of the person ids are read
/// at once, on two connections and two threads.
pub async fn cycles(db: &Db, settings: &Settings, today: NaiveDate) -> Result<Vec<Cycle>> {
    let furthest = |days: &[u32]| {
        today + chrono::Duration::days(i64::from(days.iter().copied().max().unwrap_or(0)))
    };
    let window = Window {
        today,
        due_by: furthest(&settings.before_due),
        ends_by: furthest(&settings.before_expiry),
    };
    let middle = Uuid::from_u128(1 << 127);
    let half = |above: bool| {
        let db = db.clone();
        tokio::spawn(async move { cycles_of_half(&db, window, middle, above).await })
    };
    let (low, high) = (half(false), half(true));
    let joined = |e: tokio::task::JoinError| Error::Internal(format!("reading cycles: {e}"));
    let mut out = low.await.map_err(joined)??;
    out.extend(high.await.map_err(joined)??);
    Ok(out)
}

/// The days that bound the cycles a reminder can be about.
#[derive(Clone, Copy)]
struct Window {
    today: NaiveDate,
    /// First cycles due by then (or late).
    due_by: NaiveDate,
    /// Renewal cycles due by then (a renewal is due on the end of the previous validity:
    /// its reminders are the expiry ones), and completed cycles whose validity ends
    /// between today and then.
    ends_by: NaiveDate,
}

async fn cycles_of_half(db: &Db, w: Window, middle: Uuid, above: bool) -> Result<Vec<Cycle>> {
    let sql = format!(
        "SELECT id, user_id, module_slug, cycle, due_on, completed_at IS NULL AS open, valid_until
         FROM obligations
         WHERE current AND closed_at IS NULL
           AND ((completed_at IS NULL AND (due_on <= $2 OR (cycle > 1 AND due_on <= $3)))
                OR (completed_at IS NOT NULL AND valid_until >= $1 AND valid_until <= $3))
           AND user_id {} $4",
        if above { ">=" } else { "<" }
    );
    let rows: Vec<CycleRow> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(w.today).bind(w.due_by).bind(w.ends_by).bind(middle).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|r| Cycle {
            obligation: r.id,
            user: r.user_id,
            module: r.module_slug,
            cycle: r.cycle,
            due_on: r.due_on,
            open: r.open,
            valid_until: r.valid_until,
        })
        .collect())
}

/// Which of `keys` were queued already, in their order. A long list is checked against
/// the whole log streamed once (one pass over an index, instead of thousands of lookups;
/// the log is never held whole).
pub async fn logged(db: &Db, keys: &[&str]) -> Result<Vec<bool>> {
    use futures::TryStreamExt;
    let mut out = vec![false; keys.len()];
    if keys.len() > 20_000 {
        let wanted: HashMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        on_db!(db, pool => {
            let mut rows = sqlx::query_scalar::<_, String>("SELECT key FROM reminder_log").fetch(pool);
            while let Some(key) = rows.try_next().await? {
                if let Some(&i) = wanted.get(key.as_str()) {
                    out[i] = true;
                }
            }
        });
        return Ok(out);
    }
    let mut found = HashSet::new();
    for chunk in keys.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT key FROM reminder_log WHERE key IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<String> = on_db!(db, pool => {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()));
            for k in chunk {
                q = q.bind(*k);
            }
            q.fetch_all(pool).await?
        });
        found.extend(rows);
    }
    for (done, key) in out.iter_mut().zip(keys) {
        *done = found.contains(*key);
    }
    Ok(out)
}

/// One recipient's digest for a day and the stages it carries.
#[derive(Debug, Clone)]
pub struct Digest {
    pub recipient: Uuid,
    pub mail: Outgoing,
    /// (stage key, obligation) recorded with the digest.
    pub stages: Vec<(String, Option<Uuid>)>,
}

/// Stage rows per insert (2 parameters each, 3 shared).
const STAGES_PER_INSERT: usize = 400;

/// Queues digests, a few hundred per transaction. A recipient who already has today's
/// digest (its dedupe key exists) gets nothing more today, and their stages are not
/// recorded: they go out tomorrow. Returns (digests queued, stages recorded).
pub async fn queue(db: &Db, digests: &[Digest], now: DateTime<Utc>) -> Result<(u64, u64)> {
    let (mut queued, mut recorded) = (0, 0);
    for chunk in digests.chunks(200) {
        on_db!(db, pool => {
            let mut tx = pool.begin_write().await?;
            let conn = tx.conn();
            for d in chunk {
                if !crate::notifications::store::enqueue!(conn, &d.mail, now)? {
                    continue;
                }
                queued += 1;
                let digest_key = d.mail.dedupe_key.clone().unwrap_or_default();
                // A few hundred stages per statement: one round trip, not one per line.
                for stages in d.stages.chunks(STAGES_PER_INSERT) {
                    let rows: Vec<String> = (0..stages.len())
                        .map(|i| format!("(${}, $1, ${}, $2, $3)", 4 + 2 * i, 5 + 2 * i))
                        .collect();
                    let sql = format!(
                        "INSERT INTO reminder_log (key, recipient_id, obligation_id, digest_key, created_at)
                         VALUES {} ON CONFLICT (key) DO NOTHING",
                        rows.join(", ")
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                        .bind(d.recipient)
                        .bind(&digest_key)
                        .bind(now);
                    for (key, obligation) in stages {
                        q = q.bind(key).bind(obligation);
                    }
                    recorded += q.execute(&mut *conn).await?.rows_affected();
                }
            }
            tx.commit().await?;
        });
    }
    Ok((queued, recorded))
}

#[derive(FromRow)]
struct CampaignRow {
    id: Uuid,
    name: String,
    month: i64,
    day: i64,
    days_before: i64,
    body: String,
    modules: String,
    audiences: String,
    active: bool,
}

impl From<CampaignRow> for Campaign {
    fn from(r: CampaignRow) -> Campaign {
        let n = |x: i64| u32::try_from(x).unwrap_or(1);
        Campaign {
            id: r.id,
            name: r.name,
            month: n(r.month),
            day: n(r.day),
            days_before: n(r.days_before),
            text: r.body,
            modules: r.modules.split_whitespace().map(String::from).collect(),
            audiences: parse_audiences(&r.audiences),
            active: r.active,
        }
    }
}

/// Every campaign, in calendar order.
pub async fn campaigns(db: &Db) -> Result<Vec<Campaign>> {
    let rows: Vec<CampaignRow> = on_db!(db, pool => sqlx::query_as(
        "SELECT id, name, month, day, days_before, body, modules, audiences, active
         FROM campaigns ORDER BY month, day, name"
    ).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(Campaign::from).collect())
}

/// Writes a campaign (new or changed) and its audit line.
pub async fn save_campaign(
    db: &Db,
    c: &Campaign,
    now: DateTime<Utc>,
    event: Option<&Event>,
) -> Result<()> {
    let modules = c.modules.join(" ");
    let audiences = audiences_text(&c.audiences);
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        sqlx::query(
            "INSERT INTO campaigns (id, name, month, day, days_before, body, modules, audiences, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
             ON CONFLICT (id) DO UPDATE SET name = $2, month = $3, day = $4, days_before = $5, body = $6,
                 modules = $7, audiences = $8, active = $9, updated_at = $10"
        ).bind(c.id).bind(&c.name).bind(i64::from(c.month)).bind(i64::from(c.day))
            .bind(i64::from(c.days_before)).bind(&c.text).bind(&modules).bind(&audiences)
            .bind(c.active).bind(now)
            .execute(&mut *conn).await?;
        if let Some(e) = event {
            crate::audit::store::insert_event!(conn, e, now)?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// The plan's key days, written once on a database without campaigns.
pub async fn seed_campaigns(
    db: &Db,
    modules_for: impl Fn(&str) -> Vec<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    let count: i64 = on_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM campaigns")
        .fetch_one(pool).await)?;
    if count > 0 {
        return Ok(());
    }
    for (name, month, day, text) in DEFAULT_CAMPAIGNS {
        let c = Campaign {
            id: Uuid::new_v4(),
            name: (*name).into(),
            month: *month,
            day: *day,
            days_before: 7,
            text: (*text).into(),
            modules: modules_for(name),
            audiences: Vec::new(),
            active: true,
        };
        save_campaign(db, &c, now, None).await?;
    }
    Ok(())
}

/// Someone a campaign may go to.
#[derive(Debug, Clone, FromRow)]
pub struct Subscriber {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub audiences: String,
    pub preference_token: Option<String>,
}

impl Subscriber {
    pub fn audiences(&self) -> Vec<Audience> {
        parse_audiences(&self.audiences)
    }
}

/// Active people who have not turned campaigns off; each gets a preference token first (the
/// secret of their one-click unsubscribe link).
pub async fn subscribers(db: &Db) -> Result<Vec<Subscriber>> {
    let missing: Vec<Uuid> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT id FROM users WHERE active AND NOT campaigns_opt_out AND preference_token IS NULL"
    ).fetch_all(pool).await)?;
    for chunk in missing.chunks(500) {
        on_db!(db, pool => {
            let mut tx = pool.begin_write().await?;
            for id in chunk {
                let token = crate::auth::random_token();
                sqlx::query("UPDATE users SET preference_token = $1 WHERE id = $2 AND preference_token IS NULL")
                    .bind(token).bind(id).execute(tx.conn()).await?;
            }
            tx.commit().await?;
        });
    }
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, email, display_name, audiences, preference_token FROM users
         WHERE active AND NOT campaigns_opt_out"
    ).fetch_all(pool).await)?)
}

/// Whether a person receives campaigns.
pub async fn receives_campaigns(db: &Db, user: Uuid) -> Result<bool> {
    let out: Option<bool> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT campaigns_opt_out FROM users WHERE id = $1"
    ).bind(user).fetch_optional(pool).await)?;
    Ok(!out.unwrap_or(false))
}

/// Turns campaign mail on or off for a person.
pub async fn set_campaigns(db: &Db, user: Uuid, receive: bool) -> Result<()> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE users SET campaigns_opt_out = $1 WHERE id = $2")
            .bind(!receive).bind(user).execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Turns campaign mail off for the holder of an unsubscribe token; their address, if the
/// token is known.
pub async fn unsubscribe(db: &Db, token: &str) -> Result<Option<String>> {
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let email: Option<String> = sqlx::query_scalar(
            "UPDATE users SET campaigns_opt_out = TRUE WHERE preference_token = $1 RETURNING email"
        ).bind(token).fetch_optional(tx.conn()).await?;
        tx.commit().await?;
        email
    }))
}
