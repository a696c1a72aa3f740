//! Sessions live on the server: a copied cookie stops working at logout, after the idle
//! time, at « se déconnecter partout », when the role changes or the person is
//! deactivated, and a reactivation does not revive it. SQLite and PostgreSQL.

mod common;

use common::*;
use reperes::auth::session_cookie;
use reperes::people::store;
use rocket::http::{Cookie, Status};

/// The session id the browser holds now.
fn saved_session(app: &TestApp) -> String {
    app.client
        .cookies()
        .get_private(session_cookie())
        .expect("a session cookie")
        .value()
        .to_string()
}

/// A request made with a saved session cookie, as someone who copied it would.
async fn replay(app: &TestApp, session: &str) -> Status {
    app.client
        .get("/progression")
        .private_cookie(Cookie::new(session_cookie(), session.to_string()))
        .dispatch()
        .await
        .status()
}

/// An instance that reads the session at every request (no cache), to see the idle time.
async fn uncached(app: &TestApp) -> TestApp {
    TestApp::with_figment(app.backend, |f| f.merge(("session_cache_seconds", 0)))
        .await
        .expect("same backend")
}

on_both!(
    a_cookie_saved_before_logout_is_refused_after_it,
    an_idle_session_ends_after_thirty_minutes,
    logging_out_everywhere_ends_every_session_of_the_person,
    a_role_change_ends_the_person_s_sessions,
    deactivation_ends_sessions_and_reactivation_does_not_revive_them,
);

async fn a_cookie_saved_before_logout_is_refused_after_it(app: TestApp) {
    app.login(CAMILLE).await;
    let saved = saved_session(&app);
    assert_eq!(replay(&app, &saved).await, Status::Ok);
    app.logout().await;
    assert_eq!(replay(&app, &saved).await, Status::Unauthorized);
    // Nor is a cookie that names no session, or something else.
    assert_eq!(
        replay(&app, &uuid::Uuid::new_v4().to_string()).await,
        Status::Unauthorized
    );
    assert_eq!(replay(&app, "n'importe quoi").await, Status::Unauthorized);
}

async fn an_idle_session_ends_after_thirty_minutes(app: TestApp) {
    let app = uncached(&app).await;
    app.login(CAMILLE).await;
    let saved = saved_session(&app);
    let id = uuid::Uuid::parse_str(&saved).unwrap();
    let set_last_seen = |minutes: i64| {
        let at = reperes::db::now() - chrono::Duration::minutes(minutes);
        let db = app.database().clone();
        async move {
            reperes::on_db!(&db, pool => sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
                .bind(at).bind(id).execute(pool).await.map(|_| ())).unwrap();
        }
    };
    // 29 minutes without a request: still open, and the request counts as activity.
    set_last_seen(29).await;
    assert_eq!(replay(&app, &saved).await, Status::Ok);
    let row = reperes::auth::sessions::find(app.database(), id)
        .await
        .unwrap()
        .unwrap();
    assert!(reperes::db::now() - row.last_seen_at < chrono::Duration::minutes(1));
    // 31 minutes: ended.
    set_last_seen(31).await;
    assert_eq!(replay(&app, &saved).await, Status::Unauthorized);
}

async fn logging_out_everywhere_ends_every_session_of_the_person(app: TestApp) {
    app.login(CAMILLE).await;
    let first = saved_session(&app);
    app.login(CAMILLE).await;
    let second = saved_session(&app);
    assert_ne!(first, second);
    app.login(SOPHIE).await;
    let other_person = saved_session(&app);
    app.login(CAMILLE).await;
    let (status, to, _) = app.post_form("/auth/deconnexion-partout", "").await;
    assert_eq!((status, to.as_str()), (Status::SeeOther, "/connexion"));
    for s in [&first, &second] {
        assert_eq!(replay(&app, s).await, Status::Unauthorized);
    }
    assert_eq!(
        replay(&app, &other_person).await,
        Status::Ok,
        "another person's session is untouched"
    );
    assert_eq!(app.get("/progression").await.0, Status::Unauthorized);
}

async fn a_role_change_ends_the_person_s_sessions(app: TestApp) {
    app.login(CAMILLE).await;
    let camille_session = saved_session(&app);
    app.login(ADMIN).await;
    let camille = store::find_by_email(app.database(), CAMILLE)
        .await
        .unwrap()
        .unwrap();
    let (status, _, _) = app
        .post_form(&format!("/personnes/{}/role", camille.id), "role=manager")
        .await;
    assert_eq!(status, Status::SeeOther);
    assert_eq!(replay(&app, &camille_session).await, Status::Unauthorized);
    // The admin who made the change keeps their session; Camille signs in again.
    assert_eq!(app.get("/personnes").await.0, Status::Ok);
    app.login(CAMILLE).await;
    assert_eq!(app.get("/personnes").await.0, Status::Ok, "now a manager");
}

const HEADER: &str =
    "matricule;courriel;nom;prenom;service;publics;fonction;date_entree;sexe;categorie";

async fn deactivation_ends_sessions_and_reactivation_does_not_revive_them(app: TestApp) {
    // The import may run on another instance: read the session at every request.
    let app = uncached(&app).await;
    let line = "D1;dora@ville.test;Dupont;Dora;Ville/Accueil;accueil;;2020-01-01;;";
    let other = "D2;eli@ville.test;Eli;Marc;Ville/Accueil;accueil;;2020-01-01;;";
    import_directory(&app, &format!("{HEADER}\n{line}\n{other}\n")).await;
    let dora = store::find_by_email(app.database(), "dora@ville.test")
        .await
        .unwrap()
        .unwrap();
    let session = reperes::auth::sessions::open(app.database(), dora.id, reperes::db::now(), 10)
        .await
        .unwrap()
        .to_string();
    assert_eq!(replay(&app, &session).await, Status::Ok);

    // Dora leaves the directory: deactivated, her session ends with it.
    import_directory(&app, &format!("{HEADER}\n{other}\n")).await;
    assert_eq!(replay(&app, &session).await, Status::Unauthorized);
    // She comes back: her old cookie stays dead.
    import_directory(&app, &format!("{HEADER}\n{line}\n{other}\n")).await;
    assert_eq!(replay(&app, &session).await, Status::Unauthorized);
}
