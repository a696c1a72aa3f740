//! ZIP exports of many certificates for HR, built in the background with a progress count
//! that the export page shows. Jobs are rows of `export_jobs` and their files sit in the
//! configured export folder, so any instance shows their progress and serves the file;
//! the instance that builds one writes its progress every second (the heartbeat). A job
//! whose heartbeat stopped (the service restarted) is reported as interrupted; on SIGTERM
//! the running jobs get a grace period, then are marked as stopped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::{pdf, store::CertificateRow, Certifier};
use crate::db::{Db, WritePool};
use crate::error::Result;
use crate::on_db;

/// A running job without a heartbeat for this long was cut short.
pub const STALE_SECONDS: i64 = 60;
/// How long a stopping instance waits for its running exports.
pub const SHUTDOWN_GRACE_SECONDS: u64 = 10;

/// What HR is told when a job was cut short by a restart.
pub const INTERRUPTED: &str =
    "L'export a été interrompu : le service a redémarré pendant sa préparation. Relancez-le.";
/// What HR is told when the instance stopped before the job ended.
pub const STOPPED: &str =
    "L'export a été arrêté avec le service avant d'être terminé. Relancez-le.";

/// The state of a job as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
    Failed,
}

impl TryFrom<String> for JobState {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<JobState, String> {
        match s.as_str() {
            "running" => Ok(JobState::Running),
            "done" => Ok(JobState::Done),
            "failed" => Ok(JobState::Failed),
            other => Err(format!("unknown export state {other:?}")),
        }
    }
}

/// An export job as stored.
#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub label: String,
    pub total: i64,
    pub done: i64,
    #[sqlx(try_from = "String")]
    pub state: JobState,
    pub error: Option<String>,
    pub instance: String,
    pub updated_at: DateTime<Utc>,
}

impl JobRow {
    /// The state a reader should see: a running job whose heartbeat stopped was cut short.
    pub fn seen_at(mut self, now: DateTime<Utc>) -> JobRow {
        if self.state == JobState::Running
            && now - self.updated_at > chrono::Duration::seconds(STALE_SECONDS)
        {
            self.state = JobState::Failed;
            self.error = Some(INTERRUPTED.into());
        }
        self
    }
}

/// The file of a job.
pub fn file_of(folder: &Path, id: Uuid) -> PathBuf {
    folder.join(format!("{id}.zip"))
}

/// Progress of the jobs this instance is building, counted by the writer thread.
#[derive(Default)]
pub struct Exports {
    running: Mutex<Vec<(Uuid, Arc<AtomicUsize>)>>,
}

impl Exports {
    fn add(&self, id: Uuid, done: Arc<AtomicUsize>) {
        if let Ok(mut r) = self.running.lock() {
            r.push((id, done));
        }
    }

    fn remove(&self, id: Uuid) {
        if let Ok(mut r) = self.running.lock() {
            r.retain(|(i, _)| *i != id);
        }
    }

    /// Jobs still being built here.
    pub fn running(&self) -> Vec<Uuid> {
        self.running
            .lock()
            .map(|r| r.iter().map(|(i, _)| *i).collect())
            .unwrap_or_default()
    }
}

pub async fn find(db: &Db, id: Uuid) -> Result<Option<JobRow>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, owner_id, label, total, done, state, error, instance, updated_at FROM export_jobs WHERE id = $1"
    ).bind(id).fetch_optional(pool).await)?)
}

async fn insert(
    db: &Db,
    id: Uuid,
    owner: Uuid,
    label: &str,
    total: i64,
    instance: &str,
) -> Result<()> {
    let now = crate::db::now();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO export_jobs (id, owner_id, label, total, done, state, instance, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 0, 'running', $5, $6, $6)",
        ).bind(id).bind(owner).bind(label).bind(total).bind(instance).bind(now)
            .execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Records progress (and the heartbeat) of a running job.
async fn beat(db: &Db, id: Uuid, done: i64) -> Result<()> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE export_jobs SET done = $1, updated_at = $2 WHERE id = $3 AND state = 'running'")
            .bind(done).bind(crate::db::now()).bind(id).execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Ends a running job: done, or failed with a message for HR.
pub async fn finish(db: &Db, id: Uuid, done: i64, error: Option<&str>) -> Result<()> {
    let now = crate::db::now();
    let state = if error.is_some() { "failed" } else { "done" };
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "UPDATE export_jobs SET state = $1, error = $2, done = $3, updated_at = $4, finished_at = $4
             WHERE id = $5 AND state = 'running'",
        ).bind(state).bind(error).bind(done).bind(now).bind(id)
            .execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Creates a file that only the service's user can read (0600 on Unix): the ZIP holds
/// names and certificates of many people.
fn private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Creates the export folder, readable only by the service's user (0700 on Unix).
pub fn private_folder(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Removes the export files older than `hours`; returns how many.
pub fn clean_folder(dir: &std::path::Path, hours: i64) -> std::io::Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let limit = std::time::Duration::from_secs(hours.max(0) as u64 * 3600);
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "zip") {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= limit);
        if old && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes the certificates as PDFs into a ZIP file, counting progress in `done`.
pub fn write_zip(
    certifier: &Certifier,
    rows: &[CertificateRow],
    path: &std::path::Path,
    done: Option<&AtomicUsize>,
) -> Result<(), String> {
    let file = private_file(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    // PDFs are already compressed streams: store them.
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    for row in rows {
        let Some(payload) = row.payload() else {
            return Err(format!("certificate {}: unreadable payload", row.number));
        };
        let bytes = pdf::render(&payload, &certifier.verify_url(&row.number))?;
        zip.start_file(format!("attestation-{}.pdf", row.number), options)
            .map_err(|e| e.to_string())?;
        zip.write_all(&bytes).map_err(|e| e.to_string())?;
        if let Some(done) = done {
            done.fetch_add(1, Ordering::Relaxed);
        }
    }
    zip.finish()
        .map_err(|e| e.to_string())?
        .flush()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// What a new export needs.
pub struct NewExport {
    pub owner: Uuid,
    pub label: String,
    pub rows: Vec<CertificateRow>,
    pub folder: PathBuf,
    pub instance: String,
}

/// Records a new job and builds its file in the background; returns its id.
pub async fn start(
    db: &Db,
    exports: Arc<Exports>,
    certifier: Certifier,
    new: NewExport,
) -> Result<Uuid> {
    let id = Uuid::new_v4();
    let total = new.rows.len() as i64;
    insert(db, id, new.owner, &new.label, total, &new.instance).await?;
    let done = Arc::new(AtomicUsize::new(0));
    exports.add(id, done.clone());
    let path = file_of(&new.folder, id);
    let (folder, rows) = (new.folder, new.rows);
    let counter = done.clone();
    let writer = tokio::task::spawn_blocking(move || {
        private_folder(&folder)
            .map_err(|e| e.to_string())
            .and_then(|_| write_zip(&certifier, &rows, &path, Some(&counter)))
    });
    let db = db.clone();
    tokio::spawn(async move {
        tokio::pin!(writer);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let outcome = loop {
            tokio::select! {
                result = &mut writer => break result.map_err(|e| e.to_string()).and_then(|r| r),
                _ = tick.tick() => {
                    if let Err(e) = beat(&db, id, done.load(Ordering::Relaxed) as i64).await {
                        tracing::warn!(export = %id, error = %e, "export progress not recorded");
                    }
                }
            }
        };
        let count = done.load(Ordering::Relaxed) as i64;
        let error = outcome.as_ref().err().map(|e| {
            tracing::error!(export = %id, error = %e, "certificate export failed");
            "L'export a échoué. Recommencez ; si le problème persiste, prévenez l'administrateur."
        });
        if let Err(e) = finish(&db, id, count, error).await {
            tracing::error!(export = %id, error = %e, "export end not recorded");
        }
        exports.remove(id);
    });
    Ok(id)
}

/// On SIGTERM: waits up to the grace period for this instance's exports, then marks the
/// ones still running as stopped, so their pages say what happened.
pub async fn stop(db: &Db, exports: &Exports, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    while !exports.running().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in exports.running() {
        if let Err(e) = finish(db, id, 0, Some(STOPPED)).await {
            tracing::error!(export = %id, error = %e, "export stop not recorded");
        }
    }
}
