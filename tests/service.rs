//! The service as a whole: start-up, health, OpenAPI, migrations, demo data, CLI.

mod common;

use common::*;
use rocket::http::Status;
use std::process::Command;

on_both!(
    logs_carry_a_request_id_and_nothing_personal,
    cookies_and_transport_headers,
    health_answers,
    openapi_lists_every_api_route,
    start_up_is_idempotent,
    pages_render_for_every_demo_person,
    a_full_service_answers_503_with_retry_after
);

/// Captures what is logged while `f` runs on this thread.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Every request gets an id (the caller's when it is a plain token), sent back and written
/// in a structured log line with the route, not the path; the audit line names no one.
async fn logs_carry_a_request_id_and_nothing_personal(app: TestApp) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let res = app
        .client
        .get("/connexion")
        .header(rocket::http::Header::new("X-Request-Id", "essai-42"))
        .dispatch()
        .await;
    assert_eq!(res.headers().get_one("X-Request-Id"), Some("essai-42"));
    let res = app
        .client
        .get("/connexion")
        .header(rocket::http::Header::new("X-Request-Id", "pas\nvalable"))
        .dispatch()
        .await;
    let given = res.headers().get_one("X-Request-Id").unwrap().to_string();
    assert!(
        given.len() == 32 && given.bytes().all(|b| b.is_ascii_hexdigit()),
        "{given}"
    );

    app.login(CAMILLE).await;
    let secret = "a".repeat(64);
    app.get(&format!("/connexion/lien/{secret}")).await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["request_id"] == "essai-42"
            && l["fields"]["route"] == "/connexion?<next>&<envoye>"
            && l["fields"]["status"] == 200),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "audit event" && l["fields"]["kind"] == "sign_in"),
        "{text}"
    );
    assert!(
        !text.contains(CAMILLE) && !text.contains("Camille"),
        "no name or address: {text}"
    );
    assert!(!text.contains(&secret), "no token from a path: {text}");
}

/// Cookies are `Secure`, `HttpOnly`, `__Host-` prefixed; nothing but static files is
/// cached; no powerful browser feature; HSTS only when the service is published over HTTPS.
async fn cookies_and_transport_headers(app: TestApp) {
    let csrf = app.csrf().await;
    let res = app
        .client
        .post("/auth/dev")
        .header(rocket::http::ContentType::Form)
        .body(format!("csrf={csrf}&email={CAMILLE}"))
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::SeeOther);
    let cookies: Vec<String> = res.headers().get("Set-Cookie").map(String::from).collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-reperes_session="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    for attribute in ["Secure", "HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(session.contains(attribute), "{attribute}: {session}");
    }
    assert!(!session.contains("Domain="), "{session}");
    let page = app.client.get("/connexion").dispatch().await;
    assert!(page
        .headers()
        .get_one("Set-Cookie")
        .is_none_or(|c| c.starts_with("__Host-")));

    for path in ["/progression", "/api/v1/me/progress", "/connexion"] {
        let res = app.client.get(path).dispatch().await;
        assert_eq!(res.status(), Status::Ok, "{path}");
        assert_eq!(
            res.headers().get_one("Cache-Control"),
            Some("no-store"),
            "{path}"
        );
        let policy = res
            .headers()
            .get_one("Permissions-Policy")
            .unwrap_or_default();
        assert!(
            policy.contains("camera=()") && policy.contains("geolocation=()"),
            "{path}"
        );
        assert!(
            res.headers().get_one("Strict-Transport-Security").is_none(),
            "{path} over http"
        );
    }
    let css = app.client.get("/static/site.css").dispatch().await;
    assert_ne!(css.headers().get_one("Cache-Control"), Some("no-store"));

    let https = TestApp::with_figment(app.backend, |f| {
        f.merge(("public_url", "https://localhost:8443"))
    })
    .await
    .unwrap();
    let res = https.client.get("/connexion").dispatch().await;
    assert_eq!(
        res.headers().get_one("Strict-Transport-Security"),
        Some("max-age=31536000; includeSubDomains")
    );
}

/// Past its capacity the service refuses at once with 503 and `Retry-After` (French page,
/// or JSON for the API), keeps answering its health check, and serves again as soon as a
/// place frees.
async fn a_full_service_answers_503_with_retry_after(app: TestApp) {
    let admission = app
        .client
        .rocket()
        .state::<reperes::admission::Admission>()
        .expect("admission state")
        .clone();
    // Every place taken, as by requests still being handled.
    let mut held = Vec::new();
    while admission.free() > 0 {
        held.push(admission.enter().await.expect("a free place"));
    }
    let started = std::time::Instant::now();
    let res = app.client.get("/verify").dispatch().await;
    assert_eq!(res.status(), Status::ServiceUnavailable);
    assert_eq!(res.headers().get_one("Retry-After"), Some("2"));
    let page = res.into_string().await.unwrap();
    assert!(page.contains("Service très sollicité"), "{page}");
    // Refused after the configured wait (500 ms), not after a time-out.
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    // A write is refused the same way, before its CSRF check; the API answers in JSON.
    let res = app
        .client
        .post("/connexion/lien")
        .header(rocket::http::ContentType::Form)
        .body("csrf=x&courriel=a%40b.test")
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::ServiceUnavailable);
    let (status, body) = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, Status::ServiceUnavailable);
    assert_eq!(body["error"]["status"], 503, "{body}");
    // The health check never waits.
    let res = app.client.get("/healthz").dispatch().await;
    assert_eq!(res.status(), Status::Ok);
    // A place frees: served again, and the refused requests held no place.
    held.pop();
    assert_eq!(app.get("/verify").await.0, Status::Ok);
    drop(held);
    let before = admission.free();
    for _ in 0..5 {
        assert_eq!(app.get("/verify").await.0, Status::Ok);
    }
    assert_eq!(admission.free(), before, "every place given back");
}

async fn health_answers(app: TestApp) {
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["status"], "ok");
    let backend = if app.backend == Backend::Sqlite {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(body["database"]["backend"], backend);
    // With the pool closed, the database no longer answers: 503.
    app.database().close().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, Status::ServiceUnavailable);
    assert_eq!(body["status"], "unavailable");
}

async fn openapi_lists_every_api_route(app: TestApp) {
    let (status, doc) = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for route in app.client.rocket().routes() {
        let uri = route.uri.to_string();
        let Some(rest) = uri.strip_prefix("/api/v1") else {
            continue;
        };
        let path = rest.split('?').next().unwrap_or(rest);
        let templated = path.replace('<', "{").replace('>', "}");
        let method = route.method.as_str().to_lowercase();
        let entry = paths
            .get(&templated)
            .unwrap_or_else(|| panic!("{templated} missing from openapi.json"));
        assert!(
            entry.get(&method).is_some(),
            "{method} {templated} missing from openapi.json"
        );
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} API routes found");
    // Operations for a person (session only) document the 403 an API token gets there.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            if op.get("security").is_none() {
                assert!(
                    op["responses"].get("403").is_some(),
                    "{method} {path}: the 403 for API tokens is not documented"
                );
            }
        }
    }
    // Security headers are on every response.
    let res = app.client.get("/api/v1/openapi.json").dispatch().await;
    let csp = res.headers().get_one("Content-Security-Policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(
        res.headers().get_one("X-Content-Type-Options"),
        Some("nosniff")
    );
}

async fn start_up_is_idempotent(app: TestApp) {
    // A second instance on the same database migrates nothing new and seeds nobody twice.
    let again = reperes::build(figment(&app.db.url, "tests/fixtures/courses"))
        .await
        .expect("restart");
    let db = again.state::<reperes::Db>().unwrap();
    let users: i64 = reperes::on_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await).unwrap();
    assert_eq!(users as usize, reperes::people::DEMO_PEOPLE.len());
}

async fn pages_render_for_every_demo_person(app: TestApp) {
    let (status, login) = app.get("/connexion").await;
    assert_eq!(status, Status::Ok);
    for person in reperes::people::DEMO_PEOPLE {
        assert!(login.contains(person.email), "{} listed", person.email);
        app.login(person.email).await;
        for path in ["/modules", "/progression", "/connexion"] {
            let (status, page) = app.get(path).await;
            assert_eq!(status, Status::Ok, "{path} for {}", person.email);
            assert_eq!(page.matches("<h1").count(), 1, "one h1 on {path}");
            assert!(page.contains(person.name));
        }
        app.logout().await;
    }
    let (status, css) = app.get("/static/site.css").await;
    assert_eq!(status, Status::Ok);
    assert!(css.contains(":focus-visible"));
}

#[rocket::async_test]
async fn instances_starting_together_on_postgres_do_not_conflict() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let starts = (0..4).map(|_| reperes::build(figment(&db.url, "tests/fixtures/courses")));
    let results = futures_join_all(starts).await;
    for r in &results {
        assert!(r.is_ok(), "{:?}", r.as_ref().err());
    }
    let rocket = results.into_iter().next().unwrap().unwrap();
    let pool = rocket.state::<reperes::Db>().unwrap();
    let users: i64 = reperes::on_db!(pool, p => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await).unwrap();
    assert_eq!(users as usize, reperes::people::DEMO_PEOPLE.len());
}

async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut out = Vec::new();
    // Poll them concurrently.
    let joined = rocket::futures::future::join_all(handles).await;
    out.extend(joined);
    out
}

#[rocket::async_test]
async fn an_invalid_catalogue_stops_the_start_with_every_problem() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let Err(err) = reperes::build(figment(&db.url, "tests/fixtures/broken")).await else {
        panic!("an invalid catalogue must stop the start");
    };
    let text = err.to_string();
    assert!(
        text.contains("bad/module.toml:4: unknown audience \"astronautes\""),
        "{text}"
    );
    assert!(
        text.contains("lesson file \"absente.md\" does not exist"),
        "{text}"
    );
}

#[test]
fn courses_check_reports_problems_and_exit_status() {
    let bin = env!("CARGO_BIN_EXE_reperes");
    let out = Command::new(bin)
        .args(["courses", "check"])
        .arg(manifest_path("tests/fixtures/broken"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.iter().any(|l| l.ends_with("bad/module.toml:4: unknown audience \"astronautes\" (expected one of: accueil, rh, social, partenaire, encadrement, tous)")), "{stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("bad/module.toml:8: lesson file \"absente.md\" does not exist")),
        "{stdout}"
    );

    let out = Command::new(bin)
        .args(["courses", "check"])
        .arg(manifest_path("courses"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = Command::new(bin)
        .args(["courses", "check"])
        .arg(manifest_path("tests/fixtures/courses"))
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[rocket::async_test]
async fn the_real_catalogue_serves_every_lesson() {
    let Some(app) = TestApp::with_courses(Backend::Sqlite, "courses").await else {
        return;
    };
    app.login(ADMIN).await;
    let catalog = reperes::catalog::load(&manifest_path("courses")).unwrap();
    for m in catalog.modules() {
        let (status, _) = app.get(&format!("/modules/{}", m.slug)).await;
        assert_eq!(status, Status::Ok, "{}", m.slug);
        for n in 1..=m.lessons.len() {
            let (status, page) = app.get(&format!("/modules/{}/lecons/{n}", m.slug)).await;
            assert_eq!(status, Status::Ok, "{} lesson {n}", m.slug);
            assert_eq!(page.matches("<h1").count(), 1);
        }
    }
}
