//! Public verification, downloads, revocation and HR exports.

use std::net::IpAddr;
use std::time::Duration;

use rocket::form::{Form, FromForm};
use rocket::http::{ContentType, Header};
use rocket::response::{Redirect, Responder};
use rocket::serde::json::Json;
use rocket::{get, post, routes, Route, State};
use serde_json::json;

use super::export::Exports;
use super::{flow, normalize_number, Certifier};
use crate::auth::ratelimit::RateLimiter;
use crate::auth::{CurrentUser, HrOrAdmin};
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::jobs::Instance;
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
    let certificate = flow::verify(db, certifier, number).await?;
    Ok(Page::new(
        "certificates/verify",
        format!("Attestation {}", certificate.number),
        user.as_ref().map(|u| &u.0),
        json!({ "error": null, "value": certificate.number, "certificate": certificate }),
    ))
}

#[get("/certificates/<number>")]
async fn verify_api(
    db: &State<Db>,
    certifier: &State<Certifier>,
    limiter: &State<RateLimiter>,
    ip: Option<IpAddr>,
    number: &str,
) -> Result<Json<flow::PublicCertificate>> {
    limited(limiter, ip)?;
    Ok(Json(flow::verify(db, certifier, number).await?))
}

/// A PDF download.
pub struct PdfFile {
    pub bytes: Vec<u8>,
    pub name: String,
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

#[get("/certificats/<number>/pdf")]
async fn download(
    db: &State<Db>,
    certifier: &State<Certifier>,
    me: CurrentUser,
    number: &str,
) -> Result<PdfFile> {
    let rendered = flow::pdf_of(db, certifier, &me.0, number).await?;
    Ok(PdfFile {
        bytes: rendered.bytes,
        name: rendered.name,
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
    let reason = form.map(|f| f.reason.to_string()).unwrap_or_default();
    let holder = flow::revoke(db, &hr.0, number, &reason, ip).await?;
    Ok(Redirect::to(format!("/personnes/{holder}")))
}

#[get("/rh/certificats")]
async fn export_form(db: &State<Db>, hr: HrOrAdmin) -> Result<Page> {
    Ok(Page::new(
        "certificates/export",
        "Export des attestations",
        Some(&hr.0),
        flow::export_choices(db).await?,
    ))
}

#[derive(FromForm)]
struct ExportForm<'r> {
    unit: &'r str,
    from: &'r str,
    to: &'r str,
}

#[allow(clippy::too_many_arguments)] // one argument per piece of managed state
#[post("/rh/certificats/export", data = "<form>")]
async fn export_start(
    db: &State<Db>,
    certifier: &State<Certifier>,
    exports: &State<Arc<Exports>>,
    config: &State<crate::config::Config>,
    instance: &State<Instance>,
    hr: HrOrAdmin,
    ip: Option<std::net::IpAddr>,
    form: std::result::Result<Form<ExportForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<Redirect> {
    let form =
        form.map_err(|_| Error::BadRequest("Choisissez un service et une période.".into()))?;
    let request = flow::ExportRequest {
        unit: form.unit,
        from: form.from,
        to: form.to,
        client: ip,
    };
    let id = flow::start_export(
        db,
        certifier,
        exports.inner().clone(),
        config,
        instance,
        &hr.0,
        request,
    )
    .await?;
    Ok(Redirect::to(format!("/rh/certificats/export/{id}")))
}

#[get("/rh/certificats/export/<id>")]
async fn export_page(db: &State<Db>, hr: HrOrAdmin, id: Id) -> Result<Page> {
    Ok(Page::new(
        "certificates/export_job",
        "Export des attestations",
        Some(&hr.0),
        flow::export_view(db, &hr.0, id.0).await?,
    ))
}

#[get("/rh/certificats/export/<id>/etat")]
async fn export_state(db: &State<Db>, hr: HrOrAdmin, id: Id) -> Result<Json<flow::ExportView>> {
    Ok(Json(flow::export_view(db, &hr.0, id.0).await?))
}

#[get("/rh/certificats/export/<id>/zip")]
async fn export_download(
    db: &State<Db>,
    config: &State<crate::config::Config>,
    hr: HrOrAdmin,
    id: Id,
) -> Result<ZipFile> {
    let file = flow::export_file(db, config, &hr.0, id.0).await?;
    let stamp = paris_date(&db::now().to_rfc3339()).replace('/', "-");
    Ok(ZipFile {
        file,
        name: format!("attestations-{stamp}.zip"),
    })
}

/// A ZIP download.
pub struct ZipFile {
    file: rocket::fs::NamedFile,
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
