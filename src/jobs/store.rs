//! SQL for job runs: the `(job, slot)` claim and the recorded outcome.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::FromRow;

use super::{Job, Slot};
use crate::db::{Db, WritePool};
use crate::error::Result;
use crate::on_db;

/// Claims a slot for this instance: `true` when this call wrote the row, `false` when the
/// slot was already claimed (by this or another instance).
pub async fn claim(
    db: &Db,
    job: Job,
    slot: &Slot,
    instance: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO job_runs (job, slot, slot_at, instance, started_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (job, slot) DO NOTHING",
        )
        .bind(job.code()).bind(&slot.key).bind(slot.at).bind(instance).bind(now)
        .execute(tx.conn()).await?;
        tx.commit().await?;
        done.rows_affected() == 1
    }))
}

/// Records how a claimed run ended.
pub async fn finish(
    db: &Db,
    job: Job,
    slot: &Slot,
    finished: DateTime<Utc>,
    outcome: &std::result::Result<String, String>,
) -> Result<()> {
    let (summary, error) = match outcome {
        Ok(s) => (Some(s.as_str()), None),
        Err(e) => (None, Some(e.chars().take(2000).collect::<String>())),
    };
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE job_runs SET finished_at = $1, summary = $2, error = $3 WHERE job = $4 AND slot = $5")
            .bind(finished).bind(summary).bind(error).bind(job.code()).bind(&slot.key)
            .execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// A recorded run.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Run {
    pub slot: String,
    pub slot_at: DateTime<Utc>,
    pub instance: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub summary: Option<String>,
    pub error: Option<String>,
}

/// The latest runs of a job, newest first.
pub async fn latest(db: &Db, job: Job, limit: i64) -> Result<Vec<Run>> {
    let sql = format!(
        "SELECT slot, slot_at, instance, started_at, finished_at, summary, error FROM job_runs
         WHERE job = $1 ORDER BY started_at DESC, slot DESC {}",
        crate::db::limit(limit, 0)
    );
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(job.code()).fetch_all(pool).await)?,
    )
}

/// The latest runs of a job that ended in an error, newest first.
pub async fn latest_errors(db: &Db, job: Job, limit: i64) -> Result<Vec<Run>> {
    let sql = format!(
        "SELECT slot, slot_at, instance, started_at, finished_at, summary, error FROM job_runs
         WHERE job = $1 AND error IS NOT NULL ORDER BY started_at DESC {}",
        crate::db::limit(limit, 0)
    );
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(job.code()).fetch_all(pool).await)?,
    )
}

/// What the clean-up removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cleaned {
    pub links: u64,
    pub sessions: u64,
    pub runs: u64,
    pub reminder_stages: u64,
}

/// How long records that only matter for a while are kept.
pub const KEEP_LINKS_DAYS: i64 = 1;
pub const KEEP_SESSIONS_DAYS: i64 = 90;
pub const KEEP_FREQUENT_RUNS_DAYS: i64 = 2;
pub const KEEP_RUNS_DAYS: i64 = 400;
/// Reminder stages are remembered two years: long enough that no stage comes round again
/// (a validity ends, a cycle is renewed); a reminder for a duty still open after that is
/// worth sending again.
pub const KEEP_REMINDER_STAGES_DAYS: i64 = 730;

/// Deletes sign-in links expired a day ago, sessions ended or expired 90 days ago, runs of
/// the every-few-seconds outbox job after 2 days and other runs after 400 days. The audit
/// log, completions, certificates and the outbox are kept.
pub async fn clean_up(db: &Db, now: DateTime<Utc>) -> Result<Cleaned> {
    let links_before = now - Duration::days(KEEP_LINKS_DAYS);
    let sessions_before = now - Duration::days(KEEP_SESSIONS_DAYS);
    let frequent_before = now - Duration::days(KEEP_FREQUENT_RUNS_DAYS);
    let runs_before = now - Duration::days(KEEP_RUNS_DAYS);
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let links = sqlx::query("DELETE FROM login_links WHERE expires_at < $1")
            .bind(links_before).execute(tx.conn()).await?.rows_affected();
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE (ended_at IS NOT NULL AND ended_at < $1) OR expires_at < $1",
        ).bind(sessions_before).execute(tx.conn()).await?.rows_affected();
        let frequent = sqlx::query("DELETE FROM job_runs WHERE job = $1 AND started_at < $2")
            .bind(Job::OutboxDelivery.code()).bind(frequent_before).execute(tx.conn()).await?.rows_affected();
        let old = sqlx::query("DELETE FROM job_runs WHERE started_at < $1")
            .bind(runs_before).execute(tx.conn()).await?.rows_affected();
        let reminder_stages = sqlx::query("DELETE FROM reminder_log WHERE created_at < $1")
            .bind(now - Duration::days(KEEP_REMINDER_STAGES_DAYS)).execute(tx.conn()).await?.rows_affected();
        tx.commit().await?;
        Cleaned { links, sessions, runs: frequent + old, reminder_stages }
    }))
}
