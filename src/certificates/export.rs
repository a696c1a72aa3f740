//! ZIP exports of many certificates for HR, built in the background with a progress count
//! that the export page shows. Jobs live in the memory of the instance that runs them.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::{pdf, store::CertificateRow, Certifier};

#[derive(Debug, Clone)]
pub enum JobState {
    Running,
    Done(PathBuf),
    Failed(String),
}

pub struct Job {
    pub owner: Uuid,
    pub label: String,
    pub total: usize,
    pub done: AtomicUsize,
    pub state: Mutex<JobState>,
}

impl Job {
    pub fn state(&self) -> JobState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(JobState::Failed("état illisible".into()))
    }
}

/// The export jobs of this instance.
#[derive(Default)]
pub struct Exports {
    jobs: Mutex<HashMap<Uuid, Arc<Job>>>,
}

impl Exports {
    pub fn get(&self, id: Uuid) -> Option<Arc<Job>> {
        self.jobs.lock().ok()?.get(&id).cloned()
    }

    fn insert(&self, id: Uuid, job: Arc<Job>) {
        if let Ok(mut jobs) = self.jobs.lock() {
            // Keep the 50 latest jobs; older files are removed.
            if jobs.len() >= 50 {
                let finished: Vec<Uuid> = jobs
                    .iter()
                    .filter(|(_, j)| !matches!(j.state(), JobState::Running))
                    .map(|(k, _)| *k)
                    .collect();
                for k in finished {
                    if let Some(j) = jobs.remove(&k) {
                        if let JobState::Done(path) = j.state() {
                            let _ = std::fs::remove_file(path);
                        }
                    }
                }
            }
            jobs.insert(id, job);
        }
    }
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

/// Writes the certificates as PDFs into a ZIP file, counting progress in `job`.
pub fn write_zip(
    certifier: &Certifier,
    rows: &[CertificateRow],
    path: &std::path::Path,
    job: Option<&Job>,
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
        if let Some(job) = job {
            job.done.fetch_add(1, Ordering::Relaxed);
        }
    }
    zip.finish()
        .map_err(|e| e.to_string())?
        .flush()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Starts an export job in the background and returns its id.
pub fn start(
    exports: &Exports,
    certifier: Certifier,
    owner: Uuid,
    label: String,
    rows: Vec<CertificateRow>,
    dir: PathBuf,
) -> Uuid {
    let id = Uuid::new_v4();
    let job = Arc::new(Job {
        owner,
        label,
        total: rows.len(),
        done: AtomicUsize::new(0),
        state: Mutex::new(JobState::Running),
    });
    exports.insert(id, job.clone());
    tokio::task::spawn_blocking(move || {
        let path = dir.join(format!("{id}.zip"));
        let result = private_folder(&dir)
            .map_err(|e| e.to_string())
            .and_then(|_| write_zip(&certifier, &rows, &path, Some(&job)));
        let state = match result {
            Ok(()) => JobState::Done(path),
            Err(e) => {
                eprintln!("certificate export {id} failed: {e}");
                JobState::Failed(e)
            }
        };
        if let Ok(mut s) = job.state.lock() {
            *s = state;
        }
    });
    id
}
