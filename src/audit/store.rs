//! SQL for the audit log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::Event;
use crate::db::{self, Db, WritePool};
use crate::error::Result;
use crate::on_db;

/// Inserts an event on a connection, inside the caller's transaction.
macro_rules! insert_event {
    ($conn:expr, $event:expr, $now:expr) => {{
        let e: &$crate::audit::Event = $event;
        sqlx::query(
            "INSERT INTO audit_events (id, at, actor_id, actor, kind, subject, details, client)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(uuid::Uuid::new_v4())
        .bind($now)
        .bind(e.actor_id)
        .bind(&e.actor)
        .bind(e.kind.code())
        .bind(&e.subject)
        .bind(&e.details)
        .bind(&e.client)
        .execute(&mut *$conn)
        .await
    }};
}
pub(crate) use insert_event;

/// Records an event on its own.
pub async fn record(db: &Db, event: Event) -> Result<()> {
    let now = db::now();
    // The log says what happened and to which account id; names, addresses and details
    // stay in the audit table, which only admins read.
    tracing::info!(kind = event.kind.code(), actor_id = ?event.actor_id, "audit event");
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        insert_event!(conn, &event, now)?;
        tx.commit().await?;
    });
    Ok(())
}

#[derive(Debug, Serialize, FromRow)]
pub struct EventRow {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    pub details: String,
    pub client: String,
}

/// The latest events, newest first.
pub async fn latest(db: &Db, limit: i64, offset: i64) -> Result<Vec<EventRow>> {
    let sql = format!(
        "SELECT id, at, actor, kind, subject, details, client FROM audit_events
         ORDER BY at DESC, id {}",
        crate::db::limit(limit, offset)
    );
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(pool).await)?,
    )
}
