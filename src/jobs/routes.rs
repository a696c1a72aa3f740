//! The admin page of scheduled jobs: each job's schedule, last runs, duration and errors.

use rocket::{get, routes, Route, State};
use serde_json::json;

use super::{store, Job};
use crate::auth::Admin;
use crate::config::Config;
use crate::db::Db;
use crate::error::Result;
use crate::views::Page;

pub fn routes() -> Vec<Route> {
    routes![jobs_page]
}

/// Runs listed per job.
const RUNS_SHOWN: i64 = 10;

#[get("/admin/taches")]
async fn jobs_page(db: &State<Db>, config: &State<Config>, admin: Admin) -> Result<Page> {
    let mut jobs = Vec::new();
    for job in Job::ALL {
        let runs = store::latest(db, job, RUNS_SHOWN).await?;
        let errors = store::latest_errors(db, job, 5).await?;
        let view = |r: &store::Run| {
            json!({
                "slot": r.slot, "slot_at": r.slot_at, "instance": r.instance,
                "started_at": r.started_at, "finished": r.finished_at.is_some(),
                "duration_ms": r.finished_at.map(|f| (f - r.started_at).num_milliseconds()),
                "summary": r.summary, "error": r.error,
            })
        };
        jobs.push(json!({
            "code": job.code(),
            "label": job.label(),
            "schedule": job.schedule(config.outbox_poll_seconds as i64).describe(),
            "runs": runs.iter().map(view).collect::<Vec<_>>(),
            "errors": errors.iter().map(view).collect::<Vec<_>>(),
        }));
    }
    Ok(Page::new(
        "admin/jobs",
        "Tâches planifiées",
        Some(&admin.0),
        json!({ "jobs": jobs, "scheduler": config.scheduler }),
    ))
}
