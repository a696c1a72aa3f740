//! JSON API of obligations: the caller's own, the lists within a scope, the rules (HR) with
//! their dry run, exemptions.

use std::net::IpAddr;

use rocket::http::Status;
use rocket::serde::json::{Json, Value};
use rocket::{get, post, routes, Route, State};
use serde::Deserialize;
use serde_json::json;

use super::flow::{self, Filters, RuleInput};
use crate::auth::{ApiCaller, CurrentUser};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::db::Db;
use crate::error::{json_body, Error, Result};
use crate::ids::Id;
use crate::people::{User, Visibility};

pub fn routes() -> Vec<Route> {
    routes![
        my_obligations,
        obligations,
        rules,
        dry_run,
        create_rule,
        update_rule,
        exemption
    ]
}

/// HR staff with a session: rules and exemptions are signed by a person.
fn hr_person(caller: &ApiCaller) -> Result<&User> {
    caller.hr_person()
}

#[get("/me/obligations")]
async fn my_obligations(
    db: &State<Db>,
    catalog: &State<Catalog>,
    me: CurrentUser,
) -> Result<Value> {
    Ok(json!({ "obligations": flow::mine(db, catalog, &me.0).await? }))
}

#[allow(clippy::too_many_arguments)] // one argument per filter of the list
#[get("/obligations?<state>&<module>&<org_unit>&<history>&<limit>&<offset>")]
async fn obligations(
    db: &State<Db>,
    catalog: &State<Catalog>,
    caller: ApiCaller,
    state: Option<&str>,
    module: Option<&str>,
    org_unit: Option<&str>,
    history: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
) -> Result<Value> {
    let (visibility, viewer) = match &caller {
        ApiCaller::Token(t) => (Visibility::All, t.id),
        ApiCaller::Person(u) => (flow::scope(u)?, u.id),
    };
    let filters = Filters {
        state: state.unwrap_or("").into(),
        module: module.unwrap_or("").into(),
        org_unit: org_unit.unwrap_or("").into(),
        history: history.unwrap_or(false),
    };
    let limit = limit.unwrap_or(100).clamp(1, 1000);
    let offset = offset.unwrap_or(0).max(0);
    let (rows, total) =
        flow::team(db, catalog, viewer, &visibility, &filters, limit, offset).await?;
    Ok(json!({ "obligations": rows, "total": total, "limit": limit, "offset": offset }))
}

#[get("/obligation-rules")]
async fn rules(db: &State<Db>, catalog: &State<Catalog>, caller: ApiCaller) -> Result<Value> {
    match &caller {
        ApiCaller::Token(_) => {}
        ApiCaller::Person(u) if u.role.is_hr() => {}
        ApiCaller::Person(_) => return Err(Error::Forbidden),
    }
    Ok(json!({ "rules": flow::rule_views(db, catalog).await? }))
}

#[post("/obligation-rules/dry-run", data = "<body>")]
async fn dry_run(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    caller: ApiCaller,
    body: std::result::Result<Json<RuleInput>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    hr_person(&caller)?;
    let input = body.map_err(json_body)?.into_inner();
    let rule = flow::parse_rule(db, catalog, uuid::Uuid::new_v4(), &input).await?;
    Ok(json!({ "dry_run": flow::dry_run(db, &rule, config.rule_max_without_confirmation).await? }))
}

/// A rule to save, and whether its dry run was seen and confirmed.
#[derive(Deserialize)]
struct SaveRule {
    #[serde(flatten)]
    rule: RuleInput,
    #[serde(default)]
    confirm: bool,
}

#[allow(clippy::too_many_arguments)] // one argument per piece of managed state
async fn save(
    db: &Db,
    catalog: &Catalog,
    config: &Config,
    caller: &ApiCaller,
    ip: Option<IpAddr>,
    id: Option<uuid::Uuid>,
    body: std::result::Result<Json<SaveRule>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    let hr = hr_person(caller)?;
    let body = body.map_err(json_body)?.into_inner();
    let (rule, dry_run, sweep) = flow::save_rule(
        db,
        catalog,
        hr,
        id,
        &body.rule,
        body.confirm,
        config.rule_max_without_confirmation,
        ip,
    )
    .await?;
    Ok(json!({ "rule": rule, "dry_run": dry_run, "sweep": sweep }))
}

#[post("/obligation-rules", data = "<body>")]
async fn create_rule(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    caller: ApiCaller,
    ip: Option<IpAddr>,
    body: std::result::Result<Json<SaveRule>, rocket::serde::json::Error<'_>>,
) -> Result<(Status, Value)> {
    Ok((
        Status::Created,
        save(db, catalog, config, &caller, ip, None, body).await?,
    ))
}

#[allow(clippy::too_many_arguments)] // one argument per piece of managed state
#[post("/obligation-rules/<id>", data = "<body>")]
async fn update_rule(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    caller: ApiCaller,
    ip: Option<IpAddr>,
    id: Id,
    body: std::result::Result<Json<SaveRule>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    hr_person(&caller)?;
    flow::rule(db, id.0).await?;
    save(db, catalog, config, &caller, ip, Some(id.0), body).await
}

#[derive(Deserialize)]
struct ExemptionBody {
    reason: String,
}

#[post("/obligations/<id>/exemption", data = "<body>")]
async fn exemption(
    db: &State<Db>,
    catalog: &State<Catalog>,
    caller: ApiCaller,
    ip: Option<IpAddr>,
    id: Id,
    body: std::result::Result<Json<ExemptionBody>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    let hr = hr_person(&caller)?;
    let body = body.map_err(json_body)?.into_inner();
    flow::exempt(db, hr, id.0, &body.reason, ip).await?;
    let (obligation, _) = flow::one(db, catalog, id.0).await?;
    Ok(json!({ "obligation": obligation }))
}
