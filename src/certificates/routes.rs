//! Public verification, downloads, revocation and HR exports.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use rocket::form::{Form, FromForm};
use rocket::fs::NamedFile;
use rocket::http::{ContentType, Header};
use rocket::response::{Redirect, Responder};
use rocket::serde::json::Value;
use rocket::{get, post, routes, Route, State};
use serde_json::json;
use uuid::Uuid;

use super::export::{self, Exports, JobState};
use super::{normalize_number, pdf, store, Certifier, Verdict};
use crate::audit::{Event, Kind};
use crate::auth::ratelimit::RateLimiter;
use crate::auth::{CurrentUser, HrOrAdmin};
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::people::{self, Role};
use crate::views::{paris_date, Page};
use std::sync::Arc;

pub fn routes() -> Vec<Route> {
    routes![
        verify_form,
        verify_page,
        download,
        revoke,
        export_form,
        export_start,
        export_page,
        export_state,
        export_download
    ]
}

pub fn api_routes() -> Vec<Route> {
    routes![verify_api]
}

fn limited(limiter: &RateLimiter, ip: Option<IpAddr>) -> Result<()> {
    let key = format!("verify:{}", ip.map(|i| i.to_string()).unwrap_or_default());
    limiter.check(
        &key,
        60,
        Duration::from_secs(60),
        "Trop de vérifications depuis votre poste. Patientez une minute.",
    )
}

fn unknown() -> Error {
    Error::NotFound("Aucune attestation ne porte ce numéro. Vérifiez-le sur le document (les lettres I, L et O se lisent 1, 1 et 0).".into())
}

/// What anyone may learn from a number: status, module, dates, holder's name (not the
/// score: verification does not need it).
fn public_view(certifier: &Certifier, row: &store::CertificateRow) -> Value {
    let (verdict, payload) = certifier.check(row, db::now());
    let p = payload.filter(|_| verdict != Verdict::Invalid);
    json!({
        "number": row.number,
        "status": verdict,
        "status_label": verdict.label(),
        "valid": verdict == Verdict::Valid,
        "holder": p.as_ref().map(|p| p.holder.clone()),
        "module_title": p.as_ref().map(|p| p.module_title.clone()),
        "module_version": p.as_ref().map(|p| p.module_version.clone()),
        "completed_at": p.as_ref().map(|p| p.completed_at),
        "valid_until": p.as_ref().map(|p| p.valid_until),
        "valid_until_label": p.as_ref().map(|p| pdf::french_date(p.valid_until)),
        "issuer": p.as_ref().map(|p| format!("{} — {}", p.issuer_city, p.issuer_service)),
        "superseded_on": row.successor_issued_at,
        "revoked_at": row.revoked_at,
    })
}

#[get("/verify?<numero>")]
fn verify_form(
    numero: Option<&str>,
    user: Option<CurrentUser>,
) -> std::result::Result<Redirect, Box<Page>> {
    let error = match numero.map(str::trim) {
        None | Some("") => None,
        Some(n) => match normalize_number(n) {
            Some(number) => return Ok(Redirect::to(format!("/verify/{number}"))),
            None => Some("Ce numéro n'a pas la forme d'un numéro d'attestation : RPR suivi de 16 lettres et chiffres, par exemple RPR-7KD2-M9QX-4T1B-8HZC."),
        },
    };
    Err(Box::new(Page::new(
        "certificates/verify",
        "Vérifier une attestation",
        user.as_ref().map(|u| &u.0),
        json!({ "error": error, "value": numero.unwrap_or(""), "certificate": null }),
    )))
}

#[get("/verify/<number>")]
async fn verify_page(
    db: &State<Db>,
    certifier: &State<Certifier>,
    limiter: &State<RateLimiter>,
    ip: Option<IpAddr>,
    user: Option<CurrentUser>,
    number: &str,
) -> Result<Page> {
    limited(limiter, ip)?;
    let number = normalize_number(number).ok_or_else(unknown)?;
    let row = store::by_number(db, &number).await?.ok_or_else(unknown)?;
    Ok(Page::new(
        "certificates/verify",
        format!("Attestation {number}"),
        user.as_ref().map(|u| &u.0),
        json!({ "error": null, "value": number, "certificate": public_view(certifier, &row) }),
    ))
}

#[get("/certificates/<number>")]
async fn verify_api(
    db: &State<Db>,
    certifier: &State<Certifier>,
    limiter: &State<RateLimiter>,
    ip: Option<IpAddr>,
    number: &str,
) -> Result<Value> {
    limited(limiter, ip)?;
    let number = normalize_number(number).ok_or_else(unknown)?;
    let row = store::by_number(db, &number).await?.ok_or_else(unknown)?;
    Ok(public_view(certifier, &row))
}

/// A PDF download.
pub struct PdfFile {
    bytes: Vec<u8>,
    name: String,
}

impl<'r> Responder<'r, 'static> for PdfFile {
    fn respond_to(self, req: &'r rocket::Request<'_>) -> rocket::response::Result<'static> {
        rocket::Response::build_from(self.bytes.respond_to(req)?)
            .header(ContentType::PDF)
            .header(Header::new(
                "Content-Disposition",
                format!("attachment; filename=\"{}\"", self.name),
            ))
            .ok()
    }
}

/// Whether `viewer` may download or act on the certificates of `holder`.
async fn may_see_holder(db: &Db, viewer: &people::User, holder: Uuid) -> Result<bool> {
    if viewer.id == holder {
        return Ok(true);
    }
    Ok(match people::store::person(db, holder).await? {
        Some(p) => viewer.can_see(&p.person_ref()),
        None => false,
    })
}

#[get("/certificats/<number>/pdf")]
async fn download(
    db: &State<Db>,
    certifier: &State<Certifier>,
    me: CurrentUser,
    number: &str,
) -> Result<PdfFile> {
    let number = normalize_number(number).ok_or_else(unknown)?;
    let row = store::by_number(db, &number).await?.ok_or_else(unknown)?;
    if !may_see_holder(db, &me.0, row.user_id).await? {
        return Err(unknown());
    }
    let payload = row
        .payload()
        .ok_or_else(|| Error::Internal(format!("certificate {number}: unreadable payload")))?;
    let url = certifier.verify_url(&number);
    let bytes = tokio::task::spawn_blocking(move || pdf::render(&payload, &url))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::Internal)?;
    Ok(PdfFile {
        bytes,
        name: format!("attestation-{number}.pdf"),
    })
}

#[derive(FromForm)]
struct Revocation<'r> {
    reason: &'r str,
}

#[post("/certificats/<number>/revoquer", data = "<form>")]
async fn revoke(
    db: &State<Db>,
    hr: HrOrAdmin,
    ip: Option<IpAddr>,
    number: &str,
    form: std::result::Result<Form<Revocation<'_>>, rocket::form::Errors<'_>>,
) -> Result<Redirect> {
    let number = normalize_number(number).ok_or_else(unknown)?;
    let row = store::by_number(db, &number).await?.ok_or_else(unknown)?;
    let reason = form
        .map(|f| f.reason.trim().to_string())
        .unwrap_or_default();
    if reason.chars().count() < 5 || reason.chars().count() > 500 {
        return Err(Error::Unprocessable("Indiquez le motif de la révocation (5 à 500 caractères) : il est conservé et montré à la personne.".into()));
    }
    let event = Event::by(Some(&hr.0), Kind::CertificateRevoked, &number)
        .details(reason.clone())
        .client(ip);
    if !store::revoke(db, &number, hr.0.id, &reason, &event).await? {
        return Err(Error::Conflict(
            "Cette attestation est déjà révoquée.".into(),
        ));
    }
    Ok(Redirect::to(format!("/personnes/{}", row.user_id)))
}

#[get("/rh/certificats")]
async fn export_form(db: &State<Db>, hr: HrOrAdmin) -> Result<Page> {
    let units = people::store::org_units(db).await?;
    let today = super::paris_today(db::now());
    Ok(Page::new(
        "certificates/export",
        "Export des attestations",
        Some(&hr.0),
        json!({ "units": units, "from": format!("{}-01-01", today.format("%Y")), "to": today.to_string(), "error": null }),
    ))
}

#[derive(FromForm)]
struct ExportForm<'r> {
    unit: &'r str,
    from: &'r str,
    to: &'r str,
}

fn day_start(d: NaiveDate) -> chrono::DateTime<Utc> {
    chrono_tz::Europe::Paris
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()))
}

#[post("/rh/certificats/export", data = "<form>")]
async fn export_start(
    db: &State<Db>,
    certifier: &State<Certifier>,
    exports: &State<Arc<Exports>>,
    config: &State<crate::config::Config>,
    hr: HrOrAdmin,
    ip: Option<std::net::IpAddr>,
    form: std::result::Result<Form<ExportForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<Redirect> {
    let form =
        form.map_err(|_| Error::BadRequest("Choisissez un service et une période.".into()))?;
    let parse = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let (Some(from), Some(to)) = (parse(form.from), parse(form.to)) else {
        return Err(Error::Unprocessable(
            "Indiquez les dates au format AAAA-MM-JJ.".into(),
        ));
    };
    if to < from {
        return Err(Error::Unprocessable(
            "La date de fin précède la date de début.".into(),
        ));
    }
    let unit = (!form.unit.is_empty()).then_some(form.unit);
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
    crate::audit::store::record(
        db,
        crate::audit::Event::by(Some(&hr.0), crate::audit::Kind::CertificateExport, &label)
            .details(format!("{} attestation(s)", rows.len()))
            .client(ip),
    )
    .await?;
    let id = export::start(
        db,
        exports.inner().clone(),
        certifier.inner().clone(),
        export::NewExport {
            owner: hr.0.id,
            label,
            rows,
            folder: config.export_folder.clone(),
            instance: crate::jobs::runner::Runner::instance_name(),
        },
    )
    .await?;
    Ok(Redirect::to(format!("/rh/certificats/export/{id}")))
}

/// The job `id` if it is the viewer's (or the viewer is an admin), as it should be seen
/// now; whichever instance built it.
async fn job_of(db: &Db, owner: &people::User, id: &str) -> Result<export::JobRow> {
    let missing = || Error::NotFound("Cet export n'existe pas.".into());
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    let job = export::find(db, id).await?.ok_or_else(missing)?;
    if job.owner_id != owner.id && owner.role != Role::Admin {
        return Err(missing());
    }
    Ok(job.seen_at(db::now()))
}

fn job_json(job: &export::JobRow) -> Value {
    let state = match job.state {
        JobState::Running => "running",
        JobState::Done => "done",
        JobState::Failed => "failed",
    };
    json!({ "id": job.id, "label": job.label, "total": job.total, "done": job.done, "state": state,
            "error": job.error,
            "percent": (job.done * 100).checked_div(job.total).unwrap_or(100) })
}

#[get("/rh/certificats/export/<id>")]
async fn export_page(db: &State<Db>, hr: HrOrAdmin, id: &str) -> Result<Page> {
    let job = job_of(db, &hr.0, id).await?;
    Ok(Page::new(
        "certificates/export_job",
        "Export des attestations",
        Some(&hr.0),
        job_json(&job),
    ))
}

#[get("/rh/certificats/export/<id>/etat")]
async fn export_state(db: &State<Db>, hr: HrOrAdmin, id: &str) -> Result<Value> {
    let job = job_of(db, &hr.0, id).await?;
    Ok(job_json(&job))
}

#[get("/rh/certificats/export/<id>/zip")]
async fn export_download(
    db: &State<Db>,
    config: &State<crate::config::Config>,
    hr: HrOrAdmin,
    id: &str,
) -> Result<ZipFile> {
    let job = job_of(db, &hr.0, id).await?;
    if job.state != JobState::Done {
        return Err(Error::Conflict("L'export n'est pas terminé.".into()));
    }
    let path = export::file_of(&config.export_folder, job.id);
    let file = NamedFile::open(&path).await.map_err(|_| {
        Error::NotFound(format!(
            "Le fichier de cet export a été supprimé (les exports sont conservés {} heures). Relancez l'export.",
            config.export_retention_hours
        ))
    })?;
    let stamp = paris_date(&db::now().to_rfc3339()).replace('/', "-");
    Ok(ZipFile {
        file,
        name: format!("attestations-{stamp}.zip"),
    })
}

/// A ZIP download.
pub struct ZipFile {
    file: NamedFile,
    name: String,
}

impl<'r> Responder<'r, 'static> for ZipFile {
    fn respond_to(self, req: &'r rocket::Request<'_>) -> rocket::response::Result<'static> {
        rocket::Response::build_from(self.file.respond_to(req)?)
            .header(ContentType::ZIP)
            .header(Header::new(
                "Content-Disposition",
                format!("attachment; filename=\"{}\"", self.name),
            ))
            .ok()
    }
}
