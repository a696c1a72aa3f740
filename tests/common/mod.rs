//! Test harness: a real Rocket instance on a fresh database, SQLite or PostgreSQL.
//!
//! PostgreSQL tests run when `REPERES_TEST_POSTGRES_URL` is set (an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test creates its own database and
//! drops it afterwards. With `CI=true`, a missing or unreachable PostgreSQL fails the test.
#![allow(dead_code)]

pub mod external;

use std::path::PathBuf;

use rocket::figment::Figment;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::Value;
use sqlx::Connection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn manifest_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A database made for one test.
pub struct TestDb {
    pub url: String,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl TestDb {
    /// `None` when PostgreSQL is not configured outside CI (the test is skipped).
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Some(TestDb {
                    url,
                    pg: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let admin = match std::env::var("REPERES_TEST_POSTGRES_URL") {
                    Ok(u) if !u.is_empty() => u,
                    _ if in_ci() => panic!("CI=true but REPERES_TEST_POSTGRES_URL is not set"),
                    _ => {
                        eprintln!("skipped: REPERES_TEST_POSTGRES_URL is not set");
                        return None;
                    }
                };
                let name = format!("reperes_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL unreachable at {admin}: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                let base = base.split('?').next().unwrap_or(base);
                Some(TestDb {
                    url: format!("{base}/{name}"),
                    pg: Some((admin, name)),
                    _dir: None,
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            // Drop runs outside async code: use a small runtime of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await
                    .ok()
                })
            })
            .join();
        }
    }
}

/// The settings of a test instance on `db_url` with the given course folder.
pub fn figment(db_url: &str, courses: &str) -> Figment {
    reperes::config::figment()
        .merge(("database_url", db_url))
        .merge(("database_max_connections", 8))
        .merge(("courses_dir", manifest_path(courses)))
        .merge(("templates_dir", manifest_path("templates")))
        .merge(("static_dir", manifest_path("static")))
        .merge(("demo", true))
        .merge(("demo_trainings", false))
        .merge(("demo_plan", false))
        .merge(("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="))
        .merge(("log_level", "off"))
        // Tests run the scheduled jobs themselves (`jobs::runner::Runner::run_due`, or
        // `notifications::worker::deliver_due`), so that no background round races with
        // what they check.
        .merge(("scheduler", false))
        .merge((
            "certificate_key",
            "Jw3Yv9m9p5dnKf0Yt5b7sUo3wR3gkX0z5h2c1a9bQ8E=",
        ))
}

/// A running test instance with a cookie-keeping client.
pub struct TestApp {
    pub client: Client,
    pub backend: Backend,
    pub db: TestDb,
    /// Where the folder mail transport writes (debug builds without an SMTP relay).
    pub mail_dir: tempfile::TempDir,
}

pub const CAMILLE: &str = "camille.martin@demo.reperes.test";
pub const SOPHIE: &str = "sophie.nguyen@demo.reperes.test";
pub const AICHA: &str = "aicha.diallo@demo.reperes.test";
pub const ADMIN: &str = "admin@demo.reperes.test";
pub const KARIM: &str = "karim.benali@demo.reperes.test";

impl TestApp {
    pub async fn new(backend: Backend) -> Option<TestApp> {
        Self::with_courses(backend, "tests/fixtures/courses").await
    }

    pub async fn with_courses(backend: Backend, courses: &str) -> Option<TestApp> {
        Self::with_figment(backend, |f| {
            f.merge(("courses_dir", manifest_path(courses)))
        })
        .await
    }

    /// An instance whose settings `adjust` changes (OIDC, SMTP, …).
    pub async fn with_figment(
        backend: Backend,
        adjust: impl FnOnce(Figment) -> Figment,
    ) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        let mail_dir = tempfile::tempdir().expect("temp dir");
        let base = figment(&db.url, "tests/fixtures/courses")
            .merge(("mail_folder", mail_dir.path().join("mails")))
            .merge(("export_folder", mail_dir.path().join("exports")));
        let rocket = reperes::build(adjust(base)).await.expect("service builds");
        let client = Client::tracked(rocket).await.expect("valid rocket");
        Some(TestApp {
            client,
            backend,
            db,
            mail_dir,
        })
    }

    pub fn database(&self) -> &reperes::Db {
        self.client
            .rocket()
            .state::<reperes::Db>()
            .expect("db state")
    }

    /// This browser's CSRF token, read from a form of the sign-in page.
    pub async fn csrf(&self) -> String {
        let (_, page) = self.get("/connexion").await;
        let marker = "name=\"csrf\" value=\"";
        let start = page.find(marker).expect("a csrf field") + marker.len();
        let end = start + page[start..].find('"').unwrap();
        page[start..end].to_string()
    }

    /// A form body with this browser's CSRF token first.
    pub async fn with_csrf(&self, body: &str) -> String {
        let token = self.csrf().await;
        if body.is_empty() {
            format!("csrf={token}")
        } else {
            format!("csrf={token}&{body}")
        }
    }

    pub async fn login(&self, email: &str) {
        let body = self.with_csrf(&format!("email={email}")).await;
        let res = self
            .client
            .post("/auth/dev")
            .header(ContentType::Form)
            .body(body)
            .dispatch()
            .await;
        assert_eq!(res.status(), Status::SeeOther, "sign-in as {email}");
    }

    pub async fn logout(&self) {
        let body = self.with_csrf("").await;
        let res = self
            .client
            .post("/auth/deconnexion")
            .header(ContentType::Form)
            .body(body)
            .dispatch()
            .await;
        assert_eq!(res.status(), Status::SeeOther);
    }

    pub async fn get(&self, path: &str) -> (Status, String) {
        let res = self.client.get(path).dispatch().await;
        let status = res.status();
        (status, res.into_string().await.unwrap_or_default())
    }

    /// A GET that answers with a redirect: its status and location.
    pub async fn get_redirect(&self, path: &str) -> (Status, String) {
        let res = self.client.get(path).dispatch().await;
        (res.status(), location(&res))
    }

    /// Posts a form, with this browser's CSRF token added first.
    pub async fn post_form(&self, path: &str, body: &str) -> (Status, String, String) {
        let body = self.with_csrf(body).await;
        self.post_raw_form(path, &body).await
    }

    /// Posts a form body exactly as given (no CSRF token added).
    pub async fn post_raw_form(&self, path: &str, body: &str) -> (Status, String, String) {
        let res = self
            .client
            .post(path)
            .header(ContentType::Form)
            .body(body)
            .dispatch()
            .await;
        let status = res.status();
        let loc = location(&res);
        (status, loc, res.into_string().await.unwrap_or_default())
    }

    pub async fn get_json(&self, path: &str) -> (Status, Value) {
        let res = self
            .client
            .get(path)
            .header(Header::new("Accept", "application/json"))
            .dispatch()
            .await;
        json_of(res).await
    }

    /// Posts JSON with this browser's CSRF token in the `X-CSRF-Token` header, as a page
    /// script would.
    pub async fn post_json(&self, path: &str, body: &str) -> (Status, Value) {
        let token = self.csrf().await;
        let res = self
            .client
            .post(path)
            .header(ContentType::JSON)
            .header(Header::new("X-CSRF-Token", token))
            .body(body)
            .dispatch()
            .await;
        json_of(res).await
    }
}

pub fn location(res: &LocalResponse<'_>) -> String {
    res.headers()
        .get_one("Location")
        .unwrap_or_default()
        .to_string()
}

pub async fn json_of(res: LocalResponse<'_>) -> (Status, Value) {
    let status = res.status();
    let ct = res.content_type();
    let body = res.into_string().await.unwrap_or_default();
    assert_eq!(
        ct,
        Some(ContentType::JSON),
        "JSON expected, got {status}: {body}"
    );
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad JSON ({e}): {body}")),
    )
}

/// Generates one test per backend from an `async fn(TestApp)`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[rocket::async_test]
                async fn sqlite() {
                    if let Some(app) = $crate::common::TestApp::new($crate::common::Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }
                #[rocket::async_test]
                async fn postgres() {
                    if let Some(app) = $crate::common::TestApp::new($crate::common::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

/// The right answers of an attempt, computed from the course files (the API never tells).
pub fn right_answers(
    courses: &str,
    module: &str,
    attempt: &Value,
) -> serde_json::Map<String, Value> {
    answers_where(courses, module, attempt, |o| o.correct)
}

/// Answers picking, for each question, the options accepted by `pick`.
pub fn answers_where(
    courses: &str,
    module: &str,
    attempt: &Value,
    pick: impl Fn(&reperes::catalog::Choice) -> bool,
) -> serde_json::Map<String, Value> {
    let catalog = reperes::catalog::load(&manifest_path(courses)).expect("fixture catalogue");
    let module = catalog.get(module).expect("module");
    let mut out = serde_json::Map::new();
    for q in attempt["questions"].as_array().expect("questions") {
        let id = q["id"].as_str().unwrap();
        let question = module
            .quiz
            .pools
            .iter()
            .flat_map(|p| &p.questions)
            .find(|x| x.id == id)
            .expect("question in catalogue");
        let chosen: Vec<Value> = question
            .options
            .iter()
            .filter(|o| pick(o))
            .map(|o| Value::from(o.id.clone()))
            .collect();
        out.insert(id.to_string(), Value::Array(chosen));
    }
    out
}

/// Imports an HR directory file (all or nothing) as the import page would, without the
/// deactivation safeguard's confirmation; panics on a bad file.
pub async fn import_directory(app: &TestApp, csv: &str) {
    let event = reperes::audit::Event::by(None, reperes::audit::Kind::Import, "test");
    reperes::people::directory::run(
        app.database(),
        csv,
        false,
        reperes::people::directory::Safeguard::default(),
        event,
    )
    .await
    .unwrap()
    .expect("valid file");
}

/// The service's catalogue.
pub fn catalog(app: &TestApp) -> &reperes::catalog::Catalog {
    app.client
        .rocket()
        .state::<reperes::catalog::Catalog>()
        .expect("catalog")
}

/// Active people under `unit` (the unit and every unit below it), counted from the tables.
pub async fn people_under(app: &TestApp, unit: &str) -> i64 {
    let like = format!("{unit}/%");
    reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u JOIN org_units o ON o.id = u.org_unit_id
         WHERE u.active AND (o.path = $1 OR o.path LIKE $2)"
    ).bind(unit).bind(like).fetch_one(pool).await)
    .unwrap()
}

/// A rule giving everyone under `unit` the fixture module `base`, due `days` after
/// assignment, written straight to the store as of `now` (not applied yet).
pub async fn save_unit_rule(
    app: &TestApp,
    unit: &str,
    days: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> reperes::obligations::Rule {
    use reperes::obligations::{DueFrom, Rule, Target};
    let rule = Rule {
        id: uuid::Uuid::new_v4(),
        name: format!("Règle {unit}"),
        module_slug: "base".into(),
        target: Target {
            org_unit: Some(unit.into()),
            ..Target::default()
        },
        due_days: days,
        due_from: DueFrom::Assignment,
        active: true,
    };
    let event = reperes::audit::Event::by(None, reperes::audit::Kind::RuleSaved, "test");
    reperes::obligations::store::save_rule(app.database(), &rule, None, now, &event)
        .await
        .unwrap();
    rule
}

/// Applies the assignment rules as of `now` (the nightly sweep).
pub async fn apply_rules(
    app: &TestApp,
    now: chrono::DateTime<chrono::Utc>,
) -> reperes::obligations::flow::SweepReport {
    reperes::obligations::flow::reevaluate(app.database(), catalog(app), now)
        .await
        .unwrap()
}

/// The signed-in person reads the two lessons of the fixture module `base` and passes its
/// quiz through the API with a fresh attempt.
pub async fn pass_base_quiz(app: &TestApp) {
    for n in 1..=2 {
        app.get(&format!("/modules/base/lecons/{n}")).await;
    }
    let (status, attempt) = app.post_json("/api/v1/modules/base/attempts", "").await;
    assert_eq!(status, Status::Created, "{attempt}");
    let id = attempt["attempt_id"].as_str().unwrap();
    let body = serde_json::json!({
        "answers": right_answers("tests/fixtures/courses", "base", &attempt)
    })
    .to_string();
    let (status, res) = app
        .post_json(&format!("/api/v1/attempts/{id}/submission"), &body)
        .await;
    assert_eq!(status, Status::Ok);
    assert_eq!(res["result"]["passed"], true, "{res}");
}

/// Every obligation cycle of `user` (history included) on `today`, oldest cycle first.
#[allow(dead_code)] // not every test file uses every helper
pub async fn cycles_of(
    app: &TestApp,
    user: uuid::Uuid,
    today: chrono::NaiveDate,
) -> Vec<reperes::obligations::store::ObligationRow> {
    use reperes::obligations::store;
    let q = store::ListQuery {
        user: Some(user),
        history: true,
        ..store::ListQuery::default()
    };
    let (mut rows, _) = store::list(
        app.database(),
        uuid::Uuid::nil(),
        &reperes::people::Visibility::All,
        &q,
        today,
        100,
        0,
    )
    .await
    .unwrap();
    rows.sort_by_key(|r| r.cycle);
    rows
}
