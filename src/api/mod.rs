//! The JSON API: `/api/v1`, its OpenAPI document, and `/healthz`.

mod openapi;

use rocket::http::Status;
use rocket::serde::json::Value;
use rocket::{get, routes, Route, State};
use serde_json::json;

use crate::db::Db;

/// Routes mounted under `/api/v1`, from every capability.
pub fn v1_routes() -> Vec<Route> {
    let mut r = routes![openapi_document];
    r.extend(crate::learning::api::routes());
    r.extend(crate::obligations::api::routes());
    r
}

pub fn root_routes() -> Vec<Route> {
    routes![healthz]
}

#[get("/openapi.json")]
fn openapi_document() -> Value {
    openapi::document()
}

/// 200 when the database answers, 503 when not.
#[get("/healthz")]
async fn healthz(db: &State<Db>) -> (Status, Value) {
    let up = db.ping().await;
    let body = json!({
        "status": if up { "ok" } else { "unavailable" },
        "database": { "backend": db.backend(), "reachable": up },
        "version": env!("CARGO_PKG_VERSION"),
    });
    (
        if up {
            Status::Ok
        } else {
            Status::ServiceUnavailable
        },
        body,
    )
}
