//! Public pages, open without an account.

use rocket::{get, routes, Route};
use serde_json::json;

use crate::auth::CurrentUser;
use crate::views::Page;

pub fn routes() -> Vec<Route> {
    routes![accessibility]
}

/// The accessibility statement (déclaration d'accessibilité), in the RGAA form.
#[get("/accessibilite")]
fn accessibility(user: Option<CurrentUser>) -> Page {
    Page::new(
        "site/accessibility",
        "Déclaration d'accessibilité",
        user.as_ref().map(|u| &u.0),
        json!({}),
    )
}
