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
}

/// A run this instance claimed and did.
#[derive(Debug, Clone)]
pub struct Done {
    pub job: Job,
    pub slot: Slot,
    pub outcome: Result<String, String>,
}

impl Runner {
    /// A name for this process: host, process id and a random suffix.
    pub fn instance_name() -> String {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "instance".into());
        let suffix: u16 = rand::random();
        format!("{host}-{}-{suffix:04x}", std::process::id())
    }

    /// Claims and runs every job whose due slot at `now` has not run yet, here or on
    /// another instance. A job that fails is recorded with its error; the others still run.
    pub async fn run_due(&self, now: DateTime<Utc>) -> Vec<Done> {
        let mut done = Vec::new();
        for job in Job::ALL {
            let Some(slot) = job.schedule(self.outbox_seconds).due(now) else {
                continue;
            };
            match store::claim(&self.db, job, &slot, &self.instance, crate::db::now()).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(job = job.code(), slot = %slot.key, error = %e, "job claim failed");
                    continue;
                }
            }
            let outcome = self.execute(job, now).await;
            if let Err(e) = &outcome {
                tracing::error!(job = job.code(), slot = %slot.key, error = %e, "job failed");
            }
            if let Err(e) = store::finish(&self.db, job, &slot, crate::db::now(), &outcome).await {
                tracing::error!(job = job.code(), slot = %slot.key, error = %e, "job outcome not recorded");
            }
            done.push(Done { job, slot, outcome });
        }
        done
    }

    async fn execute(&self, job: Job, now: DateTime<Utc>) -> Result<String, String> {
        match job {
            Job::OutboxDelivery => worker::deliver_due(&self.db, &self.mailer, now)
                .await
                .map(|r| {
                    format!(
                        "{} envoyé(s), {} à réessayer, {} en échec",
                        r.sent, r.retried, r.failed
                    )
                })
                .map_err(|e| e.to_string()),
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
                    "{} lien(s) de connexion, {} session(s), {} exécution(s) de tâches, {files} export(s) supprimés",
                    c.links, c.sessions, c.runs
                ))
            }
        }
    }
}
