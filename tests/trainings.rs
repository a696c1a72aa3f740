//! Shared trainings: no overbooking under real concurrency (50 people for 10 seats, a
//! partner's quota, cancellations racing with each other and with a capacity change), the
//! waiting list's offers, approvals, attendance, calendar files read by an independent
//! parser, the API's shapes and bad input. SQLite and PostgreSQL.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use chrono::{Duration, Utc};
use common::*;
use reperes::trainings::flow::{self, Mailing, SessionInput, SlotInput};
use reperes::trainings::store::{self, Cancellation};
use reperes::trainings::Status;
use rocket::http::Status as Http;
use serde_json::{json, Value};
use uuid::Uuid;

on_both!(
    fifty_people_for_ten_seats_get_ten_seats_and_forty_positions,
    a_partner_s_staff_racing_for_its_quota_get_the_quota_then_general_seats,
    racing_cancellations_and_capacity_changes_never_give_a_seat_twice,
    a_freed_seat_is_offered_held_then_passed_on,
    approval_requests_wait_for_the_manager_and_keep_their_order,
    attendance_at_every_slot_completes_the_session,
    attending_a_session_that_completes_a_module_meets_its_obligation,
    a_rule_can_assign_a_shared_training_met_by_attending_a_session,
    invitations_are_valid_icalendar_with_stable_uids_and_sequences,
    the_api_answers_with_its_shapes_and_enrolling_twice_is_idempotent,
    bad_input_is_refused_in_french_and_writes_nothing,
    pages_show_sessions_enrolments_and_rosters,
    qr_check_in_calendar_feed_roster_export_and_the_partner_page,
    seat_holders_are_reminded_seven_days_and_one_day_before_once,
);

const LUCIE: &str = "lucie.fontaine@demo.reperes.test";
const MALIK: &str = "malik.haddad@demo.reperes.test";
const JEAN_PIERRE: &str = "jean-pierre.muller@demo.reperes.test";

fn certifier(app: &TestApp) -> &reperes::certificates::Certifier {
    app.client
        .rocket()
        .state::<reperes::certificates::Certifier>()
        .unwrap()
}

/// The text of a PDF, as `pdftotext` reads it (poppler-utils, installed by scripts/test).
fn pdf_text(pdf: &[u8], layout: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("document.pdf");
    std::fs::write(&file, pdf).unwrap();
    let mut args = vec![file.to_str().unwrap(), "-"];
    if layout {
        args.insert(0, "-layout");
    }
    let out = Command::new("pdftotext")
        .args(args)
        .output()
        .expect("pdftotext (poppler-utils, installed by scripts/test)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The state today of the current cycle of `duty` for `user`.
async fn duty_state(app: &TestApp, user: Uuid, duty: &str) -> Option<reperes::obligations::State> {
    let today = reperes::certificates::paris_today(reperes::db::now());
    cycles_of(app, user, today)
        .await
        .into_iter()
        .rev()
        .find(|r| r.module_slug == duty)
        .map(|r| r.state)
}

fn mailing(app: &TestApp) -> Mailing<'_> {
    let rocket = app.client.rocket();
    let views = rocket.state::<reperes::views::Views>().unwrap();
    let config = rocket.state::<reperes::config::Config>().unwrap();
    reperes::trainings::routes::mailing(views, config)
}

async fn user(app: &TestApp, email: &str) -> reperes::people::User {
    reperes::people::store::find_by_email(app.database(), email)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{email}"))
}

async fn partner_id(app: &TestApp, name: &str) -> Uuid {
    reperes::people::store::partners(app.database())
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap()
        .id
}

/// A new learner in the org unit at `path`: their e-mail address.
async fn person_in_unit(app: &TestApp, email: &str, name: &str, path: &str) -> String {
    reperes::on_db!(app.database(), pool => sqlx::query(
        "INSERT INTO users (id, email, display_name, role, audiences, active, created_at, org_unit_id, source)
         VALUES ($1, $2, $3, 'learner', 'accueil', TRUE, $4, (SELECT id FROM org_units WHERE path = $5), 'demo')")
        .bind(Uuid::new_v4()).bind(email).bind(name).bind(reperes::db::now()).bind(path)
        .execute(pool).await.map(|_| ())).unwrap();
    email.to_string()
}

/// `n` new learners (of `partner` when given); their ids, in order.
async fn people(app: &TestApp, prefix: &str, n: usize, partner: Option<Uuid>) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = Uuid::new_v4();
        reperes::on_db!(app.database(), pool => sqlx::query(
            "INSERT INTO users (id, email, display_name, role, audiences, active, created_at, partner_id, source)
             VALUES ($1, $2, $3, 'learner', 'tous', TRUE, $4, $5, 'demo')")
            .bind(id).bind(format!("{prefix}{i}@ville.test")).bind(format!("{prefix} {i}"))
            .bind(reperes::db::now()).bind(partner).execute(pool).await.map(|_| ())).unwrap();
        ids.push(id);
    }
    ids
}

fn day_in(days: i64) -> String {
    (Utc::now() + Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

async fn offer(app: &TestApp, approval: bool) -> Uuid {
    let lucie = user(app, LUCIE).await;
    let input = flow::OfferInput {
        title: "Observer et repérer les discriminations".into(),
        description: "Une demi-journée en groupe.".into(),
        audiences: "tous".into(),
        requires_approval: approval,
        ..flow::OfferInput::default()
    };
    flow::save_offer(app.database(), catalog(app), &lucie, None, &input, None)
        .await
        .unwrap()
}

fn session_input(offer: Uuid, capacity: i64, days: i64) -> SessionInput {
    SessionInput {
        offer: offer.to_string(),
        mode: "in_person".into(),
        address: "Hôtel de ville, place Stanislas".into(),
        room: "Salle 3".into(),
        access_info: "Entrée de plain-pied".into(),
        capacity: capacity.to_string(),
        slots: vec![SlotInput {
            date: day_in(days),
            start: "09:00".into(),
            end: "12:00".into(),
        }],
        ..SessionInput::default()
    }
}

async fn session(app: &TestApp, input: &SessionInput) -> Uuid {
    let lucie = user(app, LUCIE).await;
    flow::create_session(app.database(), &lucie, input, None)
        .await
        .unwrap()
}

/// The enrolments of a session by status, and the waiting positions.
async fn tally(app: &TestApp, session: Uuid) -> (i64, i64, Vec<i64>) {
    let rows = store::enrolments_of_session(app.database(), session)
        .await
        .unwrap();
    let held = rows.iter().filter(|e| e.status.holds_seat()).count() as i64;
    let waiting = rows.iter().filter(|e| e.status == Status::Waiting).count() as i64;
    let mut positions: Vec<i64> = rows.iter().filter_map(|e| e.position).collect();
    positions.sort();
    (held, waiting, positions)
}

/// Enrols every person at once, each in its own task: the answers, in order.
async fn race(app: &TestApp, session: Uuid, who: &[Uuid]) -> Vec<flow::Enrolled> {
    let db = app.database().clone();
    let rocket = app.client.rocket();
    let views = rocket.state::<reperes::views::Views>().unwrap().clone();
    let config = rocket.state::<reperes::config::Config>().unwrap().clone();
    let catalog = catalog(app).clone();
    let mut tasks = Vec::new();
    for id in who {
        let (db, views, config, catalog) =
            (db.clone(), views.clone(), config.clone(), catalog.clone());
        let id = *id;
        tasks.push(tokio::spawn(async move {
            let me = reperes::people::store::find(&db, id)
                .await
                .unwrap()
                .unwrap();
            let m = reperes::trainings::routes::mailing(&views, &config);
            flow::enrol(&db, &m, &catalog, &me, session, None).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().expect("enrolment accepted"));
    }
    out
}

async fn fifty_people_for_ten_seats_get_ten_seats_and_forty_positions(app: TestApp) {
    let offer = offer(&app, false).await;
    let s = session(&app, &session_input(offer, 10, 20)).await;
    let who = people(&app, "course", 50, None).await;
    let answers = race(&app, s, &who).await;
    let booked = answers
        .iter()
        .filter(|a| a.enrolment.status == Status::Booked)
        .count();
    assert_eq!(booked, 10, "exactly the capacity");
    let positions: BTreeSet<i64> = answers
        .iter()
        .filter_map(|a| a.enrolment.position)
        .collect();
    assert_eq!(
        positions,
        (1..=40).collect(),
        "positions 1 to 40, no gap, no duplicate"
    );
    let (held, waiting, stored) = tally(&app, s).await;
    assert_eq!((held, waiting), (10, 40));
    assert_eq!(stored, (1..=40).collect::<Vec<_>>());
    // Every person got a mail: ten invitations, forty waiting-list notices.
    let invitations: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'training' AND attachments LIKE '%invitation.ics%'")
        .fetch_one(pool).await).unwrap();
    assert_eq!(invitations, 10);
}

async fn a_partner_s_staff_racing_for_its_quota_get_the_quota_then_general_seats(app: TestApp) {
    let clairiere = partner_id(&app, "Centre social La Clairière").await;
    let offer = offer(&app, false).await;
    let mut input = session_input(offer, 6, 20);
    input.quotas = vec![flow::QuotaInput {
        partner: clairiere.to_string(),
        seats: "3".into(),
    }];
    let s = session(&app, &input).await;
    // 20 staff of the partner and 10 agents, all at once.
    let staff = people(&app, "clairiere", 20, Some(clairiere)).await;
    let agents = people(&app, "agent", 10, None).await;
    let mut everyone = staff.clone();
    everyone.extend(&agents);
    race(&app, s, &everyone).await;
    let rows = store::enrolments_of_session(app.database(), s)
        .await
        .unwrap();
    let quota_seats = rows
        .iter()
        .filter(|e| e.status.holds_seat() && e.quota_partner_id == Some(clairiere))
        .count();
    assert_eq!(
        quota_seats, 3,
        "the three reserved seats, to the partner's staff"
    );
    let held = rows.iter().filter(|e| e.status.holds_seat()).count();
    assert_eq!(held, 6, "never more than the capacity");
    let agents_in = rows
        .iter()
        .filter(|e| e.status.holds_seat() && agents.contains(&e.user_id))
        .count();
    assert!(
        agents_in <= 3,
        "agents only ever get general seats: {agents_in}"
    );
    let (_, waiting, positions) = tally(&app, s).await;
    assert_eq!(positions, (1..=waiting).collect::<Vec<_>>());
    let full = store::session(app.database(), s).await.unwrap().unwrap();
    assert_eq!(full.quotas[0].used, 3);
}

async fn racing_cancellations_and_capacity_changes_never_give_a_seat_twice(app: TestApp) {
    let offer = offer(&app, false).await;
    let s = session(&app, &session_input(offer, 10, 20)).await;
    let who = people(&app, "annul", 16, None).await;
    let answers = race(&app, s, &who).await;
    let booked: Vec<Uuid> = answers
        .iter()
        .filter(|a| a.enrolment.status == Status::Booked)
        .map(|a| a.enrolment.id)
        .collect();
    assert_eq!(booked.len(), 10);
    let lucie = user(&app, LUCIE).await;
    // The same enrolment cancelled twice at once, three others cancelled, and the capacity
    // lowered to 8, all in flight together.
    let db = app.database().clone();
    let rocket = app.client.rocket();
    let views = rocket.state::<reperes::views::Views>().unwrap().clone();
    let config = rocket.state::<reperes::config::Config>().unwrap().clone();
    let mut tasks = Vec::new();
    for e in [booked[0], booked[0], booked[1], booked[2], booked[3]] {
        let (db, views, config) = (db.clone(), views.clone(), config.clone());
        let by = lucie.id;
        tasks.push(tokio::spawn(async move {
            let m = reperes::trainings::routes::mailing(&views, &config);
            let compose = |n: &store::Notice<'_>| flow::compose(&m, n);
            store::cancel(
                &db,
                Cancellation {
                    enrolment: e,
                    by,
                    after_deadline_allowed: true,
                    now: reperes::db::now(),
                },
                m.hold,
                &compose,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        }));
    }
    {
        let (db, views, config, lucie) = (db.clone(), views.clone(), config.clone(), lucie.clone());
        tasks.push(tokio::spawn(async move {
            let m = reperes::trainings::routes::mailing(&views, &config);
            flow::update_session(&db, &m, &lucie, s, &json!({ "capacity": 8 }), None)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let double: Vec<_> = results[..2].iter().filter(|r| r.is_ok()).collect();
    assert_eq!(
        double.len(),
        1,
        "one of two identical cancellations wins: {results:?}"
    );
    assert!(results[2..5].iter().all(|r| r.is_ok()), "{results:?}");
    let full = store::session(app.database(), s).await.unwrap().unwrap();
    let (held, waiting, positions) = tally(&app, s).await;
    // The capacity change either ran before the cancellations (refused: 10 seats taken)
    // or after some of them; either way the seats held never exceed the capacity.
    assert!(
        held <= full.session.capacity,
        "{held} > {}",
        full.session.capacity
    );
    assert_eq!(
        held + waiting,
        16 - 4,
        "four cancelled, everyone else holds or waits"
    );
    assert_eq!(positions, (1..=waiting).collect::<Vec<_>>());
    let rows = store::enrolments_of_session(app.database(), s)
        .await
        .unwrap();
    let people_holding: BTreeSet<Uuid> = rows
        .iter()
        .filter(|e| e.status.holds_seat())
        .map(|e| e.user_id)
        .collect();
    assert_eq!(people_holding.len() as i64, held, "one seat per person");
}

async fn a_freed_seat_is_offered_held_then_passed_on(app: TestApp) {
    let offer = offer(&app, false).await;
    let s = session(&app, &session_input(offer, 1, 20)).await;
    let who = people(&app, "attente", 3, None).await;
    let m = mailing(&app);
    let compose = |n: &store::Notice<'_>| flow::compose(&m, n);
    let mut ids = Vec::new();
    for w in &who {
        let e = race(&app, s, &[*w]).await.remove(0);
        ids.push(e.enrolment.id);
    }
    let first = store::enrolment(app.database(), ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.status, Status::Booked);
    let now = reperes::db::now();
    store::cancel(
        app.database(),
        Cancellation {
            enrolment: ids[0],
            by: who[0],
            after_deadline_allowed: false,
            now,
        },
        m.hold,
        &compose,
    )
    .await
    .unwrap();
    let second = store::enrolment(app.database(), ids[1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.status, Status::Offered);
    assert_eq!(second.offer_expires_at, Some(now + Duration::hours(48)));
    let third = store::enrolment(app.database(), ids[2])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.position, Some(1));
    // The offer mail links to the session page, where the person confirms.
    let subject: String = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT subject FROM outbox WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1")
        .bind(who[1]).fetch_one(pool).await)
    .unwrap();
    assert!(
        subject.starts_with("Une place s'est libérée : confirmez-la"),
        "{subject}"
    );
    // 49 hours later, unconfirmed: it lapses and passes to the third person.
    let later = now + Duration::hours(49);
    let (lapsed, promoted) = store::settle(app.database(), s, m.hold, later, &compose)
        .await
        .unwrap();
    assert_eq!((lapsed, promoted), (1, 1));
    let second = store::enrolment(app.database(), ids[1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.status, Status::Lapsed);
    let third = store::enrolment(app.database(), ids[2])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.status, Status::Offered);
    // The third confirms through the page.
    app.login("attente2@ville.test").await;
    let (status, location, _) = app
        .post_form(
            &format!("/formations/inscriptions/{}/confirmation", ids[2]),
            "",
        )
        .await;
    assert_eq!(status, Http::SeeOther, "{location}");
    let third = store::enrolment(app.database(), ids[2])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.status, Status::Booked);
    // A second confirmation answers the same; a lapsed offer cannot be confirmed.
    app.logout().await;
    app.login("attente1@ville.test").await;
    let (status, _, body) = app
        .post_form(
            &format!("/formations/inscriptions/{}/confirmation", ids[1]),
            "",
        )
        .await;
    assert_eq!(status, Http::Conflict);
    assert!(body.contains("délai de confirmation est passé"), "{body}");

    // A seat freed less than the hold before the start is given directly.
    let close = session(&app, &session_input(offer, 1, 1)).await;
    let pair = people(&app, "proche", 2, None).await;
    let a = race(&app, close, &[pair[0]]).await.remove(0);
    let b = race(&app, close, &[pair[1]]).await.remove(0);
    assert_eq!(b.enrolment.status, Status::Waiting);
    store::cancel(
        app.database(),
        Cancellation {
            enrolment: a.enrolment.id,
            by: pair[0],
            after_deadline_allowed: true,
            now: reperes::db::now(),
        },
        m.hold,
        &compose,
    )
    .await
    .unwrap();
    let b = store::enrolment(app.database(), b.enrolment.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        b.status,
        Status::Booked,
        "given directly: the session starts within the hold"
    );
}

async fn approval_requests_wait_for_the_manager_and_keep_their_order(app: TestApp) {
    let offer = offer(&app, true).await;
    let s = session(&app, &session_input(offer, 1, 20)).await;
    // Camille asks first, Nadia (same service) second: both wait for Jean-Pierre, the
    // manager of their direction.
    let nadia = person_in_unit(
        &app,
        "nadia.roux@ville.test",
        "Nadia Roux",
        "Ville de Nancy/Direction de la citoyenneté/Accueil et état civil",
    )
    .await;
    app.login(CAMILLE).await;
    let (status, camille) = app
        .post_json(&format!("/api/v1/sessions/{s}/enrolments"), "")
        .await;
    assert_eq!(status, Http::Created, "{camille}");
    assert_eq!(camille["enrolment"]["status"], "pending");
    app.logout().await;
    app.login(&nadia).await;
    let (_, sophie) = app
        .post_json(&format!("/api/v1/sessions/{s}/enrolments"), "{}")
        .await;
    assert_eq!(sophie["enrolment"]["status"], "pending");
    // Nadia cannot decide her own request.
    let (status, _) = app
        .post_json(
            &format!(
                "/api/v1/enrolments/{}/decision",
                sophie["enrolment"]["id"].as_str().unwrap()
            ),
            r#"{"approve": true}"#,
        )
        .await;
    assert_eq!(status, Http::Forbidden);
    app.logout().await;
    let requests: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND subject LIKE 'Une demande d''inscription attend votre accord%'")
        .bind(JEAN_PIERRE).fetch_one(pool).await).unwrap();
    assert_eq!(requests, 2, "the manager is asked for each request");
    app.login(JEAN_PIERRE).await;
    let (status, page) = app.get("/formations/demandes").await;
    assert_eq!(status, Http::Ok);
    assert!(page.contains("Camille Martin") && page.contains("Nadia Roux"));
    // Nadia is approved first: the one seat goes to her (no one waits ahead of her yet);
    // Camille, approved next, waits in position 1.
    let (_, location, _) = app
        .post_form(
            &format!(
                "/formations/inscriptions/{}/decision",
                sophie["enrolment"]["id"].as_str().unwrap()
            ),
            "decision=accepter",
        )
        .await;
    assert_eq!(location, "/formations/demandes");
    let (status, decided) = app
        .post_json(
            &format!(
                "/api/v1/enrolments/{}/decision",
                camille["enrolment"]["id"].as_str().unwrap()
            ),
            r#"{"approve": true}"#,
        )
        .await;
    assert_eq!(status, Http::Ok, "{decided}");
    assert_eq!(decided["enrolment"]["status"], "waiting");
    assert_eq!(decided["enrolment"]["position"], 1);
    // A partner referent does not decide for city agents (404: outside their scope).
    app.logout().await;
    app.login(MALIK).await;
    let (status, _) = app
        .post_json(
            &format!(
                "/api/v1/enrolments/{}/decision",
                camille["enrolment"]["id"].as_str().unwrap()
            ),
            r#"{"approve": false}"#,
        )
        .await;
    assert_eq!(status, Http::NotFound);
    app.logout().await;
    // Sophie's service has no manager: HR is asked.
    app.login(SOPHIE).await;
    let (_, asked) = app
        .post_json(&format!("/api/v1/sessions/{s}/enrolments"), "")
        .await;
    assert_eq!(asked["enrolment"]["status"], "pending");
    let to_hr: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE recipient = 'karim.benali@demo.reperes.test' AND subject LIKE 'Une demande%'")
        .fetch_one(pool).await).unwrap();
    assert_eq!(to_hr, 1);
}

async fn attendance_at_every_slot_completes_the_session(app: TestApp) {
    let offer = offer(&app, false).await;
    let mut input = session_input(offer, 5, 20);
    input.slots.push(SlotInput {
        date: day_in(21),
        start: "14:00".into(),
        end: "17:00".into(),
    });
    let s = session(&app, &input).await;
    let who = people(&app, "present", 2, None).await;
    let answers = race(&app, s, &who).await;
    let (e0, e1) = (answers[0].enrolment.id, answers[1].enrolment.id);
    let full = store::session(app.database(), s).await.unwrap().unwrap();
    app.login(LUCIE).await;
    // Slot 1 through the roster page: one present, one absent.
    let (status, page) = app
        .get(&format!("/formations/sessions/{s}/emargement"))
        .await;
    assert_eq!(status, Http::Ok);
    assert!(
        page.contains("present0") || page.contains("present 0"),
        "{page}"
    );
    let (status, location, _) = app
        .post_form(
            &format!("/formations/sessions/{s}/emargement?creneau=1"),
            &format!("presence-{e0}=present&presence-{e1}=absent"),
        )
        .await;
    assert_eq!(status, Http::SeeOther, "{location}");
    // Slot 2 through the API.
    let body = json!({ "slot": full.slots[1].id, "marks": [
        { "enrolment": e0, "status": "present" }, { "enrolment": e1, "status": "present" }
    ]});
    let res = app
        .client
        .put(format!("/api/v1/sessions/{s}/attendance"))
        .header(rocket::http::ContentType::JSON)
        .header(rocket::http::Header::new("X-CSRF-Token", app.csrf().await))
        .body(body.to_string())
        .dispatch()
        .await;
    let (status, done) = json_of(res).await;
    assert_eq!(status, Http::Ok, "{done}");
    assert_eq!(
        done["completed_sessions"], 1,
        "only the person present at both slots"
    );
    let first = store::enrolment(app.database(), e0).await.unwrap().unwrap();
    assert!(first.attended_at.is_some());
    let second = store::enrolment(app.database(), e1).await.unwrap().unwrap();
    assert!(second.attended_at.is_none());
    // Someone without a seat cannot be marked.
    let outsider = Uuid::new_v4();
    let res = app
        .client
        .put(format!("/api/v1/sessions/{s}/attendance"))
        .header(rocket::http::ContentType::JSON)
        .header(rocket::http::Header::new("X-CSRF-Token", app.csrf().await))
        .body(json!({ "slot": full.slots[0].id, "marks": [{ "enrolment": outsider, "status": "present" }] }).to_string())
        .dispatch()
        .await;
    assert_eq!(res.status(), Http::UnprocessableEntity);
    // Another trainer's session is not Lucie's to mark: the learner gets 403.
    app.logout().await;
    app.login(CAMILLE).await;
    let (status, _) = app
        .get(&format!("/formations/sessions/{s}/emargement"))
        .await;
    assert_eq!(status, Http::Forbidden);
}

/// The calendar files of the outbox rows of `user`, oldest first.
async fn invitations(app: &TestApp, user: Uuid) -> Vec<String> {
    let rows: Vec<String> = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT attachments FROM outbox WHERE user_id = $1 ORDER BY created_at, id")
        .bind(user).fetch_all(pool).await)
    .unwrap();
    rows.iter()
        .flat_map(|a| serde_json::from_str::<Vec<Value>>(a).unwrap())
        .filter(|a| a["filename"] == "invitation.ics")
        .map(|a| {
            let bytes = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                a["data"].as_str().unwrap(),
            )
            .unwrap();
            String::from_utf8(bytes).unwrap()
        })
        .collect()
}

/// Reads a calendar file with Python's `icalendar` package: METHOD, and per event its
/// UID, SEQUENCE, STATUS, DTSTART's zone and its UTC instant.
fn parse_ics(ics: &str) -> Value {
    let script = r#"
import json, sys
from icalendar import Calendar
cal = Calendar.from_ical(sys.stdin.read())
tz = [c.get('TZID') for c in cal.walk('VTIMEZONE')]
events = []
for e in cal.walk('VEVENT'):
    start = e.decoded('DTSTART')
    events.append({
        'uid': str(e.get('UID')),
        'sequence': int(e.get('SEQUENCE')),
        'status': str(e.get('STATUS')),
        'tzid': e['DTSTART'].params.get('TZID'),
        'start_utc': start.astimezone(__import__('datetime').timezone.utc).isoformat(),
    })
print(json.dumps({'method': str(cal.get('METHOD')), 'timezones': [str(t) for t in tz], 'events': events}))
"#;
    use std::io::Write;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (with the icalendar package: scripts/test installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "icalendar could not parse:\n{ics}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn invitations_are_valid_icalendar_with_stable_uids_and_sequences(app: TestApp) {
    let offer = offer(&app, false).await;
    // A session on the day after the change to summer time: 09:00 in Paris is 07:00 UTC.
    let mut input = session_input(offer, 5, 20);
    input.slots[0].date = "2027-03-29".into();
    let s = session(&app, &input).await;
    let who = people(&app, "agenda", 1, None).await;
    race(&app, s, &who).await;
    let lucie = user(&app, LUCIE).await;
    let m = mailing(&app);
    // The session moves by an hour, then is cancelled.
    flow::update_session(
        app.database(),
        &m,
        &lucie,
        s,
        &json!({ "slots": [{ "date": "2027-03-29", "start": "10:00", "end": "13:00" }] }),
        None,
    )
    .await
    .unwrap();
    flow::cancel_session(app.database(), &m, &lucie, s, "Formateur malade", None)
        .await
        .unwrap();
    let files = invitations(&app, who[0]).await;
    assert_eq!(files.len(), 3, "booked, changed, cancelled");
    let parsed: Vec<Value> = files.iter().map(|f| parse_ics(f)).collect();
    assert_eq!(parsed[0]["method"], "REQUEST");
    assert_eq!(parsed[1]["method"], "REQUEST");
    assert_eq!(parsed[2]["method"], "CANCEL");
    for p in &parsed {
        assert_eq!(p["timezones"], json!(["Europe/Paris"]));
        assert_eq!(p["events"][0]["tzid"], "Europe/Paris");
    }
    let uid = parsed[0]["events"][0]["uid"].as_str().unwrap();
    assert!(
        parsed.iter().all(|p| p["events"][0]["uid"] == uid),
        "one UID for the enrolment"
    );
    let seqs: Vec<i64> = parsed
        .iter()
        .map(|p| p["events"][0]["sequence"].as_i64().unwrap())
        .collect();
    assert!(
        seqs[0] < seqs[1] && seqs[1] < seqs[2],
        "SEQUENCE grows: {seqs:?}"
    );
    assert_eq!(
        parsed[0]["events"][0]["start_utc"],
        "2027-03-29T07:00:00+00:00"
    );
    assert_eq!(
        parsed[1]["events"][0]["start_utc"],
        "2027-03-29T08:00:00+00:00"
    );
    assert_eq!(parsed[2]["events"][0]["status"], "CANCELLED");
}

async fn the_api_answers_with_its_shapes_and_enrolling_twice_is_idempotent(app: TestApp) {
    app.login(LUCIE).await;
    let (status, offer) = app
        .post_json(
            "/api/v1/training-offers",
            r#"{"title": "Repérer", "audiences": "tous"}"#,
        )
        .await;
    assert_eq!(status, Http::Created, "{offer}");
    let (status, bad) = app
        .post_json(
            "/api/v1/training-offers",
            r#"{"title": "Repérer", "audiences": "tous", "axes": "T2 X9"}"#,
        )
        .await;
    assert_eq!(status, Http::UnprocessableEntity);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Axe inconnu : « X9 »"),
        "{bad}"
    );
    let (_, with_axes) = app
        .post_json(
            "/api/v1/training-offers",
            r#"{"title": "Égalité", "audiences": "tous", "axes": "t2, E5 T2"}"#,
        )
        .await;
    assert_eq!(
        with_axes["offer"]["axes"], "T2 E5",
        "codes checked, upper case, once each"
    );
    let offer = offer["offer"]["id"].as_str().unwrap().to_string();
    let body = json!({
        "offer": offer, "mode": "online", "online_link": "https://visio.ville.test/salle",
        "capacity": 1, "slots": [{ "date": day_in(15), "start": "14:00", "end": "16:00" }]
    });
    let (status, created) = app.post_json("/api/v1/sessions", &body.to_string()).await;
    assert_eq!(status, Http::Created, "{created}");
    let s = created["session"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        created["session"]["online_link"], "https://visio.ville.test/salle",
        "the trainer sees the link"
    );
    app.logout().await;

    app.login(CAMILLE).await;
    let (_, seen) = app.get_json(&format!("/api/v1/sessions/{s}")).await;
    assert_eq!(
        seen["session"]["online_link"],
        Value::Null,
        "no seat, no link"
    );
    let (status, first) = app
        .post_json(&format!("/api/v1/sessions/{s}/enrolments"), "")
        .await;
    assert_eq!(status, Http::Created, "{first}");
    assert_eq!(first["enrolment"]["status"], "booked");
    assert_eq!(first["enrolment"]["position"], Value::Null);
    let (status, again) = app
        .post_json(&format!("/api/v1/sessions/{s}/enrolments"), "")
        .await;
    assert_eq!(status, Http::Ok);
    assert_eq!(
        again["enrolment"]["id"], first["enrolment"]["id"],
        "the same enrolment"
    );
    let (_, seen) = app.get_json(&format!("/api/v1/sessions/{s}")).await;
    assert_eq!(
        seen["session"]["online_link"],
        "https://visio.ville.test/salle"
    );
    let (_, mine) = app.get_json("/api/v1/me/enrolments").await;
    assert_eq!(mine["enrolments"].as_array().unwrap().len(), 1);
    app.logout().await;

    // Sophie is second: waiting, position 1. Camille cancels: Sophie is offered the seat.
    app.login(SOPHIE).await;
    let (_, sophie) = app
        .post_json(&format!("/api/v1/sessions/{s}/enrolments"), "")
        .await;
    assert_eq!(sophie["enrolment"]["status"], "waiting");
    assert_eq!(sophie["enrolment"]["position"], 1);
    app.logout().await;
    app.login(CAMILLE).await;
    let id = first["enrolment"]["id"].as_str().unwrap();
    let res = app
        .client
        .delete(format!("/api/v1/enrolments/{id}"))
        .header(rocket::http::Header::new("X-CSRF-Token", app.csrf().await))
        .dispatch()
        .await;
    let (status, cancelled) = json_of(res).await;
    assert_eq!(status, Http::Ok, "{cancelled}");
    assert_eq!(cancelled["enrolment"]["status"], "cancelled");
    app.logout().await;
    app.login(SOPHIE).await;
    let (_, mine) = app.get_json("/api/v1/me/enrolments").await;
    assert_eq!(mine["enrolments"][0]["enrolment"]["status"], "offered");
    let sid = sophie["enrolment"]["id"].as_str().unwrap();
    let (status, confirmed) = app
        .post_json(&format!("/api/v1/enrolments/{sid}/confirmation"), "")
        .await;
    assert_eq!(status, Http::Ok, "{confirmed}");
    assert_eq!(confirmed["enrolment"]["status"], "booked");
    app.logout().await;

    // A partner referent enrols their own staff, not a city agent.
    app.login(MALIK).await;
    let aicha = user(&app, AICHA).await;
    let camille = user(&app, CAMILLE).await;
    let (status, _) = app
        .post_json(
            &format!("/api/v1/sessions/{s}/enrolments"),
            &json!({ "person": camille.id }).to_string(),
        )
        .await;
    assert_eq!(status, Http::NotFound, "outside the referent's scope");
    let (status, enrolled) = app
        .post_json(
            &format!("/api/v1/sessions/{s}/enrolments"),
            &json!({ "person": aicha.id }).to_string(),
        )
        .await;
    assert_eq!(status, Http::Created, "{enrolled}");
    assert_eq!(enrolled["enrolment"]["status"], "waiting");
    assert_eq!(enrolled["enrolment"]["person"], aicha.id.to_string());
}

async fn count_rows(app: &TestApp) -> (i64, i64, i64) {
    reperes::on_db!(app.database(), pool => {
        let s: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM training_sessions").fetch_one(pool).await.unwrap();
        let e: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM enrolments").fetch_one(pool).await.unwrap();
        let o: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(pool).await.unwrap();
        (s, e, o)
    })
}

async fn bad_input_is_refused_in_french_and_writes_nothing(app: TestApp) {
    let offer = offer(&app, false).await;
    let s = session(&app, &session_input(offer, 2, 20)).await;
    let who = people(&app, "plein", 3, None).await;
    race(&app, s, &who).await;
    app.login(LUCIE).await;
    let before = count_rows(&app).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "offer": offer, "mode": "in_person", "address": "Mairie", "capacity": 5,
                    "slots": [{ "date": day_in(10), "start": "12:00", "end": "09:00" }] }),
            "finit avant de commencer",
        ),
        (
            json!({ "offer": offer, "mode": "in_person", "address": "Mairie", "capacity": 5,
                    "slots": [{ "date": "2027-03-28", "start": "02:30", "end": "04:00" }] }),
            "n'existe pas le 28/03/2027",
        ),
        (
            json!({ "offer": offer, "mode": "in_person", "address": "Mairie", "capacity": 2,
                    "quotas": [{ "partner": "CIDFF", "seats": 3 }],
                    "slots": [{ "date": day_in(10), "start": "09:00", "end": "12:00" }] }),
            "dépassent la capacité",
        ),
        (
            json!({ "offer": offer, "mode": "online", "capacity": 5,
                    "slots": [{ "date": day_in(10), "start": "09:00", "end": "12:00" }] }),
            "lien de connexion",
        ),
        (
            json!({ "offer": Uuid::new_v4(), "mode": "in_person", "address": "Mairie", "capacity": "dix",
                    "slots": [{ "date": day_in(10), "start": "09:00", "end": "12:00" }] }),
            "capacité est un nombre",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = app.post_json("/api/v1/sessions", &body.to_string()).await;
        assert_eq!(status, Http::UnprocessableEntity, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{message} (expected « {expected} »)"
        );
    }
    // A capacity below the seats taken: refused, saying how many are taken.
    let res = app
        .client
        .patch(format!("/api/v1/sessions/{s}"))
        .header(rocket::http::ContentType::JSON)
        .header(rocket::http::Header::new("X-CSRF-Token", app.csrf().await))
        .body(r#"{"capacity": 1}"#)
        .dispatch()
        .await;
    let (status, answer) = json_of(res).await;
    assert_eq!(status, Http::UnprocessableEntity);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 places sont déjà prises"),
        "{answer}"
    );
    assert_eq!(count_rows(&app).await, before, "nothing written");
    app.logout().await;

    // Enrolling after the deadline, or into a cancelled session: 409 in French.
    let late = session(&app, &{
        let mut i = session_input(offer, 5, 20);
        i.enrol_until = day_in(-1);
        i
    })
    .await;
    app.login(CAMILLE).await;
    let (status, answer) = app
        .post_json(&format!("/api/v1/sessions/{late}/enrolments"), "")
        .await;
    assert_eq!(status, Http::Conflict);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sont closes"),
        "{answer}"
    );
    app.logout().await;
    let lucie = user(&app, LUCIE).await;
    let m = mailing(&app);
    flow::cancel_session(app.database(), &m, &lucie, s, "Salle indisponible", None)
        .await
        .unwrap();
    // Seat holders get a cancellation for their calendar; the person waiting, the news only.
    let with_ics = |user: Uuid| {
        let db = app.database().clone();
        async move {
            let last: String = reperes::on_db!(&db, pool => sqlx::query_scalar(
                "SELECT attachments FROM outbox WHERE user_id = $1 AND subject LIKE 'La session est annulée%'")
                .bind(user).fetch_one(pool).await).unwrap();
            last.contains("invitation.ics")
        }
    };
    let mut with = 0;
    for u in &who {
        if with_ics(*u).await {
            with += 1;
        }
    }
    assert_eq!(with, 2, "the two seat holders, not the person waiting");
    app.login(CAMILLE).await;
    let (status, answer) = app
        .post_json(&format!("/api/v1/sessions/{s}/enrolments"), "")
        .await;
    assert_eq!(status, Http::Conflict);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("annulée"),
        "{answer}"
    );

    // Two sessions at the same time: the second enrolment is accepted with a warning.
    let a = session(&app, &session_input(offer, 5, 30)).await;
    let b = session(&app, &session_input(offer, 5, 30)).await;
    let (_, first) = app
        .post_json(&format!("/api/v1/sessions/{a}/enrolments"), "")
        .await;
    assert_eq!(first["warning"], Value::Null);
    let (status, second) = app
        .post_json(&format!("/api/v1/sessions/{b}/enrolments"), "")
        .await;
    assert_eq!(status, Http::Created);
    assert!(
        second["warning"]
            .as_str()
            .unwrap_or("")
            .contains("vous êtes déjà inscrit ou inscrite"),
        "{second}"
    );
    // Cancelling oneself after the cancellation deadline: refused; the trainer can.
    let past = {
        let mut i = session_input(offer, 5, 3);
        i.cancel_until = day_in(-1);
        session(&app, &i).await
    };
    let (_, mine) = app
        .post_json(&format!("/api/v1/sessions/{past}/enrolments"), "")
        .await;
    let id = mine["enrolment"]["id"].as_str().unwrap().to_string();
    let res = app
        .client
        .delete(format!("/api/v1/enrolments/{id}"))
        .header(rocket::http::Header::new("X-CSRF-Token", app.csrf().await))
        .dispatch()
        .await;
    let (status, answer) = json_of(res).await;
    assert_eq!(status, Http::Conflict);
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("délai d'annulation est passé"));
    app.logout().await;
    app.login(LUCIE).await;
    let res = app
        .client
        .delete(format!("/api/v1/enrolments/{id}"))
        .header(rocket::http::Header::new("X-CSRF-Token", app.csrf().await))
        .dispatch()
        .await;
    assert_eq!(res.status(), Http::Ok);
}

async fn pages_show_sessions_enrolments_and_rosters(app: TestApp) {
    let offer = offer(&app, false).await;
    let s = session(&app, &session_input(offer, 1, 20)).await;
    app.login(CAMILLE).await;
    let (status, page) = app.get("/formations").await;
    assert_eq!(status, Http::Ok);
    assert!(page.contains("Observer et repérer les discriminations"));
    let (status, _, page) = app
        .post_form(&format!("/formations/sessions/{s}/inscription"), "")
        .await;
    assert_eq!(status, Http::Ok);
    assert!(page.contains("Votre place est réservée"), "{page}");
    let (_, page) = app.get("/mes-formations").await;
    assert!(page.contains("Place réservée"));
    let (_, page) = app.get(&format!("/formations/sessions/{s}")).await;
    assert!(
        !page.contains("Inscrire une personne"),
        "a learner enrols only themself"
    );
    let (_, page) = app.get("/formations?places=true").await;
    assert!(
        page.contains("Aucune session à venir"),
        "the only session is full"
    );
    let month = day_in(20)[..7].to_string();
    for (query, shown) in [
        ("modalite=online".to_string(), false),
        ("modalite=in_person".to_string(), true),
        ("lieu=stanislas".to_string(), true),
        ("lieu=gare".to_string(), false),
        (format!("mois={month}"), true),
        ("mois=1999-01".to_string(), false),
        (format!("offre={offer}"), true),
    ] {
        let (_, page) = app.get(&format!("/formations?{query}")).await;
        assert_eq!(page.contains("/formations/sessions/"), shown, "{query}");
    }
    let (_, api) = app.get_json("/api/v1/sessions?mode=in_person").await;
    assert_eq!(api["sessions"].as_array().unwrap().len(), 1);
    app.logout().await;
    app.login(SOPHIE).await;
    let (_, _, page) = app
        .post_form(&format!("/formations/sessions/{s}/inscription"), "")
        .await;
    assert!(page.contains("position 1 sur la liste d'attente"), "{page}");
    app.logout().await;
    app.login("karim.benali@demo.reperes.test").await;
    let (_, page) = app.get(&format!("/formations/sessions/{s}")).await;
    assert!(
        page.contains("Inscrire une personne"),
        "HR enrols people from the session page"
    );
    let (status, page) = app.get("/rh/formations").await;
    assert_eq!(status, Http::Ok);
    assert!(page.contains("100 %"), "fill rate");
    // A session created through the form, with an error first (kept as typed).
    let form = format!(
        "offer={offer}&mode=in_person&address=Mairie&room=&access_info=&online_link=&capacity=8&slots[0].date={}&slots[0].start=10:00&slots[0].end=09:00&enrol_until=&cancel_until=&quota_release=&trainers=lucie.fontaine%40demo.reperes.test",
        day_in(12)
    );
    let (status, _, page) = app.post_form("/formations/sessions/nouvelle", &form).await;
    assert_eq!(status, Http::UnprocessableEntity);
    assert!(page.contains("finit avant de commencer") && page.contains("value=\"Mairie\""));
    let (status, location, _) = app
        .post_form(
            "/formations/sessions/nouvelle",
            &form.replace("end=09:00", "end=12:00"),
        )
        .await;
    assert_eq!(status, Http::SeeOther);
    assert!(location.contains("fait=creation"), "{location}");
}

async fn qr_check_in_calendar_feed_roster_export_and_the_partner_page(app: TestApp) {
    let offer = offer(&app, false).await;
    let s = session(&app, &session_input(offer, 5, 20)).await;
    let who = people(&app, "qr", 2, None).await;
    race(&app, s, &[who[0]]).await;
    // A name that a spreadsheet would run as a formula.
    reperes::on_db!(app.database(), pool => sqlx::query("UPDATE users SET display_name = '=HYPERLINK(\"http://x\")' WHERE id = $1")
        .bind(who[0]).execute(pool).await.map(|_| ())).unwrap();
    let full = store::session(app.database(), s).await.unwrap().unwrap();
    let slot = store::checkin_slot(app.database(), full.slots[0].id)
        .await
        .unwrap()
        .unwrap();
    let holder = reperes::people::store::find(app.database(), who[0])
        .await
        .unwrap()
        .unwrap();
    let other = reperes::people::store::find(app.database(), who[1])
        .await
        .unwrap()
        .unwrap();
    let db = app.database();
    let certifier = certifier(&app);
    // Too early, a wrong secret, someone without a seat: refused; in the window: present.
    let early = slot.starts_at - Duration::minutes(31);
    let e = flow::check_in(
        db,
        certifier,
        catalog(&app),
        &holder,
        slot.id,
        &slot.checkin_secret,
        early,
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), Http::Conflict);
    assert!(e.to_string().contains("30 minutes avant"), "{e}");
    let late = slot.ends_at + Duration::minutes(31);
    assert!(flow::check_in(
        db,
        certifier,
        catalog(&app),
        &holder,
        slot.id,
        &slot.checkin_secret,
        late
    )
    .await
    .is_err());
    let e = flow::check_in(
        db,
        certifier,
        catalog(&app),
        &holder,
        slot.id,
        "faux",
        slot.starts_at,
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), Http::NotFound);
    let e = flow::check_in(
        db,
        certifier,
        catalog(&app),
        &other,
        slot.id,
        &slot.checkin_secret,
        slot.starts_at,
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), Http::Forbidden);
    flow::check_in(
        db,
        certifier,
        catalog(&app),
        &holder,
        slot.id,
        &slot.checkin_secret,
        slot.starts_at - Duration::minutes(29),
    )
    .await
    .unwrap();
    let marks = store::attendance(db, s).await.unwrap();
    assert_eq!(marks.len(), 1);
    let first = store::enrolments_of_session(db, s).await.unwrap().remove(0);
    assert!(
        first.attended_at.is_some(),
        "one slot, present: session attended"
    );
    // The attestation de présence: issued with the attendance, verifiable by anyone.
    let (_, number) = reperes::certificates::store::attendance_numbers(db, who[0])
        .await
        .unwrap()
        .pop()
        .expect("an attestation de présence");
    let (status, page) = app.get(&format!("/verify/{number}")).await;
    assert_eq!(status, Http::Ok);
    assert!(
        page.contains("Attestation de présence") && page.contains("Valide"),
        "{page}"
    );
    assert!(page.contains("Hôtel de ville"), "{page}");
    // Through the pages, today (20 days early): the code is read, the check-in refused.
    app.login("qr0@ville.test").await;
    let path = format!("/formations/presence/{}/{}", slot.id, slot.checkin_secret);
    let (status, page) = app.get(&path).await;
    assert_eq!(status, Http::Ok);
    assert!(page.contains("Je suis présent ou présente"));
    let (status, _, page) = app.post_form(&path, "").await;
    assert_eq!(status, Http::Conflict);
    assert!(page.contains("n&#x27;est valable que"), "{page}");
    // The holder downloads the attestation from « Mes formations ».
    let (_, page) = app.get("/mes-formations").await;
    assert!(
        page.contains(&format!("/formations/attestations/{number}/pdf")),
        "{page}"
    );
    let res = app
        .client
        .get(format!("/formations/attestations/{number}/pdf"))
        .dispatch()
        .await;
    assert_eq!(res.status(), Http::Ok);
    let text = pdf_text(&res.into_bytes().await.unwrap(), false);
    assert!(
        text.contains("Attestation de présence") && text.contains(&number),
        "{text}"
    );

    // The private calendar feed: made, read by an independent parser, revoked.
    let (status, _, page) = app.post_form("/mes-formations/agenda", "").await;
    assert_eq!(status, Http::Ok);
    let start = page
        .find("/agenda/")
        .expect("the feed address is shown once");
    let end = start + page[start..].find(".ics").unwrap() + 4;
    let feed_path = page[start..end].to_string();
    let res = app.client.get(feed_path.clone()).dispatch().await;
    assert_eq!(res.status(), Http::Ok);
    assert_eq!(
        res.content_type().unwrap().to_string(),
        "text/calendar; charset=utf-8"
    );
    let ics = res.into_string().await.unwrap();
    let parsed = parse_ics(&ics);
    assert_eq!(parsed["method"], "PUBLISH");
    assert_eq!(parsed["events"].as_array().unwrap().len(), 1);
    assert_eq!(parsed["events"][0]["tzid"], "Europe/Paris");
    let (status, _, _) = app.post_form("/mes-formations/agenda/revocation", "").await;
    assert_eq!(status, Http::SeeOther);
    let res = app.client.get(feed_path).dispatch().await;
    assert_eq!(res.status(), Http::NotFound, "a revoked feed is gone");
    app.logout().await;

    // The roster as CSV: BOM, semicolons, the formula neutralised.
    app.login(LUCIE).await;
    let res = app
        .client
        .get(format!("/formations/sessions/{s}/emargement.csv"))
        .dispatch()
        .await;
    assert_eq!(res.status(), Http::Ok);
    assert!(res
        .headers()
        .get_one("Content-Disposition")
        .unwrap()
        .contains("emargement-"));
    let csv = res.into_string().await.unwrap();
    assert!(
        csv.starts_with(
            "\u{feff}nom;courriel;structure;service;inscription;position;creneau_1\r\n"
        ),
        "{csv}"
    );
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{csv}");
    assert!(csv.contains("\"Présent ou présente\""), "{csv}");
    // The printable sheet: every person holding a seat, an empty signature column.
    let res = app
        .client
        .get(format!("/formations/sessions/{s}/feuille.pdf?creneau=1"))
        .dispatch()
        .await;
    assert_eq!(res.status(), Http::Ok);
    assert_eq!(res.content_type(), Some(rocket::http::ContentType::PDF));
    let text = pdf_text(&res.into_bytes().await.unwrap(), true);
    assert!(
        text.contains("Feuille d'émargement") && text.contains("Signature"),
        "{text}"
    );
    assert!(
        text.contains("=HYPERLINK"),
        "the person holding a seat is listed: {text}"
    );
    assert!(text.contains("Créneau 1 sur 1"), "{text}");
    // The QR page shows the code as an image with its address.
    let (status, page) = app.get(&format!("/formations/sessions/{s}/qr")).await;
    assert_eq!(status, Http::Ok);
    assert!(page.contains("<svg") && page.contains(&slot.checkin_secret));
    app.logout().await;

    // The partner referent sees their staff's enrolments and their reserved seats.
    let clairiere = partner_id(&app, "Centre social La Clairière").await;
    let mut input = session_input(offer, 4, 25);
    input.quotas = vec![flow::QuotaInput {
        partner: clairiere.to_string(),
        seats: "2".into(),
    }];
    let q = session(&app, &input).await;
    let aicha = user(&app, AICHA).await;
    race(&app, q, &[aicha.id]).await;
    app.login(MALIK).await;
    let (status, page) = app.get("/partenaire/formations").await;
    assert_eq!(status, Http::Ok);
    assert!(
        page.contains("Aïcha Diallo") && page.contains("1 prise(s) sur 2"),
        "{page}"
    );
}

async fn seat_holders_are_reminded_seven_days_and_one_day_before_once(app: TestApp) {
    use reperes::reminders::flow as reminders;
    let offer = offer(&app, false).await;
    let s = session(&app, &session_input(offer, 1, 20)).await;
    let who = people(&app, "rappel", 2, None).await;
    race(&app, s, &[who[0]]).await;
    race(&app, s, &[who[1]]).await; // waiting: no reminder
    let full = store::session(app.database(), s).await.unwrap().unwrap();
    let day = reperes::certificates::paris_today(full.session.starts_at);
    let rocket = app.client.rocket();
    let config = rocket.state::<reperes::config::Config>().unwrap();
    let planned_on = |d: i64| {
        let db = app.database().clone();
        let catalog = catalog(&app).clone();
        let url = config.public_url.clone();
        async move {
            reminders::plan(&db, &catalog, &url, day - Duration::days(d))
                .await
                .unwrap()
                .into_iter()
                .flat_map(|p| p.sessions.into_iter().map(move |l| (p.recipient, l)))
                .collect::<Vec<_>>()
        }
    };
    let week = planned_on(7).await;
    assert_eq!(week.len(), 1, "only the seat holder");
    assert_eq!(week[0].0, who[0]);
    assert!(
        week[0].1.sentence.contains("dans 7 jours"),
        "{}",
        week[0].1.sentence
    );
    assert!(planned_on(3).await.is_empty(), "nothing between the stages");
    let eve = planned_on(1).await;
    assert!(
        eve[0].1.sentence.contains("(demain)"),
        "{}",
        eve[0].1.sentence
    );
    // The sweep at 09:00 seven days before queues one digest; a second sweep, nothing.
    let views = rocket.state::<reperes::views::Views>().unwrap();
    let ctx = reminders::Context {
        catalog: catalog(&app),
        views,
        public_url: &config.public_url,
    };
    let nine = chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap();
    let at = reperes::trainings::paris_instant(day - Duration::days(7), nine).unwrap();
    let first = reminders::sweep(app.database(), &ctx, at).await.unwrap();
    assert_eq!(first.digests, 1);
    let again = reminders::sweep(app.database(), &ctx, at + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again.digests, 0, "never twice");
    let subject: String = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT subject FROM outbox WHERE kind = 'reminder' AND user_id = $1")
        .bind(who[0]).fetch_one(pool).await)
    .unwrap();
    assert!(subject.starts_with("Formation partagée : "), "{subject}");
}

async fn attending_a_session_that_completes_a_module_meets_its_obligation(app: TestApp) {
    let unit = "Ville de Nancy/Direction de la citoyenneté/Accueil et état civil";
    let email = person_in_unit(&app, "ines.moreau@ville.test", "Inès Moreau", unit).await;
    let now = reperes::db::now();
    save_unit_rule(&app, unit, 30, now).await;
    apply_rules(&app, now).await;
    let ines = user(&app, &email).await;
    let lucie = user(&app, LUCIE).await;
    let offer = flow::save_offer(
        app.database(),
        catalog(&app),
        &lucie,
        None,
        &flow::OfferInput {
            title: "Accueillir sans discriminer, en groupe".into(),
            audiences: "tous".into(),
            completes_module: "base".into(),
            ..flow::OfferInput::default()
        },
        None,
    )
    .await
    .unwrap();
    let s = session(&app, &session_input(offer, 5, 20)).await;
    let e = race(&app, s, &[ines.id]).await.remove(0).enrolment.id;
    let full = store::session(app.database(), s).await.unwrap().unwrap();
    let certifier = certifier(&app);
    let before = duty_state(&app, ines.id, "base").await;
    assert!(
        before.is_some_and(|s| s != reperes::obligations::State::Completed),
        "an open cycle before attending: {before:?}"
    );
    flow::mark(
        app.database(),
        certifier,
        catalog(&app),
        &lucie,
        s,
        full.slots[0].id,
        &[(e, reperes::trainings::Presence::Present)],
    )
    .await
    .unwrap();
    assert_eq!(
        duty_state(&app, ines.id, "base").await,
        Some(reperes::obligations::State::Completed),
        "the obligation of the linked module is met by the attendance"
    );
    // The e-learning record says so too.
    app.login(&email).await;
    let (_, progress) = app.get_json("/api/v1/me/progress").await;
    let base = progress["modules"]
        .as_array()
        .unwrap_or_else(|| panic!("{progress}"))
        .iter()
        .find(|m| m["slug"] == "base")
        .unwrap_or_else(|| panic!("{progress}"))
        .clone();
    assert_eq!(base["status"], "completed", "{base}");
}

async fn a_rule_can_assign_a_shared_training_met_by_attending_a_session(app: TestApp) {
    use reperes::obligations::{self, State};
    let unit = "Ville de Nancy/Direction de la citoyenneté/Accueil et état civil";
    let early = person_in_unit(&app, "paul.early@ville.test", "Paul Avant", unit).await;
    let late = person_in_unit(&app, "rose.late@ville.test", "Rose Après", unit).await;
    let (early, late) = (user(&app, &early).await, user(&app, &late).await);
    let lucie = user(&app, LUCIE).await;
    let certifier = certifier(&app);
    let offer = offer(&app, false).await;
    let duty = obligations::offer_duty(offer);
    // Paul attends a session before any rule exists.
    let s = session(&app, &session_input(offer, 5, 20)).await;
    let answers = race(&app, s, &[early.id, late.id]).await;
    let full = store::session(app.database(), s).await.unwrap().unwrap();
    flow::mark(
        app.database(),
        certifier,
        catalog(&app),
        &lucie,
        s,
        full.slots[0].id,
        &[(
            answers[0].enrolment.id,
            reperes::trainings::Presence::Present,
        )],
    )
    .await
    .unwrap();
    // HR assigns the shared training to the whole service, through the API.
    app.login("karim.benali@demo.reperes.test").await;
    let body = json!({ "name": "Repérer, en groupe", "module": duty, "org_unit": unit, "due_days": "60", "confirm": true });
    let (status, saved) = app
        .post_json("/api/v1/obligation-rules", &body.to_string())
        .await;
    assert_eq!(status, Http::Created, "{saved}");
    let (status, bad) = app
        .post_json(
            "/api/v1/obligation-rules/dry-run",
            &json!({ "name": "X", "module": format!("formation:{}", Uuid::new_v4()), "org_unit": unit, "due_days": "60" }).to_string(),
        )
        .await;
    assert_eq!(status, Http::UnprocessableEntity, "{bad}");
    assert_eq!(
        duty_state(&app, early.id, &duty).await,
        Some(State::Completed),
        "met from the start by the earlier attendance"
    );
    assert_eq!(
        duty_state(&app, late.id, &duty).await,
        Some(State::Assigned)
    );
    let (_, mine) = app
        .get_json("/api/v1/obligations?org_unit=Ville%20de%20Nancy")
        .await;
    assert!(
        mine.to_string()
            .contains("Formation partagée : Observer et repérer les discriminations"),
        "{mine}"
    );
    // Rose attends: her obligation is met in the attendance transaction.
    flow::mark(
        app.database(),
        certifier,
        catalog(&app),
        &lucie,
        s,
        full.slots[0].id,
        &[(
            answers[1].enrolment.id,
            reperes::trainings::Presence::Present,
        )],
    )
    .await
    .unwrap();
    assert_eq!(
        duty_state(&app, late.id, &duty).await,
        Some(State::Completed)
    );
    // The nightly sweep changes nothing.
    let again = apply_rules(&app, reperes::db::now()).await;
    assert_eq!((again.opened, again.withdrawn), (0, 0), "{again:?}");
}
