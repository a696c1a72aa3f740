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

/// Imports `text`. `Ok(Err(lines))` when the file has bad lines: nothing is written.
pub async fn run(
    db: &Db,
    text: &str,
    dry_run: bool,
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
