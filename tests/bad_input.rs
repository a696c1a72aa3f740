//! Bad input gets a clear 4xx, never a 500, and writes nothing. SQLite and PostgreSQL.

mod common;

use common::*;
use rocket::http::{ContentType, Status};
use serde_json::json;

on_both!(
    unknown_things_are_not_found,
    signed_out_requests_are_refused,
    malformed_bodies_are_rejected_with_a_message,
    another_users_attempt_does_not_exist,
    invalid_answers_write_nothing,
    a_wrong_method_is_405_with_the_allowed_ones,
);

/// An address that exists with another method answers 405 and says which methods it
/// accepts, in HTML or in JSON under /api/; an unknown address stays 404.
async fn a_wrong_method_is_405_with_the_allowed_ones(app: TestApp) {
    let res = app.client.get("/auth/deconnexion").dispatch().await;
    assert_eq!(res.status(), Status::MethodNotAllowed);
    assert_eq!(res.headers().get_one("Allow"), Some("POST"));
    let page = res.into_string().await.unwrap();
    assert!(page.contains("accepte pas la méthode GET"), "{page}");
    let res = app.client.get("/api/v1/directory/import").dispatch().await;
    assert_eq!(res.status(), Status::MethodNotAllowed);
    assert_eq!(res.headers().get_one("Allow"), Some("POST"));
    let (status, body) = json_of(res).await;
    assert_eq!(
        (status, body["error"]["status"].as_u64()),
        (Status::MethodNotAllowed, Some(405))
    );
    assert_eq!(app.get("/adresse-inconnue").await.0, Status::NotFound);
}

async fn unknown_things_are_not_found(app: TestApp) {
    app.login(CAMILLE).await;
    for path in [
        "/modules/nope",
        "/modules/base/lecons/0",
        "/modules/base/lecons/3",
        "/modules/base/lecons/abc",
        "/tentatives/not-a-uuid",
        "/tentatives/00000000-0000-0000-0000-000000000000",
        "/tentatives/00000000-0000-0000-0000-000000000000/resultat",
        "/nowhere",
    ] {
        let (status, page) = app.get(path).await;
        assert_eq!(status, Status::NotFound, "{path}");
        assert!(page.contains("<h1>"), "HTML error page for {path}");
        assert!(page.contains("lang=\"fr\""));
    }
    for path in [
        "/api/v1/modules/nope",
        "/api/v1/modules/base/lessons/9",
        "/api/v1/attempts/00000000-0000-0000-0000-000000000000",
        "/api/v1/attempts/zzz",
        "/api/v1/nowhere",
    ] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, Status::NotFound, "{path}");
        assert_eq!(body["error"]["status"], 404);
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, body) = app.post_json("/api/v1/modules/nope/attempts", "").await;
    assert_eq!(status, Status::NotFound);
    assert!(body["error"]["message"].as_str().unwrap().contains("nope"));
    let (status, _) = app
        .post_json(
            "/api/v1/attempts/00000000-0000-0000-0000-000000000000/submission",
            r#"{"answers":{}}"#,
        )
        .await;
    assert_eq!(status, Status::NotFound);
}

async fn signed_out_requests_are_refused(app: TestApp) {
    let (status, page) = app.get("/modules").await;
    assert_eq!(status, Status::Unauthorized);
    assert!(page.contains("href=\"/connexion\""), "{page}");
    let (status, body) = app.get_json("/api/v1/modules").await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"]["status"], 401);
    let (status, _) = app.post_json("/api/v1/modules/base/attempts", "").await;
    assert_eq!(status, Status::Unauthorized);
    // A forged cookie is no session.
    app.client.cookies().add(rocket::http::Cookie::new(
        reperes::auth::session_cookie(),
        "forged",
    ));
    let (status, _) = app.get_json("/api/v1/me/progress").await;
    assert_eq!(status, Status::Unauthorized);
    // Unknown e-mail on the development sign-in.
    let (status, _, body) = app
        .post_form("/auth/dev", "email=personne@example.org")
        .await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(body.contains("comptes de démonstration"), "{body}");
    let (status, _, _) = app.post_form("/auth/dev", "mail=x").await;
    assert_eq!(status, Status::BadRequest);
    // Sign-out ends the session.
    app.login(CAMILLE).await;
    assert_eq!(app.get("/modules").await.0, Status::Ok);
    app.logout().await;
    assert_eq!(app.get("/modules").await.0, Status::Unauthorized);
}

async fn start_attempt(app: &TestApp) -> String {
    for n in 1..=2 {
        app.get(&format!("/modules/base/lecons/{n}")).await;
    }
    let (status, attempt) = app.post_json("/api/v1/modules/base/attempts", "").await;
    assert_eq!(status, Status::Created);
    attempt["attempt_id"].as_str().unwrap().to_string()
}

async fn malformed_bodies_are_rejected_with_a_message(app: TestApp) {
    app.login(CAMILLE).await;
    let id = start_attempt(&app).await;
    let path = format!("/api/v1/attempts/{id}/submission");
    for body in [
        "",
        "{",
        "[]",
        r#"{"answers": 3}"#,
        r#"{"answers": {"single-1": "b"}}"#,
        r#"{"answer": {}}"#,
        r#"{"answers": {}, "extra": 1}"#,
    ] {
        let (status, err) = app.post_json(&path, body).await;
        assert!(
            status == Status::UnprocessableEntity || status == Status::BadRequest,
            "{body}: {status}"
        );
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("JSON") || message.contains("corps"),
            "{body}: {message}"
        );
    }
    // The same question twice: refused, not « the last one wins »; the attempt stays open.
    let (status, err) = app
        .post_json(
            &path,
            r#"{"answers": {"single-1": ["a"], "single-1": ["b"]}}"#,
        )
        .await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("« single-1 » apparaît deux fois"),
        "{err}"
    );
    let (_, state) = app.get_json(&format!("/api/v1/attempts/{id}")).await;
    assert_eq!(state["status"], "open");
    // Wrong content type.
    let res = app
        .client
        .post(path.as_str())
        .header(ContentType::Plain)
        .body("answers")
        .dispatch()
        .await;
    assert!(
        res.status().code >= 400 && res.status().code < 500,
        "{}",
        res.status()
    );
    // A form with a broken encoding.
    let (status, _, _) = app.post_form(&format!("/tentatives/{id}"), "q%ZZ=1").await;
    assert!(status.code >= 400 && status.code < 500, "{status}");
    // Oversized body.
    let huge = format!(r#"{{"answers": {{"x": ["{}"]}}}}"#, "a".repeat(400 * 1024));
    let (status, _) = app.post_json(&path, &huge).await;
    assert!(status.code >= 400 && status.code < 500, "{status}");
    // The attempt is still open and usable.
    let (_, state) = app.get_json(&format!("/api/v1/attempts/{id}")).await;
    assert_eq!(state["status"], "open");
}

async fn another_users_attempt_does_not_exist(app: TestApp) {
    app.login(CAMILLE).await;
    let id = start_attempt(&app).await;
    app.logout().await;
    app.login(SOPHIE).await;
    let (status, _) = app.get_json(&format!("/api/v1/attempts/{id}")).await;
    assert_eq!(status, Status::NotFound);
    let (status, _) = app.get(&format!("/tentatives/{id}")).await;
    assert_eq!(status, Status::NotFound);
    let (status, _) = app.get(&format!("/tentatives/{id}/resultat")).await;
    assert_eq!(status, Status::NotFound);
    let (status, _) = app
        .post_json(
            &format!("/api/v1/attempts/{id}/submission"),
            r#"{"answers":{}}"#,
        )
        .await;
    assert_eq!(status, Status::NotFound);
    let (status, _, _) = app.post_form(&format!("/tentatives/{id}"), "").await;
    assert_eq!(status, Status::NotFound);
    app.logout().await;
    app.login(CAMILLE).await;
    let (_, state) = app.get_json(&format!("/api/v1/attempts/{id}")).await;
    assert_eq!(state["status"], "open", "Sophie's requests changed nothing");
}

async fn invalid_answers_write_nothing(app: TestApp) {
    app.login(CAMILLE).await;
    let id = start_attempt(&app).await;
    let (_, attempt) = app.get_json(&format!("/api/v1/attempts/{id}")).await;
    let questions = attempt["attempt"]["questions"].as_array().unwrap();
    let single = questions.iter().find(|q| q["multiple"] == false).unwrap();
    let qid = single["id"].as_str().unwrap();
    let options: Vec<&str> = single["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    let path = format!("/api/v1/attempts/{id}/submission");
    let cases = [
        json!({ "answers": { "unknown-question": ["a"] } }),
        json!({ "answers": { qid: ["no-such-option"] } }),
        json!({ "answers": { qid: [options[0], options[1]] } }),
    ];
    for body in cases {
        let (status, err) = app.post_json(&path, &body.to_string()).await;
        assert_eq!(status, Status::UnprocessableEntity, "{body}");
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    }
    // Through the form too.
    let (status, _, page) = app
        .post_form(&format!("/tentatives/{id}"), "q%5Bunknown%5D=a")
        .await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(page.contains("question inconnue"), "{page}");
    let (_, state) = app.get_json(&format!("/api/v1/attempts/{id}")).await;
    assert_eq!(state["status"], "open");
    let (_, progress) = app.get_json("/api/v1/me/progress").await;
    assert_eq!(progress["completions"].as_array().unwrap().len(), 0);
}
