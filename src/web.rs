//! Assembly of the Rocket instance: routes, catchers, static files and response headers.

use rocket::fairing::{AdHoc, Fairing, Info, Kind};
use rocket::figment::Figment;
use rocket::fs::FileServer;
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::response::Response;
use rocket::{catch, catchers, Build, Catcher, Rocket};

use crate::catalog::Catalog;
use crate::config::Config;
use crate::db::Db;
use crate::views::StatusMessage;
use crate::views::Views;
use crate::{api, audit, auth, learning, people, site};

#[allow(clippy::too_many_arguments)] // one argument per piece of managed state
pub(crate) fn assemble(
    figment: Figment,
    config: Config,
    catalog: Catalog,
    views: Views,
    db: Db,
    oidc: Option<auth::oidc::Oidc>,
    certifier: crate::certificates::Certifier,
    mailer: crate::notifications::worker::Mailer,
) -> Rocket<Build> {
    let poll = std::time::Duration::from_secs(config.outbox_poll_seconds.max(1));
    let run_scheduler = config.scheduler;
    let session_cache = std::time::Duration::from_secs(config.session_cache_seconds);
    auth::set_secure_cookies(config.cookie_secure);
    let headers = SecurityHeaders {
        hsts: config.public_url.starts_with("https://"),
    };
    let static_dir = config.static_dir.clone();
    let instance = crate::jobs::Instance::new();
    let admission =
        crate::admission::Admission::new(config.max_in_flight, config.max_queue_wait_ms);
    let rocket = rocket::custom(figment);
    // The benchmark build measures the framework's own ceiling on a bare route.
    #[cfg(feature = "dev-login")]
    let rocket = rocket.mount("/dev", rocket::routes![bare]);
    rocket
        .manage(db)
        .manage(catalog)
        .manage(views)
        .manage(config)
        .manage(auth::UserCache::new(session_cache))
        .manage(auth::ratelimit::RateLimiter::default())
        .manage(oidc)
        .manage(certifier)
        .manage(std::sync::Arc::new(mailer))
        .manage(instance)
        .manage(admission.clone())
        .manage(std::sync::Arc::new(
            crate::certificates::export::Exports::default(),
        ))
        .mount("/", learning::routes::routes())
        .mount("/", auth::routes::routes())
        .mount("/", auth::routes::token_routes())
        .mount("/", api::root_routes())
        .mount("/", site::routes::routes())
        .mount("/", audit::routes::routes())
        .mount("/", people::routes::routes())
        .mount("/", crate::notifications::routes::routes())
        .mount("/", crate::jobs::routes::routes())
        .mount("/", crate::obligations::routes::routes())
        .mount("/", crate::reminders::routes::routes())
        .mount("/", crate::trainings::routes::routes())
        .mount("/api/v1", crate::trainings::api::routes())
        .mount("/", crate::equality::routes::routes())
        .mount("/api/v1", crate::equality::api::routes())
        .mount("/api/v1", people::routes::api_routes())
        .mount("/", crate::certificates::routes::routes())
        .mount("/api/v1", crate::certificates::routes::api_routes())
        .mount("/api/v1", api::v1_routes())
        .mount("/static", FileServer::from(static_dir).rank(20))
        .register("/", catchers())
        .attach(headers)
        // The log first, so that a request's logged time includes its wait for a place;
        // admission before the CSRF check, so that a refused request costs nothing more.
        .attach(crate::requests::RequestLog)
        .attach(crate::admission::AdmissionFairing(admission))
        .attach(auth::csrf::CsrfFairing)
        .attach(AdHoc::on_liftoff("address", |rocket| {
            Box::pin(async move {
                let c = rocket.config();
                println!("Repères est prêt : ouvrez http://{}:{}/", c.address, c.port);
            })
        }))
        .attach(AdHoc::on_liftoff("scheduled jobs", move |rocket| {
            Box::pin(async move {
                use crate::notifications::{routes::DEV_MAILBOX, worker::Mailer};
                let (Some(mailer), Some(runner)) = (
                    rocket.state::<std::sync::Arc<Mailer>>(),
                    crate::jobs::runner::Runner::from_rocket(rocket),
                ) else {
                    return;
                };
                if DEV_MAILBOX && mailer.transport.folder().is_some() {
                    let c = rocket.config();
                    println!(
                        "Courriels : écrits dans le {} ; lisez-les sur http://{}:{}/dev/courriels",
                        mailer.transport.describe(),
                        c.address,
                        c.port
                    );
                }
                if !run_scheduler {
                    return;
                }
                let runner = std::sync::Arc::new(runner);
                let shutdown = rocket.shutdown();
                if let Err(e) = crate::jobs::scheduler::start(runner, poll, async move {
                    shutdown.await;
                })
                .await
                {
                    tracing::error!(error = %e, "scheduled jobs not started");
                }
            })
        }))
        .attach(AdHoc::on_shutdown("database", |rocket| {
            Box::pin(async move {
                use crate::certificates::export;
                if let (Some(db), Some(exports)) = (
                    rocket.state::<Db>(),
                    rocket.state::<std::sync::Arc<export::Exports>>(),
                ) {
                    // Running exports get a grace period, then are marked as stopped.
                    export::stop(
                        db,
                        exports,
                        std::time::Duration::from_secs(export::SHUTDOWN_GRACE_SECONDS),
                    )
                    .await;
                }
                if let Some(db) = rocket.state::<Db>() {
                    db.close().await;
                }
            })
        }))
}

/// The bare route of the benchmark build: no guard, no database, no template.
#[cfg(feature = "dev-login")]
#[rocket::get("/bare")]
fn bare() -> &'static str {
    "ok"
}

fn catchers() -> Vec<Catcher> {
    catchers![
        bad_request,
        unauthorized,
        forbidden,
        not_found,
        unprocessable,
        payload_too_large,
        internal,
        unavailable,
        default
    ]
}

fn message_for(status: Status, req: &Request<'_>) -> String {
    match status.code {
        400 => "La demande est mal formée.".into(),
        401 => "Vous devez vous connecter pour accéder à cette page.".into(),
        403 => "Vous n'avez pas accès à cette ressource.".into(),
        404 => format!(
            "Aucune page ne correspond à l'adresse {}.",
            req.uri().path()
        ),
        413 => "Les données envoyées sont trop volumineuses.".into(),
        422 => "Les données envoyées sont invalides.".into(),
        503 => "Le service est momentanément indisponible. Réessayez dans un instant.".into(),
        _ => "Une erreur interne est survenue. Réessayez dans un instant.".into(),
    }
}

macro_rules! catcher_fn {
    ($name:ident, $code:literal) => {
        #[catch($code)]
        fn $name(req: &Request<'_>) -> StatusMessage {
            let status = Status::new($code);
            StatusMessage(status, message_for(status, req))
        }
    };
}

catcher_fn!(bad_request, 400);
catcher_fn!(unauthorized, 401);
catcher_fn!(forbidden, 403);
/// Whether a mounted route's path (`/a/<id>/b`, `/static/<path..>`) matches a request path.
fn route_path_matches(route: &str, path: &str) -> bool {
    let route = route.split('?').next().unwrap_or(route);
    let mut want = route.trim_matches('/').split('/');
    let mut got = path.trim_matches('/').split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), _) if w.starts_with('<') && w.ends_with("..>") => return true,
            (Some(w), Some(g)) if (w.starts_with('<') && w.ends_with('>')) || w == g => {}
            _ => return false,
        }
    }
}

/// A 405 with the `Allow` header that names the methods the address accepts.
struct MethodNotAllowed(StatusMessage, String);

impl<'r, 'o: 'r> rocket::response::Responder<'r, 'o> for MethodNotAllowed {
    fn respond_to(self, req: &'r Request<'_>) -> rocket::response::Result<'o> {
        let mut res = self.0.respond_to(req)?;
        res.set_header(Header::new("Allow", self.1));
        Ok(res)
    }
}

/// Not found, unless the address exists with another method: then 405.
#[catch(404)]
fn not_found(req: &Request<'_>) -> Result<StatusMessage, MethodNotAllowed> {
    let path = req.uri().path().as_str();
    let mut allowed: Vec<&str> = req
        .rocket()
        .routes()
        .filter(|r| r.method != req.method() && route_path_matches(&r.uri.to_string(), path))
        .map(|r| r.method.as_str())
        .collect();
    allowed.sort_unstable();
    allowed.dedup();
    if allowed.is_empty() {
        let status = Status::NotFound;
        return Ok(StatusMessage(status, message_for(status, req)));
    }
    let list = allowed.join(", ");
    Err(MethodNotAllowed(
        StatusMessage(
            Status::MethodNotAllowed,
            format!(
                "L'adresse {path} n'accepte pas la méthode {} (méthodes acceptées : {list}).",
                req.method()
            ),
        ),
        list,
    ))
}
catcher_fn!(unprocessable, 422);
catcher_fn!(payload_too_large, 413);
catcher_fn!(internal, 500);
catcher_fn!(unavailable, 503);

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_request_ids_are_kept() {
        use crate::requests::valid_request_id as ok;
        assert!(ok("a1b2-c3_d4"));
        for bad in ["", "a b", "a\nb", "é", &"x".repeat(65)] {
            assert!(!ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn route_paths_match_segments_and_parameters() {
        use super::route_path_matches as m;
        assert!(m("/auth/deconnexion", "/auth/deconnexion"));
        assert!(m("/personnes/<id>/role", "/personnes/42/role"));
        assert!(m("/static/<path..>", "/static/a/b.css"));
        assert!(m("/connexion?<next>&<envoye>", "/connexion"));
        assert!(!m("/personnes/<id>/role", "/personnes/42"));
        assert!(!m("/modules", "/modules/x"));
    }
}

#[catch(default)]
fn default(status: Status, req: &Request<'_>) -> StatusMessage {
    StatusMessage(status, message_for(status, req))
}

/// Headers on every response: no framing, no MIME sniffing, no inline script, no referrer
/// sent to other sites, no powerful browser feature; HTTPS only when the service is
/// published over HTTPS; nothing kept in caches but the static files.
struct SecurityHeaders {
    hsts: bool,
}

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info {
            name: "security headers",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        res.set_header(Header::new(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ));
        res.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        res.set_header(Header::new("Referrer-Policy", "same-origin"));
        res.set_header(Header::new("X-Frame-Options", "DENY"));
        res.set_header(Header::new(
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        ));
        if self.hsts {
            res.set_header(Header::new(
                "Strict-Transport-Security",
                "max-age=31536000; includeSubDomains",
            ));
        }
        // Pages, JSON and PDFs carry personal data (and tokens once): never stored.
        if !req.uri().path().starts_with("/static/") {
            res.set_header(Header::new("Cache-Control", "no-store"));
        }
    }
}
