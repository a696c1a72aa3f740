//! JSON API of shared trainings: sessions (list, read, create, change, cancel), enrolments
//! (enrol, cancel, confirm, decide, mine) and attendance for trainers.

use rocket::http::Status;
use rocket::response::status::Custom;
use rocket::serde::json::{Json, Value};
use rocket::{delete, get, patch, post, put, routes, Route, State};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::flow::{self, OfferInput, SessionFilters, SessionInput};
use super::routes::mailing;
use super::Presence;
use crate::auth::{ApiCaller, CurrentUser};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::db::Db;
use crate::error::{json_body, Error, Result};
use crate::ids::Id;
use crate::people::User;
use crate::views::Views;

pub fn routes() -> Vec<Route> {
    routes![
        offers,
        create_offer,
        sessions,
        create_session,
        one_session,
        change_session,
        cancel_session,
        enrol,
        cancel_enrolment,
        confirm,
        decide,
        my_enrolments,
        roster,
        mark
    ]
}

/// A person with a session: enrolments and sessions are acts of a person.
fn person(caller: &ApiCaller) -> Result<&User> {
    match caller {
        ApiCaller::Person(u) => Ok(u),
        ApiCaller::Token(_) => Err(Error::ForbiddenWith(
            "Un jeton d'API ne représente pas une personne : cette ressource demande une session."
                .into(),
        )),
    }
}

#[get("/training-offers")]
async fn offers(db: &State<Db>, _me: CurrentUser) -> Result<Value> {
    Ok(json!({ "offers": super::store::offers(db).await? }))
}

#[post("/training-offers", data = "<body>")]
async fn create_offer(
    db: &State<Db>,
    catalog: &State<Catalog>,
    caller: ApiCaller,
    ip: Option<std::net::IpAddr>,
    body: std::result::Result<Json<OfferInput>, rocket::serde::json::Error<'_>>,
) -> Result<Custom<Value>> {
    let me = person(&caller)?;
    if !me.role.is_trainer() {
        return Err(Error::Forbidden);
    }
    let input = body.map_err(json_body)?.into_inner();
    let id = flow::save_offer(db, catalog, me, None, &input, ip).await?;
    let offer = super::store::offer(db, id).await?;
    Ok(Custom(Status::Created, json!({ "offer": offer })))
}

#[get("/sessions?<offer>&<month>&<place>&<mode>&<seats_left>")]
async fn sessions(
    db: &State<Db>,
    me: CurrentUser,
    offer: Option<&str>,
    month: Option<&str>,
    place: Option<&str>,
    mode: Option<&str>,
    seats_left: Option<bool>,
) -> Result<Value> {
    let f = SessionFilters {
        offer: offer.unwrap_or("").into(),
        month: month.unwrap_or("").into(),
        place: place.unwrap_or("").into(),
        mode: mode.unwrap_or("").into(),
        seats_left: seats_left.unwrap_or(false),
    };
    Ok(json!({ "sessions": flow::upcoming(db, &me.0, &f).await? }))
}

#[post("/sessions", data = "<body>")]
async fn create_session(
    db: &State<Db>,
    caller: ApiCaller,
    ip: Option<std::net::IpAddr>,
    body: std::result::Result<Json<SessionInput>, rocket::serde::json::Error<'_>>,
) -> Result<Custom<Value>> {
    let me = person(&caller)?;
    if !me.role.is_trainer() {
        return Err(Error::Forbidden);
    }
    let input = body.map_err(json_body)?.into_inner();
    let id = flow::create_session(db, me, &input, ip).await?;
    let full = flow::find(db, id).await?;
    Ok(Custom(
        Status::Created,
        json!({ "session": flow::session_view(&full, me, None) }),
    ))
}

#[get("/sessions/<id>")]
async fn one_session(db: &State<Db>, me: CurrentUser, id: Id) -> Result<Value> {
    let full = flow::find(db, id.0).await?;
    let mine = super::store::enrolment_of(db, id.0, me.0.id).await?;
    Ok(json!({ "session": flow::session_view(&full, &me.0, mine.as_ref()) }))
}

#[allow(clippy::too_many_arguments)] // the state the change needs
#[patch("/sessions/<id>", data = "<body>")]
async fn change_session(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    caller: ApiCaller,
    ip: Option<std::net::IpAddr>,
    id: Id,
    body: std::result::Result<Json<Value>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    let me = person(&caller)?;
    let patch = body.map_err(json_body)?.into_inner();
    let m = mailing(views, config);
    let changed = flow::update_session(db, &m, me, id.0, &patch, ip).await?;
    let full = flow::find(db, id.0).await?;
    Ok(json!({ "session": flow::session_view(&full, me, None), "changed": changed }))
}

#[derive(Deserialize)]
struct CancelBody {
    reason: String,
}

#[allow(clippy::too_many_arguments)] // the state the cancellation needs
#[post("/sessions/<id>/cancellation", data = "<body>")]
async fn cancel_session(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    caller: ApiCaller,
    ip: Option<std::net::IpAddr>,
    id: Id,
    body: std::result::Result<Json<CancelBody>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    let me = person(&caller)?;
    let body = body.map_err(json_body)?.into_inner();
    let m = mailing(views, config);
    let seats = flow::cancel_session(db, &m, me, id.0, &body.reason, ip).await?;
    Ok(json!({ "cancelled": true, "seats_released": seats }))
}

#[derive(Deserialize, Default)]
struct EnrolBody {
    person: Option<String>,
}

#[allow(clippy::too_many_arguments)] // the state an enrolment needs
#[post("/sessions/<id>/enrolments", data = "<body>")]
async fn enrol(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    catalog: &State<Catalog>,
    caller: ApiCaller,
    id: Id,
    body: Option<std::result::Result<Json<EnrolBody>, rocket::serde::json::Error<'_>>>,
) -> Result<Custom<Value>> {
    let me = person(&caller)?;
    // No body, or an empty one: enrol oneself.
    let body = match body {
        Some(Ok(b)) => b.into_inner(),
        None => EnrolBody::default(),
        Some(Err(rocket::serde::json::Error::Parse(raw, _))) if raw.trim().is_empty() => {
            EnrolBody::default()
        }
        Some(Err(e)) => return Err(json_body(e)),
    };
    let target = match body
        .person
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => Some(
            Uuid::parse_str(p)
                .map_err(|_| Error::NotFound("Cette personne n'existe pas.".into()))?,
        ),
    };
    let m = mailing(views, config);
    let done = flow::enrol(db, &m, catalog, me, id.0, target).await?;
    let status = if done.created {
        Status::Created
    } else {
        Status::Ok
    };
    Ok(Custom(
        status,
        json!({
            "enrolment": {
                "id": done.enrolment.id,
                "status": done.enrolment.status,
                "position": done.enrolment.position,
                "person": done.enrolment.person,
                "session": done.enrolment.session,
            },
            "warning": done.warning,
        }),
    ))
}

#[delete("/enrolments/<id>")]
async fn cancel_enrolment(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    caller: ApiCaller,
    id: Id,
) -> Result<Value> {
    let me = person(&caller)?;
    let m = mailing(views, config);
    let e = flow::cancel(db, &m, me, id.0).await?;
    Ok(json!({ "enrolment": e }))
}

#[post("/enrolments/<id>/confirmation")]
async fn confirm(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    caller: ApiCaller,
    id: Id,
) -> Result<Value> {
    let me = person(&caller)?;
    let m = mailing(views, config);
    Ok(json!({ "enrolment": flow::confirm(db, &m, me, id.0).await? }))
}

#[derive(Deserialize)]
struct DecisionBody {
    approve: bool,
}

#[post("/enrolments/<id>/decision", data = "<body>")]
async fn decide(
    db: &State<Db>,
    views: &State<Views>,
    config: &State<Config>,
    caller: ApiCaller,
    id: Id,
    body: std::result::Result<Json<DecisionBody>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    let me = person(&caller)?;
    let body = body.map_err(json_body)?.into_inner();
    let m = mailing(views, config);
    Ok(json!({ "enrolment": flow::decide(db, &m, me, id.0, body.approve).await? }))
}

#[get("/me/enrolments")]
async fn my_enrolments(db: &State<Db>, me: CurrentUser) -> Result<Value> {
    Ok(json!({ "enrolments": flow::mine(db, &me.0).await? }))
}

#[get("/sessions/<id>/attendance")]
async fn roster(db: &State<Db>, caller: ApiCaller, id: Id) -> Result<Value> {
    let me = person(&caller)?;
    let (full, rows) = flow::roster(db, me, id.0).await?;
    Ok(json!({
        "slots": full.slots,
        "roster": rows,
    }))
}

#[derive(Deserialize)]
struct MarkBody {
    slot: Uuid,
    marks: Vec<MarkItem>,
}

#[derive(Deserialize)]
struct MarkItem {
    enrolment: Uuid,
    status: String,
}

#[put("/sessions/<id>/attendance", data = "<body>")]
async fn mark(
    db: &State<Db>,
    certifier: &State<crate::certificates::Certifier>,
    catalog: &State<Catalog>,
    caller: ApiCaller,
    id: Id,
    body: std::result::Result<Json<MarkBody>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    let me = person(&caller)?;
    flow::find_run(db, me, id.0).await?;
    let body = body.map_err(json_body)?.into_inner();
    let mut marks = Vec::new();
    for m in &body.marks {
        let p = Presence::parse(&m.status).ok_or_else(|| {
            Error::Unprocessable(format!(
                "Présence inconnue : « {} » (present, absent ou excused).",
                m.status
            ))
        })?;
        marks.push((m.enrolment, p));
    }
    let attended = flow::mark(db, certifier, catalog, me, id.0, body.slot, &marks).await?;
    Ok(json!({ "marked": marks.len(), "completed_sessions": attended }))
}
