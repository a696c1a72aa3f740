//! SQL for lesson views, attempts and completions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use super::{Answers, Grading, ModuleFacts};
use crate::catalog::{Module, Question};
use crate::db::{Db, WritePool};
use crate::error::{Error, Result};
use crate::on_db;

/// Lesson files of a module this learner has opened.
pub async fn viewed_lessons(db: &Db, user: Uuid, slug: &str) -> Result<Vec<String>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT lesson_file FROM lesson_views WHERE user_id = $1 AND module_slug = $2"
    ).bind(user).bind(slug).fetch_all(pool).await)?)
}

/// Records the first view of a lesson; later views change nothing.
pub async fn record_lesson_view(
    db: &Db,
    user: Uuid,
    slug: &str,
    file: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO lesson_views (user_id, module_slug, lesson_file, first_viewed_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
        ).bind(user).bind(slug).bind(file).bind(now).execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(())
}

#[derive(FromRow)]
struct RecordRow {
    module_slug: String,
    /// Set on lesson-view rows.
    lesson_file: Option<String>,
    /// Set on cycle rows.
    last_completed_at: Option<DateTime<Utc>>,
    attempts_in_cycle: i64,
}

/// Per module: the lesson files viewed, the latest completion and the attempts started
/// since it. Modules never touched are absent.
pub struct LearnerRecord {
    pub viewed: HashMap<String, Vec<String>>,
    pub cycles: HashMap<String, (Option<DateTime<Utc>>, u32)>,
}

impl LearnerRecord {
    /// The facts for one module, counting only lessons that still exist in it.
    pub fn facts(&self, module: &Module) -> ModuleFacts {
        let viewed = self.viewed.get(&module.slug);
        let lessons_viewed = module
            .lessons
            .iter()
            .filter(|l| viewed.is_some_and(|v| v.contains(&l.file)))
            .count();
        let (last_completed_at, attempts_in_cycle) =
            self.cycles.get(&module.slug).copied().unwrap_or((None, 0));
        ModuleFacts {
            lessons_viewed,
            attempts_in_cycle,
            last_completed_at,
        }
    }
}

/// Lesson views, then one row per module attempted with its latest completion and the
/// attempts started since, then one row per module completed by attending in full a shared
/// session whose offer completes it: one round trip for every page that shows statuses.
const RECORD_SQL: &str = "
    SELECT module_slug, lesson_file, NULL AS last_completed_at, 0 AS attempts_in_cycle
      FROM lesson_views WHERE user_id = $1
    UNION ALL
    SELECT s.module_slug, NULL,
           (SELECT MAX(c.completed_at) FROM completions c
             WHERE c.user_id = $1 AND c.module_slug = s.module_slug),
           (SELECT COUNT(*) FROM attempts a
             WHERE a.user_id = $1 AND a.module_slug = s.module_slug
               AND NOT EXISTS (SELECT 1 FROM completions c2
                                WHERE c2.user_id = $1 AND c2.module_slug = s.module_slug
                                  AND c2.completed_at >= a.started_at))
      FROM (SELECT DISTINCT module_slug FROM attempts WHERE user_id = $1) s
    UNION ALL
    SELECT o.completes_module, NULL, MAX(e.attended_at), 0
      FROM enrolments e
      JOIN training_sessions ts ON ts.id = e.session_id
      JOIN training_offers o ON o.id = ts.offer_id
     WHERE e.user_id = $1 AND e.attended_at IS NOT NULL AND o.completes_module IS NOT NULL
     GROUP BY o.completes_module";

/// Everything the catalogue and progress pages need to know about a learner.
pub async fn learner_record(db: &Db, user: Uuid) -> Result<LearnerRecord> {
    let rows: Vec<RecordRow> = on_db!(db, pool => sqlx::query_as(RECORD_SQL)
        .bind(user).fetch_all(pool).await)?;
    let mut record = LearnerRecord {
        viewed: HashMap::new(),
        cycles: HashMap::new(),
    };
    for r in rows {
        match r.lesson_file {
            Some(file) => record.viewed.entry(r.module_slug).or_default().push(file),
            None => {
                let attempts = u32::try_from(r.attempts_in_cycle).unwrap_or(u32::MAX);
                // A module both attempted and completed by attendance: the latest completion
                // counts, and a completion by attendance after the attempts opens a new cycle.
                let e = record
                    .cycles
                    .entry(r.module_slug)
                    .or_insert((r.last_completed_at, attempts));
                if r.last_completed_at > e.0 {
                    *e = (r.last_completed_at, attempts);
                } else if r.last_completed_at == e.0 {
                    e.1 = e.1.max(attempts);
                }
            }
        }
    }
    Ok(record)
}

/// An attempt as stored.
#[derive(Debug, Clone, FromRow)]
pub struct AttemptRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub module_slug: String,
    pub module_version: String,
    pub seed: i64,
    pub questions: String,
    pub pass_mark: i64,
    pub started_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub answers: Option<String>,
    pub score: Option<i64>,
    pub passed: Option<bool>,
}

impl AttemptRow {
    pub fn questions(&self) -> Result<Vec<Question>> {
        serde_json::from_str(&self.questions).map_err(|e| {
            Error::Internal(format!(
                "attempt {}: stored questions unreadable: {e}",
                self.id
            ))
        })
    }

    pub fn answers(&self) -> Result<Answers> {
        match &self.answers {
            None => Ok(Answers::new()),
            Some(a) => serde_json::from_str(a).map_err(|e| {
                Error::Internal(format!(
                    "attempt {}: stored answers unreadable: {e}",
                    self.id
                ))
            }),
        }
    }
}

const ATTEMPT_COLUMNS: &str =
    "id, user_id, module_slug, module_version, seed, questions, pass_mark, \
    started_at, submitted_at, answers, score, passed";

/// An attempt of this user; another user's attempt is `None`, exactly like a missing one.
pub async fn attempt(db: &Db, id: Uuid, user: Uuid) -> Result<Option<AttemptRow>> {
    let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE id = $1 AND user_id = $2");
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id).bind(user).fetch_optional(pool).await)?,
    )
}

/// The user's unsubmitted attempt on a module, if any (the latest).
pub async fn open_attempt(db: &Db, user: Uuid, slug: &str) -> Result<Option<Uuid>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT id FROM attempts WHERE user_id = $1 AND module_slug = $2 AND submitted_at IS NULL
         ORDER BY started_at DESC LIMIT 1"
    ).bind(user).bind(slug).fetch_optional(pool).await)?)
}

/// A learner's attempts, newest first.
pub async fn attempts_of(db: &Db, user: Uuid) -> Result<Vec<AttemptRow>> {
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE user_id = $1 ORDER BY started_at DESC"
    );
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(user).fetch_all(pool).await)?,
    )
}

/// A completion as stored.
#[derive(Debug, Clone, FromRow)]
pub struct CompletionRow {
    pub id: Uuid,
    pub module_slug: String,
    pub module_version: String,
    pub attempt_id: Uuid,
    pub score: i64,
    pub completed_at: DateTime<Utc>,
}

/// A learner's completions, newest first.
pub async fn completions_of(db: &Db, user: Uuid) -> Result<Vec<CompletionRow>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, module_slug, module_version, attempt_id, score, completed_at
         FROM completions WHERE user_id = $1 ORDER BY completed_at DESC"
    ).bind(user).fetch_all(pool).await)?)
}

/// Whether `user` has completed `slug` at least once.
pub async fn has_completed(db: &Db, user: Uuid, slug: &str) -> Result<bool> {
    let n: i64 = on_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM completions WHERE user_id = $1 AND module_slug = $2"
    ).bind(user).bind(slug).fetch_one(pool).await)?;
    Ok(n > 0)
}

/// A new attempt to record.
pub struct NewAttempt<'a> {
    pub user: Uuid,
    pub module: &'a Module,
    pub seed: u64,
    pub questions: &'a [Question],
    pub now: DateTime<Utc>,
}

/// Why an attempt was not created.
pub enum CreateOutcome {
    Created(Uuid),
    /// An attempt on this module was already open (a double click, a second API call):
    /// it is returned, and no attempt is spent.
    Resumed(Uuid),
    /// The attempt limit was reached, checked under the write lock.
    NoAttemptLeft,
}

/// Records a new attempt, re-checking the attempt limit inside the transaction so that
/// two simultaneous starts cannot both get the last attempt.
pub async fn create_attempt(db: &Db, new: NewAttempt<'_>) -> Result<CreateOutcome> {
    let questions = serde_json::to_string(new.questions)
        .map_err(|e| Error::Internal(format!("serialising questions: {e}")))?;
    let id = Uuid::new_v4();
    let slug = new.module.slug.as_str();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        // Serialises the starts of one user (a row lock on PostgreSQL; SQLite already holds
        // the database write lock).
        sqlx::query("UPDATE users SET active = active WHERE id = $1")
            .bind(new.user).execute(tx.conn()).await?;
        // Under that lock, so that two simultaneous starts cannot both miss an open attempt.
        let open: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM attempts WHERE user_id = $1 AND module_slug = $2 AND submitted_at IS NULL
             ORDER BY started_at DESC LIMIT 1"
        ).bind(new.user).bind(slug).fetch_optional(tx.conn()).await?;
        if let Some(open) = open {
            return Ok(CreateOutcome::Resumed(open));
        }
        if let Some(max) = new.module.attempts_allowed {
            let used: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM attempts a WHERE a.user_id = $1 AND a.module_slug = $2
                   AND NOT EXISTS (SELECT 1 FROM completions c WHERE c.user_id = $1
                                    AND c.module_slug = $2 AND c.completed_at >= a.started_at)"
            ).bind(new.user).bind(slug).fetch_one(tx.conn()).await?;
            if used >= i64::from(max) {
                return Ok(CreateOutcome::NoAttemptLeft);
            }
        }
        sqlx::query(
            "INSERT INTO attempts (id, user_id, module_slug, module_version, seed, questions, pass_mark, started_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ).bind(id).bind(new.user).bind(slug).bind(&new.module.version)
            .bind(new.seed as i64).bind(&questions).bind(i64::from(new.module.pass_mark)).bind(new.now)
            .execute(tx.conn()).await?;
        tx.commit().await?;
        Ok(CreateOutcome::Created(id))
    })
}

/// Records a graded submission and, when passed, the completion, in one transaction.
/// Returns `false` when the attempt had already been submitted: the earlier result stands.
/// When passed, the completion's certificate (`certificate`, frozen and signed beforehand)
/// is written in the same transaction: no completion without its certificate, no
/// certificate without its completion.
pub async fn record_submission(
    db: &Db,
    attempt: &AttemptRow,
    answers: &Answers,
    grading: &Grading,
    certificate: Option<&crate::certificates::store::Draft>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let answers = serde_json::to_string(answers)
        .map_err(|e| Error::Internal(format!("serialising answers: {e}")))?;
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE attempts SET submitted_at = $1, answers = $2, score = $3, passed = $4
             WHERE id = $5 AND user_id = $6 AND submitted_at IS NULL"
        ).bind(now).bind(&answers).bind(i64::from(grading.score)).bind(grading.passed)
            .bind(attempt.id).bind(attempt.user_id)
            .execute(tx.conn()).await?.rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        if grading.passed {
            let completion = Uuid::new_v4();
            let conn = tx.conn();
            sqlx::query(
                "INSERT INTO completions (id, user_id, module_slug, module_version, attempt_id, score, completed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ).bind(completion).bind(attempt.user_id).bind(&attempt.module_slug)
                .bind(&attempt.module_version).bind(attempt.id).bind(i64::from(grading.score)).bind(now)
                .execute(&mut *conn).await?;
            if let Some(draft) = certificate {
                crate::certificates::store::insert_certificate!(conn, draft, attempt.user_id, completion, now);
                // The obligation this completion meets is met in the same transaction.
                crate::obligations::store::complete_open_cycle!(
                    conn, attempt.user_id, &attempt.module_slug, completion, now, draft.payload.valid_until
                )?;
            }
        }
        tx.commit().await?;
        Ok(true)
    })
}
