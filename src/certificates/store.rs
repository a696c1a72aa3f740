//! SQL for certificates. Issuing happens inside the completion's transaction (see
//! `learning::store::record_submission`), through `insert_certificate!`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::Payload;
use crate::audit::{store::insert_event, Event};
use crate::db::{self, Db, WritePool};
use crate::error::Result;
use crate::on_db;

/// A certificate ready to be written with its completion.
#[derive(Debug, Clone)]
pub struct Draft {
    pub id: Uuid,
    pub payload: Payload,
    pub payload_json: String,
    pub signature: String,
    pub key_id: String,
}

/// Inserts a draft for `completion_id` and marks the holder's previous certificate of the
/// module as superseded by it. Runs on the caller's transaction.
macro_rules! insert_certificate {
    ($conn:expr, $draft:expr, $user:expr, $completion:expr, $now:expr) => {{
        let d: &$crate::certificates::store::Draft = $draft;
        sqlx::query(
            "INSERT INTO certificates (id, number, user_id, completion_id, module_slug, payload, signature, key_id, issued_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(d.id)
        .bind(&d.payload.number)
        .bind($user)
        .bind($completion)
        .bind(&d.payload.module_slug)
        .bind(&d.payload_json)
        .bind(&d.signature)
        .bind(&d.key_id)
        .bind($now)
        .execute(&mut *$conn)
        .await?;
        sqlx::query(
            "UPDATE certificates SET superseded_by = $1, superseded_at = $2
             WHERE user_id = $3 AND module_slug = $4 AND superseded_by IS NULL AND id <> $1",
        )
        .bind(d.id)
        .bind($now)
        .bind($user)
        .bind(&d.payload.module_slug)
        .execute(&mut *$conn)
        .await?;
    }};
}
pub(crate) use insert_certificate;

/// A certificate as stored.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct CertificateRow {
    pub id: Uuid,
    pub number: String,
    pub user_id: Uuid,
    pub module_slug: String,
    pub payload: String,
    pub signature: String,
    pub key_id: String,
    pub issued_at: DateTime<Utc>,
    pub superseded_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
    /// The issue date of the successor, when superseded.
    pub successor_issued_at: Option<DateTime<Utc>>,
}

impl CertificateRow {
    pub fn payload(&self) -> Option<Payload> {
        serde_json::from_str(&self.payload).ok()
    }
}

const SELECT: &str = "SELECT c.id, c.number, c.user_id, c.module_slug, c.payload, c.signature, c.key_id, \
    c.issued_at, c.superseded_at, c.revoked_at, c.revocation_reason, s.issued_at AS successor_issued_at \
    FROM certificates c LEFT JOIN certificates s ON s.id = c.superseded_by";

pub async fn by_number(db: &Db, number: &str) -> Result<Option<CertificateRow>> {
    let sql = format!("{SELECT} WHERE c.number = $1");
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(number).fetch_optional(pool).await)?,
    )
}

/// A person's certificates, newest first.
pub async fn of_user(db: &Db, user: Uuid) -> Result<Vec<CertificateRow>> {
    let sql = format!("{SELECT} WHERE c.user_id = $1 ORDER BY c.issued_at DESC");
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(user).fetch_all(pool).await)?,
    )
}

/// Certificates issued in a period to people of an org unit and the units under it
/// (every unit when `org_path` is `None`), oldest first.
pub async fn for_export(
    db: &Db,
    org_path: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<CertificateRow>> {
    let rows = match org_path {
        None => {
            let sql = format!("{SELECT} WHERE c.issued_at >= $1 AND c.issued_at < $2 ORDER BY c.issued_at, c.number");
            on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(from).bind(to).fetch_all(pool).await)?
        }
        Some(path) => {
            let sql = format!(
                "{SELECT} JOIN users u ON u.id = c.user_id JOIN org_units o ON o.id = u.org_unit_id
                 WHERE c.issued_at >= $1 AND c.issued_at < $2 AND {}
                 ORDER BY c.issued_at, c.number",
                crate::people::store::in_subtree("o.path", "$3")
            );
            on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(from).bind(to).bind(path).fetch_all(pool).await)?
        }
    };
    Ok(rows)
}

/// Revokes a certificate with a reason, audited in the same transaction. False when it
/// was already revoked.
pub async fn revoke(db: &Db, number: &str, by: Uuid, reason: &str, event: &Event) -> Result<bool> {
    let now = db::now();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let done = sqlx::query(
            "UPDATE certificates SET revoked_at = $1, revoked_by = $2, revocation_reason = $3
             WHERE number = $4 AND revoked_at IS NULL"
        ).bind(now).bind(by).bind(reason).bind(number).execute(&mut *conn).await?.rows_affected();
        if done == 0 {
            return Ok(false);
        }
        insert_event!(conn, event, now)?;
        tx.commit().await?;
        Ok(true)
    })
}

/// A stored attestation de présence.
#[derive(Debug, Clone, FromRow)]
pub struct AttendanceRow {
    pub number: String,
    pub user_id: Uuid,
    pub enrolment_id: Uuid,
    pub payload: String,
    pub signature: String,
    pub key_id: String,
}

pub async fn attendance_by_number(db: &Db, number: &str) -> Result<Option<AttendanceRow>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT number, user_id, enrolment_id, payload, signature, key_id
         FROM attendance_attestations WHERE number = $1")
        .bind(number).fetch_optional(pool).await)?)
}

/// The attestation numbers of a person's enrolments.
pub async fn attendance_numbers(db: &Db, user: Uuid) -> Result<Vec<(Uuid, String)>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT enrolment_id, number FROM attendance_attestations WHERE user_id = $1")
        .bind(user).fetch_all(pool).await)?)
}
