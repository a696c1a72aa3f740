//! Pages of shared trainings: upcoming sessions with filters, a session (enrol, cancel,
//! confirm), « Mes formations », the trainer's sessions and roster, approvals, HR's list,
//! and the offer and session forms.

use std::net::IpAddr;

use rocket::form::{Form, FromForm};
use rocket::response::Redirect;
use rocket::{get, post, routes, Route, State};
use serde_json::{json, Value};
use uuid::Uuid;

use super::flow::{self, Mailing, OfferInput, QuotaInput, SessionFilters, SessionInput, SlotInput};
use super::{Mode, Presence};
use crate::auth::{CurrentUser, HrOrAdmin, Supervisor};
use crate::catalog::{Audience, Catalog};
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::people::{self, User};
use crate::views::{Page, Views};

pub fn routes() -> Vec<Route> {
    routes![
        list,
        session,
        enrol,
        enrol_other,
        cancel,
        confirm,
        mine,
        trainer,
        roster,
        save_roster,
        requests,
        decide,
        hr,
        new_offer,
        save_offer,
        new_session,
        save_new_session,
        edit_session,
        save_session,
        cancel_session,
        roster_csv,
        sheet,
        attestation,
        qr,
        checkin_page,
        checkin,
        new_feed,
        revoke_feed,
        feed,
        partner
    ]
}

/// The mail context of the trainings, from the service's settings.
pub fn mailing<'a>(views: &'a Views, config: &'a Config) -> Mailing<'a> {
    Mailing {
        views,
        public_url: &config.public_url,
        mail_from: &config.mail_from,
        hold: chrono::Duration::hours(config.training_hold_hours.max(1)),
    }
}

fn form_error(e: rocket::form::Errors<'_>) -> Error {
    Error::BadRequest(format!("Formulaire incomplet : {e}"))
}

#[allow(clippy::too_many_arguments)] // one argument per filter of the list
#[get("/formations?<offre>&<mois>&<lieu>&<modalite>&<places>")]
async fn list(
    db: &State<Db>,
    me: CurrentUser,
    offre: Option<&str>,
    mois: Option<&str>,
    lieu: Option<&str>,
    modalite: Option<&str>,
    places: Option<bool>,
) -> Result<Page> {
    let f = SessionFilters {
        offer: offre.unwrap_or("").trim().to_string(),
        month: mois.unwrap_or("").trim().to_string(),
        place: lieu.unwrap_or("").trim().to_string(),
        mode: modalite.unwrap_or("").trim().to_string(),
        seats_left: places.unwrap_or(false),
    };
    let sessions = flow::upcoming(db, &me.0, &f).await?;
    let offers: Vec<Value> = super::store::offers(db)
        .await?
        .into_iter()
        .map(|o| json!({ "id": o.id, "title": o.title, "selected": o.id.to_string() == f.offer }))
        .collect();
    let modes: Vec<Value> = [Mode::InPerson, Mode::Online]
        .into_iter()
        .map(|m| json!({ "code": m.code(), "label": m.label(), "selected": m.code() == f.mode }))
        .collect();
    Ok(Page::new(
        "trainings/list",
        "Formations partagées",
        Some(&me.0),
        json!({
            "sessions": sessions,
            "offers": offers,
            "modes": modes,
            "filters": f,
            "filtered": !f.offer.is_empty() || !f.month.is_empty() || !f.place.is_empty() || !f.mode.is_empty() || f.seats_left,
            "trainer": me.0.role.is_trainer(),
        }),
    ))
}

#[get("/formations/sessions/<id>?<fait>")]
async fn session(db: &State<Db>, me: CurrentUser, id: Id, fait: Option<&str>) -> Result<Page> {
    let done = match fait.unwrap_or("") {
        "inscription" => {
            Some("C'est noté : votre demande est enregistrée. Un courriel de confirmation suit.")
        }
        "annulation" => Some("L'inscription est annulée."),
        "confirmation" => Some("Votre place est confirmée. L'invitation arrive par courriel."),
        "personne" => Some("La personne est inscrite ; elle reçoit un courriel."),
        "modification" => Some("La session est modifiée ; les personnes inscrites sont prévenues."),
        "creation" => Some("La session est créée."),
        _ => None,
    };
    session_page(db, &me.0, id.0, done.map(String::from), None).await
}

/// The session page as `me` sees it, with what was just done and a warning, if any.
async fn session_page(
    db: &Db,
    me: &User,
    id: Uuid,
    done: Option<String>,
    warning: Option<String>,
) -> Result<Page> {
    let full = flow::find(db, id).await?;
    let mine = super::store::enrolment_of(db, id, me.id).await?;
    Ok(Page::new(
        "trainings/session",
        format!("Session : {}", full.session.title),
        Some(me),
        json!({
            "session": flow::session_view(&full, me, mine.as_ref()),
            "done": done,
            "warning": warning,
        }),
    ))
}

#[post("/formations/sessions/<id>/inscription")]
async fn enrol(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    catalog: &State<Catalog>,
    me: CurrentUser,
    id: Id,
) -> Result<Page> {
    let m = mailing(views, config);
    let done = flow::enrol(db, &m, catalog, &me.0, id.0, None).await?;
    enrolled_page(db, &me.0, id.0, done).await
}

/// The session page after an enrolment, with its warning when there is one.
async fn enrolled_page(db: &Db, me: &User, id: Uuid, done: flow::Enrolled) -> Result<Page> {
    let message = match done.enrolment.status {
        super::Status::Booked if done.enrolment.person == me.id => {
            "Votre place est réservée. L'invitation arrive par courriel.".to_string()
        }
        super::Status::Waiting if done.enrolment.person == me.id => format!(
            "La session est complète : vous êtes en position {} sur la liste d'attente.",
            done.enrolment.position.unwrap_or(1)
        ),
        super::Status::Pending if done.enrolment.person == me.id => {
            "Votre demande attend l'accord de votre responsable.".to_string()
        }
        _ => format!(
            "{} : {}.",
            done.enrolment.name,
            done.enrolment.status_label.to_lowercase()
        ),
    };
    session_page(db, me, id, Some(message), done.warning).await
}

#[derive(FromForm)]
struct EnrolOther<'r> {
    email: &'r str,
}

#[post("/formations/sessions/<id>/inscrire", data = "<form>")]
async fn enrol_other(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    catalog: &State<Catalog>,
    viewer: Supervisor,
    id: Id,
    form: std::result::Result<Form<EnrolOther<'_>>, rocket::form::Errors<'_>>,
) -> Result<Page> {
    let form = form.map_err(form_error)?;
    let person = people::store::find_by_email(db, form.email)
        .await?
        .ok_or_else(|| Error::NotFound("Cette personne n'existe pas.".into()))?;
    let m = mailing(views, config);
    let done = flow::enrol(db, &m, catalog, &viewer.0, id.0, Some(person.id)).await?;
    enrolled_page(db, &viewer.0, id.0, done).await
}

#[post("/formations/inscriptions/<id>/annulation")]
async fn cancel(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    me: CurrentUser,
    id: Id,
) -> Result<Redirect> {
    let m = mailing(views, config);
    let e = flow::cancel(db, &m, &me.0, id.0).await?;
    Ok(Redirect::to(format!(
        "/formations/sessions/{}?fait=annulation",
        e.session
    )))
}

#[post("/formations/inscriptions/<id>/confirmation")]
async fn confirm(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    me: CurrentUser,
    id: Id,
) -> Result<Redirect> {
    let m = mailing(views, config);
    let e = flow::confirm(db, &m, &me.0, id.0).await?;
    Ok(Redirect::to(format!(
        "/formations/sessions/{}?fait=confirmation",
        e.session
    )))
}

#[get("/mes-formations")]
async fn mine(db: &State<Db>, me: CurrentUser) -> Result<Page> {
    mine_page(db, &me.0, None).await
}

/// « Mes formations », with the new calendar feed address when one was just made.
async fn mine_page(db: &Db, me: &User, new_feed: Option<String>) -> Result<Page> {
    let rows = flow::mine(db, me).await?;
    let feed = super::store::feed_of(db, me.id).await?;
    Ok(Page::new(
        "trainings/mine",
        "Mes formations partagées",
        Some(me),
        json!({
            "rows": rows,
            "feed": feed.map(super::paris_label),
            "new_feed": new_feed,
        }),
    ))
}

#[post("/mes-formations/agenda")]
async fn new_feed(db: &State<Db>, config: &State<Config>, me: CurrentUser) -> Result<Page> {
    let url = flow::new_feed(db, &me.0, &config.public_url).await?;
    mine_page(db, &me.0, Some(url)).await
}

#[post("/mes-formations/agenda/revocation")]
async fn revoke_feed(db: &State<Db>, me: CurrentUser) -> Result<Redirect> {
    super::store::revoke_feed(db, me.0.id).await?;
    Ok(Redirect::to("/mes-formations"))
}

/// The private calendar feed: the secret in the address is the authority (no session, so
/// that calendar applications can subscribe).
#[get("/agenda/<token>")]
async fn feed(
    db: &State<Db>,
    config: &State<Config>,
    token: &str,
) -> Result<(rocket::http::ContentType, String)> {
    let calendar =
        rocket::http::ContentType::new("text", "calendar").with_params(("charset", "utf-8"));
    Ok((
        calendar,
        flow::feed(db, token, &config.public_url, &config.mail_from).await?,
    ))
}

#[get("/partenaire/formations")]
async fn partner(db: &State<Db>, viewer: Supervisor) -> Result<Page> {
    if viewer.0.role != people::Role::PartnerReferent {
        return Err(Error::ForbiddenWith(
            "Cette page est celle des référents des structures partenaires.".into(),
        ));
    }
    let data = flow::partner_view(db, &viewer.0).await?;
    Ok(Page::new(
        "trainings/partner",
        "Formations de ma structure",
        Some(&viewer.0),
        data,
    ))
}

#[get("/formations/sessions/<id>/emargement.csv")]
async fn roster_csv(
    db: &State<Db>,
    me: CurrentUser,
    id: Id,
) -> Result<crate::views::CsvDownload<String>> {
    let (body, name) = flow::roster_csv(db, &me.0, id.0).await?;
    Ok(crate::views::CsvDownload {
        body,
        disposition: crate::views::attachment(&name),
    })
}

#[get("/formations/sessions/<id>/feuille.pdf?<creneau>")]
async fn sheet(
    db: &State<Db>,
    me: CurrentUser,
    id: Id,
    creneau: Option<usize>,
) -> Result<crate::certificates::routes::PdfFile> {
    let (bytes, name) = flow::sign_in_sheet(db, &me.0, id.0, creneau.unwrap_or(1)).await?;
    Ok(crate::certificates::routes::PdfFile { bytes, name })
}

/// The PDF of an attestation de présence (its holder, or who follows them).
#[get("/formations/attestations/<number>/pdf")]
async fn attestation(
    db: &State<Db>,
    certifier: &State<crate::certificates::Certifier>,
    me: CurrentUser,
    number: &str,
) -> Result<crate::certificates::routes::PdfFile> {
    let r = crate::certificates::flow::attendance_pdf(db, certifier, &me.0, number).await?;
    Ok(crate::certificates::routes::PdfFile {
        bytes: r.bytes,
        name: r.name,
    })
}

/// A QR code as an SVG image: one square per dark module, four modules of margin.
fn qr_svg(text: &str) -> Result<String> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| Error::Internal(format!("QR code: {e}")))?;
    let width = code.width();
    let size = width + 8;
    let mut path = String::new();
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            path.push_str(&format!("M{} {}h1v1h-1z", i % width + 4, i / width + 4));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" role=\"img\" aria-label=\"Code QR de présence\" class=\"qr\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[get("/formations/sessions/<id>/qr?<creneau>")]
async fn qr(
    db: &State<Db>,
    config: &State<Config>,
    me: CurrentUser,
    id: Id,
    creneau: Option<usize>,
) -> Result<Page> {
    let full = flow::find_run(db, &me.0, id.0).await?;
    let (n, slot) = full.slot_numbered(creneau)?;
    let checkin = super::store::checkin_slot(db, slot.id)
        .await?
        .ok_or_else(|| Error::NotFound("Ce créneau n'existe pas.".into()))?;
    let url = flow::checkin_url(&config.public_url, &checkin);
    Ok(Page::new(
        "trainings/qr",
        format!("Présence : {}", full.session.title),
        Some(&me.0),
        json!({
            "session": { "id": full.session.id, "title": full.session.title },
            "slot": { "n": n, "from": super::paris_label(slot.starts_at), "to": super::paris_hour(slot.ends_at) },
            "svg": qr_svg(&url)?,
            "url": url,
            "valid_from": super::paris_hour(slot.starts_at - chrono::Duration::minutes(flow::CHECKIN_MARGIN_MINUTES)),
            "valid_to": super::paris_hour(slot.ends_at + chrono::Duration::minutes(flow::CHECKIN_MARGIN_MINUTES)),
        }),
    ))
}

#[get("/formations/presence/<slot>/<token>")]
async fn checkin_page(db: &State<Db>, me: CurrentUser, slot: Id, token: &str) -> Result<Page> {
    let s = flow::checkin_slot(db, slot.0, token).await?;
    let full = flow::find(db, s.session_id).await?;
    Ok(Page::new(
        "trainings/checkin",
        "Confirmer ma présence",
        Some(&me.0),
        json!({
            "session": { "id": full.session.id, "title": full.session.title },
            "slot": { "from": super::paris_label(s.starts_at), "to": super::paris_hour(s.ends_at) },
            "action": format!("/formations/presence/{}/{token}", s.id),
            "done": false,
        }),
    ))
}

#[post("/formations/presence/<slot>/<token>")]
async fn checkin(
    db: &State<Db>,
    certifier: &State<crate::certificates::Certifier>,
    catalog: &State<Catalog>,
    me: CurrentUser,
    slot: Id,
    token: &str,
) -> Result<Page> {
    let full = flow::check_in(
        db,
        certifier,
        catalog,
        &me.0,
        slot.0,
        token,
        crate::db::now(),
    )
    .await?;
    Ok(Page::new(
        "trainings/checkin",
        "Présence enregistrée",
        Some(&me.0),
        json!({
            "session": { "id": full.session.id, "title": full.session.title },
            "slot": null,
            "action": null,
            "done": true,
        }),
    ))
}

/// Sessions as rows of the trainer's and HR's tables.
fn session_rows(rows: &[super::store::SessionRow]) -> Vec<Value> {
    rows.iter()
        .map(|s| {
            json!({
                "id": s.id,
                "title": s.title,
                "when": super::paris_label(s.starts_at),
                "mode": s.mode.label(),
                "capacity": s.capacity,
                "held": s.held,
                "waiting": s.waiting,
                "fill": if s.capacity > 0 { s.held * 100 / s.capacity } else { 0 },
                "cancelled": s.cancelled_at.is_some(),
                "quota": if s.reserved > 0 { format!("{} sur {}", s.reserved_used, s.reserved) } else { "—".into() },
                "no_show": if s.marks > 0 { format!("{} %", s.absences * 100 / s.marks) } else { "—".into() },
            })
        })
        .collect()
}

#[get("/formations/animation")]
async fn trainer(db: &State<Db>, me: CurrentUser) -> Result<Page> {
    if !me.0.role.is_trainer() {
        return Err(Error::Forbidden);
    }
    let rows = flow::run_by(db, &me.0).await?;
    Ok(Page::new(
        "trainings/trainer",
        "Sessions que j'anime",
        Some(&me.0),
        json!({ "sessions": session_rows(&rows) }),
    ))
}

#[get("/formations/sessions/<id>/emargement?<creneau>")]
async fn roster(db: &State<Db>, me: CurrentUser, id: Id, creneau: Option<usize>) -> Result<Page> {
    let (full, rows) = flow::roster(db, &me.0, id.0).await?;
    let (n, slot) = full.slot_numbered(creneau)?;
    let people: Vec<Value> = rows
        .iter()
        .filter(|r| r["enrolment"]["status"] == "booked")
        .map(|r| {
            let mark = r["marks"][n - 1]["mark"].as_str().unwrap_or("").to_string();
            let choices: Vec<Value> = Presence::ALL
                .into_iter()
                .map(|p| json!({ "code": p.code(), "label": p.label(), "checked": p.code() == mark }))
                .collect();
            json!({ "enrolment": r["enrolment"], "choices": choices, "attended": r["enrolment"]["attended"] })
        })
        .collect();
    let others: Vec<Value> = rows
        .iter()
        .filter(|r| r["enrolment"]["status"] != "booked")
        .map(|r| r["enrolment"].clone())
        .collect();
    let slots: Vec<Value> = full
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| json!({ "n": i + 1, "from": super::paris_label(s.starts_at), "current": i + 1 == n }))
        .collect();
    Ok(Page::new(
        "trainings/roster",
        format!("Émargement : {}", full.session.title),
        Some(&me.0),
        json!({
            "session": { "id": full.session.id, "title": full.session.title, "when": super::paris_label(full.session.starts_at), "cancelled": full.session.cancelled_at.is_some() },
            "slot": { "id": slot.id, "n": n, "from": super::paris_label(slot.starts_at), "to": super::paris_hour(slot.ends_at) },
            "slots": slots,
            "people": people,
            "others": others,
        }),
    ))
}

#[post("/formations/sessions/<id>/emargement?<creneau>", data = "<form>")]
async fn save_roster(
    db: &State<Db>,
    certifier: &State<crate::certificates::Certifier>,
    catalog: &State<Catalog>,
    me: CurrentUser,
    id: Id,
    creneau: Option<usize>,
    form: std::result::Result<
        Form<std::collections::HashMap<String, String>>,
        rocket::form::Errors<'_>,
    >,
) -> Result<Redirect> {
    let form = form.map_err(form_error)?;
    let full = flow::find_run(db, &me.0, id.0).await?;
    let (n, slot) = full.slot_numbered(creneau)?;
    let mut marks = Vec::new();
    for (k, v) in form.iter() {
        let Some(e) = k.strip_prefix("presence-") else {
            continue;
        };
        let enrolment =
            Uuid::parse_str(e).map_err(|_| Error::BadRequest("Inscription illisible.".into()))?;
        let p = Presence::parse(v)
            .ok_or_else(|| Error::Unprocessable(format!("Présence inconnue : « {v} ».")))?;
        marks.push((enrolment, p));
    }
    flow::mark(db, certifier, catalog, &me.0, id.0, slot.id, &marks).await?;
    Ok(Redirect::to(format!(
        "/formations/sessions/{}/emargement?creneau={n}",
        id.0
    )))
}

#[get("/formations/demandes")]
async fn requests(db: &State<Db>, viewer: Supervisor) -> Result<Page> {
    let rows: Vec<Value> = flow::pending_for(db, &viewer.0)
        .await?
        .into_iter()
        .map(|(e, session)| json!({ "enrolment": e, "session": session }))
        .collect();
    Ok(Page::new(
        "trainings/requests",
        "Demandes d'inscription à valider",
        Some(&viewer.0),
        json!({ "rows": rows }),
    ))
}

#[derive(FromForm)]
struct Decision<'r> {
    decision: &'r str,
}

#[post("/formations/inscriptions/<id>/decision", data = "<form>")]
async fn decide(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    viewer: Supervisor,
    id: Id,
    form: std::result::Result<Form<Decision<'_>>, rocket::form::Errors<'_>>,
) -> Result<Redirect> {
    let form = form.map_err(form_error)?;
    let approve = match form.decision {
        "accepter" => true,
        "refuser" => false,
        other => {
            return Err(Error::Unprocessable(format!(
                "Décision inconnue : « {other} »."
            )))
        }
    };
    let m = mailing(views, config);
    flow::decide(db, &m, &viewer.0, id.0, approve).await?;
    Ok(Redirect::to("/formations/demandes"))
}

#[get("/rh/formations")]
async fn hr(db: &State<Db>, hr: HrOrAdmin) -> Result<Page> {
    let rows = super::store::all_sessions(db, 500).await?;
    let offers = super::store::offers(db).await?;
    Ok(Page::new(
        "trainings/hr",
        "Formations partagées : suivi",
        Some(&hr.0),
        json!({ "sessions": session_rows(&rows), "offers": offers }),
    ))
}

fn offer_form_data(catalog: &Catalog, input: &OfferInput, error: Option<String>) -> Value {
    let chosen: Vec<&str> = input.audiences.split([' ', ',']).collect();
    let audiences: Vec<Value> = Audience::ALL
        .into_iter()
        .map(|a| json!({ "code": a.code(), "label": a.label(), "checked": chosen.contains(&a.code()) }))
        .collect();
    let modules = |selected: &str| -> Vec<Value> {
        catalog
            .modules()
            .iter()
            .map(|m| json!({ "slug": m.slug, "title": m.title, "selected": m.slug == selected }))
            .collect()
    };
    let chosen_axes: Vec<String> = input
        .axes
        .split([' ', ','])
        .map(|a| a.trim().to_uppercase())
        .collect();
    let axes: Vec<Value> = crate::catalog::plan_axes()
        .into_iter()
        .map(|(code, label)| json!({ "checked": chosen_axes.contains(&code), "code": code, "label": label }))
        .collect();
    let (territorial, equality): (Vec<Value>, Vec<Value>) = axes
        .into_iter()
        .partition(|a| a["code"].as_str().is_some_and(|c| c.starts_with('T')));
    json!({
        "input": input,
        "territorial_axes": territorial,
        "equality_axes": equality,
        "audiences": audiences,
        "prerequisites": modules(&input.prerequisite_module),
        "completes": modules(&input.completes_module),
        "error": error,
    })
}

#[get("/formations/offres/nouvelle")]
async fn new_offer(catalog: &State<Catalog>, me: CurrentUser) -> Result<Page> {
    if !me.0.role.is_trainer() {
        return Err(Error::Forbidden);
    }
    Ok(Page::new(
        "trainings/offer",
        "Nouvelle offre de formation",
        Some(&me.0),
        offer_form_data(catalog, &OfferInput::default(), None),
    ))
}

#[derive(FromForm)]
struct OfferForm<'r> {
    title: &'r str,
    description: &'r str,
    audiences: Vec<&'r str>,
    axes: Vec<&'r str>,
    prerequisite_module: &'r str,
    completes_module: &'r str,
    requires_approval: bool,
}

#[post("/formations/offres/nouvelle", data = "<form>")]
async fn save_offer(
    db: &State<Db>,
    catalog: &State<Catalog>,
    me: CurrentUser,
    ip: Option<IpAddr>,
    form: std::result::Result<Form<OfferForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let form = form.map_err(form_error)?;
    let input = OfferInput {
        title: form.title.into(),
        description: form.description.into(),
        audiences: form.audiences.join(" "),
        axes: form.axes.join(" "),
        prerequisite_module: form.prerequisite_module.into(),
        completes_module: form.completes_module.into(),
        requires_approval: form.requires_approval,
    };
    match flow::save_offer(db, catalog, &me.0, None, &input, ip).await {
        Ok(id) => Ok(Ok(Redirect::to(format!(
            "/formations/sessions/nouvelle?offre={id}"
        )))),
        Err(Error::Unprocessable(message)) => Ok(Err(Page::new(
            "trainings/offer",
            "Nouvelle offre de formation",
            Some(&me.0),
            offer_form_data(catalog, &input, Some(message)),
        )
        .status(rocket::http::Status::UnprocessableEntity))),
        Err(e) => Err(e),
    }
}

/// Slot rows shown by the session form (three, at least).
const FORM_SLOTS: usize = 3;
/// Quota rows shown by the session form.
const FORM_QUOTAS: usize = 3;

async fn session_form_data(
    db: &Db,
    action: &str,
    input: &SessionInput,
    editing: bool,
    error: Option<String>,
) -> Result<Value> {
    let offers: Vec<Value> = super::store::offers(db)
        .await?
        .into_iter()
        .map(|o| json!({ "id": o.id, "title": o.title, "selected": o.id.to_string() == input.offer }))
        .collect();
    let mut slots: Vec<Value> = input
        .slots
        .iter()
        .map(|s| json!({ "date": s.date, "start": s.start, "end": s.end }))
        .collect();
    let slot_rows = if editing {
        slots.len()
    } else {
        FORM_SLOTS.max(slots.len())
    };
    while slots.len() < slot_rows {
        slots.push(json!({ "date": "", "start": "", "end": "" }));
    }
    let slots: Vec<Value> = slots
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            s["n"] = json!(i + 1);
            s["i"] = json!(i);
            s["required"] = json!(i == 0);
            s
        })
        .collect();
    let partners = people::store::partners(db).await?;
    let mut quotas: Vec<Value> = input
        .quotas
        .iter()
        .map(|q| json!({ "partner": q.partner, "seats": q.seats }))
        .collect();
    while quotas.len() < FORM_QUOTAS.max(input.quotas.len()) {
        quotas.push(json!({ "partner": "", "seats": "" }));
    }
    let quotas: Vec<Value> = quotas
        .into_iter()
        .enumerate()
        .map(|(i, q)| {
            let choices: Vec<Value> = partners
                .iter()
                .map(|p| json!({ "id": p.id, "name": p.name, "selected": p.id.to_string() == q["partner"].as_str().unwrap_or("") }))
                .collect();
            json!({ "i": i, "n": i + 1, "seats": q["seats"], "partners": choices })
        })
        .collect();
    let modes: Vec<Value> = [Mode::InPerson, Mode::Online]
        .into_iter()
        .map(|m| json!({ "code": m.code(), "label": m.label(), "checked": m.code() == input.mode }))
        .collect();
    Ok(json!({
        "action": action,
        "editing": editing,
        "input": input,
        "trainers": input.trainers.join(", "),
        "offers": offers,
        "slots": slots,
        "quotas": quotas,
        "modes": modes,
        "error": error,
    }))
}

#[get("/formations/sessions/nouvelle?<offre>")]
async fn new_session(db: &State<Db>, me: CurrentUser, offre: Option<&str>) -> Result<Page> {
    if !me.0.role.is_trainer() {
        return Err(Error::Forbidden);
    }
    let input = SessionInput {
        offer: offre.unwrap_or("").to_string(),
        mode: Mode::InPerson.code().into(),
        capacity: "12".into(),
        ..SessionInput::default()
    };
    Ok(Page::new(
        "trainings/session_form",
        "Nouvelle session",
        Some(&me.0),
        session_form_data(db, "/formations/sessions/nouvelle", &input, false, None).await?,
    ))
}

#[derive(FromForm)]
struct SessionForm<'r> {
    offer: &'r str,
    mode: &'r str,
    address: &'r str,
    room: &'r str,
    access_info: &'r str,
    online_link: &'r str,
    capacity: &'r str,
    slots: Vec<SlotFields<'r>>,
    enrol_until: &'r str,
    cancel_until: &'r str,
    quota_release: &'r str,
    quotas: Vec<QuotaFields<'r>>,
    trainers: &'r str,
}

#[derive(FromForm)]
struct SlotFields<'r> {
    date: &'r str,
    start: &'r str,
    end: &'r str,
}

#[derive(FromForm)]
struct QuotaFields<'r> {
    partner: &'r str,
    seats: &'r str,
}

impl SessionForm<'_> {
    fn input(&self) -> SessionInput {
        SessionInput {
            offer: self.offer.into(),
            mode: self.mode.into(),
            address: self.address.into(),
            room: self.room.into(),
            access_info: self.access_info.into(),
            online_link: self.online_link.into(),
            capacity: self.capacity.into(),
            // Empty rows of the form are not slots.
            slots: self
                .slots
                .iter()
                .filter(|s| {
                    !(s.date.trim().is_empty()
                        && s.start.trim().is_empty()
                        && s.end.trim().is_empty())
                })
                .map(|s| SlotInput {
                    date: s.date.into(),
                    start: s.start.into(),
                    end: s.end.into(),
                })
                .collect(),
            enrol_until: self.enrol_until.into(),
            cancel_until: self.cancel_until.into(),
            quota_release: self.quota_release.into(),
            quotas: self
                .quotas
                .iter()
                .filter(|q| !q.partner.trim().is_empty())
                .map(|q| QuotaInput {
                    partner: q.partner.into(),
                    seats: q.seats.into(),
                })
                .collect(),
            trainers: self
                .trainers
                .split([',', ';', ' ', '\n'])
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
        }
    }
}

#[post("/formations/sessions/nouvelle", data = "<form>")]
async fn save_new_session(
    db: &State<Db>,
    me: CurrentUser,
    ip: Option<IpAddr>,
    form: std::result::Result<Form<SessionForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let form = form.map_err(form_error)?;
    let input = form.input();
    match flow::create_session(db, &me.0, &input, ip).await {
        Ok(id) => Ok(Ok(Redirect::to(format!(
            "/formations/sessions/{id}?fait=creation"
        )))),
        Err(Error::Unprocessable(message)) => Ok(Err(Page::new(
            "trainings/session_form",
            "Nouvelle session",
            Some(&me.0),
            session_form_data(
                db,
                "/formations/sessions/nouvelle",
                &input,
                false,
                Some(message),
            )
            .await?,
        )
        .status(rocket::http::Status::UnprocessableEntity))),
        Err(e) => Err(e),
    }
}

#[get("/formations/sessions/<id>/modifier")]
async fn edit_session(db: &State<Db>, me: CurrentUser, id: Id) -> Result<Page> {
    let full = flow::find_run(db, &me.0, id.0).await?;
    let input = flow::input_of(&full);
    Ok(Page::new(
        "trainings/session_form",
        format!("Modifier la session : {}", full.session.title),
        Some(&me.0),
        session_form_data(
            db,
            &format!("/formations/sessions/{}/modifier", id.0),
            &input,
            true,
            None,
        )
        .await?,
    ))
}

#[post("/formations/sessions/<id>/modifier", data = "<form>")]
#[allow(clippy::too_many_arguments)] // the state the change needs
async fn save_session(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    me: CurrentUser,
    ip: Option<IpAddr>,
    id: Id,
    form: std::result::Result<Form<SessionForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let form = form.map_err(form_error)?;
    let input = form.input();
    let patch =
        serde_json::to_value(&input).map_err(|e| Error::Internal(format!("session form: {e}")))?;
    let m = mailing(views, config);
    match flow::update_session(db, &m, &me.0, id.0, &patch, ip).await {
        Ok(_) => Ok(Ok(Redirect::to(format!(
            "/formations/sessions/{}?fait=modification",
            id.0
        )))),
        Err(Error::Unprocessable(message)) => Ok(Err(Page::new(
            "trainings/session_form",
            "Modifier la session",
            Some(&me.0),
            session_form_data(
                db,
                &format!("/formations/sessions/{}/modifier", id.0),
                &input,
                true,
                Some(message),
            )
            .await?,
        )
        .status(rocket::http::Status::UnprocessableEntity))),
        Err(e) => Err(e),
    }
}

#[derive(FromForm)]
struct CancelSession<'r> {
    reason: &'r str,
}

#[post("/formations/sessions/<id>/annulation", data = "<form>")]
#[allow(clippy::too_many_arguments)] // the state the cancellation needs
async fn cancel_session(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    me: CurrentUser,
    ip: Option<IpAddr>,
    id: Id,
    form: std::result::Result<Form<CancelSession<'_>>, rocket::form::Errors<'_>>,
) -> Result<Redirect> {
    let reason = form.map(|f| f.reason.to_string()).unwrap_or_default();
    let m = mailing(views, config);
    flow::cancel_session(db, &m, &me.0, id.0, &reason, ip).await?;
    Ok(Redirect::to(format!("/formations/sessions/{}", id.0)))
}
