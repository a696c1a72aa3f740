//! Scheduled jobs: two instances on one database run each slot once, across both
//! daylight-saving changes of 2026; a slot missed while everything was down runs at the
//! next start; a failing job is recorded with its error and shown to admins. Time is
//! driven through the runner's clock parameter, never by sleeping. SQLite and PostgreSQL.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use reperes::jobs::runner::Runner;
use reperes::jobs::{store, Job};
use rocket::http::Status;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn runner(app: &TestApp, instance: &str) -> Runner {
    Runner {
        instance: instance.into(),
        outbox_seconds: 5,
        ..Runner::from_rocket(app.client.rocket()).expect("managed state")
    }
}

async fn runs_of(app: &TestApp, job: Job, slot: &str) -> Vec<store::Run> {
    store::latest(app.database(), job, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.slot == slot)
        .collect()
}

on_both!(
    two_instances_run_each_slot_once_across_the_daylight_saving_changes,
    a_slot_missed_while_everything_was_down_runs_at_the_next_start,
    a_failing_job_is_recorded_with_its_error_and_shown_to_admins,
);

/// Both instances tick every minute, at the same moments, through both changes of 2026.
async fn two_instances_run_each_slot_once_across_the_daylight_saving_changes(app: TestApp) {
    let (a, b) = (runner(&app, "instance-a"), runner(&app, "instance-b"));
    for (from, to, day, expected) in [
        // 02:30 does not exist on 29 March: 03:30 CEST.
        (
            "2026-03-28T22:00:00Z",
            "2026-03-29T03:00:00Z",
            "2026-03-29",
            "2026-03-29T01:30:00Z",
        ),
        // 02:30 happens twice on 25 October: the first, 02:30 CEST.
        (
            "2026-10-24T22:00:00Z",
            "2026-10-25T03:00:00Z",
            "2026-10-25",
            "2026-10-25T00:30:00Z",
        ),
    ] {
        let (mut now, end) = (utc(from), utc(to));
        let mut outbox_claims = 0;
        let mut ticks = 0;
        while now <= end {
            let (da, db) = tokio::join!(a.run_due(now), b.run_due(now));
            for d in da.iter().chain(&db) {
                assert!(d.outcome.is_ok(), "{:?}", d.outcome);
                if d.job == Job::OutboxDelivery {
                    outbox_claims += 1;
                }
            }
            ticks += 1;
            now += Duration::minutes(1);
        }
        let cleanups = runs_of(&app, Job::Cleanup, day).await;
        assert_eq!(cleanups.len(), 1, "{day}: the 02:30 clean-up runs once");
        assert_eq!(cleanups[0].slot_at, utc(expected), "{day}");
        assert!(cleanups[0].finished_at.is_some());
        // One outbox round per tick between the two instances, never two.
        assert_eq!(outbox_claims, ticks, "{day}");
    }
}

async fn a_slot_missed_while_everything_was_down_runs_at_the_next_start(app: TestApp) {
    // An expired sign-in link from two days before, which the clean-up removes.
    let old = utc("2026-05-30T10:00:00Z");
    let user: uuid::Uuid = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(AICHA).fetch_one(pool).await).unwrap();
    reperes::on_db!(app.database(), pool => sqlx::query(
        "INSERT INTO login_links (id, token_hash, user_id, created_at, expires_at) VALUES ($1, 'x', $2, $3, $3)"
    ).bind(uuid::Uuid::new_v4()).bind(user).bind(old).execute(pool).await.map(|_| ())).unwrap();

    // Every instance was down at 02:30; one starts at noon: the day's clean-up runs now.
    let r = runner(&app, "restarted");
    let done = r.run_due(utc("2026-06-01T10:00:00Z")).await;
    let cleanup = done
        .iter()
        .find(|d| d.job == Job::Cleanup)
        .expect("clean-up caught up");
    assert_eq!(cleanup.slot.key, "2026-06-01");
    assert!(
        cleanup.outcome.as_ref().unwrap().starts_with("1 lien"),
        "{:?}",
        cleanup.outcome
    );
    let links: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT COUNT(*) FROM login_links").fetch_one(pool).await).unwrap();
    assert_eq!(links, 0);
    // Later the same day: already done, not again.
    let again = r.run_due(utc("2026-06-01T16:00:00Z")).await;
    assert!(again.iter().all(|d| d.job != Job::Cleanup));
}

async fn a_failing_job_is_recorded_with_its_error_and_shown_to_admins(app: TestApp) {
    // Every delete of sign-in links fails, as a broken database would.
    match app.backend {
        Backend::Sqlite => reperes::on_db!(app.database(), pool => sqlx::query(
            "CREATE TRIGGER fail_links BEFORE DELETE ON login_links BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
        ).execute(pool).await.map(|_| ())).unwrap(),
        Backend::Postgres => {
            reperes::on_db!(app.database(), pool => sqlx::query("CREATE FUNCTION fail_links() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated failure'; END; $$").execute(pool).await.map(|_| ())).unwrap();
            reperes::on_db!(app.database(), pool => sqlx::query("CREATE TRIGGER fail_links BEFORE DELETE ON login_links FOR EACH ROW EXECUTE FUNCTION fail_links()").execute(pool).await.map(|_| ())).unwrap();
        }
    }
    let user: uuid::Uuid = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(AICHA).fetch_one(pool).await).unwrap();
    let old = utc("2026-05-30T10:00:00Z");
    reperes::on_db!(app.database(), pool => sqlx::query(
        "INSERT INTO login_links (id, token_hash, user_id, created_at, expires_at) VALUES ($1, 'x', $2, $3, $3)"
    ).bind(uuid::Uuid::new_v4()).bind(user).bind(old).execute(pool).await.map(|_| ())).unwrap();

    let done = runner(&app, "instance-a")
        .run_due(utc("2026-06-01T10:00:00Z"))
        .await;
    let cleanup = done.iter().find(|d| d.job == Job::Cleanup).unwrap();
    assert!(cleanup
        .outcome
        .as_ref()
        .unwrap_err()
        .contains("simulated failure"));
    // The outbox round still ran.
    assert!(done
        .iter()
        .any(|d| d.job == Job::OutboxDelivery && d.outcome.is_ok()));

    app.login(CAMILLE).await;
    assert_eq!(app.get("/admin/taches").await.0, Status::Forbidden);
    app.login(ADMIN).await;
    let (status, page) = app.get("/admin/taches").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("Nettoyage"), "{page}");
    assert!(page.contains("simulated failure"), "{page}");
    assert!(page.contains("2026-06-01"), "{page}");
    assert!(page.contains("instance-a"), "{page}");
}
