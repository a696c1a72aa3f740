//! Sessions and the request guard that tells who is asking.
//!
//! For now a session is opened by the development sign-in only; city sign-in (OIDC) and the
//! partners' one-time links come with the identity work and will open the same session.

pub mod csrf;
pub mod links;
pub mod oidc;
pub mod ratelimit;
pub mod routes;
pub mod tokens;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

use chrono::{Duration, Utc};
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};
use uuid::Uuid;

use crate::db::Db;
use crate::error::Error;
use crate::people::{store, Role, User};
use tokens::ApiToken;

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

/// Ends the session; returns the user whose session it was.
pub fn close_session(cookies: &CookieJar<'_>) -> Option<Uuid> {
    let user = session_user(cookies);
    cookies.remove_private(Cookie::build(SESSION_COOKIE).path("/"));
    user
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

/// Recently loaded users, so that a page does not read the same user row on every request.
/// An entry lives a few seconds: a role change or a deactivation takes effect within that
/// time on every instance, without any invalidation message between instances.
pub struct UserCache {
    entries: RwLock<HashMap<Uuid, (Instant, User)>>,
    ttl: std::time::Duration,
}

impl UserCache {
    /// Above this many entries the cache is emptied rather than grown.
    const MAX_ENTRIES: usize = 100_000;

    pub fn new(ttl: std::time::Duration) -> UserCache {
        UserCache {
            entries: RwLock::new(HashMap::new()),
            ttl,
        }
    }

    pub fn get(&self, id: Uuid) -> Option<User> {
        let entries = self.entries.read().ok()?;
        let (at, user) = entries.get(&id)?;
        (at.elapsed() < self.ttl).then(|| user.clone())
    }

    pub fn put(&self, user: &User) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(user.id, (Instant::now(), user.clone()));
        }
    }

    pub fn forget(&self, id: Uuid) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&id);
        }
    }
}

/// The signed-in user. A request without a valid session fails with 401, answered by the
/// catcher (a sign-in page or a JSON error).
pub struct CurrentUser(pub User);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CurrentUser {
    type Error = Error;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Error> {
        match bearer_token(req).await {
            // A machine token is not a person: person endpoints refuse it explicitly.
            Some(Outcome::Success(_)) => {
                return Outcome::Error((
                    Status::Forbidden,
                    Error::ForbiddenWith("Un jeton d'API ne représente pas une personne : cette ressource demande une session.".into()),
                ))
            }
            Some(Outcome::Error(e)) => return Outcome::Error(e),
            Some(Outcome::Forward(f)) => return Outcome::Forward(f),
            None => {}
        }
        let Some(id) = session_user(req.cookies()) else {
            return Outcome::Error((Status::Unauthorized, Error::Unauthorized));
        };
        let cache = req.rocket().state::<UserCache>();
        if let Some(user) = cache.and_then(|c| c.get(id)) {
            return Outcome::Success(CurrentUser(user));
        }
        let Some(db) = req.rocket().state::<Db>() else {
            return Outcome::Error((
                Status::InternalServerError,
                Error::Internal("no database".into()),
            ));
        };
        match store::find(db, id).await {
            Ok(Some(user)) => {
                if let Some(c) = cache {
                    c.put(&user);
                }
                Outcome::Success(CurrentUser(user))
            }
            Ok(None) => Outcome::Error((Status::Unauthorized, Error::Unauthorized)),
            Err(e) => {
                eprintln!("session lookup failed: {e}");
                Outcome::Error((Status::ServiceUnavailable, e))
            }
        }
    }
}

/// The API token of an `Authorization: Bearer …` header: `None` without such a header,
/// else the valid token or a 401.
async fn bearer_token(req: &Request<'_>) -> Option<Outcome<ApiToken, Error>> {
    let token = bearer(req)?;
    let Some(db) = req.rocket().state::<Db>() else {
        return Some(Outcome::Error((
            Status::InternalServerError,
            Error::Internal("no database".into()),
        )));
    };
    Some(match tokens::verify(db, token).await {
        Ok(Some(t)) => Outcome::Success(t),
        Ok(None) => Outcome::Error((Status::Unauthorized, Error::Unauthorized)),
        Err(e) => Outcome::Error((Status::ServiceUnavailable, e)),
    })
}

/// The token of an `Authorization: Bearer …` header, if any.
pub fn bearer<'r>(req: &'r Request<'_>) -> Option<&'r str> {
    let value = req.headers().get_one("Authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

macro_rules! role_guard {
    ($(#[$doc:meta])* $name:ident, $($role:pat_param)|+) => {
        $(#[$doc])*
        pub struct $name(pub User);

        #[rocket::async_trait]
        impl<'r> FromRequest<'r> for $name {
            type Error = Error;
            async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Error> {
                match req.guard::<CurrentUser>().await {
                    Outcome::Success(CurrentUser(user)) => match user.role {
                        $($role)|+ => Outcome::Success($name(user)),
                        _ => Outcome::Error((Status::Forbidden, Error::Forbidden)),
                    },
                    Outcome::Error(e) => Outcome::Error(e),
                    Outcome::Forward(f) => Outcome::Forward(f),
                }
            }
        }
    };
}

role_guard!(
    /// An administrator.
    Admin, Role::Admin
);
role_guard!(
    /// HR staff or an administrator.
    HrOrAdmin, Role::Hr | Role::Admin
);
role_guard!(
    /// Someone who follows other people's training: manager, HR, partner referent, admin.
    /// What they may see is narrowed by `User::visibility`.
    Supervisor, Role::Manager | Role::Hr | Role::PartnerReferent | Role::Admin
);

/// Who calls a machine-readable endpoint: a person with a session, or an API token.
pub enum ApiCaller {
    Person(User),
    Token(ApiToken),
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ApiCaller {
    type Error = Error;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Error> {
        if let Some(outcome) = bearer_token(req).await {
            return outcome.map(ApiCaller::Token);
        }
        match req.guard::<CurrentUser>().await {
            Outcome::Success(CurrentUser(user)) => Outcome::Success(ApiCaller::Person(user)),
            Outcome::Error(e) => Outcome::Error(e),
            Outcome::Forward(f) => Outcome::Forward(f),
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
