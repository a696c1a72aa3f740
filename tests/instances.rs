//! Proof under real conditions: two service processes on one database and a real SMTP
//! server. Both run the reminders sweep for the same instant and both deliver at once: each
//! expected reminder arrives exactly once. Then a delivering process is killed (SIGKILL)
//! in the middle of a flood: after a restart, nothing is lost, and a message sent twice
//! carries the same Message-ID. SQLite (one file) and PostgreSQL.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

on_both!(
    two_instances_send_each_reminder_once,
    a_killed_instance_loses_nothing
);

/// Wednesday 20 January 2027, 10:00 Paris: a working day and hour.
const SWEEP_AT: &str = "2027-01-20T09:00:00Z";
const DELIVER_AT: &str = "2027-01-20T09:00:30Z";
const PEOPLE: usize = 300;

/// A `reperes` process on the test's database, sending through the relay on `smtp_port`.
fn reperes(app: &TestApp, smtp_port: u16, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reperes"));
    c.args(args)
        .env("REPERES_DATABASE_URL", &app.db.url)
        .env(
            "REPERES_COURSES_DIR",
            manifest_path("tests/fixtures/courses"),
        )
        .env("REPERES_TEMPLATES_DIR", manifest_path("templates"))
        .env("REPERES_STATIC_DIR", manifest_path("static"))
        .env("REPERES_DEMO", "true")
        .env("REPERES_DEMO_TRAININGS", "false")
        .env("REPERES_DEMO_PLAN", "false")
        .env("REPERES_SCHEDULER", "false")
        .env("REPERES_MAIL_TRANSPORT", "smtp")
        .env("REPERES_SMTP_HOST", "127.0.0.1")
        .env("REPERES_SMTP_PORT", smtp_port.to_string())
        .env("REPERES_PUBLIC_URL", "http://127.0.0.1:8000")
        .env(
            "REPERES_CERTIFICATE_KEY",
            "Jw3Yv9m9p5dnKf0Yt5b7sUo3wR3gkX0z5h2c1a9bQ8E=",
        )
        .env("REPERES_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn finish(child: Child) -> String {
    let out = child.wait_with_output().expect("process ends");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

/// `PEOPLE` directory agents under one unit, all with an obligation due 14 days after the
/// sweep (the first reminder stage).
async fn many_people_with_an_obligation(app: &TestApp) {
    let mut csv = String::from(
        "matricule;courriel;nom;prenom;service;publics;fonction;date_entree;sexe;categorie\n",
    );
    for i in 0..PEOPLE {
        csv.push_str(&format!(
            "E{i:05};agent{i}@ville.test;Agent;Numéro {i};Ville/Accueil;accueil;Agent d'accueil;2020-01-01;;\n"
        ));
    }
    import_directory(app, &csv).await;
    save_unit_rule(app, "Ville/Accueil", 14, reperes::db::now()).await;
    apply_rules(app, reperes::db::now()).await;
    reperes::on_db!(app.database(), pool => sqlx::query("UPDATE obligations SET due_on = $1")
        .bind(chrono::NaiveDate::from_ymd_opt(2027, 2, 3).unwrap())
        .execute(pool).await.map(|_| ()))
    .unwrap();
}

/// Recipient and Message-ID of every mail the server received.
fn received(dir: &Path) -> Vec<(String, String)> {
    common::external::mails(dir)
        .iter()
        .map(|p| {
            let raw = std::fs::read_to_string(p).unwrap();
            let header = |name: &str| {
                raw.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            (header("To:"), header("Message-ID:"))
        })
        .collect()
}

async fn two_instances_send_each_reminder_once(app: TestApp) {
    many_people_with_an_obligation(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = common::external::smtp_server(dir.path());
    let port: u16 = smtp.ready.parse().unwrap();
    // Both instances run the sweep for the same instant, at the same moment.
    let a = reperes(
        &app,
        port,
        &["jobs", "run", "reminders_sweep", "--at", SWEEP_AT],
    )
    .spawn()
    .unwrap();
    let b = reperes(
        &app,
        port,
        &["jobs", "run", "reminders_sweep", "--at", SWEEP_AT],
    )
    .spawn()
    .unwrap();
    let (a, b) = (finish(a), finish(b));
    let ran: Vec<&String> = [&a, &b]
        .into_iter()
        .filter(|o| o.contains("done:"))
        .collect();
    assert_eq!(
        ran.len(),
        1,
        "exactly one instance runs the slot:\n{a}\n{b}"
    );
    assert!(
        [&a, &b].iter().any(|o| o.contains("already claimed")),
        "{a}\n{b}"
    );
    let queued: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'reminder'"
    ).fetch_one(pool).await)
    .unwrap();
    assert_eq!(queued as usize, PEOPLE);
    // Both deliver at once.
    let a = reperes(&app, port, &["jobs", "deliver", "--at", DELIVER_AT])
        .spawn()
        .unwrap();
    let b = reperes(&app, port, &["jobs", "deliver", "--at", DELIVER_AT])
        .spawn()
        .unwrap();
    finish(a);
    finish(b);
    let mails = received(dir.path());
    let mut per_person: HashMap<&str, usize> = HashMap::new();
    for (to, _) in &mails {
        *per_person.entry(to.as_str()).or_default() += 1;
    }
    assert_eq!(per_person.len(), PEOPLE, "everyone got their reminder");
    assert!(
        per_person.values().all(|&n| n == 1),
        "nobody got it twice: {:?}",
        per_person
            .iter()
            .filter(|(_, &n)| n > 1)
            .collect::<Vec<_>>()
    );
    // And a second sweep of the same slot or the same day queues nothing.
    let again = finish(
        reperes(
            &app,
            port,
            &[
                "jobs",
                "run",
                "reminders_sweep",
                "--at",
                "2027-01-20T10:00:00Z",
            ],
        )
        .spawn()
        .unwrap(),
    );
    assert!(again.contains("0 courriel(s) de rappel"), "{again}");
}

async fn a_killed_instance_loses_nothing(app: TestApp) {
    // A flood of messages queued at once.
    const FLOOD: usize = 1500;
    for i in 0..FLOOD {
        let m = reperes::notifications::Outgoing {
            kind: reperes::notifications::MailKind::Test,
            user_id: None,
            recipient: format!("personne{i}@ville.test"),
            subject: format!("Message {i}"),
            text: "Bonjour".into(),
            html: None,
            attachments: Vec::new(),
            sensitive: false,
            dedupe_key: Some(format!("flood:{i}")),
            obligation_ids: Vec::new(),
            list_unsubscribe: None,
        };
        reperes::notifications::store::enqueue_one(app.database(), &m)
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let smtp = common::external::smtp_server(dir.path());
    let port: u16 = smtp.ready.parse().unwrap();
    let mut child = reperes(&app, port, &["jobs", "deliver", "--at", DELIVER_AT])
        .spawn()
        .unwrap();
    // Killed while delivering: after the first mails arrive, long before the last.
    let deadline = Instant::now() + Duration::from_secs(60);
    while common::external::mails(dir.path()).len() < 20 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the delivering process ended on its own ({status}): {}",
                finish(child)
            );
        }
        assert!(Instant::now() < deadline, "delivery never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = common::external::mails(dir.path()).len();
    assert!(at_kill < FLOOD, "killed before the end ({at_kill} sent)");
    // Restarted later (the dead instance's claims have run out): everything goes.
    let later = "2027-01-20T09:10:00Z";
    finish(
        reperes(&app, port, &["jobs", "deliver", "--at", later])
            .spawn()
            .unwrap(),
    );
    let mails = received(dir.path());
    let ids: std::collections::HashSet<&str> = mails.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), FLOOD, "every message arrived");
    // A message sent twice (in flight at the kill) carries the same Message-ID: the copy is
    // recognisable; at most one batch can be in that state.
    assert!(mails.len() - FLOOD <= 50, "{} copies", mails.len() - FLOOD);
    let sent: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE status = 'sent'"
    ).fetch_one(pool).await)
    .unwrap();
    assert_eq!(sent as usize, FLOOD);
}
