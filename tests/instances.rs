//! Proof under real conditions: two service processes on one database and a real SMTP
//! server. Both run the reminders sweep for the same instant and both deliver at once: each
//! expected reminder arrives exactly once. Then a delivering process is killed (SIGKILL)
//! in the middle of a flood: after a restart, nothing is lost, and a message sent twice
//! carries the same Message-ID. A served instance hit by a burst far past its capacity
//! answers every request at once, 503 with `Retry-After` for those it cannot take. SQLite
//! (one file) and PostgreSQL.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

on_both!(
    two_instances_send_each_reminder_once,
    a_killed_instance_loses_nothing,
    a_burst_past_capacity_gets_quick_refusals
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

/// One HTTP/1.1 request on a new connection: (status, Retry-After header).
async fn http_get(port: u16, path: &str) -> std::io::Result<(u16, Option<String>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let retry = text
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            l.strip_prefix("retry-after: ")
                .or(l.strip_prefix("Retry-After: "))
        })
        .map(|v| v.trim().to_string());
    Ok((status, retry))
}

/// A served instance with room for 2 requests at a time and no wait, hit by bursts of
/// 200 simultaneous connections: every request is answered (none times out), each refusal
/// is a 503 with `Retry-After`, the health check stays up, and once the burst is over
/// every request is served again (no place was lost).
async fn a_burst_past_capacity_gets_quick_refusals(app: TestApp) {
    let mut child = reperes(&app, 25, &["serve"])
        .env("ROCKET_PORT", "0")
        .env("ROCKET_ADDRESS", "127.0.0.1")
        .env("REPERES_MAX_IN_FLIGHT", "2")
        .env("REPERES_MAX_QUEUE_WAIT_MS", "0")
        .spawn()
        .unwrap();
    // The port chosen by the system, from the start-up line.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let _ = tx.send(port.parse::<u16>().unwrap());
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the service starts");
    let mut refused = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let burst: Vec<_> = (0..200)
            .map(|i| {
                tokio::spawn(async move {
                    let path = if i % 10 == 0 {
                        "/healthz".to_string()
                    } else {
                        format!("/verify/RPR-0000-0000-0000-{i:04}")
                    };
                    (path.clone(), http_get(port, &path).await)
                })
            })
            .collect();
        for task in burst {
            let (path, answer) = task.await.unwrap();
            let (status, retry) = answer.expect("answered, not dropped");
            if path == "/healthz" {
                assert_eq!(status, 200, "the health check never waits");
            } else if status == 503 {
                assert_eq!(retry.as_deref(), Some("2"), "refusal with Retry-After");
                refused += 1;
            } else {
                assert_eq!(status, 404, "{path}: an unknown certificate");
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a burst answered in {:?}",
            started.elapsed()
        );
        if refused > 0 {
            break;
        }
    }
    assert!(refused > 0, "bursts of 200 on 2 places were never refused");
    // Over: everything is served again.
    for i in 0..20 {
        let (status, _) = http_get(port, &format!("/verify/RPR-0000-0000-0001-{i:04}"))
            .await
            .unwrap();
        assert_eq!(status, 404);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
