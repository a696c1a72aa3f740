//! Certificates: issued with the completion, a real PDF (checked with qpdf, pdftotext and
//! zbarimg), public verification in every status, recertification, revocation, the
//! transaction rule and the HR export. SQLite and PostgreSQL.

mod common;

use std::io::Read;
use std::process::Command;

use common::*;
use rocket::http::{ContentType, Status};
use serde_json::{json, Value};

const COURSES: &str = "tests/fixtures/courses";
const HELENE: &str = "helene.lefevre@ville.test";

on_both!(
    a_passed_module_issues_a_verifiable_pdf,
    statuses_recertification_and_revocation,
    a_failure_while_issuing_leaves_no_completion,
    hr_exports_a_zip_with_progress,
    a_rotated_signing_key_keeps_earlier_certificates_valid,
);

/// Certificates are verified with the key that signed them (by `key_id`): after the key
/// is replaced, earlier certificates stay valid when the old public key is listed in
/// `certificate_previous_keys`, and read as not authentic when it is not.
async fn a_rotated_signing_key_keeps_earlier_certificates_valid(app: TestApp) {
    app.login(CAMILLE).await;
    let number = pass_base(&app).await;
    let old_seed = "Jw3Yv9m9p5dnKf0Yt5b7sUo3wR3gkX0z5h2c1a9bQ8E=";
    let old_public = reperes::certificates::public_key_base64(
        &reperes::certificates::Signer25519::from_base64(old_seed)
            .unwrap()
            .verifying_key(),
    );
    let new_seed = "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=";
    for (previous, expected) in [(vec![old_public], "valid"), (vec![], "invalid")] {
        let rocket = reperes::build(
            figment(&app.db.url, COURSES)
                .merge(("certificate_key", new_seed))
                .merge(("certificate_previous_keys", previous)),
        )
        .await
        .expect("instance with the new key");
        let client = rocket::local::asynchronous::Client::tracked(rocket)
            .await
            .unwrap();
        let res = client
            .get(format!("/api/v1/certificates/{number}"))
            .dispatch()
            .await;
        let (_, body) = json_of(res).await;
        assert_eq!(body["status"], expected, "{body}");
    }
}

/// Hélène, a reception agent with accents in her name, in the citizenship direction.
async fn helene(app: &TestApp) {
    let db = app.database();
    reperes::people::store::insert(
        db,
        HELENE,
        "Hélène Lefèvre-Çelik",
        reperes::people::Role::Learner,
        &[reperes::catalog::Audience::Accueil],
        reperes::db::now(),
    )
    .await
    .unwrap();
    reperes::on_db!(db, pool => sqlx::query(
        "UPDATE users SET org_unit_id = (SELECT id FROM org_units WHERE path = 'Ville de Nancy/Direction de la citoyenneté/Accueil et état civil') WHERE email = $1"
    ).bind(HELENE).execute(pool).await.map(|_| ())).unwrap();
}

/// Reads the lessons of `base` and passes its quiz; returns the certificate number.
async fn pass_base(app: &TestApp) -> String {
    pass_base_quiz(app).await;
    let (_, progress) = app.get_json("/api/v1/me/progress").await;
    progress["certificates"][0]["number"]
        .as_str()
        .expect("a certificate")
        .to_string()
}

async fn pdf_of(app: &TestApp, number: &str) -> Vec<u8> {
    let res = app
        .client
        .get(format!("/certificats/{number}/pdf"))
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::Ok);
    assert_eq!(res.content_type(), Some(ContentType::PDF));
    res.into_bytes().await.unwrap()
}

fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} is needed (installed by ./scripts/test): {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn a_passed_module_issues_a_verifiable_pdf(app: TestApp) {
    helene(&app).await;
    app.login(HELENE).await;
    let number = pass_base(&app).await;
    assert!(number.starts_with("RPR-") && number.len() == 23, "{number}");

    let (_, page) = app.get("/progression").await;
    assert!(page.contains(&number) && page.contains("Valide"), "{page}");
    // The validity reads as a French date, not as a raw ISO string.
    let (_, progress) = app.get_json("/api/v1/me/progress").await;
    let iso = progress["certificates"][0]["valid_until"]
        .as_str()
        .unwrap()
        .to_string();
    let label = progress["certificates"][0]["valid_until_label"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(iso.len() == 10 && iso.as_bytes()[4] == b'-', "{iso}");
    assert!(
        page.contains(&label) && !page.contains(&format!("<td>{iso}</td>")),
        "{label} {page}"
    );

    let pdf = pdf_of(&app, &number).await;
    assert_eq!(
        pdf,
        pdf_of(&app, &number).await,
        "the same bytes at every download"
    );
    assert!(pdf.len() < 60 * 1024, "{} bytes", pdf.len());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("attestation.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let f = file.to_str().unwrap();
    tool("qpdf", &["--check", f]);
    let text = tool("pdftotext", &["-layout", f, "-"]);
    for expected in [
        "Hélène Lefèvre-Çelik",
        "Module de base (test)",
        number.as_str(),
        "Attestation de formation",
        "Ville de Nancy",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not in the PDF text:\n{text}"
        );
    }
    let info = tool("pdfinfo", &[f]);
    assert!(info.contains("Title:") && info.contains(&number), "{info}");
    assert!(
        info.contains("Author:") && info.contains("Ville de Nancy"),
        "{info}"
    );
    assert!(
        info.contains("Page size:") && info.contains("841.89 x 595.276"),
        "A4 landscape: {info}"
    );
    let fonts = tool("pdffonts", &[f]);
    assert!(
        fonts.lines().skip(2).all(|l| l.contains("yes")),
        "embedded, subset fonts: {fonts}"
    );
    tool(
        "pdftoppm",
        &[
            "-r",
            "150",
            "-png",
            "-singlefile",
            f,
            dir.path().join("page").to_str().unwrap(),
        ],
    );
    let qr = tool(
        "zbarimg",
        &[
            "--nodbus",
            "-q",
            "--raw",
            dir.path().join("page.png").to_str().unwrap(),
        ],
    );
    assert_eq!(qr.trim(), format!("http://127.0.0.1:8000/verify/{number}"));

    // Anyone can verify, without an account: name, module, dates, nothing else.
    app.logout().await;
    let (status, page) = app.get(&format!("/verify/{number}")).await;
    assert_eq!(status, Status::Ok);
    assert!(
        page.contains("Valide")
            && page.contains("Hélène Lefèvre-Çelik")
            && page.contains("Module de base (test)")
    );
    assert!(!page.contains(HELENE), "no e-mail on the public page");
    let (status, body) = app
        .get_json(&format!("/api/v1/certificates/{number}"))
        .await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["status"], "valid");
    assert_eq!(body["holder"], "Hélène Lefèvre-Çelik");
    assert!(body.get("email").is_none() && body.get("user_id").is_none());
    // Verification does not need the score: it stays between the person and HR.
    assert!(body.get("score").is_none(), "{body}");
    // Typed loosely: lower case, spaces, O for 0.
    let typed = number.to_lowercase().replace('-', " ").replace('0', "o");
    let (status, to) = app
        .get_redirect(&format!("/verify?numero={}", typed.replace(' ', "+")))
        .await;
    assert_eq!(
        (status, to),
        (Status::SeeOther, format!("/verify/{number}"))
    );
    // Unknown and malformed numbers.
    let (status, page) = app.get("/verify/RPR-0000-0000-0000-0000").await;
    assert_eq!(status, Status::NotFound);
    assert!(page.contains("Aucune attestation"));
    let (status, page) = app.get("/verify?numero=12345").await;
    assert_eq!(status, Status::Ok);
    assert!(
        page.contains("aria-invalid=\"true\"") && page.contains("numero-erreur"),
        "error tied to the field"
    );
    assert_eq!(
        app.get_json("/api/v1/certificates/nimporte-quoi").await.0,
        Status::NotFound
    );

    // Another learner cannot download it.
    app.login(CAMILLE).await;
    assert_eq!(
        app.client
            .get(format!("/certificats/{number}/pdf"))
            .dispatch()
            .await
            .status(),
        Status::NotFound
    );
    // Her manager can.
    app.logout().await;
    app.login("jean-pierre.muller@demo.reperes.test").await;
    assert_eq!(
        app.client
            .get(format!("/certificats/{number}/pdf"))
            .dispatch()
            .await
            .status(),
        Status::Ok
    );
}

async fn status_of(app: &TestApp, number: &str) -> Value {
    let (status, body) = app
        .get_json(&format!("/api/v1/certificates/{number}"))
        .await;
    assert_eq!(status, Status::Ok, "{body}");
    body
}

async fn statuses_recertification_and_revocation(app: TestApp) {
    helene(&app).await;
    app.login(HELENE).await;
    let first = pass_base(&app).await;
    // Recertification: a new pass issues a new certificate, the first one is superseded.
    let (_, attempt) = app.post_json("/api/v1/modules/base/attempts", "").await;
    let id = attempt["attempt_id"].as_str().unwrap();
    let body = json!({ "answers": right_answers(COURSES, "base", &attempt) }).to_string();
    app.post_json(&format!("/api/v1/attempts/{id}/submission"), &body)
        .await;
    let (_, progress) = app.get_json("/api/v1/me/progress").await;
    let certs = progress["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    let second = certs[0]["number"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let old = status_of(&app, &first).await;
    assert_eq!(old["status"], "superseded");
    assert!(
        old["superseded_on"].is_string(),
        "the date of its successor: {old}"
    );
    assert_eq!(status_of(&app, &second).await["status"], "valid");
    let (_, page) = app.get(&format!("/verify/{first}")).await;
    assert!(page.contains("Une attestation plus récente a été délivrée le"));

    // Revocation by HR, with a reason, audited; the learner sees it.
    app.logout().await;
    app.login(KARIM).await;
    let (status, _, _) = app
        .post_form(&format!("/certificats/{second}/revoquer"), "reason=ab")
        .await;
    assert_eq!(status, Status::UnprocessableEntity, "a reason is required");
    let (status, _, _) = app
        .post_form(
            &format!("/certificats/{second}/revoquer"),
            "reason=Quiz+pass%C3%A9+par+une+autre+personne",
        )
        .await;
    assert_eq!(status, Status::SeeOther);
    assert_eq!(status_of(&app, &second).await["status"], "revoked");
    let (status, _, _) = app
        .post_form(
            &format!("/certificats/{second}/revoquer"),
            "reason=encore+une+fois",
        )
        .await;
    assert_eq!(status, Status::Conflict);
    let audited: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE kind = 'certificate_revoked'").fetch_one(pool).await).unwrap();
    assert_eq!(audited, 1);
    app.logout().await;
    app.login(HELENE).await;
    let (_, page) = app.get("/progression").await;
    assert!(
        page.contains("Révoquée") && page.contains("Quiz passé par une autre personne"),
        "{page}"
    );
    // A learner cannot revoke.
    let (status, _, _) = app
        .post_form(
            &format!("/certificats/{first}/revoquer"),
            "reason=je+ne+veux+plus",
        )
        .await;
    assert_eq!(status, Status::Forbidden);

    // Expired: a certificate issued three years ago for a 24-month module.
    let certifier = app
        .client
        .rocket()
        .state::<reperes::certificates::Certifier>()
        .unwrap();
    let long_ago = chrono::Utc::now() - chrono::Duration::days(3 * 365);
    let draft = certifier.draft(
        "Hélène Lefèvre-Çelik",
        "base",
        "Module de base (test)",
        "v0",
        90,
        long_ago,
        reperes::learning::valid_until(long_ago, 24),
    );
    let user: uuid::Uuid = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(HELENE).fetch_one(pool).await).unwrap();
    let (attempt, completion) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    reperes::on_db!(app.database(), pool => {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO attempts (id, user_id, module_slug, module_version, seed, questions, pass_mark, started_at, submitted_at, answers, score, passed)
                     VALUES ($1, $2, 'ancien', 'v0', 1, '[]', 80, $3, $3, '{}', 90, TRUE)")
            .bind(attempt).bind(user).bind(long_ago).execute(&mut *tx).await.unwrap();
        sqlx::query("INSERT INTO completions (id, user_id, module_slug, module_version, attempt_id, score, completed_at) VALUES ($1, $2, 'ancien', 'v0', $3, 90, $4)")
            .bind(completion).bind(user).bind(attempt).bind(long_ago).execute(&mut *tx).await.unwrap();
        sqlx::query("INSERT INTO certificates (id, number, user_id, completion_id, module_slug, payload, signature, key_id, issued_at)
                     VALUES ($1, $2, $3, $4, 'ancien', $5, $6, $7, $8)")
            .bind(draft.id).bind(&draft.payload.number).bind(user).bind(completion).bind(&draft.payload_json)
            .bind(&draft.signature).bind(&draft.key_id).bind(long_ago).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    });
    assert_eq!(
        status_of(&app, &draft.payload.number).await["status"],
        "expired"
    );

    // Tampering with the stored data breaks the signature: shown as invalid, no details.
    reperes::on_db!(app.database(), pool => sqlx::query("UPDATE certificates SET payload = REPLACE(payload, 'Hélène', 'Helene') WHERE number = $1").bind(&first).execute(pool).await.map(|_| ())).unwrap();
    let tampered = status_of(&app, &first).await;
    assert_eq!(tampered["status"], "invalid");
    assert!(tampered["holder"].is_null());
    let (_, page) = app.get(&format!("/verify/{first}")).await;
    assert!(page.contains("Non authentique"), "{page}");
}

async fn a_failure_while_issuing_leaves_no_completion(app: TestApp) {
    // Make every certificate insert fail, as a full disk or a bug would.
    match app.backend {
        Backend::Sqlite => reperes::on_db!(app.database(), pool => sqlx::query(
            "CREATE TRIGGER fail_certificates BEFORE INSERT ON certificates BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
        ).execute(pool).await.map(|_| ())).unwrap(),
        Backend::Postgres => {
            reperes::on_db!(app.database(), pool => sqlx::query("CREATE FUNCTION fail_certificates() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated failure'; END; $$").execute(pool).await.map(|_| ())).unwrap();
            reperes::on_db!(app.database(), pool => sqlx::query("CREATE TRIGGER fail_certificates BEFORE INSERT ON certificates FOR EACH ROW EXECUTE FUNCTION fail_certificates()").execute(pool).await.map(|_| ())).unwrap();
        }
    }
    app.login(CAMILLE).await;
    for n in 1..=2 {
        app.get(&format!("/modules/base/lecons/{n}")).await;
    }
    let (_, attempt) = app.post_json("/api/v1/modules/base/attempts", "").await;
    let id = attempt["attempt_id"].as_str().unwrap();
    let body = json!({ "answers": right_answers(COURSES, "base", &attempt) }).to_string();
    let (status, err) = app
        .post_json(&format!("/api/v1/attempts/{id}/submission"), &body)
        .await;
    assert_eq!(status, Status::InternalServerError, "{err}");
    assert!(
        !err.to_string().contains("simulated"),
        "no internal detail shown"
    );
    let (completions, certificates, open): (i64, i64, i64) = reperes::on_db!(app.database(), pool => {
        let a: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM completions").fetch_one(pool).await.unwrap();
        let b: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates").fetch_one(pool).await.unwrap();
        let c: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM attempts WHERE submitted_at IS NULL").fetch_one(pool).await.unwrap();
        (a, b, c)
    });
    assert_eq!(
        (completions, certificates, open),
        (0, 0, 1),
        "nothing half-written: the attempt is still open"
    );
    let (_, module) = app.get_json("/api/v1/modules/base").await;
    assert_ne!(module["module"]["status"], "completed");
}

/// Polls an export's state until it is no longer running (5 s at most).
async fn wait_for_export(app: &TestApp, page: &str) -> Value {
    let mut state = Value::Null;
    for _ in 0..100 {
        state = app.get_json(&format!("{page}/etat")).await.1;
        if state["state"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    state
}

async fn hr_exports_a_zip_with_progress(app: TestApp) {
    helene(&app).await;
    app.login(HELENE).await;
    let number = pass_base(&app).await;
    app.logout().await;
    app.login(CAMILLE).await;
    let camille = pass_base(&app).await;
    app.logout().await;

    app.login(KARIM).await;
    assert_eq!(app.get("/rh/certificats").await.0, Status::Ok);
    let today = reperes::certificates::paris_today(chrono::Utc::now());
    let form = format!(
        "unit=Ville+de+Nancy%2FDirection+de+la+citoyennet%C3%A9&from={}&to={}",
        today - chrono::Duration::days(1),
        today
    );
    let (status, page, _) = app.post_form("/rh/certificats/export", &form).await;
    assert_eq!(status, Status::SeeOther);
    let state = wait_for_export(&app, &page).await;
    assert_eq!(state["state"], "done", "{state}");
    assert_eq!(state["total"], 2);
    assert_eq!(state["done"], 2);
    let (status, html) = app.get(&page).await;
    assert_eq!(status, Status::Ok);
    assert!(html.contains("<progress") && html.contains("Télécharger le fichier ZIP"));
    let res = app.client.get(format!("{page}/zip")).dispatch().await;
    assert_eq!(res.status(), Status::Ok);
    let bytes = res.into_bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().to_string())
        .collect();
    names.sort();
    let mut expected = vec![
        format!("attestation-{number}.pdf"),
        format!("attestation-{camille}.pdf"),
    ];
    expected.sort();
    assert_eq!(names, expected);
    let mut first = Vec::new();
    zip.by_index(0).unwrap().read_to_end(&mut first).unwrap();
    assert!(first.starts_with(b"%PDF-"));

    // The file sits in the configured export folder, readable by the service only, and
    // the export is in the audit log.
    let folder = app.mail_dir.path().join("exports");
    let files: Vec<_> = std::fs::read_dir(&folder).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            files[0].metadata().unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    let exports: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE kind = 'certificate_export'").fetch_one(pool).await).unwrap();
    assert_eq!(exports, 1);
    // Another instance on the same database (and export folder) shows the job and serves
    // the file: nothing lives in one instance's memory.
    let other =
        reperes::build(figment(&app.db.url, COURSES).merge(("export_folder", folder.clone())))
            .await
            .expect("second instance");
    let other = rocket::local::asynchronous::Client::tracked(other)
        .await
        .unwrap();
    let csrf_page = other
        .get("/connexion")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = csrf_page.find(marker).unwrap() + marker.len();
    let token = &csrf_page[start..start + csrf_page[start..].find('"').unwrap()];
    let res = other
        .post("/auth/dev")
        .header(rocket::http::ContentType::Form)
        .body(format!("csrf={token}&email={KARIM}"))
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::SeeOther);
    let res = other.get(page.clone()).dispatch().await;
    assert_eq!(res.status(), Status::Ok);
    let res = other.get(format!("{page}/zip")).dispatch().await;
    assert_eq!(
        res.status(),
        Status::Ok,
        "the file, from the other instance"
    );

    // A job whose instance died mid-way is reported as interrupted, not « n'existe pas ».
    let id = page.rsplit('/').next().unwrap().to_string();
    let stale = reperes::db::now() - chrono::Duration::minutes(5);
    reperes::on_db!(app.database(), pool => sqlx::query("UPDATE export_jobs SET state = 'running', updated_at = $1 WHERE id = $2")
        .bind(stale).bind(uuid::Uuid::parse_str(&id).unwrap()).execute(pool).await.map(|_| ())).unwrap();
    let (_, state) = app.get_json(&format!("{page}/etat")).await;
    assert_eq!(state["state"], "failed", "{state}");
    assert!(
        state["error"]
            .as_str()
            .unwrap()
            .contains("service a redémarré"),
        "{state}"
    );
    let (status, html) = app.get(&page).await;
    assert_eq!(status, Status::Ok);
    assert!(html.contains("service a redémarré"), "{html}");
    reperes::on_db!(app.database(), pool => sqlx::query("UPDATE export_jobs SET state = 'done' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&id).unwrap()).execute(pool).await.map(|_| ())).unwrap();

    // The daily clean-up removes files past their retention; the download then says so.
    assert_eq!(
        reperes::certificates::export::clean_folder(&folder, 24).unwrap(),
        0,
        "too recent"
    );
    assert_eq!(
        reperes::certificates::export::clean_folder(&folder, 0).unwrap(),
        1
    );
    let (status, body) = app.get(&format!("{page}/zip")).await;
    assert_eq!(status, Status::NotFound);
    assert!(body.contains("Relancez l&#x27;export"), "{body}");

    // Another service: nobody.
    let (_, page, _) = app
        .post_form(
            "/rh/certificats/export",
            &format!("unit=Ville+de+Nancy%2FCCAS&from={today}&to={today}"),
        )
        .await;
    let state = wait_for_export(&app, &page).await;
    assert_eq!(state["total"], 0);
    // Not for learners.
    app.logout().await;
    app.login(CAMILLE).await;
    assert_eq!(app.get("/rh/certificats").await.0, Status::Forbidden);
    assert_eq!(app.get(&page).await.0, Status::Forbidden);
}

#[rocket::async_test]
async fn verification_is_rate_limited() {
    let app = TestApp::new(Backend::Sqlite).await.unwrap();
    let mut last = Status::Ok;
    for _ in 0..61 {
        last = app
            .get_json("/api/v1/certificates/RPR-0000-0000-0000-0000")
            .await
            .0;
    }
    assert_eq!(last, Status::TooManyRequests);
}
