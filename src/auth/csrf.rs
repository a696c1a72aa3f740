//! CSRF protection for every form: a random token per browser, kept in a private cookie
//! and repeated as the first field (`csrf`) of each form. A fairing checks every form POST
//! before routing, so no handler can forget it.

use base64::Engine;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{Cookie, CookieJar, Method, SameSite};
use rocket::request::Request;
use rocket::{post, Data};

use crate::error::Error;

pub const CSRF_COOKIE: &str = "reperes_csrf";
pub const CSRF_FIELD: &str = "csrf";
/// Where a rejected form is routed.
const REJECTED: &str = "/__csrf-refuse";

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The browser's token, created (and its cookie set) on first use.
pub fn token(cookies: &CookieJar<'_>) -> String {
    if let Some(c) = cookies.get_private(CSRF_COOKIE) {
        return c.value().to_string();
    }
    let token = new_token();
    cookies.add_private(
        Cookie::build((CSRF_COOKIE, token.clone()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/"),
    );
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

pub struct CsrfFairing;

#[rocket::async_trait]
impl Fairing for CsrfFairing {
    fn info(&self) -> Info {
        Info {
            name: "CSRF check of every form",
            kind: Kind::Request,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, data: &mut Data<'_>) {
        if req.method() != Method::Post {
            return;
        }
        let (form, multipart) = match req.content_type() {
            Some(ct) if ct.is_form() => (true, false),
            Some(ct) if ct.is_form_data() => (true, true),
            _ => (false, false),
        };
        // JSON and body-less API calls are not forms: browsers cannot send them across
        // sites with the SameSite session cookie, and API tokens are not cookies.
        if !form {
            return;
        }
        let expected = req
            .cookies()
            .get_private(CSRF_COOKIE)
            .map(|c| c.value().to_string());
        let sent = submitted_token(data.peek(512).await, multipart);
        let ok = matches!((&expected, &sent), (Some(e), Some(s)) if constant_time_eq(e.as_bytes(), s.as_bytes()));
        if !ok {
            if let Ok(uri) = Origin::parse(REJECTED) {
                req.set_uri(uri);
            }
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
