//! Requests as the logs see them: an id per request (echoed in `X-Request-Id`), the route
//! as mounted, one structured line per request with no personal data.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{Header, Method};
use rocket::request::Request;
use rocket::response::Response;

/// The id of a request: the caller's `X-Request-Id` when it is a plain token (up to 64
/// letters, digits, `-` or `_`), a new one otherwise. Sent back in the response header and
/// written in every log line about the request.
pub fn request_id(req: &Request<'_>) -> String {
    req.local_cache(|| {
        let given = req
            .headers()
            .get_one("X-Request-Id")
            .filter(|v| valid_request_id(v));
        RequestId(
            given
                .map(str::to_string)
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
        )
    })
    .0
    .clone()
}

struct RequestId(String);

pub fn valid_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The route that answered, as mounted (`/connexion/lien/<token>`): logged instead of the
/// path, which can hold a secret token or a person's id.
pub fn route_of(req: &Request<'_>) -> String {
    req.route()
        .map(|r| r.uri.to_string())
        .unwrap_or_else(|| "(aucune route)".into())
}

/// Sends a request that a fairing refuses to the route answering the refusal: `page`, or
/// `api` (its JSON twin) when the caller wants JSON. Used by the CSRF check and by
/// admission control.
pub fn reroute(req: &mut Request<'_>, method: Method, page: &'static str, api: &'static str) {
    let target = if crate::error::wants_json(req) {
        api
    } else {
        page
    };
    if let Ok(uri) = Origin::parse(target) {
        req.set_method(method);
        req.set_uri(uri);
    }
}

/// One structured log line per request: id, method, route, status, duration. No path, no
/// query string, no cookie: nothing personal.
pub struct RequestLog;

struct Started(std::time::Instant);

#[rocket::async_trait]
impl Fairing for RequestLog {
    fn info(&self) -> Info {
        Info {
            name: "request log",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut rocket::Data<'_>) {
        req.local_cache(|| Started(std::time::Instant::now()));
        request_id(req);
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let id = request_id(req);
        let ms = req
            .local_cache(|| Started(std::time::Instant::now()))
            .0
            .elapsed()
            .as_secs_f64()
            * 1000.0;
        tracing::info!(
            request_id = %id,
            method = %req.method(),
            route = %route_of(req),
            status = res.status().code,
            duration_ms = format_args!("{ms:.1}"),
            "request"
        );
        res.set_header(Header::new("X-Request-Id", id));
    }
}
