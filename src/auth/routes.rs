//! Sign-in and sign-out pages.

use rocket::form::{Form, FromForm};
use rocket::http::CookieJar;
use rocket::response::Redirect;
use rocket::{get, post, routes, Route, State};
use serde_json::json;

use super::{close_session, open_session, safe_next, CurrentUser, UserCache};
use crate::config::DEV_LOGIN;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::people::{store, DEMO_PEOPLE};
use crate::views::Page;

pub fn routes() -> Vec<Route> {
    let mut r = routes![login_page, logout];
    if DEV_LOGIN {
        r.extend(routes![dev_login]);
    }
    r
}

#[get("/connexion?<next>")]
async fn login_page(next: Option<&str>, user: Option<CurrentUser>) -> Result<Page> {
    let demo: Vec<_> = if DEV_LOGIN {
        DEMO_PEOPLE
            .iter()
            .map(|p| json!({ "email": p.email, "name": p.name, "role": p.role.label(), "description": p.description }))
            .collect()
    } else {
        vec![]
    };
    Ok(Page::new(
        "auth/login",
        "Connexion",
        user.as_ref().map(|u| &u.0),
        json!({ "demo": demo, "next": safe_next(next) }),
    ))
}

#[derive(FromForm)]
struct DevLogin<'r> {
    email: &'r str,
    next: Option<&'r str>,
}

/// Development sign-in: debug builds only (and the benchmark build). Signs in as a demo
/// person by e-mail.
#[post("/auth/dev", data = "<form>")]
async fn dev_login(
    db: &State<Db>,
    cookies: &CookieJar<'_>,
    form: std::result::Result<Form<DevLogin<'_>>, rocket::form::Errors<'_>>,
) -> Result<Redirect> {
    let form = form.map_err(|_| {
        Error::BadRequest("Le formulaire de connexion doit contenir le champ « email ».".into())
    })?;
    let Some(user) = store::find_by_email(db, form.email).await? else {
        return Err(Error::Unprocessable(format!(
            "Aucun compte actif pour l'adresse « {} ».",
            form.email
        )));
    };
    open_session(cookies, &user);
    Ok(Redirect::to(safe_next(form.next).to_string()))
}

#[post("/auth/deconnexion")]
fn logout(cookies: &CookieJar<'_>, cache: &State<UserCache>) -> Redirect {
    if let Some(id) = close_session(cookies) {
        cache.forget(id);
    }
    Redirect::to("/connexion")
}
