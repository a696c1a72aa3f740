//! The learner's path through a module, over HTML and JSON, on SQLite and PostgreSQL.

mod common;

use common::*;
use rocket::http::{ContentType, Status};
use serde_json::{json, Value};

const COURSES: &str = "tests/fixtures/courses";

on_both!(
    whole_path_through_the_pages,
    whole_path_through_the_api,
    attempt_limit_and_history,
    double_submission_records_one_result,
    prerequisites_are_enforced,
    reload_shows_the_same_attempt,
    simultaneous_starts_spend_one_attempt_in_pages_and_api,
);

async fn attempts_in_db(app: &TestApp) -> i64 {
    reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT COUNT(*) FROM attempts")
        .fetch_one(pool).await)
    .unwrap()
}

/// A double click on « Commencer le quiz » (twenty clicks at once) and a client calling
/// the API twice: one attempt, the same one, every time.
async fn simultaneous_starts_spend_one_attempt_in_pages_and_api(app: TestApp) {
    app.login(CAMILLE).await;
    read_lessons(&app, "base", 2).await;
    let body = app.with_csrf("").await;
    let clicks = (0..20).map(|_| {
        app.client
            .post("/modules/base/quiz")
            .header(ContentType::Form)
            .body(body.clone())
            .dispatch()
    });
    let answers = rocket::futures::future::join_all(clicks).await;
    let targets: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status(), Status::SeeOther);
            location(r)
        })
        .collect();
    assert_eq!(targets.len(), 1, "every click leads to the same attempt");
    assert_eq!(attempts_in_db(&app).await, 1);

    // The API resumes it too: 200 with the same attempt, nothing spent.
    let (status, first) = app.post_json("/api/v1/modules/base/attempts", "").await;
    assert_eq!(status, Status::Ok);
    let id = first["attempt_id"].as_str().unwrap();
    assert!(targets.iter().next().unwrap().ends_with(id));
    let token = app.csrf().await;
    let calls = (0..20).map(|_| {
        app.client
            .post("/api/v1/modules/base/attempts")
            .header(rocket::http::Header::new("X-CSRF-Token", token.clone()))
            .dispatch()
    });
    for r in rocket::futures::future::join_all(calls).await {
        assert_eq!(r.status(), Status::Ok);
    }
    assert_eq!(attempts_in_db(&app).await, 1);
    let (_, module) = app.get_json("/api/v1/modules/base").await;
    assert_eq!(module["module"]["attempts_used"], 1, "{module}");
}

async fn read_lessons(app: &TestApp, module: &str, count: usize) {
    for n in 1..=count {
        let (status, body) = app.get(&format!("/modules/{module}/lecons/{n}")).await;
        assert_eq!(status, Status::Ok, "{body}");
    }
}

/// Attempt id from a redirect to `/tentatives/<id>`.
fn attempt_id_from(location: &str) -> String {
    location
        .trim_start_matches("/tentatives/")
        .trim_end_matches("/resultat")
        .to_string()
}

fn form_body(answers: &serde_json::Map<String, Value>) -> String {
    let mut parts = vec![];
    for (q, opts) in answers {
        for o in opts.as_array().unwrap() {
            parts.push(format!("q%5B{q}%5D={}", o.as_str().unwrap()));
        }
    }
    parts.join("&")
}

async fn whole_path_through_the_pages(app: TestApp) {
    app.login(CAMILLE).await;
    let (status, page) = app.get("/modules").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("Module de base (test)"), "{page}");
    assert!(page.contains("Non commencé"));
    assert!(page.contains("lang=\"fr\""));

    let (status, page) = app.get("/modules/base").await;
    assert_eq!(status, Status::Ok);
    assert!(
        page.contains("Lisez d&#x27;abord toutes les leçons")
            || page.contains("Lisez d'abord toutes les leçons"),
        "{page}"
    );

    // The quiz cannot start before the lessons are read.
    let (status, _, body) = app.post_form("/modules/base/quiz", "").await;
    assert_eq!(status, Status::Conflict);
    assert!(body.contains("0 sur 2 lues"), "{body}");

    let (status, lesson) = app.get("/modules/base/lecons/1").await;
    assert_eq!(status, Status::Ok);
    assert!(lesson.contains("<h1>Première leçon</h1>"));
    assert!(
        lesson.contains("&lt;em&gt;brut&lt;/em&gt;"),
        "raw HTML is escaped: {lesson}"
    );
    assert!(lesson.contains("Leçon 1 sur 2"));
    read_lessons(&app, "base", 2).await;

    let (status, loc, _) = app.post_form("/modules/base/quiz", "").await;
    assert_eq!(status, Status::SeeOther);
    assert!(loc.starts_with("/tentatives/"), "{loc}");
    let id = attempt_id_from(&loc);

    let (status, quiz) = app.get(&loc).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(quiz.matches("<fieldset").count(), 4, "{quiz}");
    for secret in [
        "Explication",
        "correct",
        "appropriate",
        "discriminatory",
        "Justification",
    ] {
        assert!(!quiz.contains(secret), "quiz page leaks {secret:?}");
    }
    // A second start resumes the open attempt instead of spending another one.
    let (_, again, _) = app.post_form("/modules/base/quiz", "").await;
    assert_eq!(again, loc);

    let (_, attempt) = app.get_json(&format!("/api/v1/attempts/{id}")).await;
    let answers = right_answers(COURSES, "base", &attempt["attempt"]);
    let (status, loc, _) = app
        .post_form(&format!("/tentatives/{id}"), &form_body(&answers))
        .await;
    assert_eq!(status, Status::SeeOther);
    assert_eq!(loc, format!("/tentatives/{id}/resultat"));

    let (status, result) = app.get(&loc).await;
    assert_eq!(status, Status::Ok);
    assert!(result.contains("Réussi : module validé"), "{result}");
    assert!(result.contains("<strong>100 %</strong>"));
    assert!(result.contains("Votre réponse"));
    assert!(
        result.contains("Explication"),
        "explanations shown after submission"
    );
    // The quiz page of a submitted attempt leads to its result.
    let (status, to) = app.get_redirect(&format!("/tentatives/{id}")).await;
    assert_eq!((status, to.as_str()), (Status::SeeOther, loc.as_str()));

    let (status, progress) = app.get("/progression").await;
    assert_eq!(status, Status::Ok);
    assert!(progress.contains("Validé"), "{progress}");
    assert!(progress.contains("100 %"));

    let (_, api) = app.get_json("/api/v1/me/progress").await;
    let completions = api["completions"].as_array().unwrap();
    assert_eq!(completions.len(), 1);
    let catalog = reperes::catalog::load(&manifest_path(COURSES)).unwrap();
    assert_eq!(
        completions[0]["module_version"],
        json!(catalog.get("base").unwrap().version)
    );
    assert_eq!(completions[0]["score"], json!(100));
}

async fn whole_path_through_the_api(app: TestApp) {
    app.login(SOPHIE).await;
    let (status, list) = app.get_json("/api/v1/modules").await;
    assert_eq!(status, Status::Ok);
    let slugs: Vec<&str> = list["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["base", "suite"]);

    let (status, module) = app.get_json("/api/v1/modules/base").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(module["module"]["status"], "not_started");
    assert_eq!(module["lessons"].as_array().unwrap().len(), 2);

    let (status, err) = app.post_json("/api/v1/modules/base/attempts", "").await;
    assert_eq!(status, Status::Conflict);
    assert!(err["error"]["message"].as_str().unwrap().contains("leçons"));

    for n in 1..=2 {
        let (status, lesson) = app
            .get_json(&format!("/api/v1/modules/base/lessons/{n}"))
            .await;
        assert_eq!(status, Status::Ok);
        assert_eq!(lesson["lesson"]["number"], n);
    }
    let (_, module) = app.get_json("/api/v1/modules/base").await;
    assert_eq!(module["module"]["status"], "in_progress");
    assert_eq!(module["module"]["lessons_viewed"], 2);

    let (status, attempt) = app.post_json("/api/v1/modules/base/attempts", "").await;
    assert_eq!(status, Status::Created);
    let text = attempt.to_string();
    for secret in ["correct", "explanation", "grade", "appropriate"] {
        assert!(!text.contains(secret), "attempt leaks {secret}: {text}");
    }
    assert_eq!(attempt["questions"].as_array().unwrap().len(), 4);
    let id = attempt["attempt_id"].as_str().unwrap().to_string();

    // All discriminatory / wrong answers: failed, with feedback on every question.
    let mut wrong = answers_where(COURSES, "base", &attempt, |o| {
        !o.correct && o.grade != Some(reperes::catalog::Grade::Ambiguous)
    });
    for chosen in wrong.values_mut() {
        chosen.as_array_mut().unwrap().truncate(1);
    }
    let (status, res) = app
        .post_json(
            &format!("/api/v1/attempts/{id}/submission"),
            &json!({ "answers": wrong }).to_string(),
        )
        .await;
    assert_eq!(status, Status::Ok, "{res}");
    let result = &res["result"];
    assert_eq!(result["passed"], false);
    assert_eq!(result["score"], 0);
    for q in result["questions"].as_array().unwrap() {
        assert_eq!(q["correct"], false);
        for o in q["options"].as_array().unwrap() {
            assert!(!o["explanation"].as_str().unwrap().is_empty());
        }
        assert!(
            q["options"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["correct"] == true),
            "right answer shown"
        );
    }

    let (_, module) = app.get_json("/api/v1/modules/base").await;
    assert_eq!(module["module"]["attempts_used"], 1);
    assert_eq!(module["module"]["attempts_left"], 2);
    assert_eq!(module["module"]["status"], "in_progress");

    let (status, attempt) = app.post_json("/api/v1/modules/base/attempts", "").await;
    assert_eq!(status, Status::Created);
    let id2 = attempt["attempt_id"].as_str().unwrap().to_string();
    assert_ne!(id, id2);
    let right = right_answers(COURSES, "base", &attempt);
    let (_, res) = app
        .post_json(
            &format!("/api/v1/attempts/{id2}/submission"),
            &json!({ "answers": right }).to_string(),
        )
        .await;
    assert_eq!(res["result"]["passed"], true);
    assert_eq!(res["result"]["score"], 100);

    let (_, progress) = app.get_json("/api/v1/me/progress").await;
    assert_eq!(progress["completed_count"], 1);
    assert_eq!(
        progress["attempts"].as_array().unwrap().len(),
        2,
        "history keeps both attempts"
    );
    assert_eq!(progress["completions"].as_array().unwrap().len(), 1);
    let base = progress["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["slug"] == "base")
        .unwrap();
    assert_eq!(base["status"], "completed");
    assert!(base["valid_until"].is_string());

    // The first attempt's result is unchanged by the second.
    let (_, first) = app.get_json(&format!("/api/v1/attempts/{id}")).await;
    assert_eq!(first["status"], "submitted");
    assert_eq!(first["result"]["score"], 0);
}

async fn attempt_limit_and_history(app: TestApp) {
    app.login(CAMILLE).await;
    read_lessons(&app, "base", 2).await;
    let mut ids = vec![];
    for _ in 0..3 {
        let (status, attempt) = app.post_json("/api/v1/modules/base/attempts", "").await;
        assert_eq!(status, Status::Created);
        let id = attempt["attempt_id"].as_str().unwrap().to_string();
        let (status, res) = app
            .post_json(
                &format!("/api/v1/attempts/{id}/submission"),
                r#"{"answers":{}}"#,
            )
            .await;
        assert_eq!(status, Status::Ok);
        assert_eq!(res["result"]["passed"], false);
        ids.push(id);
    }
    let (status, err) = app.post_json("/api/v1/modules/base/attempts", "").await;
    assert_eq!(status, Status::Conflict);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("toutes les tentatives"));
    let (_, module) = app.get_json("/api/v1/modules/base").await;
    assert_eq!(module["module"]["status"], "blocked");
    let (status, page) = app.get("/modules/base").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("Tentatives épuisées"));
    let (_, progress) = app.get_json("/api/v1/me/progress").await;
    assert_eq!(progress["attempts"].as_array().unwrap().len(), 3);
}

async fn double_submission_records_one_result(app: TestApp) {
    app.login(CAMILLE).await;
    read_lessons(&app, "base", 2).await;
    let (_, attempt) = app.post_json("/api/v1/modules/base/attempts", "").await;
    let id = attempt["attempt_id"].as_str().unwrap().to_string();
    let right = json!({ "answers": right_answers(COURSES, "base", &attempt) }).to_string();
    let path = format!("/api/v1/attempts/{id}/submission");
    // Two requests at the same moment, then a third with other answers.
    let token = app.csrf().await;
    let a = app
        .client
        .post(path.as_str())
        .header(ContentType::JSON)
        .header(rocket::http::Header::new("X-CSRF-Token", token.clone()))
        .body(right.clone())
        .dispatch();
    let b = app
        .client
        .post(path.as_str())
        .header(ContentType::JSON)
        .header(rocket::http::Header::new("X-CSRF-Token", token))
        .body(right.clone())
        .dispatch();
    let (a, b) = tokio::join!(a, b);
    let (sa, ja) = json_of(a).await;
    let (sb, jb) = json_of(b).await;
    assert_eq!((sa, sb), (Status::Ok, Status::Ok));
    assert_eq!(ja, jb, "both get the same recorded result");
    let (status, third) = app.post_json(&path, r#"{"answers":{}}"#).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(third, ja, "a later submission returns the recorded result");
    assert_eq!(third["result"]["score"], 100);

    // Also through the form, concurrently: one result.
    let (_, attempt) = app.post_json("/api/v1/modules/base/attempts", "").await;
    let id2 = attempt["attempt_id"].as_str().unwrap().to_string();
    let form = format!("/tentatives/{id2}");
    let body = app.with_csrf("").await;
    let a = app
        .client
        .post(form.as_str())
        .header(ContentType::Form)
        .body(body.clone())
        .dispatch();
    let b = app
        .client
        .post(form.as_str())
        .header(ContentType::Form)
        .body(body.clone())
        .dispatch();
    let (a, b) = tokio::join!(a, b);
    assert_eq!(
        (a.status(), b.status()),
        (Status::SeeOther, Status::SeeOther)
    );

    let (_, progress) = app.get_json("/api/v1/me/progress").await;
    assert_eq!(progress["completions"].as_array().unwrap().len(), 1);
    let attempts = progress["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert!(attempts.iter().all(|a| a["submitted_at"].is_string()));
    let counts: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT COUNT(*) FROM completions").fetch_one(pool).await).unwrap();
    assert_eq!(counts, 1);
}

async fn prerequisites_are_enforced(app: TestApp) {
    app.login(CAMILLE).await;
    read_lessons(&app, "suite", 1).await;
    let (status, err) = app.post_json("/api/v1/modules/suite/attempts", "").await;
    assert_eq!(status, Status::Conflict);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Module de base (test)"),
        "{err}"
    );
    let (_, page) = app.get("/modules/suite").await;
    assert!(
        page.contains("à valider d&#x27;abord") || page.contains("à valider d'abord"),
        "{page}"
    );

    read_lessons(&app, "base", 2).await;
    let (_, attempt) = app.post_json("/api/v1/modules/base/attempts", "").await;
    let id = attempt["attempt_id"].as_str().unwrap();
    let right = json!({ "answers": right_answers(COURSES, "base", &attempt) }).to_string();
    app.post_json(&format!("/api/v1/attempts/{id}/submission"), &right)
        .await;
    let (status, _) = app.post_json("/api/v1/modules/suite/attempts", "").await;
    assert_eq!(status, Status::Created);

    // Aïcha (partner staff) is not offered `base`: it does not exist for her.
    app.logout().await;
    app.login(AICHA).await;
    let (status, _) = app.get("/modules/base").await;
    assert_eq!(status, Status::NotFound);
    let (_, list) = app.get_json("/api/v1/modules").await;
    let slugs: Vec<&str> = list["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["suite"]);
}

async fn reload_shows_the_same_attempt(app: TestApp) {
    app.login(CAMILLE).await;
    read_lessons(&app, "base", 2).await;
    let (_, loc, _) = app.post_form("/modules/base/quiz", "").await;
    let (_, first) = app.get(&loc).await;
    let (_, second) = app.get(&loc).await;
    assert_eq!(first, second);
    let id = attempt_id_from(&loc);
    let (_, a) = app.get_json(&format!("/api/v1/attempts/{id}")).await;
    let (_, b) = app.get_json(&format!("/api/v1/attempts/{id}")).await;
    assert_eq!(a, b);
    assert_eq!(a["status"], "open");
}
