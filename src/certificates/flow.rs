//! Use cases of certificates shared by pages and API: verification, downloads, revocation,
//! exports, and the typed views they serialise. Handlers call these only.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rocket::fs::NamedFile;
use serde::Serialize;
use uuid::Uuid;

use super::export::{self, Exports, JobState};
use super::{normalize_number, pdf, store, Certifier, Verdict};
use crate::audit::{self, Event, Kind};
use crate::config::Config;
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::jobs::Instance;
use crate::people::{self, User};

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

/// The answer for a number that names no certificate, or one the viewer may not see.
pub fn unknown() -> Error {
    Error::NotFound("Aucune attestation ne porte ce numéro. Vérifiez-le sur le document (les lettres I, L et O se lisent 1, 1 et 0).".into())
}

/// What anyone may learn from a number: status, module, dates, holder's name (not the
/// score: verification does not need it).
#[derive(Debug, Clone, Serialize)]
pub struct PublicCertificate {
    pub number: String,
    /// `module` (an e-learning module passed) or `presence` (a shared session attended).
    pub kind: &'static str,
    pub kind_label: &'static str,
    /// For an attendance attestation: the slots attended and the place.
    pub slots: Option<Vec<String>>,
    pub place: Option<String>,
    pub status: Verdict,
    pub status_label: &'static str,
    pub valid: bool,
    pub holder: Option<String>,
    pub module_title: Option<String>,
    pub module_version: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
    pub valid_until: Option<NaiveDate>,
    pub valid_until_label: Option<String>,
    pub issuer: Option<String>,
    pub superseded_on: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The stored certificate behind a number as typed or scanned.
async fn row_of(db: &Db, number: &str) -> Result<store::CertificateRow> {
    let number = normalize_number(number).ok_or_else(unknown)?;
    store::by_number(db, &number).await?.ok_or_else(unknown)
}

/// Public verification of a number, checked against its signature now.
pub async fn verify(db: &Db, certifier: &Certifier, number: &str) -> Result<PublicCertificate> {
    let normalized = normalize_number(number).ok_or_else(unknown)?;
    if let Some(a) = store::attendance_by_number(db, &normalized).await? {
        return Ok(public_attendance(certifier, &a));
    }
    let row = row_of(db, number).await?;
    let (verdict, payload) = certifier.check(&row, db::now());
    let p = payload.filter(|_| verdict != Verdict::Invalid);
    Ok(PublicCertificate {
        kind: "module",
        kind_label: "Attestation de formation",
        slots: None,
        place: None,
        status: verdict,
        status_label: verdict.label(),
        valid: verdict == Verdict::Valid,
        holder: p.as_ref().map(|p| p.holder.clone()),
        module_title: p.as_ref().map(|p| p.module_title.clone()),
        module_version: p.as_ref().map(|p| p.module_version.clone()),
        completed_at: p.as_ref().map(|p| p.completed_at),
        valid_until: p.as_ref().map(|p| p.valid_until),
        valid_until_label: p.as_ref().map(|p| pdf::french_date(p.valid_until)),
        issuer: p
            .as_ref()
            .map(|p| format!("{} — {}", p.issuer_city, p.issuer_service)),
        superseded_on: row.successor_issued_at,
        revoked_at: row.revoked_at,
        number: row.number,
    })
}

/// What anyone may learn of an attestation de présence.
fn public_attendance(certifier: &Certifier, a: &store::AttendanceRow) -> PublicCertificate {
    let (verdict, p) = certifier.check_attendance(&a.number, &a.payload, &a.signature, &a.key_id);
    PublicCertificate {
        number: a.number.clone(),
        kind: "presence",
        kind_label: "Attestation de présence",
        status: verdict,
        status_label: verdict.label(),
        valid: verdict == Verdict::Valid,
        holder: p.as_ref().map(|p| p.holder.clone()),
        module_title: p.as_ref().map(|p| p.training_title.clone()),
        module_version: None,
        completed_at: p.as_ref().map(|p| p.attended_at),
        valid_until: None,
        valid_until_label: None,
        issuer: p
            .as_ref()
            .map(|p| format!("{} — {}", p.issuer_city, p.issuer_service)),
        slots: p.as_ref().map(|p| p.slots.clone()),
        place: p.as_ref().map(|p| p.place.clone()),
        superseded_on: None,
        revoked_at: None,
    }
}

/// The PDF of an attestation de présence its holder (or someone who follows them) asks for.
pub async fn attendance_pdf(
    db: &Db,
    certifier: &Certifier,
    viewer: &User,
    number: &str,
) -> Result<Rendered> {
    let number = normalize_number(number).ok_or_else(unknown)?;
    let a = store::attendance_by_number(db, &number)
        .await?
        .ok_or_else(unknown)?;
    if !may_see_holder(db, viewer, a.user_id).await? {
        return Err(unknown());
    }
    let (verdict, payload) =
        certifier.check_attendance(&a.number, &a.payload, &a.signature, &a.key_id);
    let payload = payload
        .filter(|_| verdict == Verdict::Valid)
        .ok_or_else(|| Error::Conflict("Cette attestation n'est pas authentique.".into()))?;
    let url = certifier.verify_url(&a.number);
    let bytes = tokio::task::spawn_blocking(move || pdf::render_attendance(&payload, &url))
        .await
        .map_err(|e| Error::Internal(format!("attestation PDF: {e}")))?
        .map_err(|e| Error::Internal(format!("attestation PDF: {e}")))?;
    Ok(Rendered {
        bytes,
        name: format!("attestation-presence-{}.pdf", a.number),
    })
}

/// Whether `viewer` may download or act on the certificates of `holder`.
async fn may_see_holder(db: &Db, viewer: &User, holder: Uuid) -> Result<bool> {
    if viewer.id == holder {
        return Ok(true);
    }
    Ok(match people::store::person(db, holder).await? {
        Some(p) => viewer.can_see(&p.person_ref()),
        None => false,
    })
}

/// A rendered PDF and its file name.
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub name: String,
}

/// The PDF of a certificate the viewer holds or may see; otherwise unknown.
pub async fn pdf_of(
    db: &Db,
    certifier: &Certifier,
    viewer: &User,
    number: &str,
) -> Result<Rendered> {
    let row = row_of(db, number).await?;
    if !may_see_holder(db, viewer, row.user_id).await? {
        return Err(unknown());
    }
    let number = row.number.clone();
    let payload = row
        .payload()
        .ok_or_else(|| Error::Internal(format!("certificate {number}: unreadable payload")))?;
    let url = certifier.verify_url(&number);
    let bytes = tokio::task::spawn_blocking(move || pdf::render(&payload, &url))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::Internal)?;
    Ok(Rendered {
        bytes,
        name: format!("attestation-{number}.pdf"),
    })
}

/// Revokes a certificate with its reason (audited); returns its holder.
pub async fn revoke(
    db: &Db,
    by: &User,
    number: &str,
    reason: &str,
    ip: Option<IpAddr>,
) -> Result<Uuid> {
    let row = row_of(db, number).await?;
    let reason = reason.trim();
    let length = reason.chars().count();
    if !(5..=500).contains(&length) {
        return Err(Error::Unprocessable("Indiquez le motif de la révocation (5 à 500 caractères) : il est conservé et montré à la personne.".into()));
    }
    let event = Event::by(Some(by), Kind::CertificateRevoked, &row.number)
        .details(reason)
        .client(ip);
    if !store::revoke(db, &row.number, by.id, reason, &event).await? {
        return Err(Error::Conflict(
            "Cette attestation est déjà révoquée.".into(),
        ));
    }
    Ok(row.user_id)
}

/// What the export form offers: the org units and a default period (this year so far).
#[derive(Debug, Serialize)]
pub struct ExportChoices {
    pub units: Vec<people::store::OrgUnitRow>,
    pub from: String,
    pub to: String,
    pub error: Option<String>,
}

pub async fn export_choices(db: &Db) -> Result<ExportChoices> {
    let today = super::paris_today(db::now());
    Ok(ExportChoices {
        units: people::store::org_units(db).await?,
        from: format!("{}-01-01", today.format("%Y")),
        to: today.to_string(),
        error: None,
    })
}

/// Midnight in Paris at the start of `d`.
fn day_start(d: NaiveDate) -> DateTime<Utc> {
    let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    chrono_tz::Europe::Paris
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// An export as asked in the form: an org unit (empty for all) and a period of days.
pub struct ExportRequest<'a> {
    pub unit: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// Recorded in the audit line.
    pub client: Option<IpAddr>,
}

/// Checks the request, audits it and starts building the ZIP; returns the job's id.
pub async fn start_export(
    db: &Db,
    certifier: &Certifier,
    exports: Arc<Exports>,
    config: &Config,
    instance: &Instance,
    hr: &User,
    request: ExportRequest<'_>,
) -> Result<Uuid> {
    let parse = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let (Some(from), Some(to)) = (parse(request.from), parse(request.to)) else {
        return Err(Error::Unprocessable(
            "Indiquez les dates au format AAAA-MM-JJ.".into(),
        ));
    };
    if to < from {
        return Err(Error::Unprocessable(
            "La date de fin précède la date de début.".into(),
        ));
    }
    let unit = (!request.unit.is_empty()).then_some(request.unit);
    if let Some(u) = unit {
        if !people::store::org_units(db)
            .await?
            .iter()
            .any(|o| o.path == u)
        {
            return Err(Error::Unprocessable(format!("Service inconnu : « {u} ».")));
        }
    }
    let rows = store::for_export(
        db,
        unit,
        day_start(from),
        day_start(to.succ_opt().unwrap_or(to)),
    )
    .await?;
    let label = format!(
        "{} — du {} au {}",
        unit.unwrap_or("tous les services"),
        pdf::french_date(from),
        pdf::french_date(to)
    );
    audit::store::record(
        db,
        Event::by(Some(hr), Kind::CertificateExport, &label)
            .details(format!("{} attestation(s)", rows.len()))
            .client(request.client),
    )
    .await?;
    export::start(
        db,
        exports,
        certifier.clone(),
        export::NewExport {
            owner: hr.id,
            label,
            rows,
            folder: config.export_folder.clone(),
            instance: instance.0.clone(),
        },
    )
    .await
}

/// An export job as its page and its polling script see it.
#[derive(Debug, Serialize)]
pub struct ExportView {
    pub id: Uuid,
    pub label: String,
    pub total: i64,
    pub done: i64,
    pub state: JobState,
    pub error: Option<String>,
    pub percent: i64,
}

/// The job `id` if it is the viewer's (or the viewer is an admin), as it should be seen
/// now; whichever instance built it.
async fn job_of(db: &Db, viewer: &User, id: Uuid) -> Result<export::JobRow> {
    let missing = || Error::NotFound("Cet export n'existe pas.".into());
    let job = export::find(db, id).await?.ok_or_else(missing)?;
    if job.owner_id != viewer.id && !viewer.role.is_admin() {
        return Err(missing());
    }
    Ok(job.seen_at(db::now()))
}

pub async fn export_view(db: &Db, viewer: &User, id: Uuid) -> Result<ExportView> {
    let job = job_of(db, viewer, id).await?;
    Ok(ExportView {
        percent: (job.done * 100).checked_div(job.total).unwrap_or(100),
        id: job.id,
        label: job.label,
        total: job.total,
        done: job.done,
        state: job.state,
        error: job.error,
    })
}

/// The finished ZIP of a job, opened for download.
pub async fn export_file(db: &Db, config: &Config, viewer: &User, id: Uuid) -> Result<NamedFile> {
    let job = job_of(db, viewer, id).await?;
    if job.state != JobState::Done {
        return Err(Error::Conflict("L'export n'est pas terminé.".into()));
    }
    let path = export::file_of(&config.export_folder, job.id);
    NamedFile::open(&path).await.map_err(|_| {
        Error::NotFound(format!(
            "Le fichier de cet export a été supprimé (les exports sont conservés {} heures). Relancez l'export.",
            config.export_retention_hours
        ))
    })
}
