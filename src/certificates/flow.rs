//! Use cases of certificates shared by pages and API: the typed views they both serialise.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{pdf, store, Certifier, Verdict};
use crate::db::{self, Db};
use crate::error::Result;

/// A certificate as its holder and HR see it in a list.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateEntry {
    pub number: String,
    pub module_title: String,
    pub status: Verdict,
    pub status_label: &'static str,
    pub revoked: bool,
    pub issued_at: DateTime<Utc>,
    /// The last day of validity (`YYYY-MM-DD` in JSON)…
    pub valid_until: Option<NaiveDate>,
    /// …and as people read it: « 2 décembre 2028 ».
    pub valid_until_label: Option<String>,
    pub revocation_reason: Option<String>,
    pub superseded_on: Option<DateTime<Utc>>,
}

/// A person's certificates, newest first, each checked against its signature now.
pub async fn entries(db: &Db, certifier: &Certifier, user: Uuid) -> Result<Vec<CertificateEntry>> {
    let now = db::now();
    Ok(store::of_user(db, user)
        .await?
        .into_iter()
        .map(|row| {
            let (verdict, payload) = certifier.check(&row, now);
            let valid_until = payload.as_ref().map(|p| p.valid_until);
            CertificateEntry {
                module_title: payload
                    .as_ref()
                    .map(|p| p.module_title.clone())
                    .unwrap_or_else(|| row.module_slug.clone()),
                status: verdict,
                status_label: verdict.label(),
                revoked: row.revoked_at.is_some(),
                issued_at: row.issued_at,
                valid_until,
                valid_until_label: valid_until.map(pdf::french_date),
                revocation_reason: row.revocation_reason,
                superseded_on: row.successor_issued_at,
                number: row.number,
            }
        })
        .collect())
}
