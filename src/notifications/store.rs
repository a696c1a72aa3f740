//! SQL for the outbox. Messages are queued inside the caller's transaction with
//! [`enqueue!`]; the worker claims, records and retries them through the functions below.

use chrono::{DateTime, Duration, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use super::{Attachment, Status, BLANKED_BODY, LEASE_MINUTES};
use crate::db::{Db, WritePool};
use crate::error::{Error, Result};
use crate::on_db;

/// Queues `$message` (an [`super::Outgoing`]) on a connection, inside the caller's
/// transaction. With a dedupe key already present, nothing is queued. Evaluates to
/// `sqlx::Result<bool>`: whether a row was written.
macro_rules! enqueue {
    ($conn:expr, $message:expr, $now:expr) => {{
        let m: &$crate::notifications::Outgoing = $message;
        let now: chrono::DateTime<chrono::Utc> = $now;
        let attachments = serde_json::to_string(&m.attachments).unwrap_or_else(|_| "[]".into());
        let first_try = if m.kind.held_to_working_hours() {
            $crate::notifications::working_window(now)
        } else {
            now
        };
        let obligations = (!m.obligation_ids.is_empty()).then(|| {
            m.obligation_ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" ")
        });
        sqlx::query(
            "INSERT INTO outbox (id, dedupe_key, kind, user_id, recipient, subject, body_text, body_html,
                                 attachments, sensitive, status, tries, next_attempt_at, created_at,
                                 obligation_ids, list_unsubscribe)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', 0, $11, $12, $13, $14)
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(&m.dedupe_key)
        .bind(m.kind.code())
        .bind(m.user_id)
        .bind(&m.recipient)
        .bind(&m.subject)
        .bind(&m.text)
        .bind(&m.html)
        .bind(attachments)
        .bind(m.sensitive)
        .bind(first_try)
        .bind(now)
        .bind(obligations)
        .bind(&m.list_unsubscribe)
        .execute(&mut *$conn)
        .await
        .map(|done| done.rows_affected() == 1)
    }};
}
pub(crate) use enqueue;

/// Queues one message in a transaction of its own.
pub async fn enqueue_one(db: &Db, message: &super::Outgoing) -> Result<bool> {
    let now = crate::db::now();
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let queued = enqueue!(conn, message, now)?;
        tx.commit().await?;
        queued
    }))
}

/// A claimed message, ready to send.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    pub attachments: String,
    pub tries: i64,
    /// Space-separated obligation ids of a reminder.
    pub obligation_ids: Option<String>,
    pub list_unsubscribe: Option<String>,
}

impl Claimed {
    /// The stored attachments; a row that cannot be read has none (and says so in the log).
    pub fn attachments(&self) -> Vec<Attachment> {
        serde_json::from_str(&self.attachments).unwrap_or_else(|e| {
            tracing::warn!(outbox = %self.id, error = %e, "unreadable attachments");
            Vec::new()
        })
    }
}

const CLAIM_SQLITE: &str =
    "UPDATE outbox SET status = 'sending', claimed_until = $1, tries = tries + 1
     WHERE id IN (SELECT id FROM outbox
                  WHERE (status = 'queued' AND next_attempt_at <= $2)
                     OR (status = 'sending' AND claimed_until < $2)
                  ORDER BY next_attempt_at, created_at LIMIT $3)
     RETURNING id, kind, recipient, subject, body_text, body_html, attachments, tries, obligation_ids, list_unsubscribe";

// PostgreSQL: rows locked by another instance's claim are skipped, not waited for.
const CLAIM_POSTGRES: &str =
    "UPDATE outbox SET status = 'sending', claimed_until = $1, tries = tries + 1
     WHERE id IN (SELECT id FROM outbox
                  WHERE (status = 'queued' AND next_attempt_at <= $2)
                     OR (status = 'sending' AND claimed_until < $2)
                  ORDER BY next_attempt_at, created_at LIMIT $3
                  FOR UPDATE SKIP LOCKED)
     RETURNING id, kind, recipient, subject, body_text, body_html, attachments, tries, obligation_ids, list_unsubscribe";

/// Claims up to `limit` due messages for `LEASE_MINUTES`: queued ones whose time has come,
/// and ones whose previous claim ran out (a worker that died while sending). Each claim
/// counts as a try.
pub async fn claim_due(db: &Db, now: DateTime<Utc>, limit: i64) -> Result<Vec<Claimed>> {
    let until = now + Duration::minutes(LEASE_MINUTES);
    let sql = match db {
        Db::Sqlite(_) => CLAIM_SQLITE,
        Db::Postgres(_) => CLAIM_POSTGRES,
    };
    let mut rows: Vec<Claimed> = on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let rows = sqlx::query_as(sql)
            .bind(until)
            .bind(now)
            .bind(limit)
            .fetch_all(tx.conn())
            .await?;
        tx.commit().await?;
        rows
    });
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Records a delivery; a secret body is blanked.
pub async fn mark_sent(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $2, claimed_until = NULL, last_error = NULL,
                    body_text = CASE WHEN sensitive THEN $3 ELSE body_text END,
                    body_html = CASE WHEN sensitive THEN NULL ELSE body_html END
             WHERE id = $1",
        )
        .bind(id).bind(now).bind(BLANKED_BODY)
        .execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Records a failed try: queued again at `retry_at`, or failed for good when `None` (a
/// secret body is then blanked too: it will not be sent).
pub async fn mark_failure(
    db: &Db,
    id: Uuid,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let error: String = error.chars().take(2000).collect();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        match retry_at {
            Some(at) => sqlx::query(
                "UPDATE outbox SET status = 'queued', next_attempt_at = $2, claimed_until = NULL, last_error = $3
                 WHERE id = $1",
            )
            .bind(id).bind(at).bind(&error)
            .execute(tx.conn()).await?,
            None => sqlx::query(
                "UPDATE outbox SET status = 'failed', claimed_until = NULL, last_error = $2,
                        body_text = CASE WHEN sensitive THEN $3 ELSE body_text END,
                        body_html = CASE WHEN sensitive THEN NULL ELSE body_html END
                 WHERE id = $1",
            )
            .bind(id).bind(&error).bind(BLANKED_BODY)
            .execute(tx.conn()).await?,
        };
        tx.commit().await?;
    });
    Ok(())
}

/// Whether any of a reminder's obligations is still to do (not completed, not closed).
pub async fn any_still_open(db: &Db, ids: &[Uuid]) -> Result<bool> {
    if ids.is_empty() {
        return Ok(true);
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT COUNT(*) FROM obligations WHERE completed_at IS NULL AND closed_at IS NULL AND id IN ({})",
        placeholders.join(", ")
    );
    let n: i64 = on_db!(db, pool => {
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()));
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_one(pool).await?
    });
    Ok(n > 0)
}

/// Records a reminder dropped at delivery: everything it was about was met meanwhile.
pub async fn mark_dropped(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "UPDATE outbox SET status = 'dropped', sent_at = $2, claimed_until = NULL,
                    last_error = 'Formations validées ou closes entre-temps : rappel abandonné.'
             WHERE id = $1",
        )
        .bind(id).bind(now)
        .execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// An outbox row as the admin page shows it.
#[derive(Debug, Clone, FromRow)]
pub struct Entry {
    pub id: Uuid,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub tries: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

const ENTRY_COLUMNS: &str =
    "id, kind, recipient, subject, status, tries, next_attempt_at, last_error, created_at, sent_at";

/// The latest messages, newest first, optionally of one status.
pub async fn latest(
    db: &Db,
    status: Option<Status>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox WHERE ($1 = '' OR status = $1)
         ORDER BY created_at DESC, id {}",
        crate::db::limit(limit, offset)
    );
    let status = status.map(Status::code).unwrap_or("");
    Ok(on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(status).fetch_all(pool).await)?)
}

/// How many messages are in each status.
pub async fn counts(db: &Db) -> Result<Vec<(Status, i64)>> {
    let rows: Vec<(String, i64)> = on_db!(db, pool => sqlx::query_as(
        "SELECT status, COUNT(*) FROM outbox GROUP BY status"
    ).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(s, n)| Status::parse(&s).map(|s| (s, n)))
        .collect())
}

/// One message.
pub async fn find(db: &Db, id: Uuid) -> Result<Option<Entry>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE id = $1");
    Ok(on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id).fetch_optional(pool).await)?)
}

/// Queues a failed message again, from its first try. Only a failed message can be.
pub async fn requeue(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    let changed = on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let done = sqlx::query(
            "UPDATE outbox SET status = 'queued', tries = 0, next_attempt_at = $2, claimed_until = NULL
             WHERE id = $1 AND status = 'failed'",
        )
        .bind(id).bind(now)
        .execute(tx.conn()).await?;
        tx.commit().await?;
        done.rows_affected()
    });
    if changed == 0 {
        return Err(Error::Conflict(
            "Seul un message en échec peut être renvoyé.".into(),
        ));
    }
    Ok(())
}
