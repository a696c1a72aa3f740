//! Runs the jobs that are due at a given instant: the clock is a parameter, so tests drive
//! time instead of sleeping.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{store, Job, Slot};
use crate::db::Db;
use crate::notifications::worker::{self, Mailer};

/// What one instance needs to run the jobs.
pub struct Runner {
    pub db: Db,
    pub mailer: Arc<Mailer>,
    /// Seconds between two outbox rounds.
    pub outbox_seconds: i64,
    /// Names this instance in the runs it claims.
    pub instance: String,
    /// Certificate exports, removed by the clean-up after `export_retention_hours`.
    pub export_folder: std::path::PathBuf,
    pub export_retention_hours: i64,
    pub training_hold_hours: i64,
    /// Module validity, for the obligations sweep.
    pub catalog: crate::catalog::Catalog,
    /// Mail templates, for the reminders sweep.
    pub views: crate::views::Views,
}

/// A run this instance claimed and did.
#[derive(Debug, Clone)]
pub struct Done {
    pub job: Job,
    pub slot: Slot,
    pub outcome: Result<String, String>,
}

/// What happened to one job at one instant.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// No slot of its schedule at or before that instant.
    NotDue,
    /// Another instance (or an earlier run here) claimed the slot.
    AlreadyClaimed(Slot),
    /// Claimed and run here.
    Ran(Done),
}

impl Runner {
    /// The runner of a built service, from its managed state (the `serve` ticks and the
    /// `jobs` command use the same).
    pub fn from_rocket<P: rocket::Phase>(rocket: &rocket::Rocket<P>) -> Option<Runner> {
        let config = rocket.state::<crate::config::Config>()?;
        Some(Runner {
            db: rocket.state::<Db>()?.clone(),
            mailer: rocket
                .state::<Arc<crate::notifications::worker::Mailer>>()?
                .clone(),
            outbox_seconds: config.outbox_poll_seconds.max(1) as i64,
            instance: rocket.state::<super::Instance>()?.0.clone(),
            export_folder: config.export_folder.clone(),
            export_retention_hours: config.export_retention_hours,
            training_hold_hours: config.training_hold_hours,
            catalog: rocket.state::<crate::catalog::Catalog>()?.clone(),
            views: rocket.state::<crate::views::Views>()?.clone(),
        })
    }

    /// Claims and runs every job whose due slot at `now` has not run yet, here or on
    /// another instance. A job that fails is recorded with its error; the others still run.
    pub async fn run_due(&self, now: DateTime<Utc>) -> Vec<Done> {
        let mut done = Vec::new();
        for job in Job::ALL {
            if let Attempt::Ran(d) = self.run_one(job, now).await {
                done.push(d);
            }
        }
        done
    }

    /// Claims the slot of `job` due at `now` and runs it, unless it was claimed already.
    pub async fn run_one(&self, job: Job, now: DateTime<Utc>) -> Attempt {
        let Some(slot) = job.schedule(self.outbox_seconds).due(now) else {
            return Attempt::NotDue;
        };
        match store::claim(&self.db, job, &slot, &self.instance, crate::db::now()).await {
            Ok(true) => {}
            Ok(false) => return Attempt::AlreadyClaimed(slot),
            Err(e) => {
                tracing::error!(job = job.code(), slot = %slot.key, error = %e, "job claim failed");
                return Attempt::AlreadyClaimed(slot);
            }
        }
        let outcome = self.execute(job, now).await;
        if let Err(e) = &outcome {
            tracing::error!(job = job.code(), slot = %slot.key, error = %e, "job failed");
        }
        if let Err(e) = store::finish(&self.db, job, &slot, crate::db::now(), &outcome).await {
            tracing::error!(job = job.code(), slot = %slot.key, error = %e, "job outcome not recorded");
        }
        Attempt::Ran(Done { job, slot, outcome })
    }

    async fn execute(&self, job: Job, now: DateTime<Utc>) -> Result<String, String> {
        match job {
            Job::OutboxDelivery => worker::deliver_due(&self.db, &self.mailer, now)
                .await
                .map(|r| {
                    format!(
                        "{} envoyé(s), {} à réessayer, {} en échec, {} abandonné(s)",
                        r.sent, r.retried, r.failed, r.dropped
                    )
                })
                .map_err(|e| e.to_string()),
            Job::RemindersSweep => {
                let ctx = crate::reminders::flow::Context {
                    catalog: &self.catalog,
                    views: &self.views,
                    public_url: &self.mailer.public_url,
                };
                crate::reminders::flow::sweep(&self.db, &ctx, now)
                    .await
                    .map(|r| r.summary())
                    .map_err(|e| e.to_string())
            }
            Job::TrainingsSweep => {
                let m = crate::trainings::flow::Mailing {
                    views: &self.views,
                    public_url: &self.mailer.public_url,
                    mail_from: &self.mailer.mail_from,
                    hold: chrono::Duration::hours(self.training_hold_hours.max(1)),
                };
                crate::trainings::flow::settle_all(&self.db, &m, now)
                    .await
                    .map_err(|e| e.to_string())
            }
            Job::EqualitySnapshot => {
                crate::equality::flow::monthly_snapshot(&self.db, &self.catalog, now)
                    .await
                    .map_err(|e| e.to_string())
            }
            Job::ObligationsSweep => {
                crate::obligations::flow::reevaluate(&self.db, &self.catalog, now)
                    .await
                    .map(|r| r.summary())
                    .map_err(|e| e.to_string())
            }
            Job::Cleanup => {
                let c = store::clean_up(&self.db, now)
                    .await
                    .map_err(|e| e.to_string())?;
                let dir = self.export_folder.clone();
                let hours = self.export_retention_hours;
                let files = tokio::task::spawn_blocking(move || {
                    crate::certificates::export::clean_folder(&dir, hours)
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("exports : {e}"))?;
                Ok(format!(
                    "{} lien(s) de connexion, {} session(s), {} exécution(s) de tâches, {} étape(s) de rappel, {files} export(s) supprimés",
                    c.links, c.sessions, c.runs, c.reminder_stages
                ))
            }
        }
    }
}
