//! Sessions and the request guard that tells who is asking.
//!
//! For now a session is opened by the development sign-in only; city sign-in (OIDC) and the
//! partners' one-time links come with the identity work and will open the same session.

pub mod routes;

use chrono::{Duration, Utc};
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};
use uuid::Uuid;

use crate::db::Db;
use crate::error::Error;
use crate::people::{store, User};

/// Name of the private (encrypted, authenticated) session cookie.
pub const SESSION_COOKIE: &str = "reperes_session";
/// How long a session lasts.
pub const SESSION_HOURS: i64 = 10;

/// Opens a session for `user`. The cookie holds the user id and the end of the session,
/// both checked on every request.
pub fn open_session(cookies: &CookieJar<'_>, user: &User) {
    let expires = Utc::now() + Duration::hours(SESSION_HOURS);
    let value = format!("{}|{}", user.id, expires.timestamp());
    let cookie = Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(rocket::time::Duration::hours(SESSION_HOURS));
    cookies.add_private(cookie);
}

pub fn close_session(cookies: &CookieJar<'_>) {
    cookies.remove_private(Cookie::build(SESSION_COOKIE).path("/"));
}

/// The user id of a valid, unexpired session cookie.
fn session_user(cookies: &CookieJar<'_>) -> Option<Uuid> {
    let cookie = cookies.get_private(SESSION_COOKIE)?;
    let (id, expires) = cookie.value().split_once('|')?;
    let expires: i64 = expires.parse().ok()?;
    if expires <= Utc::now().timestamp() {
        return None;
    }
    Uuid::parse_str(id).ok()
}

/// The signed-in user. A request without a valid session fails with 401, answered by the
/// catcher (a sign-in page or a JSON error).
pub struct CurrentUser(pub User);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CurrentUser {
    type Error = Error;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Error> {
        let Some(id) = session_user(req.cookies()) else {
            return Outcome::Error((Status::Unauthorized, Error::Unauthorized));
        };
        let Some(db) = req.rocket().state::<Db>() else {
            return Outcome::Error((
                Status::InternalServerError,
                Error::Internal("no database".into()),
            ));
        };
        match store::find(db, id).await {
            Ok(Some(user)) => Outcome::Success(CurrentUser(user)),
            Ok(None) => Outcome::Error((Status::Unauthorized, Error::Unauthorized)),
            Err(e) => {
                eprintln!("session lookup failed: {e}");
                Outcome::Error((Status::ServiceUnavailable, e))
            }
        }
    }
}

/// A redirect target that stays on this site: a path, never `//host` or a full URL.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/modules",
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/modules/x")), "/modules/x");
        assert_eq!(safe_next(Some("//evil.example/")), "/modules");
        assert_eq!(safe_next(Some("https://evil.example/")), "/modules");
        assert_eq!(safe_next(Some("/\\evil.example")), "/modules");
        assert_eq!(safe_next(None), "/modules");
    }
}
