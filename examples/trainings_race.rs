//! Benchmark of shared-training enrolment under contention (run by `bench/trainings.sh`):
//! PEOPLE people (1,000) race, CONCURRENCY (64) at a time, for the seats of SESSIONS (10)
//! sessions of SEATS (10) seats each, through the same use case as the pages and the API
//! (`trainings::flow::enrol`: session lock, seat decision, outbox mail in one transaction);
//! then every one of them cancels, which promotes people from the waiting lists. Prints the
//! rate, p50/p99/max latency of each phase, and checks that no session is overbooked and
//! that the waiting positions have no gap.
//!
//!   cargo run --release --example trainings_race -- DATABASE_URL [PEOPLE] [CONCURRENCY]

use std::sync::Arc;
use std::time::{Duration, Instant};

use reperes::trainings::flow::{self, OfferInput, SessionInput, SlotInput};
use reperes::trainings::store;
use tokio::sync::Semaphore;
use uuid::Uuid;

const SESSIONS: usize = 10;
const SEATS: i64 = 10;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(label: &str, wall: Duration, mut lat: Vec<Duration>) {
    lat.sort();
    println!(
        "   {label:<28} {:>6} ops  {:>8.0} ops/s   p50 {:>6.1} ms   p99 {:>6.1} ms   max {:>6.1} ms",
        lat.len(),
        lat.len() as f64 / wall.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0),
    );
}

/// No session holds more seats than its capacity, positions are 1..n.
async fn check(db: &reperes::Db, sessions: &[Uuid]) -> (i64, i64) {
    let (mut held_all, mut waiting_all) = (0, 0);
    for s in sessions {
        let rows = store::enrolments_of_session(db, *s).await.expect("read");
        let held = rows.iter().filter(|e| e.status.holds_seat()).count() as i64;
        assert!(held <= SEATS, "session {s} overbooked: {held} seats held");
        let mut positions: Vec<i64> = rows.iter().filter_map(|e| e.position).collect();
        positions.sort();
        assert_eq!(
            positions,
            (1..=positions.len() as i64).collect::<Vec<_>>(),
            "waiting positions of {s}"
        );
        held_all += held;
        waiting_all += positions.len() as i64;
    }
    (held_all, waiting_all)
}

#[rocket::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut args = args.into_iter();
    let url = args.next().expect("DATABASE_URL");
    let people: usize = args
        .next()
        .map(|n| n.parse().expect("PEOPLE"))
        .unwrap_or(1000);
    let concurrency: usize = args
        .next()
        .map(|n| n.parse().expect("CONCURRENCY"))
        .unwrap_or(64);
    let figment = reperes::config::figment()
        .merge(("database_url", url.as_str()))
        .merge(("database_max_connections", 16))
        .merge(("demo", true))
        .merge(("demo_trainings", false))
        .merge(("scheduler", false))
        .merge(("log_level", "off"))
        .merge(("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="))
        .merge((
            "certificate_key",
            "Jw3Yv9m9p5dnKf0Yt5b7sUo3wR3gkX0z5h2c1a9bQ8E=",
        ));
    let rocket = reperes::build(figment).await.expect("service builds");
    let db = rocket.state::<reperes::Db>().expect("db").clone();
    let views = rocket
        .state::<reperes::views::Views>()
        .expect("views")
        .clone();
    let config = rocket
        .state::<reperes::config::Config>()
        .expect("config")
        .clone();
    let catalog = rocket
        .state::<reperes::catalog::Catalog>()
        .expect("catalog")
        .clone();

    let trainer = reperes::people::store::find_by_email(&db, "lucie.fontaine@demo.reperes.test")
        .await
        .expect("read")
        .expect("the demo trainer");
    let offer = flow::save_offer(
        &db,
        &catalog,
        &trainer,
        None,
        &OfferInput {
            title: "Course aux places".into(),
            audiences: "tous".into(),
            ..OfferInput::default()
        },
        None,
    )
    .await
    .expect("offer");
    let day = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let input = SessionInput {
            offer: offer.to_string(),
            mode: "in_person".into(),
            address: "Hôtel de ville".into(),
            capacity: SEATS.to_string(),
            slots: vec![SlotInput {
                date: day.clone(),
                start: "09:00".into(),
                end: "12:00".into(),
            }],
            ..SessionInput::default()
        };
        sessions.push(
            flow::create_session(&db, &trainer, &input, None)
                .await
                .expect("session"),
        );
    }
    let run = Uuid::new_v4().simple().to_string();
    let mut users = Vec::new();
    for i in 0..people {
        let id = Uuid::new_v4();
        reperes::on_db!(&db, pool => sqlx::query(
            "INSERT INTO users (id, email, display_name, role, audiences, active, created_at, source)
             VALUES ($1, $2, $3, 'learner', 'tous', TRUE, $4, 'demo')")
            .bind(id).bind(format!("course{i}-{run}@ville.test")).bind(format!("Personne {i}"))
            .bind(reperes::db::now()).execute(pool).await.map(|_| ()))
        .expect("person");
        users.push(id);
    }
    println!(
        "== {} ({people} people, {SESSIONS} sessions x {SEATS} seats, {concurrency} at a time)",
        db.backend()
    );

    let gate = Arc::new(Semaphore::new(concurrency));
    let state = Arc::new((db.clone(), views, config, catalog));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let (gate, state, user, session) =
            (gate.clone(), state.clone(), *user, sessions[i % SESSIONS]);
        tasks.push(tokio::spawn(async move {
            let _turn = gate.acquire_owned().await.expect("gate");
            let (db, views, config, catalog) = &*state;
            let me = reperes::people::store::find(db, user)
                .await
                .expect("read")
                .expect("person");
            let m = reperes::trainings::routes::mailing(views, config);
            let t = Instant::now();
            let done = flow::enrol(db, &m, catalog, &me, session, None)
                .await
                .expect("enrolment");
            (t.elapsed(), done.enrolment.id)
        }));
    }
    let mut lat = Vec::new();
    let mut enrolments = Vec::new();
    for t in tasks {
        let (d, id) = t.await.expect("task");
        lat.push(d);
        enrolments.push(id);
    }
    report("enrolments", started.elapsed(), lat);
    let (held, waiting) = check(&db, &sessions).await;
    println!(
        "   seats held {held} (of {}), waiting {waiting}: no session overbooked",
        SESSIONS as i64 * SEATS
    );

    let started = Instant::now();
    let mut tasks = Vec::new();
    for e in enrolments {
        let (gate, state, by) = (gate.clone(), state.clone(), trainer.id);
        tasks.push(tokio::spawn(async move {
            let _turn = gate.acquire_owned().await.expect("gate");
            let (db, views, config, _) = &*state;
            let m = reperes::trainings::routes::mailing(views, config);
            let compose = |n: &store::Notice<'_>| flow::compose(&m, n);
            let t = Instant::now();
            store::cancel(
                db,
                store::Cancellation {
                    enrolment: e,
                    by,
                    after_deadline_allowed: true,
                    now: reperes::db::now(),
                },
                m.hold,
                &compose,
            )
            .await
            .expect("cancellation");
            t.elapsed()
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.push(t.await.expect("task"));
    }
    report("cancellations (promoting)", started.elapsed(), lat);
    let (held, waiting) = check(&db, &sessions).await;
    println!("   after: seats held {held}, waiting {waiting}");
    let mails: i64 = reperes::on_db!(&db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'training'").fetch_one(pool).await)
        .expect("count");
    println!("   training mails queued in the outbox: {mails}");
}
