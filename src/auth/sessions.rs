//! Server-side sessions. The private cookie holds a session id; the `sessions` table says
//! whether that session is still open, so a copied cookie stops working at logout, at
//! « se déconnecter partout », when the person is deactivated or their role changes, after
//! [`super::SESSION_HOURS`], and after `session_idle_minutes` without a request.

use chrono::{DateTime, Duration, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::{Db, WritePool};
use crate::error::Result;
use crate::on_db;

/// Why a session ended (kept in the table, for the record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    LogoutEverywhere,
    RoleChanged,
    Deactivated,
}

impl EndReason {
    pub fn code(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::LogoutEverywhere => "logout_everywhere",
            EndReason::RoleChanged => "role_changed",
            EndReason::Deactivated => "deactivated",
        }
    }
}

/// A session as stored.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub user_id: Uuid,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Whether a session may still be used at `now`.
pub fn alive(s: &SessionRow, now: DateTime<Utc>, idle: Duration) -> bool {
    s.ended_at.is_none() && s.expires_at > now && s.last_seen_at + idle > now
}

/// How stale `last_seen_at` may get before a request writes it again.
pub const TOUCH_EVERY_SECONDS: i64 = 60;

/// Ends every open session of a user on a connection, inside the caller's transaction.
macro_rules! end_all_sessions {
    ($conn:expr, $user:expr, $now:expr, $reason:expr) => {{
        let reason: $crate::auth::sessions::EndReason = $reason;
        sqlx::query(
            "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE user_id = $3 AND ended_at IS NULL",
        )
        .bind($now)
        .bind(reason.code())
        .bind($user)
        .execute(&mut *$conn)
        .await
    }};
}
pub(crate) use end_all_sessions;

/// Opens a session for `user_id`; returns its id.
pub async fn open(db: &Db, user_id: Uuid, now: DateTime<Utc>, hours: i64) -> Result<Uuid> {
    let id = Uuid::new_v4();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(id).bind(user_id).bind(now).bind(now + Duration::hours(hours))
        .execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(id)
}

pub async fn find(db: &Db, id: Uuid) -> Result<Option<SessionRow>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT user_id, last_seen_at, expires_at, ended_at FROM sessions WHERE id = $1"
    ).bind(id).fetch_optional(pool).await)?)
}

/// Records activity on an open session.
pub async fn touch(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(now).bind(id).execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Ends one session.
pub async fn end(db: &Db, id: Uuid, now: DateTime<Utc>, reason: EndReason) -> Result<()> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL")
            .bind(now).bind(reason.code()).bind(id).execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Ends every open session of a user; returns how many.
pub async fn end_all(db: &Db, user_id: Uuid, now: DateTime<Utc>, reason: EndReason) -> Result<u64> {
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let done = end_all_sessions!(conn, user_id, now, reason)?;
        tx.commit().await?;
        done.rows_affected()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        last_seen_min_ago: i64,
        expires_in_min: i64,
        ended: bool,
    ) -> (SessionRow, DateTime<Utc>) {
        let now = Utc::now();
        (
            SessionRow {
                user_id: Uuid::nil(),
                last_seen_at: now - Duration::minutes(last_seen_min_ago),
                expires_at: now + Duration::minutes(expires_in_min),
                ended_at: ended.then_some(now),
            },
            now,
        )
    }

    #[test]
    fn a_session_ends_when_closed_expired_or_idle() {
        let idle = Duration::minutes(30);
        let (s, now) = row(5, 60, false);
        assert!(alive(&s, now, idle));
        let (s, now) = row(5, 60, true);
        assert!(!alive(&s, now, idle), "ended");
        let (s, now) = row(5, -1, false);
        assert!(!alive(&s, now, idle), "expired");
        let (s, now) = row(31, 60, false);
        assert!(!alive(&s, now, idle), "idle");
    }
}
