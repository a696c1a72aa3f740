//! The professional-equality plan: the plan and its actions with bad input refused, the
//! directory's new columns, breakdowns that never expose a small group, monthly snapshots
//! the report is read from (PDF, ODS and CSV with the same figures), reminders to action
//! owners and HR's monthly digest, and the territorial review. SQLite and PostgreSQL.

mod common;

use std::io::Read;
use std::process::Command;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use common::*;
use reperes::jobs::runner::{Attempt, Runner};
use reperes::jobs::Job;
use rocket::http::Status;
use serde_json::Value;

on_both!(
    hr_builds_the_plan_and_bad_input_writes_nothing,
    small_groups_are_never_exposed_and_managers_read_their_subtree,
    snapshots_keep_the_history_and_the_report_says_the_same_in_three_formats,
    action_owners_and_hr_are_reminded_once,
    the_territorial_review_counts_people_trained_per_axis_and_structure,
    the_average_score_counts_each_persons_best_score_per_module,
);

const MANAGER: &str = "jean-pierre.muller@demo.reperes.test";

/// 10:00 Paris time on `day`.
fn at(day: &str) -> DateTime<Utc> {
    let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    chrono_tz::Europe::Paris
        .from_local_datetime(&day.and_hms_opt(10, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

async fn id_of(app: &TestApp, email: &str) -> String {
    let id: uuid::Uuid = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(email).fetch_one(pool).await).unwrap();
    id.to_string()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    reperes::on_db!(app.database(), pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await).unwrap()
}

/// The equality tables' row counts: a refused write leaves them unchanged.
async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = vec![];
    for t in [
        "equality_plan",
        "equality_actions",
        "equality_action_comments",
        "equality_indicators",
        "equality_manual_values",
        "equality_snapshots",
    ] {
        out.push(count(app, t).await);
    }
    out
}

async fn indicator_id(app: &TestApp, code: &str) -> String {
    let (_, list) = app.get_json("/api/v1/equality/indicators").await;
    list["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == code)
        .unwrap_or_else(|| panic!("no indicator {code}: {list}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn patch_json(app: &TestApp, path: &str, body: &str) -> (Status, Value) {
    let res = app
        .client
        .patch(path)
        .header(rocket::http::ContentType::JSON)
        .header(rocket::http::Header::new("X-CSRF-Token", app.csrf().await))
        .body(body)
        .dispatch()
        .await;
    json_of(res).await
}

async fn put_json(app: &TestApp, path: &str, body: &str) -> (Status, Value) {
    let res = app
        .client
        .put(path)
        .header(rocket::http::ContentType::JSON)
        .header(rocket::http::Header::new("X-CSRF-Token", app.csrf().await))
        .body(body)
        .dispatch()
        .await;
    json_of(res).await
}

async fn hr_builds_the_plan_and_bad_input_writes_nothing(app: TestApp) {
    app.login(KARIM).await;
    // The five axes are there from the start, with the plan's seeded indicators.
    let (status, plan) = app.get_json("/api/v1/equality/plan").await;
    assert_eq!(status, Status::Ok);
    let axes = plan["plan"]["axes"].as_array().unwrap();
    assert_eq!(axes.len(), 5);
    assert!(axes[4]["title"].as_str().unwrap().contains("harcèlement"));

    let (status, _) = put_json(
        &app,
        "/api/v1/equality/plan",
        r#"{"starts_on": "2026-01-01", "ends_on": "2028-12-31"}"#,
    )
    .await;
    assert_eq!(status, Status::Ok);
    let karim = id_of(&app, KARIM).await;
    let (status, created) = app
        .post_json(
            "/api/v1/equality/actions",
            &format!(
                r#"{{"axis": "E5", "title": "Former tous les jurys de recrutement", "owner": "{karim}",
                    "starts_on": "2026-02-01", "ends_on": "2026-11-30", "status": "in_progress", "progress": 40,
                    "modules": ["base"]}}"#
            ),
        )
        .await;
    assert_eq!(status, Status::Created, "{created}");
    let action = created["action"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["action"]["progress"], 40);
    // Comments are kept, dated and signed.
    for body in [
        "Première session calée en mars.",
        "Deux jurys formés sur trois.",
    ] {
        let (status, _) = app
            .post_json(
                &format!("/api/v1/equality/actions/{action}/comments"),
                &format!(r#"{{"body": "{body}"}}"#),
            )
            .await;
        assert_eq!(status, Status::Created);
    }
    let (_, page) = app.get(&format!("/rh/egalite/actions/{action}")).await;
    assert!(page.contains("Première session calée en mars."), "{page}");
    assert!(page.contains("Deux jurys formés sur trois."));
    assert!(page.contains("Karim Benali"));
    // A PATCH changes only what it names.
    let (status, patched) = patch_json(
        &app,
        &format!("/api/v1/equality/actions/{action}"),
        r#"{"status": "done", "progress": "100"}"#,
    )
    .await;
    assert_eq!(status, Status::Ok, "{patched}");
    assert_eq!(
        patched["action"]["title"],
        "Former tous les jurys de recrutement"
    );
    assert_eq!(patched["action"]["status"], "done");

    let before = counts(&app).await;
    let bad: Vec<(&str, String)> = vec![
        (
            "3 ans au plus",
            r#"PUT /api/v1/equality/plan {"starts_on": "2026-01-01", "ends_on": "2029-06-30"}"#.into(),
        ),
        (
            "finir avant",
            format!(
                r#"POST /api/v1/equality/actions {{"axis": "E1", "title": "Action", "owner": "{karim}", "starts_on": "2026-06-01", "ends_on": "2026-05-01"}}"#
            ),
        ),
        (
            "responsable n'existe pas",
            r#"POST /api/v1/equality/actions {"axis": "E1", "title": "Action", "owner": "00000000-0000-0000-0000-000000000001", "starts_on": "2026-06-01", "ends_on": "2026-07-01"}"#.into(),
        ),
        (
            "Axe",
            format!(
                r#"POST /api/v1/equality/actions {{"axis": "E7", "title": "Action", "owner": "{karim}", "starts_on": "2026-06-01", "ends_on": "2026-07-01"}}"#
            ),
        ),
        (
            "Cet indicateur n'existe pas",
            r#"PATCH /api/v1/equality/indicators/00000000-0000-0000-0000-000000000002 {"target": 80}"#.into(),
        ),
        (
            "comprise entre",
            r#"POST /api/v1/equality/indicators {"code": "E1-X", "axis": "E1", "title": "Part formée", "kind": "auto", "measure": "completed", "target": 120}"#.into(),
        ),
    ];
    let pay_gap = indicator_id(&app, "E3-ECART-REM").await;
    let mut bad = bad;
    bad.push((
        "comprise entre",
        format!(
            r#"POST /api/v1/equality/indicators/{pay_gap}/values {{"period": "2025", "value": "150", "source": "RSU 2025"}}"#
        ),
    ));
    bad.push((
        "Période",
        format!(
            r#"POST /api/v1/equality/indicators/{pay_gap}/values {{"period": "l'an dernier", "value": "4", "source": "RSU"}}"#
        ),
    ));
    for (expected, request) in &bad {
        let (method, rest) = request.split_once(' ').unwrap();
        let (path, body) = rest.split_once(' ').unwrap();
        let (status, answer) = match method {
            "PUT" => put_json(&app, path, body).await,
            "PATCH" => patch_json(&app, path, body).await,
            _ => app.post_json(path, body).await,
        };
        assert!(
            status.code == 422 || status.code == 404,
            "{request}: {status} {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(expected),
            "{request}: {answer}"
        );
    }
    assert_eq!(before, counts(&app).await, "a refused write changed data");
    // The same checks behind the forms, in French on the page.
    let (status, _, body) = app
        .post_form(
            "/rh/egalite/actions",
            &format!("axis=E2&title=Action&owner={karim}&starts_on=2026-09-01&ends_on=2026-08-01"),
        )
        .await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(
        body.contains("ne peut pas finir avant de commencer"),
        "{body}"
    );
    assert_eq!(before, counts(&app).await);
    // A good manual value is recorded with its source.
    let (status, values) = app
        .post_json(
            &format!("/api/v1/equality/indicators/{pay_gap}/values"),
            r#"{"period": "2025", "value": "4,2", "source": "Rapport social unique 2025"}"#,
        )
        .await;
    assert_eq!(status, Status::Created, "{values}");
    assert_eq!(values["values"][0]["value"], 4.2);
}

/// A directory with a unit of 4 women and 1 man, a unit of 2, and a larger one; Léa and
/// Hugo manage.
fn directory() -> String {
    let mut csv = String::from(
        "matricule;courriel;nom;prenom;service;publics;fonction;date_entree;sexe;categorie;filiere;encadrement\n",
    );
    let mut n = 0;
    let mut line = |unit: &str, sex: &str, cat: &str, manages: &str| {
        n += 1;
        csv.push_str(&format!(
            "E{n:03};agent{n}@ville.test;Agent{n};Prénom;Ville de Nancy/{unit};accueil;Agent;2020-01-01;{sex};{cat};administrative;{manages}\n"
        ));
    };
    for _ in 0..4 {
        line("Petite", "F", "C", "non");
    }
    line("Petite", "M", "B", "oui");
    for _ in 0..2 {
        line("Mini", "F", "C", "");
    }
    for i in 0..20 {
        line(
            "Grande",
            if i % 2 == 0 { "F" } else { "M" },
            if i < 10 { "contractuel" } else { "A" },
            if i == 0 { "oui" } else { "non" },
        );
    }
    csv
}

async fn small_groups_are_never_exposed_and_managers_read_their_subtree(app: TestApp) {
    import_directory(&app, &directory()).await;
    let managers: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE manages AND email LIKE '%@ville.test'").fetch_one(pool).await).unwrap();
    assert_eq!(managers, 2, "the encadrement column is stored");
    let family: Option<String> = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT job_family FROM users WHERE email = 'agent1@ville.test'").fetch_one(pool).await)
    .unwrap();
    assert_eq!(family.as_deref(), Some("administrative"));
    // The former column set still imports, and keeps what it does not carry.
    let old: String = directory()
        .lines()
        .map(|l| l.rsplitn(3, ';').nth(2).unwrap().to_string() + "\n")
        .collect();
    import_directory(&app, &old).await;
    let managers_after: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE manages AND email LIKE '%@ville.test'").fetch_one(pool).await).unwrap();
    assert_eq!(managers_after, 2);

    app.login(KARIM).await;
    let (status, created) = app
        .post_json(
            "/api/v1/equality/indicators",
            r#"{"code": "E1-BASE", "axis": "E1", "title": "Agents ayant suivi le module de base", "kind": "auto",
                "measure": "completed", "module": "base", "audiences": ["accueil"], "staff": "city", "target": "50"}"#,
        )
        .await;
    assert_eq!(status, Status::Created, "{created}");
    let id = created["indicator"]["id"].as_str().unwrap().to_string();

    // The unit of 4 women and 1 man: its total shows, neither sex does.
    let (status, small) = app
        .get_json(&format!(
            "/api/v1/equality/indicators/{id}?unit=Ville%20de%20Nancy/Petite"
        ))
        .await;
    assert_eq!(status, Status::Ok, "{small}");
    let d = &small["indicator"];
    assert_eq!(d["figure"]["current"]["people"], 5, "{d}");
    let by = |d: &Value, dim: &str| -> Vec<Value> {
        d["breakdowns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["dimension"] == dim)
            .unwrap()["lines"]
            .as_array()
            .unwrap()
            .clone()
    };
    for line in by(d, "sex") {
        if line["label"] == "Femmes" || line["label"] == "Hommes" {
            assert_eq!(line["suppressed"], true, "{line}");
            assert_eq!(line["shown"], "< 5");
            assert!(line["people"].is_null());
        }
    }
    // Over the whole city, by unit: the unit of 2 is hidden, and so is a second line, so
    // that the total minus the visible lines gives nothing away.
    let (_, city) = app
        .get_json(&format!(
            "/api/v1/equality/indicators/{id}?unit=Ville%20de%20Nancy"
        ))
        .await;
    let units = by(&city["indicator"], "unit");
    let hidden: Vec<&Value> = units.iter().filter(|l| l["suppressed"] == true).collect();
    assert!(
        hidden.iter().any(|l| l["label"] == "Ville de Nancy/Mini"),
        "{units:?}"
    );
    assert!(
        hidden.len() >= 2,
        "a single hidden line is recoverable: {units:?}"
    );
    let visible: u64 = units.iter().filter_map(|l| l["people"].as_u64()).sum();
    let total = city["indicator"]["figure"]["current"]["people"]
        .as_u64()
        .unwrap();
    assert!(
        total - visible >= 5,
        "hidden lines sum to {}",
        total - visible
    );
    // By category: 10 contractual staff show, the small categories do not.
    let cats = by(&city["indicator"], "category");
    assert!(cats
        .iter()
        .any(|l| l["label"] == "Contractuels" && l["people"] == 10));
    // The page says the same.
    let (status, page) = app
        .get(&format!(
            "/egalite/indicateurs/{id}?service=Ville%20de%20Nancy/Petite"
        ))
        .await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("&lt; 5"), "{page}");
    assert!(page.contains("<svg class=\"trend\""));
    app.logout().await;

    // A manager reads their own subtree, and nothing beside it; the navigation leads there.
    app.login(MANAGER).await;
    let (_, home) = app.get("/modules").await;
    assert!(home.contains("<a href=\"/egalite\">"), "{home}");
    let (status, page) = app.get("/egalite").await;
    assert_eq!(status, Status::Ok);
    assert!(
        page.contains("Ville de Nancy/Direction de la citoyenneté"),
        "{page}"
    );
    let (status, _) = app.get("/egalite?service=Ville%20de%20Nancy/CCAS").await;
    assert_eq!(status, Status::Forbidden);
    let (status, _) = app
        .get(&format!(
            "/egalite/indicateurs/{id}?service=Ville%20de%20Nancy"
        ))
        .await;
    assert_eq!(status, Status::Forbidden);
    let (status, _) = app.get_json("/api/v1/equality/plan").await;
    assert_eq!(status, Status::Forbidden, "the API is for HR and tokens");
}

fn runner(app: &TestApp) -> Runner {
    Runner::from_rocket(app.client.rocket()).expect("managed state")
}

fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rapport.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = Command::new("pdftotext")
        .args([file.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils, installed by scripts/test)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ods_content(ods: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(ods)).expect("an ODS is a zip");
    let mut mimetype = String::new();
    archive
        .by_name("mimetype")
        .unwrap()
        .read_to_string(&mut mimetype)
        .unwrap();
    assert_eq!(mimetype, "application/vnd.oasis.opendocument.spreadsheet");
    let mut content = String::new();
    archive
        .by_name("content.xml")
        .unwrap()
        .read_to_string(&mut content)
        .unwrap();
    content
}

async fn download(app: &TestApp, path: &str) -> (Status, Vec<u8>) {
    let res = app.client.get(path).dispatch().await;
    let status = res.status();
    (status, res.into_bytes().await.unwrap_or_default())
}

async fn snapshots_keep_the_history_and_the_report_says_the_same_in_three_formats(app: TestApp) {
    import_directory(&app, &directory()).await;
    app.login(KARIM).await;
    let (status, _) = put_json(
        &app,
        "/api/v1/equality/plan",
        r#"{"starts_on": "2026-01-01", "ends_on": "2028-12-31"}"#,
    )
    .await;
    assert_eq!(status, Status::Ok);
    let karim = id_of(&app, KARIM).await;
    let (status, _) = app
        .post_json(
            "/api/v1/equality/actions",
            &format!(
                r#"{{"axis": "E3", "title": "Analyser les écarts de primes", "owner": "{karim}",
                    "starts_on": "2026-01-01", "ends_on": "2026-06-30"}}"#
            ),
        )
        .await;
    assert_eq!(status, Status::Created);
    let pay_gap = indicator_id(&app, "E3-ECART-REM").await;
    let (status, _) = app
        .post_json(
            &format!("/api/v1/equality/indicators/{pay_gap}/values"),
            r#"{"period": "2025", "value": "4,2", "source": "Rapport social unique 2025"}"#,
        )
        .await;
    assert_eq!(status, Status::Created);

    // The monthly job takes the month's snapshot once, whatever the number of ticks.
    let r = runner(&app);
    let first = r
        .run_one(
            Job::EqualitySnapshot,
            DateTime::parse_from_rfc3339("2026-12-01T05:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        )
        .await;
    let Attempt::Ran(done) = first else {
        panic!("the December snapshot did not run: {first:?}")
    };
    assert!(
        done.outcome.as_ref().unwrap().contains("2026-12"),
        "{done:?}"
    );
    let again = r
        .run_one(
            Job::EqualitySnapshot,
            DateTime::parse_from_rfc3339("2026-12-15T05:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        )
        .await;
    assert!(matches!(again, Attempt::AlreadyClaimed(_)), "{again:?}");
    assert_eq!(count(&app, "equality_snapshots").await, 1);

    let (_, list) = app.get_json("/api/v1/equality/snapshots").await;
    let snapshot = list["snapshots"][0]["id"].as_str().unwrap().to_string();
    let (status, report) = app
        .get_json(&format!("/api/v1/equality/snapshots/{snapshot}"))
        .await;
    assert_eq!(status, Status::Ok, "{report}");
    let e3 = report["report"]["axes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "E3")
        .unwrap()
        .clone();
    let gap = e3["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "E3-ECART-REM")
        .unwrap()
        .clone();
    assert_eq!(gap["shown"], "4,2 %");
    assert_eq!(gap["on_target"], true, "4,2 % meets ≤ 5 %");
    assert_eq!(e3["actions"][0]["title"], "Analyser les écarts de primes");

    // History survives directory changes: the people leave, the snapshot stays as taken.
    reperes::on_db!(app.database(), pool => sqlx::query("UPDATE users SET active = FALSE WHERE email LIKE '%@ville.test'").execute(pool).await.map(|_| ())).unwrap();
    let (_, later) = app
        .get_json(&format!("/api/v1/equality/snapshots/{snapshot}"))
        .await;
    assert_eq!(report, later);

    // The three files carry the same figures and name the snapshot's date.
    let (status, csv) = download(
        &app,
        &format!("/rh/egalite/instantanes/{snapshot}/rapport.csv"),
    )
    .await;
    assert_eq!(status, Status::Ok);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with('\u{feff}'), "BOM");
    assert!(csv.contains(';'));
    assert!(csv.contains("4,2 %"), "{csv}");
    assert!(csv.contains("Analyser les écarts de primes"));
    let (status, ods) = download(
        &app,
        &format!("/rh/egalite/instantanes/{snapshot}/rapport.ods"),
    )
    .await;
    assert_eq!(status, Status::Ok);
    let content = ods_content(&ods);
    assert!(content.contains("4,2 %"), "{content}");
    assert!(content.contains("Analyser les écarts de primes"));
    let (status, pdf) = download(
        &app,
        &format!("/rh/egalite/instantanes/{snapshot}/rapport.pdf"),
    )
    .await;
    assert_eq!(status, Status::Ok);
    assert!(pdf.starts_with(b"%PDF"));
    let text = pdf_text(&pdf);
    assert!(text.contains("4,2 %"), "{text}");
    assert!(text.contains("1 décembre 2026"), "{text}");
    for day in [&csv, &content] {
        assert!(day.contains("2026-12-01") || day.contains("1 décembre 2026"));
    }
    // A formula-looking title is neutralised in the CSV.
    let (status, _) = app
        .post_json(
            "/api/v1/equality/actions",
            &format!(
                r#"{{"axis": "E1", "title": "=HYPERLINK(\"x\")", "owner": "{karim}", "starts_on": "2026-01-01", "ends_on": "2026-06-30"}}"#
            ),
        )
        .await;
    assert_eq!(status, Status::Created);
    let (status, _, _) = app.post_form("/rh/egalite/instantanes", "").await;
    assert_eq!(status, Status::SeeOther);
    let (_, list) = app.get_json("/api/v1/equality/snapshots").await;
    let newest = list["snapshots"][0]["id"].as_str().unwrap().to_string();
    let (_, csv) = download(
        &app,
        &format!("/rh/egalite/instantanes/{newest}/rapport.csv"),
    )
    .await;
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{csv}");

    // The dashboard reads the latest snapshot; its figures come with a table.
    let (status, page) = app.get("/egalite").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("4,2 %"), "{page}");
    assert!(page.contains("<table"));
}

async fn plan_mails(app: &TestApp, needle: &str) -> Vec<(String, String)> {
    let rows: Vec<(String, String)> = reperes::on_db!(app.database(), pool => sqlx::query_as(
        "SELECT recipient, body_text FROM outbox WHERE kind = 'reminder' ORDER BY created_at, recipient"
    ).fetch_all(pool).await)
    .unwrap();
    rows.into_iter()
        .filter(|(_, b)| b.contains(needle))
        .collect()
}

async fn sweep(app: &TestApp, now: DateTime<Utc>) {
    let views = app
        .client
        .rocket()
        .state::<reperes::views::Views>()
        .unwrap();
    let ctx = reperes::reminders::flow::Context {
        catalog: catalog(app),
        views,
        public_url: "https://reperes.test",
    };
    reperes::reminders::flow::sweep(app.database(), &ctx, now)
        .await
        .unwrap();
}

async fn action_owners_and_hr_are_reminded_once(app: TestApp) {
    app.login(KARIM).await;
    let manager = id_of(&app, MANAGER).await;
    let (status, created) = app
        .post_json(
            "/api/v1/equality/actions",
            &format!(
                r#"{{"axis": "E2", "title": "Revoir les fiches de poste", "owner": "{manager}",
                    "starts_on": "2026-10-01", "ends_on": "2027-01-20"}}"#
            ),
        )
        .await;
    assert_eq!(status, Status::Created, "{created}");

    // Monday 4 January 2027: due within 30 days; HR's January digest.
    sweep(&app, at("2027-01-04")).await;
    let owner = plan_mails(&app, "Revoir les fiches de poste").await;
    let mine: Vec<_> = owner.iter().filter(|(r, _)| r == MANAGER).collect();
    assert_eq!(mine.len(), 1, "{owner:?}");
    assert!(
        mine[0].1.contains("d'ici le 20 janvier 2027"),
        "{}",
        mine[0].1
    );
    // Nothing late, no snapshot off target: HR get no January digest.
    assert!(plan_mails(&app, "Suivi mensuel du plan").await.is_empty());
    // The next days: nothing new.
    sweep(&app, at("2027-01-05")).await;
    sweep(&app, at("2027-01-06")).await;
    assert_eq!(
        plan_mails(&app, "Revoir les fiches de poste")
            .await
            .iter()
            .filter(|(r, _)| r == MANAGER)
            .count(),
        1
    );
    assert!(plan_mails(&app, "(2027-01)").await.is_empty());
    // Late: the day after its end, then weekly.
    sweep(&app, at("2027-01-21")).await;
    sweep(&app, at("2027-01-22")).await;
    sweep(&app, at("2027-01-25")).await;
    let late = plan_mails(&app, "en retard de").await;
    assert_eq!(late.len(), 1, "{late:?}");
    sweep(&app, at("2027-01-28")).await;
    assert_eq!(plan_mails(&app, "en retard de").await.len(), 2);
    // February: HR's next digest names the late action.
    sweep(&app, at("2027-02-01")).await;
    sweep(&app, at("2027-02-02")).await;
    let feb = plan_mails(&app, "(2027-02)").await;
    assert_eq!(feb.len(), 1, "{feb:?}");
    assert_eq!(feb[0].0, KARIM);
    assert!(
        feb[0].1.contains("en retard : Revoir les fiches de poste"),
        "{}",
        feb[0].1
    );
    // Done: no more reminders.
    let action = created["action"]["id"].as_str().unwrap();
    let (status, _) = patch_json(
        &app,
        &format!("/api/v1/equality/actions/{action}"),
        r#"{"status": "done"}"#,
    )
    .await;
    assert_eq!(status, Status::Ok);
    sweep(&app, at("2027-02-08")).await;
    assert_eq!(plan_mails(&app, "en retard de").await.len(), 2);
}

/// A completion of `base` now for a person of the directory (who has no development
/// sign-in), as the learning flow writes it: an attempt and its completion.
async fn complete_base(app: &TestApp, email: &str) {
    complete(app, email, "base", 90, Utc::now()).await;
}

/// A completion of `module` with `score` at `when`, written as [`complete_base`] does.
async fn complete(app: &TestApp, email: &str, module: &str, score: i64, when: DateTime<Utc>) {
    let user = uuid::Uuid::parse_str(&id_of(app, email).await).unwrap();
    let attempt = uuid::Uuid::new_v4();
    reperes::on_db!(app.database(), pool => {
        sqlx::query("INSERT INTO attempts (id, user_id, module_slug, module_version, seed, questions, pass_mark, started_at, submitted_at, score, passed)
                     VALUES ($1, $2, $3, 'v', 1, '[]', 70, $4, $4, $5, TRUE)")
            .bind(attempt).bind(user).bind(module).bind(when).bind(score).execute(pool).await.unwrap();
        sqlx::query("INSERT INTO completions (id, user_id, module_slug, module_version, attempt_id, score, completed_at)
                     VALUES ($1, $2, $3, 'v', $4, $5, $6)")
            .bind(uuid::Uuid::new_v4()).bind(user).bind(module).bind(attempt).bind(score).bind(when)
            .execute(pool).await.unwrap();
    });
}

/// A shared-training session of a new offer serving `axes`, attended yesterday by
/// `emails`.
async fn attend(app: &TestApp, axes: &str, emails: &[String]) {
    let (offer, session) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let day = Utc::now() - chrono::Duration::days(1);
    reperes::on_db!(app.database(), pool => {
        sqlx::query("INSERT INTO training_offers (id, title, description, audiences, axes, created_at, updated_at)
                     VALUES ($1, 'Atelier', '', 'tous', $2, $3, $3)")
            .bind(offer).bind(axes).bind(day).execute(pool).await.unwrap();
        sqlx::query("INSERT INTO training_sessions (id, offer_id, mode, capacity, enrol_until, cancel_until, starts_at, ends_at,
                                                    created_at, updated_at)
                     VALUES ($1, $2, 'in_person', 30, $3, $3, $3, $3, $3, $3)")
            .bind(session).bind(offer).bind(day).execute(pool).await.unwrap();
        for (n, email) in emails.iter().enumerate() {
            let user = uuid::Uuid::parse_str(&id_of(app, email).await).unwrap();
            sqlx::query("INSERT INTO enrolments (id, session_id, user_id, status, requested_at, queue_no, attended_at, updated_at)
                         VALUES ($1, $2, $3, 'booked', $4, $5, $4, $4)")
                .bind(uuid::Uuid::new_v4()).bind(session).bind(user).bind(day).bind(n as i64 + 1)
                .execute(pool).await.unwrap();
        }
    });
}

async fn the_territorial_review_counts_people_trained_per_axis_and_structure(app: TestApp) {
    // The fixture module `base` serves axis T2 of the territorial plan. Five city agents
    // complete it: enough to show; one partner's staff member: hidden.
    import_directory(&app, &directory()).await;
    for n in 1..=5 {
        complete_base(&app, &format!("agent{n}@ville.test")).await;
    }
    app.login(KARIM).await;
    let review = |t: &Value, code: &str| -> Value {
        t["territorial"]["axes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == code)
            .unwrap()["breakdown"]
            .clone()
    };
    let (status, t) = app.get_json("/api/v1/equality/territorial").await;
    assert_eq!(status, Status::Ok, "{t}");
    let t2 = review(&t, "T2");
    let city = t2["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == "Ville de Nancy (agents)")
        .unwrap()
        .clone();
    assert_eq!(city["people"], 5, "{t2}");
    assert_eq!(review(&t, "T1")["total"]["shown"], "0");
    // Sessions attended count for their offer's territorial axes (not the equality plan's
    // E5); a person trained twice on an axis counts once.
    let agents: Vec<String> = (1..=5).map(|n| format!("agent{n}@ville.test")).collect();
    attend(&app, "T1 E5", &agents).await;
    attend(&app, "T2", &agents[..2]).await;
    let (_, t) = app.get_json("/api/v1/equality/territorial").await;
    assert_eq!(review(&t, "T1")["total"]["people"], 5, "{t}");
    assert_eq!(review(&t, "T2")["total"]["people"], 5, "{t}");
    assert_eq!(review(&t, "T3")["total"]["shown"], "0", "{t}");
    // One partner staff member trained: that line is hidden, and the city's with it (the
    // total minus the city would give it back); the total still shows.
    complete_base(&app, AICHA).await;
    let (_, t) = app.get_json("/api/v1/equality/territorial").await;
    let t2 = review(&t, "T2");
    for l in t2["lines"].as_array().unwrap() {
        assert_eq!(l["suppressed"], true, "{l}");
    }
    assert_eq!(t2["total"]["people"], 6, "{t2}");
    let (status, page) = app.get("/rh/egalite/territorial").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("T2"));
}

async fn the_average_score_counts_each_persons_best_score_per_module(app: TestApp) {
    // The unit « Petite » holds agents 1 to 5. Each completed `base` with 80; agent 1 also
    // failed to do better once (40), agent 2 did better later (100), agent 3 also
    // completed `suite` with 60. Best per person and module: 80, 100, 80, 80, 80 and 60,
    // an average of 80 (every completion averaged would give 75).
    import_directory(&app, &directory()).await;
    let days_ago = |d: i64| Utc::now() - chrono::Duration::days(d);
    for n in 1..=5 {
        complete(
            &app,
            &format!("agent{n}@ville.test"),
            "base",
            80,
            days_ago(10),
        )
        .await;
    }
    complete(&app, "agent1@ville.test", "base", 40, days_ago(5)).await;
    complete(&app, "agent2@ville.test", "base", 100, days_ago(2)).await;
    complete(&app, "agent3@ville.test", "suite", 60, days_ago(3)).await;
    app.login(KARIM).await;
    let id = indicator_id(&app, "E1-SCORE").await;
    let (status, small) = app
        .get_json(&format!(
            "/api/v1/equality/indicators/{id}?unit=Ville%20de%20Nancy/Petite"
        ))
        .await;
    assert_eq!(status, Status::Ok, "{small}");
    let current = &small["indicator"]["figure"]["current"];
    assert_eq!(current["people"], 5, "{current}");
    assert_eq!(current["value"], 80.0, "{current}");
}
