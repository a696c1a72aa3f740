//! Identity: city sign-in against a real OIDC provider, partner sign-in links through a
//! real SMTP server, the directory import, API tokens. SQLite and PostgreSQL.

mod common;

use common::external::{mails, oidc_login, oidc_provider, smtp_server, wait_for_mail};
use common::*;
use rocket::http::{ContentType, Header, Status};
use serde_json::json;

const REDIRECT: &str = "http://127.0.0.1:8000/auth/oidc/callback";

on_both!(
    the_people_list_searches_filters_sorts_and_counts,
    the_hr_file_cannot_take_over_partners_or_admins_and_asks_before_mass_deactivation,
    a_client_cannot_choose_its_own_address,
    a_manager_s_subtree_is_case_sensitive,
    the_development_sign_in_opens_demo_accounts_only,
    a_wide_csv_header_gets_a_bounded_answer,
    directory_import_page_and_cli_rules,
    api_tokens,
    audit_log_is_append_only,
);

/// An app configured against `issuer`.
async fn oidc_app(backend: Backend, issuer: &str) -> Option<TestApp> {
    let issuer = issuer.to_string();
    TestApp::with_figment(backend, move |f| {
        f.merge(("oidc", json!({
            "issuer": issuer,
            "client_id": "reperes",
            "client_secret": "test-secret",
            "redirect_url": REDIRECT,
            "roles_claim": "groups",
            "role_map": { "reperes-rh": "hr", "reperes-admins": "admin", "reperes-agents": "learner" },
        })))
    })
    .await
}

/// Starts the sign-in at Repères; returns the provider URL it redirects to.
async fn start_oidc(app: &TestApp) -> String {
    let (status, location) = app.get_redirect("/auth/oidc/login?next=/progression").await;
    assert_eq!(status, Status::SeeOther);
    assert!(
        location.contains("code_challenge_method=S256") && location.contains("nonce="),
        "{location}"
    );
    location
}

fn callback_path(url: &str) -> String {
    url.strip_prefix("http://127.0.0.1:8000")
        .unwrap_or_else(|| panic!("unexpected redirect {url}"))
        .to_string()
}

async fn oidc_end_to_end(backend: Backend) {
    let provider = oidc_provider(REDIRECT);
    let Some(app) = oidc_app(backend, &provider.ready).await else {
        return;
    };

    let back = oidc_login(&start_oidc(&app).await, "rh", false);
    let callback = callback_path(&back);
    let (status, to) = app.get_redirect(&callback).await;
    assert_eq!((status, to.as_str()), (Status::SeeOther, "/progression"));
    let (status, page) = app.get("/progression").await;
    assert_eq!(status, Status::Ok);
    assert!(
        page.contains("Thomas Girard"),
        "the name comes from the claims"
    );
    // The groups claim made this person HR.
    assert_eq!(app.get("/personnes").await.0, Status::Ok);
    assert_eq!(app.get("/rh/import").await.0, Status::Ok);

    // A replayed callback finds no login state.
    let (status, page) = app.get(&callback).await;
    assert_eq!(status, Status::BadRequest);
    assert!(page.contains("a expiré ou a déjà été utilisée"), "{page}");

    // Signing in again updates the same person, no duplicate.
    app.logout().await;
    let back = oidc_login(&start_oidc(&app).await, "rh", false);
    assert_eq!(
        app.get_redirect(&callback_path(&back)).await.0,
        Status::SeeOther
    );
    let count: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE oidc_subject = 'rh-0002'").fetch_one(pool).await).unwrap();
    assert_eq!(count, 1);
    let kinds: Vec<String> = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT kind FROM audit_events WHERE actor = 'rh@ville.test' ORDER BY at").fetch_all(pool).await).unwrap();
    assert_eq!(
        kinds.iter().filter(|k| *k == "sign_in").count(),
        2,
        "{kinds:?}"
    );

    // A learner: no HR pages.
    app.logout().await;
    let back = oidc_login(&start_oidc(&app).await, "agent", false);
    app.get_redirect(&callback_path(&back)).await;
    assert_eq!(app.get("/personnes").await.0, Status::Forbidden);
}

/// The first city sign-in links only a directory agent, only by a verified address, and
/// leaves the directory's name (the certificates' name) as it is; partners are never taken
/// over; the last administrator cannot be demoted.
async fn oidc_linking_rules(backend: Backend) {
    let provider = oidc_provider(REDIRECT);
    let Some(app) = oidc_app(backend, &provider.ready).await else {
        return;
    };
    let csv = format!(
        "{HEADER}\nD1;dora@ville.test;Dupont;Dora;Ville/Accueil;accueil;;2020-01-01;;\n\
         D2;ines.dir@ville.test;Annuaire;Ines;Ville/Accueil;accueil;;2020-01-01;;\n"
    );
    import_directory(&app, &csv).await;
    let subject_of = |email: &'static str| {
        let db = app.database().clone();
        async move {
            let s: Option<String> = reperes::on_db!(&db, pool => sqlx::query_scalar("SELECT oidc_subject FROM users WHERE email = $1").bind(email).fetch_one(pool).await).unwrap();
            s
        }
    };

    // An address the provider does not vouch for: refused, Dora's record untouched.
    let back = oidc_login(&start_oidc(&app).await, "nonverifie", false);
    let (status, page) = app.get(&callback_path(&back)).await;
    assert_eq!(status, Status::Forbidden, "{page}");
    assert!(page.contains("pas pu être rattaché"), "{page}");
    assert_eq!(subject_of("dora@ville.test").await, None);
    // A partner's address, even verified: never taken over.
    let back = oidc_login(&start_oidc(&app).await, "partenaire", false);
    assert_eq!(app.get(&callback_path(&back)).await.0, Status::Forbidden);
    assert_eq!(subject_of("aicha.diallo@demo.reperes.test").await, None);
    // A directory agent with a verified address: linked, the directory's name kept.
    let back = oidc_login(&start_oidc(&app).await, "annuaire", false);
    assert_eq!(
        app.get_redirect(&callback_path(&back)).await.0,
        Status::SeeOther
    );
    assert_eq!(
        subject_of("ines.dir@ville.test").await.as_deref(),
        Some("dir-0005")
    );
    let (_, page) = app.get("/progression").await;
    assert!(
        page.contains("Ines Annuaire") && !page.contains("Nom-Modifié"),
        "{page}"
    );

    // The only administrator cannot be made something else.
    app.logout().await;
    app.login(ADMIN).await;
    let admin = reperes::people::store::find_by_email(app.database(), ADMIN)
        .await
        .unwrap()
        .unwrap();
    let (status, _, page) = app
        .post_form(&format!("/personnes/{}/role", admin.id), "role=learner")
        .await;
    assert_eq!(status, Status::Conflict, "{page}");
    assert!(page.contains("dernier compte administrateur"), "{page}");
    assert_eq!(
        app.get("/admin/journal").await.0,
        Status::Ok,
        "still an admin"
    );
}

#[rocket::async_test]
async fn oidc_linking_rules_sqlite() {
    oidc_linking_rules(Backend::Sqlite).await;
}

#[rocket::async_test]
async fn oidc_linking_rules_postgres() {
    oidc_linking_rules(Backend::Postgres).await;
}

#[rocket::async_test]
async fn oidc_sign_in_end_to_end_sqlite() {
    oidc_end_to_end(Backend::Sqlite).await;
}

#[rocket::async_test]
async fn oidc_sign_in_end_to_end_postgres() {
    oidc_end_to_end(Backend::Postgres).await;
}

#[rocket::async_test]
async fn oidc_failures_give_clear_pages() {
    let provider = oidc_provider(REDIRECT);
    let app = oidc_app(Backend::Sqlite, &provider.ready).await.unwrap();

    // Denied consent.
    let back = oidc_login(&start_oidc(&app).await, "agent", true);
    assert!(back.contains("error=access_denied"));
    let (status, page) = app.get(&callback_path(&back)).await;
    assert_eq!(status, Status::Forbidden);
    assert!(page.contains("La connexion a été refusée"), "{page}");

    // Another state than the one sent.
    let back = oidc_login(&start_oidc(&app).await, "agent", false);
    let forged = callback_path(&back).replace("state=", "state=x");
    let (status, page) = app.get(&forged).await;
    assert_eq!(status, Status::BadRequest);
    assert!(page.contains("ne correspond pas à votre demande"), "{page}");

    // A code issued to another application (another audience).
    let url = start_oidc(&app)
        .await
        .replace("client_id=reperes", "client_id=autre-appli");
    let back = oidc_login(&url, "agent", false);
    let (status, page) = app.get(&callback_path(&back)).await;
    assert_eq!(status, Status::Forbidden);
    assert!(page.contains("destiné à une autre application"), "{page}");

    // An expired login state (started 11 minutes ago).
    let url = start_oidc(&app).await;
    let state = url
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let old = json!({ "state": state, "nonce": "n", "verifier": "v", "next": "/modules",
                      "started": chrono::Utc::now().timestamp() - 11 * 60 });
    let res = app
        .client
        .get(format!("/auth/oidc/callback?code=abc&state={state}"))
        .private_cookie(
            rocket::http::Cookie::build(("__Secure-reperes_oidc", old.to_string()))
                .path("/auth/oidc"),
        )
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::BadRequest);
    assert!(res.into_string().await.unwrap().contains("a expiré"));

    let failures: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE kind = 'sign_in_failed'").fetch_one(pool).await).unwrap();
    assert!(failures >= 4, "{failures} failed sign-ins logged");

    // The provider down.
    drop(provider);
    let down = oidc_app(Backend::Sqlite, "http://127.0.0.1:9")
        .await
        .unwrap();
    let (status, page) = down.get("/auth/oidc/login").await;
    assert_eq!(status, Status::ServiceUnavailable);
    assert!(page.contains("ne répond pas"), "{page}");
}

#[rocket::async_test]
async fn magic_link_sign_in_with_real_smtp_sqlite() {
    magic_link(Backend::Sqlite).await;
}

#[rocket::async_test]
async fn magic_link_sign_in_with_real_smtp_postgres() {
    magic_link(Backend::Postgres).await;
}

fn link_in(mail: &str) -> String {
    let start = mail.find("/connexion/lien/").expect("a link in the mail");
    mail[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

async fn magic_link(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let smtp = smtp_server(&maildir);
    let port: u16 = smtp.ready.parse().unwrap();
    let Some(app) = TestApp::with_figment(backend, move |f| {
        // The scheduler's outbox job sends the outbox to the real SMTP server.
        f.merge(("smtp_host", "127.0.0.1"))
            .merge(("smtp_port", port))
            .merge(("public_url", "http://127.0.0.1:8000"))
            .merge(("scheduler", true))
            .merge(("outbox_poll_seconds", 1))
    })
    .await
    else {
        return;
    };

    // A partner's address: a mail with a one-time link.
    let (status, to, _) = app
        .post_form("/connexion/lien", "email=aicha.diallo%40demo.reperes.test")
        .await;
    assert_eq!(
        (status, to.as_str()),
        (Status::SeeOther, "/connexion?envoye=true")
    );
    let mail = wait_for_mail(&maildir, 1);
    assert!(mail.contains("aicha.diallo@demo.reperes.test"));
    assert!(mail.contains("Aïcha Diallo"), "{mail}");
    let link = link_in(&mail);
    assert_eq!(link.len(), "/connexion/lien/".len() + 64);

    // Opening the link shows a confirmation; only its button signs in.
    let (status, page) = app.get(&link).await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("Me connecter"));
    assert_eq!(app.get("/modules").await.0, Status::Unauthorized);
    let (status, to, _) = app.post_form(&link, "").await;
    assert_eq!((status, to.as_str()), (Status::SeeOther, "/modules"));
    let (status, page) = app.get("/modules").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("Aïcha Diallo"));

    // Single use.
    app.logout().await;
    let (status, _, page) = app.post_form(&link, "").await;
    assert_eq!(status, Status::Forbidden);
    assert!(page.contains("déjà servi"), "{page}");

    // Unknown address and a city agent: the same answer, no mail.
    for email in [
        "personne%40nulle-part.test",
        "camille.martin%40demo.reperes.test",
    ] {
        let (status, to, _) = app
            .post_form("/connexion/lien", &format!("email={email}"))
            .await;
        assert_eq!(
            (status, to.as_str()),
            (Status::SeeOther, "/connexion?envoye=true")
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        mails(&maildir).len(),
        1,
        "no mail for unknown or city addresses"
    );

    // Expiry: a link older than 15 minutes is refused.
    app.post_form("/connexion/lien", "email=lea.petit%40demo.reperes.test")
        .await;
    let link = link_in(&wait_for_mail(&maildir, 2));
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    reperes::on_db!(app.database(), pool => sqlx::query("UPDATE login_links SET expires_at = $1 WHERE used_at IS NULL").bind(past).execute(pool).await.map(|_| ())).unwrap();
    let (status, _, page) = app.post_form(&link, "").await;
    assert_eq!(status, Status::Forbidden);
    assert!(page.contains("expiré"), "{page}");

    // Rate limit per address: the fourth request within 15 minutes is refused.
    let mut last = Status::Ok;
    for _ in 0..4 {
        last = app
            .post_form("/connexion/lien", "email=malik.haddad%40demo.reperes.test")
            .await
            .0;
    }
    assert_eq!(last, Status::TooManyRequests);
}

const HEADER: &str =
    "matricule;courriel;nom;prenom;service;publics;fonction;date_entree;sexe;categorie";

fn multipart(csrf: &str, csv: &str, dry_run: bool) -> (ContentType, String) {
    let b = "----reperesboundary";
    let mut body =
        format!("--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n");
    body.push_str(&format!("--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"export.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n"));
    if dry_run {
        body.push_str(&format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n\r\ntrue\r\n"
        ));
    }
    body.push_str(&format!("--{b}--\r\n"));
    (
        ContentType::new("multipart", "form-data").with_params(("boundary", b)),
        body,
    )
}

async fn upload(app: &TestApp, csv: &str, dry_run: bool) -> (Status, String) {
    let csrf = app.csrf().await;
    let (ct, body) = multipart(&csrf, csv, dry_run);
    let res = app
        .client
        .post("/rh/import")
        .header(ct)
        .body(body)
        .dispatch()
        .await;
    let status = res.status();
    (status, res.into_string().await.unwrap_or_default())
}

/// HR and managers search the people list by name, e-mail or employee number, filter it by
/// unit, audience and state, sort it and page through it with a visible count; the scope
/// of the viewer still applies underneath.
async fn the_people_list_searches_filters_sorts_and_counts(app: TestApp) {
    use reperes::people::directory::{run, Safeguard};
    let event = reperes::audit::Event::by(None, reperes::audit::Kind::Import, "test");
    let mut csv = format!("{HEADER}\n");
    for i in 0..150 {
        let (unit, audience) = if i % 3 == 0 {
            (
                "Ville de Nancy/Direction de la citoyenneté/Accueil et état civil",
                "accueil",
            )
        } else {
            ("Ville de Nancy/Solidarités/CCAS", "social")
        };
        csv.push_str(&format!(
            "S{i:03};agent{i:03}@ville.test;Zorro{i:03};Ana;{unit};{audience};;2020-01-01;;\n"
        ));
    }
    run(app.database(), &csv, false, Safeguard::default(), event)
        .await
        .unwrap()
        .unwrap();
    reperes::on_db!(app.database(), pool => sqlx::query("UPDATE users SET active = FALSE WHERE email = 'agent149@ville.test'").execute(pool).await.map(|_| ())).unwrap();

    app.login(KARIM).await;
    let people = |v: &serde_json::Value| -> Vec<String> {
        v["people"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["email"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, all) = app
        .get_json("/api/v1/people?q=zorro&limit=50&offset=100")
        .await;
    assert_eq!(status, Status::Ok, "{all}");
    assert_eq!(all["total"], 149, "the deactivated one is not counted");
    assert_eq!(people(&all).len(), 49);
    assert_eq!(people(&all)[0], "agent100@ville.test", "sorted by name");
    let (_, one) = app.get_json("/api/v1/people?q=S042").await;
    assert_eq!(
        people(&one),
        ["agent042@ville.test"],
        "employee number, exact"
    );
    let (_, by_mail) = app.get_json("/api/v1/people?q=AGENT04").await;
    assert_eq!(by_mail["total"], 10, "part of an e-mail, any case");
    let (_, accueil) = app
        .get_json("/api/v1/people?q=zorro&audience=accueil")
        .await;
    assert_eq!(accueil["total"], 50);
    let (_, ccas) = app
        .get_json("/api/v1/people?q=zorro&org_unit=Ville%20de%20Nancy%2FSolidarit%C3%A9s")
        .await;
    assert_eq!(ccas["total"], 99);
    let (_, gone) = app.get_json("/api/v1/people?q=zorro&active=inactive").await;
    assert_eq!(people(&gone), ["agent149@ville.test"]);
    let (_, by_unit) = app
        .get_json("/api/v1/people?q=zorro&sort=org_unit&limit=1")
        .await;
    assert_eq!(
        people(&by_unit),
        ["agent000@ville.test"],
        "Direction… before Solidarités"
    );
    let (status, err) = app.get_json("/api/v1/people?active=peut-etre").await;
    assert_eq!(status, Status::BadRequest);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("actifs, inactifs ou tous"));

    // The page: the count, and page links that keep the search.
    let (status, page) = app.get("/personnes?q=zorro&etat=actifs&page=1").await;
    assert_eq!(status, Status::Ok);
    assert!(
        page.contains("149 personne(s) correspondant à la recherche — page 1 sur 2"),
        "{page}"
    );
    assert!(
        // As Handlebars escapes it: `=` is `&#x3D;`, `&` is `&amp;`.
        page.contains("href=\"/personnes?q&#x3D;zorro&amp;etat&#x3D;actifs&amp;page&#x3D;2\""),
        "{page}"
    );
    let (_, second) = app.get("/personnes?q=zorro&etat=actifs&page=2").await;
    assert!(
        second.contains("page 2 sur 2") && second.contains("Ana Zorro148"),
        "{second}"
    );

    // A manager's scope applies under any filter.
    app.logout().await;
    app.login("jean-pierre.muller@demo.reperes.test").await;
    let (_, mine) = app
        .get_json("/api/v1/people?q=zorro&org_unit=Ville%20de%20Nancy%2FSolidarit%C3%A9s")
        .await;
    assert_eq!(mine["total"], 0, "{mine}");
    let (_, mine) = app.get_json("/api/v1/people?q=zorro").await;
    assert_eq!(
        mine["total"], 50,
        "only the reception agents of his direction"
    );
}

/// The HR file never links or rewrites a partner's account or an administrator; an import
/// that would deactivate more than 10 % of the directory asks for a confirmation; every
/// changed person is audited with the fields that changed; the API takes files larger than
/// 64 KiB, as the page does.
async fn the_hr_file_cannot_take_over_partners_or_admins_and_asks_before_mass_deactivation(
    app: TestApp,
) {
    use reperes::people::directory::{run, Safeguard};
    let event = || reperes::audit::Event::by(None, reperes::audit::Kind::Import, "test");
    for email in [AICHA, ADMIN] {
        let csv = format!("{HEADER}\nX1;{email};Nom;Prenom;Ville/Accueil;accueil;;2020-01-01;;\n");
        let lines = run(app.database(), &csv, false, Safeguard::default(), event())
            .await
            .unwrap()
            .expect_err("refused");
        assert!(
            lines[0]
                .message
                .contains("partner's account or an administrator"),
            "{email}: {lines:?}"
        );
    }

    let line = |i: usize, unit: &str| {
        format!("P{i};p{i}@ville.test;Nom{i};Prenom;{unit};accueil;;2020-01-01;;\n")
    };
    let all: String = (0..20).map(|i| line(i, "Ville/Accueil")).collect();
    run(
        app.database(),
        &format!("{HEADER}\n{all}"),
        false,
        Safeguard::default(),
        event(),
    )
    .await
    .unwrap()
    .unwrap();
    // A truncated file: two people left out of twenty would be eighteen deactivations.
    let two = format!(
        "{HEADER}\n{}{}",
        line(0, "Ville/Accueil"),
        line(1, "Ville/État civil")
    );
    let lines = run(app.database(), &two, false, Safeguard::default(), event())
        .await
        .unwrap()
        .expect_err("asks for a confirmation");
    assert!(
        lines[0].message.contains("would deactivate 18 of the 20"),
        "{lines:?}"
    );
    let (active, _) = count_directory(&app).await;
    assert_eq!(active, 20, "nothing deactivated");
    // Confirmed: done, and each person audited with what changed.
    let confirmed = Safeguard {
        confirmed: true,
        ..Safeguard::default()
    };
    let report = run(app.database(), &two, false, confirmed, event())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.deactivated, 18);
    let details: Vec<(String, String)> = reperes::on_db!(app.database(), pool => sqlx::query_as("SELECT subject, details FROM audit_events WHERE kind = 'import'").fetch_all(pool).await).unwrap();
    assert!(
        details.contains(&(
            "p1@ville.test".into(),
            "modifié par l'import : service".into()
        )),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|(s, d)| s == "p7@ville.test" && d.contains("désactivé")),
        "{details:?}"
    );

    // The API: a 100 KB file goes through, as it would through the page.
    let (_, token) = reperes::auth::tokens::create(
        app.database(),
        "rw",
        reperes::auth::tokens::TokenScope::ReadWrite,
        None,
        None,
    )
    .await
    .unwrap();
    let big: String = (100..1600).map(|i| line(i, "Ville/Accueil")).collect();
    let body = format!(
        "{HEADER}\n{}{}{big}",
        line(0, "Ville/Accueil"),
        line(1, "Ville/État civil")
    );
    assert!(body.len() > 64 * 1024, "{} bytes", body.len());
    let res = app
        .client
        .post("/api/v1/directory/import?dry_run=true")
        .header(rocket::http::Header::new(
            "Authorization",
            format!("Bearer {token}"),
        ))
        .header(rocket::http::ContentType::CSV)
        .body(body)
        .dispatch()
        .await;
    let (status, json) = json_of(res).await;
    assert_eq!(status, Status::Ok, "{json}");
    assert_eq!(json["report"]["created"], 1500);
}

/// The client-address header is off unless configured: a client that sends its own
/// `X-Real-IP` neither escapes the per-client limit nor writes that address in the audit log.
async fn a_client_cannot_choose_its_own_address(app: TestApp) {
    let mut statuses = vec![];
    for i in 0..11 {
        let csrf = app.csrf().await;
        let res = app
            .client
            .post("/connexion/lien")
            .header(rocket::http::ContentType::Form)
            .header(rocket::http::Header::new(
                "X-Real-IP",
                format!("203.0.113.{i}"),
            ))
            .body(format!("csrf={csrf}&email=inconnu{i}%40exemple.test"))
            .dispatch()
            .await;
        statuses.push(res.status().code);
    }
    assert_eq!(&statuses[..10], &[303; 10]);
    assert_eq!(
        statuses[10], 429,
        "the 11th request from one client is refused"
    );
    let csrf = app.csrf().await;
    let res = app
        .client
        .post("/auth/dev")
        .header(rocket::http::ContentType::Form)
        .header(rocket::http::Header::new("X-Real-IP", "203.0.113.99"))
        .body(format!("csrf={csrf}&email=personne%40exemple.test"))
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::UnprocessableEntity);
    let clients: Vec<String> = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT client FROM audit_events").fetch_all(pool).await).unwrap();
    assert!(
        clients.iter().all(|c| !c.starts_with("203.0.113.")),
        "{clients:?}"
    );
}

/// A manager of `…/CCAS` sees the people of `…/CCAS` and below, not those of `…/Ccas/…`
/// (SQLite's LIKE ignored case), in the list as in the certificate export's scope.
async fn a_manager_s_subtree_is_case_sensitive(app: TestApp) {
    let csv = format!(
        "{HEADER}\nC1;ines@ville.test;Ines;Ana;Ville de Nancy/CCAS;social;;2020-01-01;;\n\
         C2;noe@ville.test;Noe;Lou;Ville de Nancy/CCAS/Antenne Nord;social;;2020-01-01;;\n\
         C3;yann@ville.test;Yann;Eva;Ville de Nancy/Ccas/Antenne Sud;social;;2020-01-01;;\n"
    );
    import_directory(&app, &csv).await;
    reperes::on_db!(app.database(), pool => sqlx::query(
        "UPDATE users SET org_unit_id = (SELECT id FROM org_units WHERE path = 'Ville de Nancy/CCAS') WHERE email = $1"
    ).bind("jean-pierre.muller@demo.reperes.test").execute(pool).await.map(|_| ())).unwrap();
    app.login("jean-pierre.muller@demo.reperes.test").await;
    let (status, body) = app.get_json("/api/v1/people?limit=1000").await;
    assert_eq!(status, Status::Ok);
    let text = body.to_string();
    assert!(
        text.contains("ines@ville.test") && text.contains("noe@ville.test"),
        "{text}"
    );
    assert!(
        !text.contains("yann@ville.test"),
        "another unit whose name differs by case: {text}"
    );
}

/// The development sign-in opens the demo seed's accounts and nothing else: not a person
/// of the directory, not a demo account the directory has taken over. A build that has it
/// refuses to start without demo data or away from this machine.
async fn the_development_sign_in_opens_demo_accounts_only(app: TestApp) {
    let csv = format!(
        "{HEADER}\nD1;dora@ville.test;Dupont;Dora;Ville/Accueil;accueil;;2020-01-01;;\n\
         D2;camille.martin@demo.reperes.test;Martin;Camille;Ville/Accueil;accueil;;2020-01-01;;\n"
    );
    import_directory(&app, &csv).await;
    for email in ["dora%40ville.test", "camille.martin%40demo.reperes.test"] {
        let (status, _, body) = app.post_form("/auth/dev", &format!("email={email}")).await;
        assert_eq!(status, Status::UnprocessableEntity, "{email}");
        assert!(body.contains("comptes de démonstration"), "{body}");
    }
    app.login(SOPHIE).await;

    for (key, value, says) in [
        ("demo", json!(false), "demo = true"),
        ("public_url", json!("https://reperes.nancy.fr"), "loopback"),
    ] {
        let db = TestDb::new(app.backend).await.unwrap();
        let figment = common::figment(&db.url, "tests/fixtures/courses").merge((key, value));
        let Err(err) = reperes::build(figment).await else {
            panic!("{key}: the service started");
        };
        let text = err.to_string();
        assert!(
            text.contains("development sign-in") && text.contains(says),
            "{text}"
        );
    }
}

/// A 1 MB upload of `a,a,a,…` (and one of many bad lines with long values): a short page,
/// nothing imported.
async fn a_wide_csv_header_gets_a_bounded_answer(app: TestApp) {
    app.login(KARIM).await;
    let before = count_directory(&app).await;
    let wide = "a,".repeat(512 * 1024);
    let (status, page) = upload(&app, &wide, false).await;
    assert_eq!(
        status,
        Status::UnprocessableEntity,
        "{}",
        &page[..page.len().min(500)]
    );
    assert!(page.len() < 20_000, "a {} byte page", page.len());
    assert!(
        page.contains("at most 40 are accepted"),
        "{}",
        &page[..page.len().min(2000)]
    );

    let long = "x".repeat(2_000);
    let mut file = format!("{HEADER}\n");
    for i in 0..400 {
        file.push_str(&format!("M{i};{long};N;P;Ville/S;tous;;2020-01-01;;\n"));
    }
    let (status, page) = upload(&app, &file, false).await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(page.len() < 100_000, "a {} byte page", page.len());
    assert!(
        page.contains("300 more problems"),
        "{}",
        &page[..page.len().min(2000)]
    );
    assert_eq!(count_directory(&app).await, before, "nothing imported");
}

async fn count_directory(app: &TestApp) -> (i64, i64) {
    reperes::on_db!(app.database(), pool => {
        let active: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE source = 'directory' AND active").fetch_one(pool).await.unwrap();
        let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE source = 'directory'").fetch_one(pool).await.unwrap();
        (active, all)
    })
}

async fn directory_import_page_and_cli_rules(app: TestApp) {
    app.login(KARIM).await;
    let csv = format!(
        "{HEADER}\nA100;nadia.bouzid@ville.test;Bouzid;Nadia;Ville de Nancy/Direction de la citoyenneté/Accueil et état civil;accueil tous;Agente d'accueil;2019-03-01;F;C\n\
         A101;thomas.girard@ville.test;Girard;Thomas;Ville de Nancy/Direction des ressources humaines;rh;Gestionnaire;01/09/2020;M;B\n\
         A102;camille.martin@demo.reperes.test;Martin;Camille;Ville de Nancy/Direction de la citoyenneté/Accueil et état civil;accueil;;2018-01-15;;\n"
    );
    // Dry run: reports, writes nothing.
    let (status, page) = upload(&app, &csv, true).await;
    assert_eq!(status, Status::Ok, "{page}");
    assert!(page.contains("Essai à blanc"), "{page}");
    assert!(page.contains("2 personne(s) à créer"), "{page}");
    assert!(
        page.contains("1 personne(s) à modifier"),
        "an existing demo person is matched by e-mail: {page}"
    );
    assert_eq!(count_directory(&app).await, (0, 0));

    // Real import, then the same file again: nothing changes (idempotent).
    let (status, page) = upload(&app, &csv, false).await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("Import enregistré"));
    assert_eq!(count_directory(&app).await, (3, 3));
    let (_, page) = upload(&app, &csv, false).await;
    assert!(page.contains("3 personne(s) inchangée(s)"), "{page}");

    // A bad file: every bad line reported, nothing imported.
    let bad = format!("{HEADER}\nA200;new@ville.test;New;Person;Ville de Nancy/CCAS;tous;;2021-01-01;;\nA201;pas-une-adresse;X;Y;Ville de Nancy/CCAS;pompiers;;2021-13-01;;\n");
    let (status, page) = upload(&app, &bad, false).await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(page.contains("line 3: invalid e-mail address"), "{page}");
    assert!(page.contains("line 3: unknown audience"), "{page}");
    assert_eq!(count_directory(&app).await, (3, 3));

    // Someone leaves: deactivated, not deleted; their sign-in stops working.
    let without_thomas: String = csv
        .lines()
        .filter(|l| !l.starts_with("A101"))
        .collect::<Vec<_>>()
        .join("\n");
    let (_, page) = upload(&app, &without_thomas, false).await;
    assert!(page.contains("1 personne(s) désactivée(s)"), "{page}");
    assert_eq!(count_directory(&app).await, (2, 3));

    // The new people are in the org tree: the manager of the citizenship direction sees
    // Nadia, not Thomas.
    app.logout().await;
    app.login("jean-pierre.muller@demo.reperes.test").await;
    let (_, page) = app.get("/personnes").await;
    assert!(
        page.contains("Nadia Bouzid") && page.contains("Camille Martin"),
        "{page}"
    );
    assert!(
        !page.contains("Thomas Girard") && !page.contains("Sophie Nguyen"),
        "{page}"
    );

    let details: Vec<String> = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT details FROM audit_events WHERE kind = 'import'").fetch_all(pool).await).unwrap();
    let summaries = details.iter().filter(|d| d.contains(" lignes : ")).count();
    assert_eq!(summaries, 3, "one summary per real import: {details:?}");
    let per_person = details
        .iter()
        .filter(|d| d.starts_with("modifié par l'import") || d.starts_with("désactivé"))
        .count();
    assert_eq!(
        summaries + per_person,
        details.len(),
        "and one line per changed or deactivated person: {details:?}"
    );
    assert!(per_person >= 1, "{details:?}");
}

#[test]
fn people_import_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cli.db").display());
    let file = dir.path().join("export.csv");
    std::fs::write(
        &file,
        format!("{HEADER}\nA1;a@ville.test;Arnaud;Alix;Ville/Service;tous;;2020-01-01;;\n"),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_reperes");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .env("REPERES_DATABASE_URL", &db)
            .output()
            .unwrap()
    };
    let out = run(&["people", "import", file.to_str().unwrap(), "--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("dry run, nothing written. 1 rows: 1 to create"));
    let out = run(&["people", "import", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 to create"));
    let out = run(&["people", "import", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("0 to create, 0 to change, 0 to deactivate, 1 unchanged"));
    std::fs::write(
        &file,
        format!("{HEADER}\nA1;bad;Arnaud;Alix;Ville/Service;tous;;2020-01-01;;\n"),
    )
    .unwrap();
    let out = run(&["people", "import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("line 2: invalid e-mail address"));
    let out = run(&[
        "tokens",
        "create",
        "--name",
        "outil de pilotage",
        "--scope",
        "read",
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout)
        .trim()
        .starts_with("rpr_"));
}

async fn api_tokens(app: TestApp) {
    app.login(ADMIN).await;
    let (status, _, page) = app
        .post_form("/admin/jetons", "name=Pilotage+RH&scope=read")
        .await;
    assert_eq!(status, Status::Ok);
    let start = page.find("rpr_").expect("the token is shown once");
    let token: String = page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let (_, _, page) = app
        .post_form("/admin/jetons", "name=Import+SIRH&scope=read_write")
        .await;
    let start = page.find("rpr_").unwrap();
    let rw: String = page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    app.logout().await;

    let bearer = |t: &str| Header::new("Authorization", format!("Bearer {t}"));
    let res = app
        .client
        .get("/api/v1/people")
        .header(bearer(&token))
        .dispatch()
        .await;
    let (status, body) = json_of(res).await;
    assert_eq!(status, Status::Ok);
    assert!(body["people"].as_array().unwrap().len() >= 9);
    // A token is not a person.
    let res = app
        .client
        .get("/api/v1/me/progress")
        .header(bearer(&token))
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::Forbidden);
    // Read-only cannot import; read-write can.
    let csv = format!("{HEADER}\nT1;t@ville.test;T;T;Ville/Service;tous;;2020-01-01;;\n");
    let res = app
        .client
        .post("/api/v1/directory/import?dry_run=true")
        .header(bearer(&token))
        .header(ContentType::CSV)
        .body(csv.clone())
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::Forbidden);
    let res = app
        .client
        .post("/api/v1/directory/import?dry_run=true")
        .header(bearer(&rw))
        .header(ContentType::CSV)
        .body(csv)
        .dispatch()
        .await;
    let (status, body) = json_of(res).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["report"]["created"], 1);
    assert_eq!(body["report"]["dry_run"], true);
    // Unknown token.
    let res = app
        .client
        .get("/api/v1/people")
        .header(bearer("rpr_0000"))
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::Unauthorized);
    // Stored hashed only.
    let stored: Vec<String> = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT token_hash FROM api_tokens").fetch_all(pool).await).unwrap();
    assert!(stored
        .iter()
        .all(|h| h.len() == 64 && !h.starts_with("rpr_")));

    // Revocation.
    app.login(ADMIN).await;
    let id: uuid::Uuid = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = 'Pilotage RH'").fetch_one(pool).await).unwrap();
    let (status, _, _) = app
        .post_form(&format!("/admin/jetons/{id}/revoquer"), "")
        .await;
    assert_eq!(status, Status::SeeOther);
    app.logout().await;
    let res = app
        .client
        .get("/api/v1/people")
        .header(bearer(&token))
        .dispatch()
        .await;
    assert_eq!(res.status(), Status::Unauthorized);
    let kinds: Vec<String> = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT kind FROM audit_events WHERE kind LIKE 'token_%' ORDER BY at").fetch_all(pool).await).unwrap();
    assert_eq!(kinds, ["token_created", "token_created", "token_revoked"]);
}

async fn audit_log_is_append_only(app: TestApp) {
    app.login(CAMILLE).await;
    app.logout().await;
    let (status, body) = app
        .post_form("/auth/dev", "email=personne%40example.org")
        .await
        .into_status_body();
    assert_eq!(status, Status::UnprocessableEntity, "{body}");
    app.login(ADMIN).await;
    let (status, page) = app.get("/admin/journal").await;
    assert_eq!(status, Status::Ok);
    for label in ["Connexion", "Déconnexion", "Échec de connexion"] {
        assert!(page.contains(label), "{label} in the log page");
    }
    let update = reperes::on_db!(app.database(), pool => sqlx::query("UPDATE audit_events SET actor = 'x'").execute(pool).await.map(|_| ()));
    assert!(update.is_err(), "the database refuses to change the log");
    let delete = reperes::on_db!(app.database(), pool => sqlx::query("DELETE FROM audit_events").execute(pool).await.map(|_| ()));
    assert!(
        delete.is_err(),
        "the database refuses to delete from the log"
    );
    // Not visible to others.
    app.logout().await;
    app.login(KARIM).await;
    assert_eq!(app.get("/admin/journal").await.0, Status::Forbidden);
}

trait StatusBody {
    fn into_status_body(self) -> (Status, String);
}

impl StatusBody for (Status, String, String) {
    fn into_status_body(self) -> (Status, String) {
        (self.0, self.2)
    }
}
