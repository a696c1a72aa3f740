//! Reminders: one digest per person and per day, each stage once, escalations to the
//! manager and to HR, mail held outside working hours, dropped when the obligation was met
//! meanwhile; campaigns once a year with a one-click unsubscribe; the HR page with its
//! preview. Time is driven through the instants passed to the sweep and to delivery.
//! SQLite and PostgreSQL.

mod common;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use common::*;
use reperes::notifications::worker;
use reperes::reminders::flow;
use rocket::http::Status;

on_both!(
    reminders_go_once_a_day_as_a_digest_and_escalate,
    a_reminder_met_meanwhile_is_dropped_and_mail_waits_for_working_hours,
    campaigns_go_once_with_a_one_click_unsubscribe,
    hr_edits_the_rules_and_previews_a_day,
);

const CITIZENSHIP: &str = "Ville de Nancy/Direction de la citoyenneté";
const MANAGER: &str = "jean-pierre.muller@demo.reperes.test";

/// 10:00 Paris time on `day`.
fn at(day: NaiveDate) -> DateTime<Utc> {
    chrono_tz::Europe::Paris
        .from_local_datetime(&day.and_hms_opt(10, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

async fn sweep(app: &TestApp, now: DateTime<Utc>) -> flow::SweepReport {
    let views = app
        .client
        .rocket()
        .state::<reperes::views::Views>()
        .unwrap();
    let ctx = flow::Context {
        catalog: catalog(app),
        views,
        public_url: "https://reperes.test",
    };
    flow::sweep(app.database(), &ctx, now).await.unwrap()
}

async fn deliver(app: &TestApp, now: DateTime<Utc>) -> worker::Round {
    let mailer = app
        .client
        .rocket()
        .state::<std::sync::Arc<worker::Mailer>>()
        .unwrap()
        .clone();
    worker::deliver_due(app.database(), &mailer, now)
        .await
        .unwrap()
}

/// A rule for `unit` due `days` after assignment, applied as of `now`.
async fn assign(app: &TestApp, unit: &str, days: u32, now: DateTime<Utc>) {
    save_unit_rule(app, unit, days, now).await;
    apply_rules(app, now).await;
}

/// Reminder mails queued: (recipient, subject, text), oldest first.
async fn reminders(app: &TestApp) -> Vec<(String, String, String)> {
    reperes::on_db!(app.database(), pool => sqlx::query_as(
        "SELECT recipient, subject, body_text FROM outbox WHERE kind = 'reminder' ORDER BY created_at, recipient"
    ).fetch_all(pool).await)
    .unwrap()
}

async fn reminders_go_once_a_day_as_a_digest_and_escalate(app: TestApp) {
    // Assigned on Monday 4 January 2027, due 30 days later: Wednesday 3 February.
    let start = d("2027-01-04");
    assign(&app, CITIZENSHIP, 30, at(start)).await;
    let due = start + Duration::days(30);
    let people = people_under(&app, CITIZENSHIP).await as usize;
    assert!(sweep(&app, at(start)).await.digests == 0, "nothing due yet");

    // D-14: one digest each; the same day again, nothing; the next day, nothing new.
    let report = sweep(&app, at(due - Duration::days(14))).await;
    assert_eq!(report.digests as usize, people, "{report:?}");
    assert_eq!(sweep(&app, at(due - Duration::days(14))).await.digests, 0);
    assert_eq!(sweep(&app, at(due - Duration::days(13))).await.digests, 0);
    let sent = reminders(&app).await;
    let camille = sent
        .iter()
        .find(|(to, _, _)| to == CAMILLE)
        .expect("Camille's digest");
    assert_eq!(camille.1, "Formation obligatoire : Module de base (test)");
    assert!(
        camille.2.contains("à suivre avant le 3 février 2027"),
        "{}",
        camille.2
    );
    assert!(camille.2.contains("https://reperes.test/modules/base"));
    // D-3: the second stage.
    assert_eq!(
        sweep(&app, at(due - Duration::days(3))).await.digests as usize,
        people
    );
    // D+1: overdue, to the person only.
    assert_eq!(
        sweep(&app, at(due + Duration::days(1))).await.digests as usize,
        people
    );
    // D+14: the weekly overdue reminder (day 8 has passed without a sweep: one, not two)
    // and the manager hears of Camille, in the same single mail as his own reminder.
    let before = reminders(&app).await.len();
    sweep(&app, at(due + Duration::days(14))).await;
    let today: Vec<_> = reminders(&app).await.split_off(before);
    let to_manager: Vec<_> = today.iter().filter(|(to, _, _)| to == MANAGER).collect();
    assert_eq!(to_manager.len(), 1, "{today:?}");
    assert!(
        to_manager[0]
            .2
            .contains("Camille Martin — Module de base (test) : en retard de 14 jours"),
        "{}",
        to_manager[0].2
    );
    assert!(to_manager[0].2.contains("Vos formations obligatoires"));
    // D+30: HR too.
    let before = reminders(&app).await.len();
    sweep(&app, at(due + Duration::days(30))).await;
    let today: Vec<_> = reminders(&app).await.split_off(before);
    let to_hr = today
        .iter()
        .find(|(to, _, _)| to == KARIM)
        .expect("HR's digest");
    assert!(to_hr.2.contains("Camille Martin"), "{}", to_hr.2);
    assert!(to_hr.2.contains("plus de 30 jours"));
    // Never two mails to one person on one day.
    let days: Vec<(String, String)> = reperes::on_db!(app.database(), pool => sqlx::query_as(
        "SELECT recipient, dedupe_key FROM outbox WHERE kind = 'reminder'"
    ).fetch_all(pool).await)
    .unwrap();
    let unique: std::collections::HashSet<_> = days.iter().collect();
    assert_eq!(unique.len(), days.len());
}

async fn a_reminder_met_meanwhile_is_dropped_and_mail_waits_for_working_hours(app: TestApp) {
    let now = reperes::db::now();
    assign(&app, CITIZENSHIP, 10, now).await;
    // Sweep on Saturday 23 January 2027, ten days before the due date (the D-14 stage).
    let saturday = d("2027-01-23");
    reperes::on_db!(app.database(), pool => sqlx::query("UPDATE obligations SET due_on = $1")
        .bind(saturday + Duration::days(10)).execute(pool).await.map(|_| ()))
    .unwrap();
    let report = sweep(&app, at(saturday)).await;
    assert!(report.digests > 0);
    // Queued on Saturday, held until Monday 08:00 Paris.
    assert_eq!(deliver(&app, at(saturday)).await.sent, 0);
    assert_eq!(deliver(&app, at(d("2027-01-24"))).await.sent, 0);
    // Camille meets her obligation before Monday: her reminder is dropped, not sent.
    app.login(CAMILLE).await;
    pass_base_quiz(&app).await;
    let monday = chrono_tz::Europe::Paris
        .with_ymd_and_hms(2027, 1, 25, 8, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let round = deliver(&app, monday).await;
    assert_eq!(round.dropped, 1, "{round:?}");
    assert_eq!(round.sent as u64, report.digests - 1);
    let camille: (String, Option<String>) = reperes::on_db!(app.database(), pool => sqlx::query_as(
        "SELECT status, last_error FROM outbox WHERE kind = 'reminder' AND recipient = $1"
    ).bind(CAMILLE).fetch_one(pool).await)
    .unwrap();
    assert_eq!(camille.0, "dropped");
    assert!(camille.1.unwrap().contains("rappel abandonné"));
    app.logout().await;
    app.login(ADMIN).await;
    let (_, page) = app.get("/admin/envois").await;
    assert!(page.contains("Abandonné (plus rien à rappeler)"), "{page}");
}

async fn campaigns_go_once_with_a_one_click_unsubscribe(app: TestApp) {
    // The 3 December campaign leaves 7 days before: 26 November.
    let send = d("2026-11-26");
    let report = sweep(&app, at(send)).await;
    let active: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE active"
    ).fetch_one(pool).await)
    .unwrap();
    assert_eq!(report.campaign_mails as i64, active, "{report:?}");
    assert_eq!(sweep(&app, at(send)).await.campaign_mails, 0, "once a year");
    assert_eq!(
        sweep(&app, at(send + Duration::days(1)))
            .await
            .campaign_mails,
        0
    );
    let round = deliver(&app, at(send)).await;
    assert_eq!(round.sent as i64, active);
    // The mail carries the one-click unsubscribe headers.
    let mails = app.mail_dir.path().join("mails");
    let camille_mail = std::fs::read_dir(&mails)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .find(|m| m.contains(CAMILLE))
        .expect("Camille's campaign mail");
    assert!(camille_mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    let start = camille_mail
        .find("List-Unsubscribe: <")
        .expect("List-Unsubscribe")
        + "List-Unsubscribe: <".len();
    let url = &camille_mail[start..start + camille_mail[start..].find('>').unwrap()];
    let path = url
        .strip_prefix("https://reperes.test")
        .unwrap()
        .to_string();
    // The provider posts it: no cookie, no CSRF token.
    let res = app.client.post(path.clone()).dispatch().await;
    assert_eq!(res.status(), Status::Ok);
    assert!(res
        .into_string()
        .await
        .unwrap()
        .contains("ne recevrez plus"));
    // Next year: everyone but Camille.
    let report = sweep(&app, at(d("2027-11-26"))).await;
    assert_eq!(report.campaign_mails as i64, active - 1);
    // Her preferences say so, and she can turn them back on.
    app.login(CAMILLE).await;
    let (_, page) = app.get("/preferences").await;
    assert!(!page.contains("checked"), "{page}");
    let (status, _, page) = app.post_form("/preferences", "campaigns=true").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("checked"));
    // An unknown token changes nothing and says so.
    let res = app.client.post("/desabonnement/0000").dispatch().await;
    assert_eq!(res.status(), Status::NotFound);
}

async fn hr_edits_the_rules_and_previews_a_day(app: TestApp) {
    let now = reperes::db::now();
    assign(&app, CITIZENSHIP, 20, now).await;
    let due = reperes::certificates::paris_today(now) + Duration::days(20);
    app.login(KARIM).await;
    // The preview on D-14 lists Camille's reminder; nothing is written.
    let (status, page) = app
        .get(&format!("/rh/rappels?date={}", due - Duration::days(14)))
        .await;
    assert_eq!(status, Status::Ok);
    assert!(
        page.contains("Camille Martin (camille.martin@demo.reperes.test)"),
        "{page}"
    );
    assert!(reminders(&app).await.is_empty());
    let (status, page) = app.get("/rh/rappels?date=2027-02-30").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("n&#x27;est pas une date"), "{page}");
    // New rules: a single reminder 7 days before.
    let form = "before_due=7&overdue_first=2&overdue_every=10&escalate_team=20&escalate_hr=40&before_expiry=30";
    let (status, location, _) = app.post_form("/rh/rappels/reglages", form).await;
    assert_eq!(status, Status::SeeOther);
    assert_eq!(location, "/rh/rappels");
    let (_, page) = app
        .get(&format!("/rh/rappels?date={}", due - Duration::days(14)))
        .await;
    assert!(page.contains(" 0 courriel(s) de rappel"), "{page}");
    let (_, page) = app
        .get(&format!("/rh/rappels?date={}", due - Duration::days(7)))
        .await;
    assert!(page.contains("Camille Martin"), "{page}");
    // Bad rules are refused, with what was typed kept.
    let bad = "before_due=7%2C+-2&overdue_first=2&overdue_every=10&escalate_team=20&escalate_hr=10&before_expiry=30";
    let (status, _, page) = app.post_form("/rh/rappels/reglages", bad).await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(
        page.contains("« -2 » n&#x27;est pas un nombre de jours"),
        "{page}"
    );
    let bad = "before_due=7&overdue_first=2&overdue_every=10&escalate_team=20&escalate_hr=10&before_expiry=30";
    let (status, _, page) = app.post_form("/rh/rappels/reglages", bad).await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(page.contains("au moins aussi long"), "{page}");
    // A campaign on 30 February is refused; on 29 February, kept.
    let (status, _, page) = app
        .post_form(
            "/rh/campagnes/nouvelle",
            "name=Test&month=2&day=30&days_before=3&text=Un+texte+de+campagne&active=true",
        )
        .await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(
        page.contains("n&#x27;est pas une date du calendrier"),
        "{page}"
    );
    let (status, location, _) = app
        .post_form(
            "/rh/campagnes/nouvelle",
            "name=Bissextile&month=2&day=29&days_before=3&text=Un+texte+de+campagne&modules=base&audiences=accueil&active=true",
        )
        .await;
    assert_eq!(status, Status::SeeOther, "{location}");
    let (_, page) = app.get("/rh/rappels").await;
    assert!(page.contains("Bissextile"));
    assert!(page.contains("29/02"));
}
