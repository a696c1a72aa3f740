//! The audit log page, for admins.

use rocket::{get, routes, Route, State};
use serde_json::json;

use super::{store, Kind};
use crate::auth::Admin;
use crate::db::Db;
use crate::error::Result;
use crate::views::Page;

pub fn routes() -> Vec<Route> {
    routes![audit_page]
}

const PAGE_SIZE: i64 = 100;

#[get("/admin/journal?<page>")]
async fn audit_page(db: &State<Db>, admin: Admin, page: Option<u32>) -> Result<Page> {
    let page = i64::from(page.unwrap_or(1).max(1));
    let rows = store::latest(db, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let events: Vec<_> = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|e| {
            json!({
                "at": e.at, "actor": e.actor, "kind": Kind::label(&e.kind), "subject": e.subject,
                "details": e.details, "client": e.client,
            })
        })
        .collect();
    Ok(Page::new(
        "admin/audit",
        "Journal de sécurité",
        Some(&admin.0),
        json!({
            "events": events,
            "page": page,
            "previous": (page > 1).then(|| page - 1),
            "next": more.then(|| page + 1),
        }),
    ))
}
