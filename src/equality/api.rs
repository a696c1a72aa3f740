//! JSON API of the equality plan under `/api/v1/equality/…`: reads for HR and for API
//! tokens, writes for HR staff with a session (a change to the plan is signed by a
//! person). Bodies are the same inputs as the forms, checked by the same `flow` code.

use rocket::http::Status;
use rocket::serde::json::{Json, Value};
use rocket::{get, patch, post, put, routes, Route, State};
use serde_json::json;

use super::flow::{self, ActionInput, IndicatorInput, PeriodInput, Query, ValueInput};
use super::routes::ctx;
use super::store;
use crate::auth::ApiCaller;
use crate::catalog::Catalog;
use crate::certificates::paris_today;
use crate::config::Config;
use crate::db::Db;
use crate::error::{json_body, Error, Result};
use crate::ids::Id;
use crate::people::{User, Visibility};

pub fn routes() -> Vec<Route> {
    routes![
        dashboard,
        plan,
        save_period,
        create_action,
        update_action,
        comment,
        indicators,
        create_indicator,
        update_indicator,
        indicator,
        add_value,
        snapshots,
        take_snapshot,
        snapshot,
        territorial
    ]
}

/// HR or a token: everything. Anyone else: refused.
fn reader(caller: &ApiCaller) -> Result<Visibility> {
    match caller {
        ApiCaller::Token(_) => Ok(Visibility::All),
        ApiCaller::Person(u) if u.role.is_hr() => Ok(Visibility::All),
        ApiCaller::Person(_) => Err(Error::Forbidden),
    }
}

/// HR staff with a session: a change to the plan is signed by a person.
fn writer(caller: &ApiCaller) -> Result<&User> {
    caller.hr_person()
}

/// Lays the fields of a JSON body over the current values (a PATCH changes only what it
/// names).
fn merged<T: serde::Serialize + serde::de::DeserializeOwned>(
    current: &T,
    patch: Value,
) -> Result<T> {
    let mut base = serde_json::to_value(current).map_err(|e| Error::Internal(e.to_string()))?;
    match (base.as_object_mut(), patch) {
        (Some(b), Value::Object(p)) => b.extend(p),
        _ => {
            return Err(Error::BadRequest(
                "Le corps doit être un objet JSON.".into(),
            ))
        }
    }
    serde_json::from_value(base)
        .map_err(|e| Error::BadRequest(format!("Corps JSON invalide : {e}")))
}

#[allow(clippy::too_many_arguments)] // one argument per filter
#[get("/equality/dashboard?<from>&<to>&<unit>&<audience>")]
async fn dashboard(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    caller: ApiCaller,
    from: Option<&str>,
    to: Option<&str>,
    unit: Option<&str>,
    audience: Option<&str>,
) -> Result<Value> {
    let visibility = reader(&caller)?;
    let q = Query {
        from: from.unwrap_or("").into(),
        to: to.unwrap_or("").into(),
        unit: unit.unwrap_or("").into(),
        audience: audience.unwrap_or("").into(),
    };
    let mut d = flow::dashboard(db, &ctx(catalog, config), &visibility, &q).await?;
    for f in d.axes.iter_mut().flat_map(|a| a.figures.iter_mut()) {
        f.svg.clear();
    }
    Ok(json!({ "dashboard": d }))
}

#[get("/equality/plan")]
async fn plan(db: &State<Db>, caller: ApiCaller) -> Result<Value> {
    reader(&caller)?;
    Ok(json!({ "plan": flow::plan(db, paris_today(crate::db::now())).await? }))
}

#[put("/equality/plan", data = "<body>")]
async fn save_period(
    db: &State<Db>,
    caller: ApiCaller,
    body: std::result::Result<Json<PeriodInput>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    let hr = writer(&caller)?;
    let input = body.map_err(json_body)?.into_inner();
    let (starts_on, ends_on) = flow::save_period(db, hr, &input, crate::db::now()).await?;
    Ok(json!({ "starts_on": starts_on, "ends_on": ends_on }))
}

#[post("/equality/actions", data = "<body>")]
async fn create_action(
    db: &State<Db>,
    catalog: &State<Catalog>,
    caller: ApiCaller,
    body: std::result::Result<Json<ActionInput>, rocket::serde::json::Error<'_>>,
) -> Result<(Status, Value)> {
    let hr = writer(&caller)?;
    let input = body.map_err(json_body)?.into_inner();
    let a = flow::save_action(db, catalog, hr, None, &input, crate::db::now()).await?;
    let today = paris_today(crate::db::now());
    Ok((
        Status::Created,
        json!({ "action": flow::ActionView::of(a, today) }),
    ))
}

#[patch("/equality/actions/<id>", data = "<body>")]
async fn update_action(
    db: &State<Db>,
    catalog: &State<Catalog>,
    caller: ApiCaller,
    id: Id,
    body: std::result::Result<Json<Value>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    let hr = writer(&caller)?;
    let patch = body.map_err(json_body)?.into_inner();
    let current = store::action(db, id.0)
        .await?
        .ok_or_else(flow::action_not_found)?;
    let input: ActionInput = merged(&ActionInput::of(&current), patch)?;
    let a = flow::save_action(db, catalog, hr, Some(id.0), &input, crate::db::now()).await?;
    Ok(json!({ "action": flow::ActionView::of(a, paris_today(crate::db::now())) }))
}

#[derive(serde::Deserialize)]
struct CommentBody {
    body: String,
}

#[post("/equality/actions/<id>/comments", data = "<body>")]
async fn comment(
    db: &State<Db>,
    caller: ApiCaller,
    id: Id,
    body: std::result::Result<Json<CommentBody>, rocket::serde::json::Error<'_>>,
) -> Result<(Status, Value)> {
    let hr = writer(&caller)?;
    let c = body.map_err(json_body)?.into_inner();
    flow::comment(db, hr, id.0, &c.body, crate::db::now()).await?;
    Ok((
        Status::Created,
        json!({ "comments": store::comments(db, id.0).await? }),
    ))
}

#[get("/equality/indicators")]
async fn indicators(db: &State<Db>, caller: ApiCaller) -> Result<Value> {
    reader(&caller)?;
    Ok(json!({ "indicators": store::indicators(db).await? }))
}

#[post("/equality/indicators", data = "<body>")]
async fn create_indicator(
    db: &State<Db>,
    catalog: &State<Catalog>,
    caller: ApiCaller,
    body: std::result::Result<Json<IndicatorInput>, rocket::serde::json::Error<'_>>,
) -> Result<(Status, Value)> {
    writer(&caller)?;
    let input = body.map_err(json_body)?.into_inner();
    let i = flow::save_indicator(db, catalog, None, &input, crate::db::now()).await?;
    Ok((Status::Created, json!({ "indicator": i })))
}

#[patch("/equality/indicators/<id>", data = "<body>")]
async fn update_indicator(
    db: &State<Db>,
    catalog: &State<Catalog>,
    caller: ApiCaller,
    id: Id,
    body: std::result::Result<Json<Value>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    writer(&caller)?;
    let patch = body.map_err(json_body)?.into_inner();
    let current = store::indicator(db, id.0)
        .await?
        .ok_or_else(flow::indicator_not_found)?;
    let input: IndicatorInput = merged(&IndicatorInput::of(&current), patch)?;
    let i = flow::save_indicator(db, catalog, Some(id.0), &input, crate::db::now()).await?;
    Ok(json!({ "indicator": i }))
}

#[get("/equality/indicators/<id>?<unit>&<audience>&<from>&<to>")]
#[allow(clippy::too_many_arguments)] // one argument per filter
async fn indicator(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    caller: ApiCaller,
    id: Id,
    unit: Option<&str>,
    audience: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Value> {
    let visibility = reader(&caller)?;
    let q = Query {
        from: from.unwrap_or("").into(),
        to: to.unwrap_or("").into(),
        unit: unit.unwrap_or("").into(),
        audience: audience.unwrap_or("").into(),
    };
    let mut d = flow::detail(db, &ctx(catalog, config), &visibility, id.0, &q).await?;
    d.figure.svg.clear();
    Ok(json!({ "indicator": d }))
}

#[post("/equality/indicators/<id>/values", data = "<body>")]
async fn add_value(
    db: &State<Db>,
    caller: ApiCaller,
    id: Id,
    body: std::result::Result<Json<ValueInput>, rocket::serde::json::Error<'_>>,
) -> Result<(Status, Value)> {
    let hr = writer(&caller)?;
    let input = body.map_err(json_body)?.into_inner();
    flow::save_value(db, hr, id.0, &input, crate::db::now()).await?;
    Ok((
        Status::Created,
        json!({ "values": store::manual_values(db, id.0).await? }),
    ))
}

#[get("/equality/snapshots")]
async fn snapshots(db: &State<Db>, caller: ApiCaller) -> Result<Value> {
    reader(&caller)?;
    Ok(json!({ "snapshots": flow::snapshots(db).await? }))
}

#[post("/equality/snapshots")]
async fn take_snapshot(
    db: &State<Db>,
    catalog: &State<Catalog>,
    caller: ApiCaller,
) -> Result<(Status, Value)> {
    let hr = writer(&caller)?;
    let id = flow::take_snapshot(db, catalog, crate::db::now(), None, Some(hr.id)).await?;
    Ok((Status::Created, json!({ "id": id })))
}

#[get("/equality/snapshots/<id>")]
async fn snapshot(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    caller: ApiCaller,
    id: Id,
) -> Result<Value> {
    reader(&caller)?;
    let issuer = format!("{} — {}", config.issuer_city, config.issuer_service);
    Ok(json!({ "report": flow::report(db, &ctx(catalog, config), &issuer, id.0).await? }))
}

#[get("/equality/territorial?<from>&<to>")]
async fn territorial(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    caller: ApiCaller,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Value> {
    reader(&caller)?;
    Ok(
        json!({ "territorial": flow::territorial(db, &ctx(catalog, config), from.unwrap_or(""), to.unwrap_or("")).await? }),
    )
}
