//! Mail goes through the outbox: the development mailbox of a debug build without a relay,
//! failures kept for admins with their error, the resend and test buttons. SQLite and
//! PostgreSQL.

mod common;

use common::*;
use reperes::notifications::{store, worker};
use rocket::http::Status;

fn mailer(app: &TestApp) -> std::sync::Arc<worker::Mailer> {
    app.client
        .rocket()
        .state::<std::sync::Arc<worker::Mailer>>()
        .expect("mailer state")
        .clone()
}

/// Runs a delivery round now (the background worker may also run one: claims are atomic).
async fn deliver(app: &TestApp, at: chrono::DateTime<chrono::Utc>) -> worker::Round {
    worker::deliver_due(app.database(), &mailer(app), at)
        .await
        .expect("delivery round")
}

fn between<'a>(page: &'a str, start: &str, end: char) -> Option<&'a str> {
    let i = page.find(start)? + start.len();
    let j = i + page[i..].find(end)?;
    Some(&page[i..j])
}

on_both!(
    a_partner_reads_the_sign_in_link_in_the_development_mailbox_and_signs_in,
    a_failed_delivery_is_retried_then_kept_for_admins_with_its_error,
    an_admin_test_message_can_be_sent_again_after_a_failure,
    mail_leaves_over_starttls_with_the_relay_account,
);

async fn a_partner_reads_the_sign_in_link_in_the_development_mailbox_and_signs_in(app: TestApp) {
    // A debug build with no relay configured writes mail to the folder.
    assert!(mailer(&app).transport.folder().is_some());
    let (_, login) = app.get("/connexion").await;
    assert!(
        login.contains("href=\"/dev/courriels\""),
        "the sign-in page points to the mailbox"
    );

    let (status, to, _) = app
        .post_form("/connexion/lien", "email=aicha.diallo%40demo.reperes.test")
        .await;
    assert_eq!(
        (status, to.as_str()),
        (Status::SeeOther, "/connexion?envoye=true")
    );
    deliver(&app, reperes::db::now()).await;

    let (status, list) = app.get("/dev/courriels").await;
    assert_eq!(status, Status::Ok);
    assert!(list.contains("Votre lien de connexion à Repères"), "{list}");
    assert!(list.contains("aicha.diallo@demo.reperes.test"), "{list}");
    let key = between(&list, "href=\"/dev/courriels/", '"').expect("a message link");

    let (status, mail) = app.get(&format!("/dev/courriels/{key}")).await;
    assert_eq!(status, Status::Ok);
    assert!(mail.contains("Bonjour Aïcha Diallo"), "{mail}");
    let href = between(
        &mail,
        "<a href=\"http://127.0.0.1:8000/connexion/lien/",
        '"',
    )
    .expect("the link is clickable");
    let link = format!("/connexion/lien/{href}");

    // Following it: the confirmation page, then its button signs in.
    assert_eq!(app.get(&link).await.0, Status::Ok);
    let (status, to, _) = app.post_form(&link, "").await;
    assert_eq!((status, to.as_str()), (Status::SeeOther, "/modules"));
    let (status, page) = app.get("/progression").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("Aïcha Diallo"));

    // The stored copy no longer holds the secret once the mail has left.
    let rows = store::latest(app.database(), None, 10, 0).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, reperes::notifications::Status::Sent);

    // A file that is not in the folder, or a path that tries to leave it: not found.
    assert_eq!(app.get("/dev/courriels/inconnu").await.0, Status::NotFound);
    assert_eq!(
        app.get("/dev/courriels/..%2F..%2Fetc%2Fpasswd").await.0,
        Status::NotFound
    );
}

async fn a_failed_delivery_is_retried_then_kept_for_admins_with_its_error(app: TestApp) {
    // A relay that refuses connections: port 1 on loopback.
    let app = TestApp::with_figment(app.backend, |f| {
        f.merge(("smtp_host", "127.0.0.1")).merge(("smtp_port", 1))
    })
    .await
    .expect("same backend");

    let (status, to, _) = app
        .post_form("/connexion/lien", "email=aicha.diallo%40demo.reperes.test")
        .await;
    // The person who asked gets the usual answer, without waiting for the relay.
    assert_eq!(
        (status, to.as_str()),
        (Status::SeeOther, "/connexion?envoye=true")
    );

    let mut at = reperes::db::now();
    let first = deliver(&app, at).await;
    assert_eq!(first.retried, 1, "{first:?}");
    let row = &store::latest(app.database(), None, 10, 0).await.unwrap()[0];
    assert_eq!(row.status, reperes::notifications::Status::Queued);
    assert_eq!(row.tries, 1);
    assert!(row.next_attempt_at > at, "a retry is planned later");
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or("")
            .contains("SMTP 127.0.0.1:1"),
        "{:?}",
        row.last_error
    );
    // Not due yet: nothing is claimed.
    assert_eq!(deliver(&app, at).await, worker::Round::default());

    // Seven more tries, each when it is due: then the message is kept as failed.
    for _ in 2..=reperes::notifications::MAX_TRIES {
        at += chrono::Duration::hours(7);
        deliver(&app, at).await;
    }
    let row = &store::latest(app.database(), None, 10, 0).await.unwrap()[0];
    assert_eq!(row.status, reperes::notifications::Status::Failed);
    assert_eq!(row.tries, reperes::notifications::MAX_TRIES);

    // Admins see it with its error; others cannot open the page.
    app.login(CAMILLE).await;
    assert_eq!(app.get("/admin/envois").await.0, Status::Forbidden);
    app.logout().await;
    app.login(ADMIN).await;
    let (status, page) = app.get("/admin/envois?statut=failed").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("aicha.diallo@demo.reperes.test"), "{page}");
    assert!(page.contains("SMTP 127.0.0.1:1"), "{page}");
    assert!(page.contains("Non renvoyable"), "{page}");
    // A sign-in link is not sent again: it expired long ago.
    let (status, _, body) = app
        .post_form(&format!("/admin/envois/{}/renvoyer", row.id), "")
        .await;
    assert_eq!(status, Status::Conflict);
    assert!(body.contains("lien de connexion"), "{body}");
    let (status, _) = app.get("/admin/envois?statut=perdu").await;
    assert_eq!(status, Status::BadRequest);
}

async fn an_admin_test_message_can_be_sent_again_after_a_failure(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    // First a relay that refuses connections…
    let app = TestApp::with_figment(app.backend, |f| {
        f.merge(("smtp_host", "127.0.0.1")).merge(("smtp_port", 1))
    })
    .await
    .expect("same backend");
    app.login(ADMIN).await;
    let (status, to, _) = app.post_form("/admin/envois/essai", "").await;
    assert_eq!(
        (status, to.as_str()),
        (Status::SeeOther, "/admin/envois?statut=queued")
    );
    let mut at = reperes::db::now();
    for _ in 1..=reperes::notifications::MAX_TRIES {
        deliver(&app, at).await;
        at += chrono::Duration::hours(7);
    }
    let row = store::latest(app.database(), None, 10, 0).await.unwrap()[0].clone();
    assert_eq!(row.status, reperes::notifications::Status::Failed);
    let (_, page) = app.get("/admin/envois?statut=failed").await;
    assert!(
        page.contains(&format!("/admin/envois/{}/renvoyer", row.id)),
        "{page}"
    );

    // …then the relay is repaired: the same row, sent again, reaches a real SMTP server.
    let smtp = common::external::smtp_server(&maildir);
    let port: u16 = smtp.ready.parse().unwrap();
    let repaired = reperes::notifications::worker::Mailer {
        transport: reperes::notifications::transport::Transport::Smtp(
            reperes::notifications::transport::Relay::plain("127.0.0.1", port).unwrap(),
        ),
        ..(*mailer(&app)).clone()
    };
    let (status, _, _) = app
        .post_form(&format!("/admin/envois/{}/renvoyer", row.id), "")
        .await;
    assert_eq!(status, Status::SeeOther);
    let round = worker::deliver_due(app.database(), &repaired, at)
        .await
        .unwrap();
    assert_eq!(round.sent, 1, "{round:?}");
    let mail = common::external::wait_for_mail(&maildir, 1);
    assert!(
        mail.contains("les courriels du service partent bien"),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("Message-ID: <{}@", row.id.simple())),
        "{mail}"
    );
    // Only a failed message can be sent again; the audit log says who did.
    let (status, _, _) = app
        .post_form(&format!("/admin/envois/{}/renvoyer", row.id), "")
        .await;
    assert_eq!(status, Status::Conflict);
    let (_, journal) = app.get("/admin/journal").await;
    assert!(journal.contains("Courriel renvoyé"), "{journal}");
}

async fn mail_leaves_over_starttls_with_the_relay_account(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let (ca, key, cert) = common::external::tls_files(dir.path());
    let maildir = dir.path().join("mail");
    let smtp = common::external::smtp_server_with(
        &maildir,
        &[
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--user",
            "reperes",
            "--password",
            "s3cret",
        ],
    );
    let port: u16 = smtp.ready.parse().unwrap();
    let configured = |password: &'static str, security: &'static str| {
        let ca = ca.clone();
        move |f: rocket::figment::Figment| {
            f.merge(("smtp_host", "127.0.0.1"))
                .merge(("smtp_port", port))
                .merge(("smtp_security", security))
                .merge(("smtp_username", "reperes"))
                .merge(("smtp_password", password))
                .merge(("smtp_ca_file", ca))
        }
    };
    // The right account over STARTTLS: delivered.
    let good = TestApp::with_figment(app.backend, configured("s3cret", "starttls"))
        .await
        .expect("same backend");
    assert!(mailer(&good).transport.describe().contains("(STARTTLS)"));
    good.login(ADMIN).await;
    good.post_form("/admin/envois/essai", "").await;
    let round = deliver(&good, reperes::db::now()).await;
    assert_eq!(round.sent, 1, "{round:?}");
    let text = common::external::wait_for_mail(&maildir, 1);
    assert!(text.contains("Repères"), "{text}");
    // A wrong password: refused by the relay, retried later, the error kept for admins.
    let bad = TestApp::with_figment(app.backend, configured("faux", "starttls"))
        .await
        .expect("same backend");
    bad.login(ADMIN).await;
    bad.post_form("/admin/envois/essai", "").await;
    let round = deliver(&bad, reperes::db::now()).await;
    assert_eq!(round.retried, 1, "{round:?}");
    let row = store::latest(bad.database(), None, 10, 0).await.unwrap()[0].clone();
    assert!(
        row.last_error.as_deref().unwrap_or("").contains("535"),
        "{:?}",
        row.last_error
    );
    // An account with no TLS is refused at start: the password would travel in clear.
    let Err(err) = reperes::build(
        common::figment("sqlite::memory:", "tests/fixtures/courses")
            .merge(("smtp_host", "127.0.0.1"))
            .merge(("smtp_username", "reperes"))
            .merge(("smtp_password", "s3cret")),
    )
    .await
    else {
        panic!("an account without TLS must be refused");
    };
    assert!(err.to_string().contains("in clear"), "{err}");
    assert_eq!(common::external::mails(&maildir).len(), 1);
}
