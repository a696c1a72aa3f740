//! Sessions and the request guards that tell who is asking: a person with a session
//! (`CurrentUser` and the role guards), or a machine with an API token (`ApiCaller`).
//! Sessions are opened by the development sign-in, the partners' one-time links and the
//! city sign-in (OIDC), and live on the server (`sessions.rs`).

pub mod csrf;
pub mod links;
pub mod oidc;
pub mod ratelimit;
pub mod routes;
pub mod sessions;
pub mod tokens;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::Instant;

use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};
use uuid::Uuid;

use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::people::{store, Role, User};
use tokens::ApiToken;

/// Whether cookies carry `Secure` and the `__Host-` / `__Secure-` name prefixes (the
/// `cookie_secure` setting, on unless turned off for plain-HTTP local development). One
/// value per process, set when the service is assembled.
static SECURE_COOKIES: AtomicBool = AtomicBool::new(true);

/// Applies the `cookie_secure` setting.
/// A fresh secret for a link or a token: 32 random bytes, hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

pub fn set_secure_cookies(secure: bool) {
    SECURE_COOKIES.store(secure, Ordering::Relaxed);
}

pub fn secure_cookies() -> bool {
    SECURE_COOKIES.load(Ordering::Relaxed)
}

/// The session cookie's name: `__Host-reperes_session` (Secure, path `/`, no domain: it
/// cannot be set by a sibling domain or over plain HTTP), or `reperes_session` when secure
/// cookies are off.
pub fn session_cookie() -> &'static str {
    if secure_cookies() {
        "__Host-reperes_session"
    } else {
        "reperes_session"
    }
}

/// A cookie with the attributes every Repères cookie carries.
pub fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .secure(secure_cookies())
        .same_site(SameSite::Lax)
        .path("/")
        .build()
}
/// How long a session lasts at most.
pub const SESSION_HOURS: i64 = 10;

/// Opens a session for `user` on the server and puts its id in the private cookie.
pub async fn open_session(db: &Db, cookies: &CookieJar<'_>, user: &User) -> Result<()> {
    let id = sessions::open(db, user.id, crate::db::now(), SESSION_HOURS).await?;
    let mut cookie = cookie(session_cookie(), id.to_string());
    cookie.set_max_age(rocket::time::Duration::hours(SESSION_HOURS));
    cookies.add_private(cookie);
    Ok(())
}

/// Ends the session of this browser, on the server and in the browser; returns the user
/// whose session it was.
pub async fn close_session(
    db: &Db,
    cookies: &CookieJar<'_>,
    cache: &UserCache,
) -> Result<Option<Uuid>> {
    let id = session_id(cookies);
    cookies.remove_private(Cookie::build(session_cookie()).path("/"));
    let Some(id) = id else { return Ok(None) };
    cache.forget(id);
    let user = sessions::find(db, id).await?.map(|s| s.user_id);
    sessions::end(db, id, crate::db::now(), sessions::EndReason::Logout).await?;
    Ok(user)
}

/// The session id of the cookie, if it holds one.
fn session_id(cookies: &CookieJar<'_>) -> Option<Uuid> {
    Uuid::parse_str(cookies.get_private(session_cookie())?.value()).ok()
}

/// Recently checked sessions with their user, so that a page does not read the session and
/// user rows on every request. An entry lives a few seconds: a session ended or a role
/// changed on another instance takes effect there within that time; on this instance the
/// entries are dropped at once.
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

    /// The user of a session checked less than the time-to-live ago.
    pub fn get(&self, session: Uuid) -> Option<User> {
        let entries = self.entries.read().ok()?;
        let (at, user) = entries.get(&session)?;
        (at.elapsed() < self.ttl).then(|| user.clone())
    }

    pub fn put(&self, session: Uuid, user: &User) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(session, (Instant::now(), user.clone()));
        }
    }

    /// Drops one session.
    pub fn forget(&self, session: Uuid) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&session);
        }
    }

    /// Drops every session of a user (role change, deactivation, logout everywhere).
    pub fn forget_user(&self, user: Uuid) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, (_, u)| u.id != user);
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
        let Some(session) = session_id(req.cookies()) else {
            return Outcome::Error((Status::Unauthorized, Error::Unauthorized));
        };
        let cache = req.rocket().state::<UserCache>();
        if let Some(user) = cache.and_then(|c| c.get(session)) {
            return Outcome::Success(CurrentUser(user));
        }
        let (Some(db), Some(config)) = (req.rocket().state::<Db>(), req.rocket().state::<Config>())
        else {
            return Outcome::Error((
                Status::InternalServerError,
                Error::Internal("no database".into()),
            ));
        };
        match load_session(db, config, session).await {
            Ok(Some(user)) => {
                if let Some(c) = cache {
                    c.put(session, &user);
                }
                Outcome::Success(CurrentUser(user))
            }
            Ok(None) => Outcome::Error((Status::Unauthorized, Error::Unauthorized)),
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                Outcome::Error((Status::ServiceUnavailable, e))
            }
        }
    }
}

/// The active user of an open session, recording the activity (at most once a minute).
async fn load_session(db: &Db, config: &Config, session: Uuid) -> Result<Option<User>> {
    let now = crate::db::now();
    let idle = chrono::Duration::minutes(config.session_idle_minutes.max(1));
    let Some(row) = sessions::find(db, session).await? else {
        return Ok(None);
    };
    if !sessions::alive(&row, now, idle) {
        return Ok(None);
    }
    let Some(user) = store::find(db, row.user_id).await? else {
        return Ok(None);
    };
    if now - row.last_seen_at > chrono::Duration::seconds(sessions::TOUCH_EVERY_SECONDS) {
        sessions::touch(db, session, now).await?;
    }
    Ok(Some(user))
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

impl ApiCaller {
    /// HR staff with a session: what the API's HR writes ask (a change is signed by a
    /// person, so a token gets 403 with the reason).
    pub fn hr_person(&self) -> Result<&User, Error> {
        match self {
            ApiCaller::Person(u) if u.role.is_hr() => Ok(u),
            ApiCaller::Person(_) => Err(Error::Forbidden),
            ApiCaller::Token(_) => Err(Error::ForbiddenWith(
                "Un jeton d'API ne représente pas une personne : cette ressource demande une session."
                    .into(),
            )),
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
