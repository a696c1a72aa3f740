//! The learner's path, shared by the HTML pages and the JSON API: each function checks the
//! rules of `learning` and calls the store. Handlers only parse, authorise and render.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::store::{self, AttemptRow, CreateOutcome, LearnerRecord, NewAttempt};
use super::{
    attempts_left, draw_questions, grade, may_start, status, valid_until, Answers, Status,
};
use crate::catalog::{Catalog, Grade, Kind, Lesson, Module};
use crate::certificates::Certifier;
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::people::User;

/// The module, if it exists and is offered to this user; otherwise a 404, so that the
/// answer does not depend on modules the user cannot see.
pub fn module_for<'c>(catalog: &'c Catalog, user: &User, slug: &str) -> Result<&'c Arc<Module>> {
    catalog
        .get(slug)
        .filter(|m| user.sees_all_modules() || m.is_for(&user.audiences))
        .ok_or_else(|| Error::NotFound(format!("Le module « {slug} » n'existe pas.")))
}

/// The modules offered to a user.
pub fn modules_for<'c>(catalog: &'c Catalog, user: &User) -> Vec<&'c Arc<Module>> {
    catalog
        .modules()
        .iter()
        .filter(|m| user.sees_all_modules() || m.is_for(&user.audiences))
        .collect()
}

/// Where a learner stands on a module, as shown in the catalogue and the API.
#[derive(Debug, Serialize)]
pub struct ModuleState {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub estimated_minutes: u32,
    pub pass_mark: u8,
    pub validity_months: u32,
    pub attempts_allowed: Option<u32>,
    pub attempts_used: u32,
    pub attempts_left: Option<u32>,
    pub lessons_total: usize,
    pub lessons_viewed: usize,
    pub questions_per_attempt: usize,
    pub status: Status,
    pub status_label: &'static str,
    pub completed_at: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub version: String,
    pub audiences: Vec<&'static str>,
    pub territorial_axes: Vec<u8>,
    pub equality_axes: Vec<u8>,
    pub prerequisites: Vec<Prerequisite>,
    /// Why the quiz cannot be started now, if it cannot.
    pub quiz_blocked_reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Prerequisite {
    pub slug: String,
    pub title: String,
    pub met: bool,
}

pub fn module_state(
    catalog: &Catalog,
    record: &LearnerRecord,
    module: &Module,
    now: DateTime<Utc>,
) -> ModuleState {
    let facts = record.facts(module);
    let st = status(module, &facts, now);
    let prerequisites: Vec<Prerequisite> = module
        .prerequisites
        .iter()
        .filter_map(|slug| catalog.get(slug))
        .map(|p| Prerequisite {
            slug: p.slug.clone(),
            title: p.title.clone(),
            met: status(p, &record.facts(p), now) == Status::Completed,
        })
        .collect();
    let missing: Vec<String> = prerequisites
        .iter()
        .filter(|p| !p.met)
        .map(|p| p.title.clone())
        .collect();
    ModuleState {
        slug: module.slug.clone(),
        title: module.title.clone(),
        summary: module.summary.clone(),
        estimated_minutes: module.estimated_minutes,
        pass_mark: module.pass_mark,
        validity_months: module.validity_months,
        attempts_allowed: module.attempts_allowed,
        attempts_used: facts.attempts_in_cycle,
        attempts_left: attempts_left(module, facts.attempts_in_cycle),
        lessons_total: module.lessons.len(),
        lessons_viewed: facts.lessons_viewed,
        questions_per_attempt: module.questions_per_attempt(),
        status: st,
        status_label: st.label(),
        completed_at: facts.last_completed_at,
        valid_until: facts
            .last_completed_at
            .map(|d| valid_until(d, module.validity_months)),
        version: module.version.clone(),
        audiences: module.audiences.iter().map(|a| a.code()).collect(),
        territorial_axes: module.territorial_axes.clone(),
        equality_axes: module.equality_axes.clone(),
        prerequisites,
        quiz_blocked_reason: may_start(module, &facts, &missing)
            .err()
            .map(|r| r.message()),
    }
}

/// The states of every module offered to the user.
pub async fn catalogue(db: &Db, catalog: &Catalog, user: &User) -> Result<Vec<ModuleState>> {
    let record = store::learner_record(db, user.id).await?;
    let now = db::now();
    Ok(modules_for(catalog, user)
        .into_iter()
        .map(|m| module_state(catalog, &record, m, now))
        .collect())
}

/// The state of one module for the user.
pub async fn one_module(
    db: &Db,
    catalog: &Catalog,
    user: &User,
    slug: &str,
) -> Result<ModuleState> {
    let module = module_for(catalog, user, slug)?;
    let record = store::learner_record(db, user.id).await?;
    Ok(module_state(catalog, &record, module, db::now()))
}

/// A lesson as shown to the learner.
#[derive(Debug, Serialize)]
pub struct LessonView {
    pub module_slug: String,
    pub module_title: String,
    /// 1-based position.
    pub number: usize,
    pub total: usize,
    pub title: String,
    pub html: String,
    pub minutes: u32,
    pub viewed: usize,
    pub previous: Option<usize>,
    pub next: Option<usize>,
    pub toc: Vec<LessonEntry>,
}

#[derive(Debug, Serialize)]
pub struct LessonEntry {
    pub number: usize,
    pub title: String,
    pub viewed: bool,
    pub current: bool,
}

pub fn lesson_entries(module: &Module, viewed: &[String], current: usize) -> Vec<LessonEntry> {
    module
        .lessons
        .iter()
        .enumerate()
        .map(|(i, l)| LessonEntry {
            number: i + 1,
            title: l.title.clone(),
            viewed: viewed.contains(&l.file),
            current: i + 1 == current,
        })
        .collect()
}

/// Opens lesson `number` (1-based) and records the view.
pub async fn open_lesson(
    db: &Db,
    catalog: &Catalog,
    user: &User,
    slug: &str,
    number: usize,
) -> Result<LessonView> {
    let module = module_for(catalog, user, slug)?;
    let lesson: &Lesson = number
        .checked_sub(1)
        .and_then(|i| module.lessons.get(i))
        .ok_or_else(|| Error::NotFound(format!("Ce module n'a pas de leçon {number}.")))?;
    let mut viewed = store::viewed_lessons(db, user.id, slug).await?;
    if !viewed.contains(&lesson.file) {
        store::record_lesson_view(db, user.id, slug, &lesson.file, db::now()).await?;
        viewed.push(lesson.file.clone());
    }
    let total = module.lessons.len();
    Ok(LessonView {
        module_slug: module.slug.clone(),
        module_title: module.title.clone(),
        number,
        total,
        title: lesson.title.clone(),
        html: lesson.html.clone(),
        minutes: lesson.minutes,
        viewed: module
            .lessons
            .iter()
            .filter(|l| viewed.contains(&l.file))
            .count(),
        previous: (number > 1).then(|| number - 1),
        next: (number < total).then(|| number + 1),
        toc: lesson_entries(module, &viewed, number),
    })
}

/// A started quiz: a new attempt, or the one already open on the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    New(Uuid),
    Resumed(Uuid),
}

impl Started {
    pub fn id(self) -> Uuid {
        match self {
            Started::New(id) | Started::Resumed(id) => id,
        }
    }
}

/// Starts the quiz of a module for pages and API alike: resumes the attempt already open
/// (a double click, a second API call, a return to the module page never spends an
/// attempt), or starts a new one after checking prerequisites, lessons and the limit. The
/// open attempt is looked for again inside the write transaction, under the lock that
/// guards the limit, so simultaneous starts give one attempt.
pub async fn start_attempt(db: &Db, catalog: &Catalog, user: &User, slug: &str) -> Result<Started> {
    let module = module_for(catalog, user, slug)?;
    if let Some(id) = store::open_attempt(db, user.id, slug).await? {
        return Ok(Started::Resumed(id));
    }
    let state = one_module(db, catalog, user, slug).await?;
    if let Some(reason) = state.quiz_blocked_reason {
        return Err(Error::Conflict(reason));
    }
    let seed: u64 = rand::random();
    let questions = draw_questions(&module.quiz, seed);
    match store::create_attempt(
        db,
        NewAttempt {
            user: user.id,
            module,
            seed,
            questions: &questions,
            now: db::now(),
        },
    )
    .await?
    {
        CreateOutcome::Created(id) => Ok(Started::New(id)),
        CreateOutcome::Resumed(id) => Ok(Started::Resumed(id)),
        CreateOutcome::NoAttemptLeft => Err(Error::Conflict(
            super::StartRefusal::NoAttemptLeft.message(),
        )),
    }
}

/// The attempt of this user, or a 404.
pub async fn attempt_of(db: &Db, user: &User, id: Uuid) -> Result<AttemptRow> {
    store::attempt(db, id, user.id)
        .await?
        .ok_or_else(|| Error::NotFound("Cette tentative n'existe pas.".into()))
}

/// Grades and records a submission. Submitting an attempt already submitted returns the
/// recorded result unchanged, whatever was sent the second time.
pub async fn submit(
    db: &Db,
    catalog: &Catalog,
    certifier: &Certifier,
    user: &User,
    id: Uuid,
    answers: Answers,
) -> Result<AttemptRow> {
    let attempt = attempt_of(db, user, id).await?;
    if attempt.submitted_at.is_some() {
        return Ok(attempt);
    }
    let questions = attempt.questions()?;
    let pass_mark = u8::try_from(attempt.pass_mark).unwrap_or(100);
    let grading = grade(&questions, &answers, pass_mark).map_err(|e| Error::Unprocessable(e.0))?;
    let now = db::now();
    let certificate = grading.passed.then(|| {
        let module = catalog.get(&attempt.module_slug);
        certifier.draft(
            &user.display_name,
            &attempt.module_slug,
            &module
                .map(|m| m.title.clone())
                .unwrap_or_else(|| attempt.module_slug.clone()),
            &attempt.module_version,
            grading.score,
            now,
            valid_until(now, module.map(|m| m.validity_months).unwrap_or(12)),
        )
    });
    store::record_submission(db, &attempt, &answers, &grading, certificate.as_ref(), now).await?;
    // Whether this request or a simultaneous one won, the stored row is the result.
    attempt_of(db, user, id).await
}

/// A question as asked: no correctness data.
#[derive(Debug, Serialize)]
pub struct AskedQuestion {
    pub number: usize,
    pub id: String,
    pub kind: Kind,
    pub multiple: bool,
    pub prompt: String,
    pub situation: Option<String>,
    pub options: Vec<AskedOption>,
}

#[derive(Debug, Serialize)]
pub struct AskedOption {
    pub id: String,
    pub text: String,
}

/// An open attempt as shown to the learner.
#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub attempt_id: Uuid,
    pub module_slug: String,
    pub module_title: String,
    pub pass_mark: i64,
    pub started_at: DateTime<Utc>,
    pub submitted: bool,
    pub questions: Vec<AskedQuestion>,
}

pub fn attempt_view(attempt: &AttemptRow, module_title: &str) -> Result<AttemptView> {
    let questions = attempt.questions()?;
    Ok(AttemptView {
        attempt_id: attempt.id,
        module_slug: attempt.module_slug.clone(),
        module_title: module_title.to_string(),
        pass_mark: attempt.pass_mark,
        started_at: attempt.started_at,
        submitted: attempt.submitted_at.is_some(),
        questions: questions
            .into_iter()
            .enumerate()
            .map(|(i, q)| AskedQuestion {
                number: i + 1,
                multiple: q.kind.is_multiple(),
                id: q.id,
                kind: q.kind,
                prompt: q.prompt,
                situation: q.situation,
                options: q
                    .options
                    .into_iter()
                    .map(|o| AskedOption {
                        id: o.id,
                        text: o.text,
                    })
                    .collect(),
            })
            .collect(),
    })
}

/// The graded result of a submitted attempt, with per-question feedback.
#[derive(Debug, Serialize)]
pub struct ResultView {
    pub attempt_id: Uuid,
    pub module_slug: String,
    pub module_title: String,
    pub score: i64,
    pub pass_mark: i64,
    pub passed: bool,
    pub submitted_at: DateTime<Utc>,
    pub correct_count: usize,
    pub total: usize,
    pub questions: Vec<GradedQuestion>,
}

#[derive(Debug, Serialize)]
pub struct GradedQuestion {
    pub number: usize,
    pub id: String,
    pub kind: Kind,
    pub prompt: String,
    pub situation: Option<String>,
    pub answered: bool,
    pub correct: bool,
    /// Half points earned: 2 full credit, 1 half (an ambiguous scenario answer).
    pub credit: u32,
    pub verdict: &'static str,
    pub options: Vec<GradedOption>,
}

#[derive(Debug, Serialize)]
pub struct GradedOption {
    pub id: String,
    pub text: String,
    pub chosen: bool,
    pub correct: bool,
    pub grade: Option<Grade>,
    pub grade_label: Option<&'static str>,
    pub explanation: String,
}

/// Builds the result view; `None` when the attempt is not submitted yet.
pub fn result_view(attempt: &AttemptRow, module_title: &str) -> Result<Option<ResultView>> {
    let Some(submitted_at) = attempt.submitted_at else {
        return Ok(None);
    };
    let questions = attempt.questions()?;
    let answers = attempt.answers()?;
    // Re-grading the stored answers gives the per-question detail; the stored score and
    // verdict stay the reference.
    let detail = grade(
        &questions,
        &answers,
        u8::try_from(attempt.pass_mark).unwrap_or(100),
    )
    .map_err(|e| Error::Internal(format!("attempt {}: {}", attempt.id, e.0)))?;
    let graded: Vec<GradedQuestion> = questions
        .into_iter()
        .zip(detail.questions)
        .enumerate()
        .map(|(i, (q, r))| GradedQuestion {
            number: i + 1,
            id: q.id,
            kind: q.kind,
            prompt: q.prompt,
            situation: q.situation,
            answered: !r.chosen.is_empty(),
            correct: r.correct,
            credit: r.credit,
            verdict: match (r.chosen.is_empty(), r.credit) {
                (true, _) => "Sans réponse",
                (false, 2) => "Bonne réponse",
                (false, 1) => "Réponse partiellement juste",
                _ => "Réponse incorrecte",
            },
            options: q
                .options
                .into_iter()
                .map(|o| GradedOption {
                    chosen: r.chosen.contains(&o.id),
                    correct: o.correct,
                    grade_label: o.grade.map(Grade::label),
                    grade: o.grade,
                    id: o.id,
                    text: o.text,
                    explanation: o.explanation,
                })
                .collect(),
        })
        .collect();
    Ok(Some(ResultView {
        attempt_id: attempt.id,
        module_slug: attempt.module_slug.clone(),
        module_title: module_title.to_string(),
        score: attempt.score.unwrap_or(0),
        pass_mark: attempt.pass_mark,
        passed: attempt.passed.unwrap_or(false),
        submitted_at,
        correct_count: graded.iter().filter(|q| q.correct).count(),
        total: graded.len(),
        questions: graded,
    }))
}

/// The title of a module for display, even if it left the catalogue since.
pub fn title_of(catalog: &Catalog, slug: &str) -> String {
    catalog
        .get(slug)
        .map(|m| m.title.clone())
        .unwrap_or_else(|| slug.to_string())
}

/// "My progress": every module offered, the completion history and the attempt history.
#[derive(Debug, Serialize)]
pub struct Progress {
    pub modules: Vec<ModuleState>,
    pub completed_count: usize,
    pub completions: Vec<CompletionEntry>,
    pub attempts: Vec<AttemptEntry>,
}

#[derive(Debug, Serialize)]
pub struct CompletionEntry {
    pub module_slug: String,
    pub module_title: String,
    pub module_version: String,
    pub score: i64,
    pub completed_at: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub attempt_id: Uuid,
}

#[derive(Debug, Serialize)]
pub struct AttemptEntry {
    pub attempt_id: Uuid,
    pub module_slug: String,
    pub module_title: String,
    pub started_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub score: Option<i64>,
    pub passed: Option<bool>,
}

pub async fn progress(db: &Db, catalog: &Catalog, user: &User) -> Result<Progress> {
    let modules = catalogue(db, catalog, user).await?;
    let completions = store::completions_of(db, user.id).await?;
    let attempts = store::attempts_of(db, user.id).await?;
    Ok(Progress {
        completed_count: modules
            .iter()
            .filter(|m| m.status == Status::Completed)
            .count(),
        modules,
        completions: completions
            .into_iter()
            .map(|c| CompletionEntry {
                module_title: title_of(catalog, &c.module_slug),
                valid_until: catalog
                    .get(&c.module_slug)
                    .map(|m| valid_until(c.completed_at, m.validity_months)),
                module_slug: c.module_slug,
                module_version: c.module_version,
                score: c.score,
                completed_at: c.completed_at,
                attempt_id: c.attempt_id,
            })
            .collect(),
        attempts: attempts
            .into_iter()
            .map(|a| AttemptEntry {
                attempt_id: a.id,
                module_title: title_of(catalog, &a.module_slug),
                module_slug: a.module_slug,
                started_at: a.started_at,
                submitted_at: a.submitted_at,
                score: a.score,
                passed: a.passed,
            })
            .collect(),
    })
}
