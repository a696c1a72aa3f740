//! Admission control: past its capacity the service answers « 503 Service Unavailable »
//! with `Retry-After` at once, instead of letting every request queue for the database
//! pool until all of them time out.
//!
//! A request holds one of `max_in_flight` places from the moment it arrives until its
//! response is ready. One that finds no place waits up to `max_queue_wait_ms` for one, then
//! is answered by the busy route. The health check and static files never wait: they do
//! not touch the database, and a load balancer must still see the instance alive.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{Header, Method, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::{get, Data};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Seconds a refused client is asked to wait before trying again.
pub const RETRY_AFTER_SECONDS: u64 = 2;

const BUSY: &str = "/__occupe";
const BUSY_API: &str = "/api/__occupe";

/// The places of requests being handled, shared by the fairing and managed as state (a
/// test can take every place to see the refusal).
#[derive(Clone)]
pub struct Admission {
    places: Arc<Semaphore>,
    wait: Duration,
}

impl Admission {
    pub fn new(max_in_flight: u32, max_queue_wait_ms: u64) -> Admission {
        Admission {
            places: Arc::new(Semaphore::new(max_in_flight.max(1) as usize)),
            wait: Duration::from_millis(max_queue_wait_ms),
        }
    }

    /// Takes a place if one frees within the wait; `None` when the service is full.
    pub async fn enter(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = self.places.clone().try_acquire_owned() {
            return Some(p);
        }
        tokio::time::timeout(self.wait, self.places.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Places free now.
    pub fn free(&self) -> usize {
        self.places.available_permits()
    }
}

/// Whether a request bypasses admission: the health check and static files.
fn exempt(path: &str) -> bool {
    path == "/healthz" || path.starts_with("/static/") || path == BUSY || path == BUSY_API
}

/// The place a request holds, released when its response is ready.
struct Held(Mutex<Option<OwnedSemaphorePermit>>);

pub struct AdmissionFairing(pub Admission);

#[rocket::async_trait]
impl Fairing for AdmissionFairing {
    fn info(&self) -> Info {
        Info {
            name: "admission control (503 past capacity)",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut Data<'_>) {
        if exempt(req.uri().path().as_str()) {
            return;
        }
        match self.0.enter().await {
            Some(place) => {
                req.local_cache(|| Held(Mutex::new(Some(place))));
            }
            None => {
                tracing::warn!(
                    method = %req.method(),
                    "service full: request refused with 503"
                );
                // Answered by the busy route, whatever was asked (in JSON under the API);
                // the body is never read.
                crate::requests::reroute(req, Method::Get, BUSY, BUSY_API);
            }
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, _: &mut Response<'r>) {
        let held = req.local_cache(|| Held(Mutex::new(None)));
        if let Ok(mut place) = held.0.lock() {
            place.take();
        }
    }
}

/// The refusal: 503, `Retry-After`, a short French message, as JSON to API clients.
pub struct Busy;

impl<'r> Responder<'r, 'static> for Busy {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let message =
            "Le service est très sollicité en ce moment. Réessayez dans quelques secondes.";
        let (body, content_type) = if crate::error::wants_json(req) {
            (
                serde_json::json!({ "error": { "status": 503, "message": message } }).to_string(),
                rocket::http::ContentType::JSON,
            )
        } else {
            (
                format!(
                    "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Service très sollicité — Repères</title></head><body><main><h1>Service très sollicité</h1><p>{message}</p></main></body></html>"
                ),
                rocket::http::ContentType::HTML,
            )
        };
        Response::build()
            .status(Status::ServiceUnavailable)
            .header(content_type)
            .header(Header::new("Retry-After", RETRY_AFTER_SECONDS.to_string()))
            .header(Header::new("Cache-Control", "no-store"))
            .sized_body(body.len(), std::io::Cursor::new(body))
            .ok()
    }
}

#[get("/__occupe")]
pub fn busy() -> Busy {
    Busy
}

/// The same refusal, answered in JSON.
#[get("/api/__occupe")]
pub fn busy_api() -> Busy {
    Busy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_service_refuses_after_the_wait_and_admits_once_a_place_frees() {
        let a = Admission::new(1, 20);
        let first = a.enter().await.expect("a free place");
        let started = std::time::Instant::now();
        assert!(a.enter().await.is_none(), "full: refused");
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "refused quickly"
        );
        drop(first);
        assert!(a.enter().await.is_some());
        assert!(exempt("/healthz") && exempt("/static/site.css") && !exempt("/modules"));
    }
}
