//! Running a directory import: parse, plan, and (unless a dry run) apply with its audit
//! event. Shared by the HR upload page, the API and `reperes people import`.

use serde::Serialize;

use super::import::{self, LineError};
use super::store;
use crate::audit::{Event, Kind};
use crate::db::Db;
use crate::error::Result;

/// What an import did, or would do in a dry run.
#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub deactivated: usize,
    pub unchanged: usize,
    /// A few examples of each change, for the person reviewing a dry run.
    pub examples_created: Vec<String>,
    pub examples_updated: Vec<String>,
    pub examples_deactivated: Vec<String>,
}

const EXAMPLES: usize = 50;

/// The guard against a truncated or wrong file that would deactivate a large part of the
/// city: above `max_percent` of the active directory people (and more than
/// [`ALWAYS_ALLOWED`]), deactivations need an explicit confirmation.
#[derive(Debug, Clone, Copy)]
pub struct Safeguard {
    pub confirmed: bool,
    pub max_percent: u32,
}

impl Default for Safeguard {
    fn default() -> Safeguard {
        Safeguard {
            confirmed: false,
            max_percent: 10,
        }
    }
}

/// Deactivations that never need a confirmation, whatever the share.
pub const ALWAYS_ALLOWED: usize = 5;

/// Imports `text`. `Ok(Err(lines))` when the file has bad lines, or would deactivate too
/// many people without confirmation: nothing is written.
pub async fn run(
    db: &Db,
    text: &str,
    dry_run: bool,
    safeguard: Safeguard,
    event: Event,
) -> Result<std::result::Result<ImportReport, Vec<LineError>>> {
    let rows = match import::parse(text) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let count = rows.len();
    let existing = store::directory_people(db).await?;
    let plan = match import::plan(rows, &existing) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let active = existing
        .iter()
        .filter(|e| e.from_directory && e.active && !e.protected)
        .count();
    let leaving = plan.deactivate.len();
    if !dry_run
        && !safeguard.confirmed
        && leaving > ALWAYS_ALLOWED
        && leaving * 100 > active * safeguard.max_percent as usize
    {
        return Ok(Err(vec![LineError {
            line: 1,
            message: format!(
                "this file would deactivate {leaving} of the {active} active people of the directory \
                 (more than {} %): check that it is the whole export, then confirm the deactivations",
                safeguard.max_percent
            ),
        }]));
    }
    let report = ImportReport {
        dry_run,
        rows: count,
        created: plan.create.len(),
        updated: plan.update.len(),
        deactivated: plan.deactivate.len(),
        unchanged: plan.unchanged,
        examples_created: plan
            .create
            .iter()
            .take(EXAMPLES)
            .map(|r| format!("{} {} ({})", r.employee_number, r.display_name, r.org_path))
            .collect(),
        examples_updated: plan
            .update
            .iter()
            .take(EXAMPLES)
            .map(|(r, _, f)| {
                format!(
                    "{} {} : {}",
                    r.employee_number,
                    r.display_name,
                    f.join(", ")
                )
            })
            .collect(),
        examples_deactivated: plan
            .deactivate
            .iter()
            .take(EXAMPLES)
            .map(|(_, e)| e.clone())
            .collect(),
    };
    if !dry_run {
        let event = Event {
            kind: Kind::Import,
            details: format!(
                "{} lignes : {} créées, {} modifiées, {} désactivées, {} inchangées",
                count, report.created, report.updated, report.deactivated, report.unchanged
            ),
            ..event
        };
        store::apply_import(db, &plan, &event).await?;
    }
    Ok(Ok(report))
}
