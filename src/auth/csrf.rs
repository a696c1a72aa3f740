//! CSRF protection for every write: a random token per browser, kept in a private cookie
//! and repeated either as the first field (`csrf`) of a form or in the `X-CSRF-Token`
//! header (JSON, CSV, bodiless calls). A fairing checks every unsafe request before
//! routing, whatever its content type, so no handler can forget it; requests authenticated
//! by an API token (`Authorization: Bearer`, which a browser never adds on its own) are the
//! only ones exempt. A second layer refuses cross-site requests outright
//! (`Sec-Fetch-Site: cross-site`, or an `Origin` that is not this site).

use base64::Engine;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{CookieJar, Method};
use rocket::request::Request;
use rocket::{post, Data};

use crate::error::Error;

/// The token cookie's name (`__Host-` prefixed when cookies are secure).
pub fn csrf_cookie() -> &'static str {
    if super::secure_cookies() {
        "__Host-reperes_csrf"
    } else {
        "reperes_csrf"
    }
}
pub const CSRF_FIELD: &str = "csrf";
/// The header that carries the token for requests that are not forms.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// Where a rejected request is routed (as a POST): an HTML page, or JSON under `/api/`.
const REJECTED: &str = "/__csrf-refuse";
const REJECTED_API: &str = "/api/__csrf-refuse";

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The browser's token, created (and its cookie set) on first use.
pub fn token(cookies: &CookieJar<'_>) -> String {
    if let Some(c) = cookies.get_private(csrf_cookie()) {
        return c.value().to_string();
    }
    let token = new_token();
    cookies.add_private(super::cookie(csrf_cookie(), token.clone()));
    token
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token sent as the first field of a form body, urlencoded or multipart.
fn submitted_token(body: &[u8], multipart: bool) -> Option<String> {
    let text = std::str::from_utf8(body).ok().or_else(|| {
        // A multipart body may hold binary data after the first part.
        let end = body.iter().position(|&b| b >= 0x80).unwrap_or(body.len());
        std::str::from_utf8(&body[..end]).ok()
    })?;
    if multipart {
        let start = text.find("name=\"csrf\"")?;
        let rest = &text[start..];
        let value_start = rest.find("\r\n\r\n")? + 4;
        let value = &rest[value_start..];
        let end = value.find("\r\n")?;
        Some(value[..end].trim().to_string())
    } else {
        let first = text.split('&').next()?;
        let (name, value) = first.split_once('=')?;
        (name == CSRF_FIELD).then(|| value.to_string())
    }
}

/// Whether the request comes from another site: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` whose host is not the `Host` the request was sent to.
fn cross_site(req: &Request<'_>) -> bool {
    if req
        .headers()
        .get_one("Sec-Fetch-Site")
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return true;
    }
    match req.headers().get_one("Origin") {
        None => false,
        Some(origin) => {
            let origin_host = origin
                .split_once("://")
                .map(|(_, h)| h.trim_end_matches('/'));
            match (origin_host, req.headers().get_one("Host")) {
                (Some(o), Some(host)) => !o.eq_ignore_ascii_case(host),
                _ => true,
            }
        }
    }
}

pub struct CsrfFairing;

#[rocket::async_trait]
impl Fairing for CsrfFairing {
    fn info(&self) -> Info {
        Info {
            name: "CSRF check of every write",
            kind: Kind::Request,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, data: &mut Data<'_>) {
        if !matches!(
            req.method(),
            Method::Post | Method::Put | Method::Patch | Method::Delete
        ) {
            return;
        }
        // A machine client authenticated by its token: no cookie is involved.
        if super::bearer(req).is_some() {
            return;
        }
        // One-click unsubscribe (RFC 8058): the mail provider posts without any cookie; the
        // secret in the address is the authority, and it can only turn campaigns off.
        if req.uri().path().as_str().starts_with("/desabonnement/") {
            return;
        }
        let expected = req
            .cookies()
            .get_private(csrf_cookie())
            .map(|c| c.value().to_string());
        let sent = match req.headers().get_one(CSRF_HEADER) {
            Some(h) => Some(h.trim().to_string()),
            None => match req.content_type() {
                Some(ct) if ct.is_form() => submitted_token(data.peek(512).await, false),
                Some(ct) if ct.is_form_data() => submitted_token(data.peek(512).await, true),
                _ => None,
            },
        };
        let ok = !cross_site(req)
            && matches!((&expected, &sent), (Some(e), Some(s)) if constant_time_eq(e.as_bytes(), s.as_bytes()));
        if !ok {
            crate::requests::reroute(req, Method::Post, REJECTED, REJECTED_API);
        }
    }
}

/// Strips the leading `csrf` field from a urlencoded form body.
pub fn strip_field(body: &str) -> &str {
    match body.split_once('&') {
        Some((first, rest)) if first.starts_with("csrf=") => rest,
        None if body.starts_with("csrf=") => "",
        _ => body,
    }
}

#[post("/__csrf-refuse")]
pub fn rejected() -> Error {
    Error::CsrfRejected
}

/// The same refusal, answered in JSON.
#[post("/api/__csrf-refuse")]
pub fn rejected_api() -> Error {
    Error::CsrfRejected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_from_both_encodings() {
        assert_eq!(
            submitted_token(b"csrf=abc&q[a]=1", false).as_deref(),
            Some("abc")
        );
        assert_eq!(
            submitted_token(b"q[a]=1&csrf=abc", false),
            None,
            "must come first"
        );
        let multipart = b"--X\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n\xff\xfe";
        assert_eq!(submitted_token(multipart, true).as_deref(), Some("tok"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert_eq!(strip_field("csrf=x&q[a]=1"), "q[a]=1");
        assert_eq!(strip_field("csrf=x"), "");
    }
}
