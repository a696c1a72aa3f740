//! Mandatory training: rules and their dry run, obligation cycles through time (overdue,
//! completed in the completion's transaction, expiring, renewed, withdrawn, left), the
//! learner's, team and HR views, exemptions, and bad input. SQLite and PostgreSQL.

mod common;

use chrono::{Duration, NaiveDate};
use common::*;
use reperes::obligations::{self, flow, store, Rule, State};
use rocket::http::Status;
use serde_json::json;
use uuid::Uuid;

on_both!(
    a_rule_assigns_after_its_dry_run_and_a_completion_meets_it,
    cycles_through_time_overdue_renewal_withdrawal_departure,
    exemptions_need_a_reason_are_audited_and_happen_once,
    bad_rules_are_refused_in_french_and_write_nothing,
    managers_see_their_subtree_and_export_it,
    the_list_states_agree_with_the_rule_of_mod_rs,
    a_rule_for_many_people_needs_a_confirmation
);

const CITIZENSHIP: &str = "Ville de Nancy/Direction de la citoyenneté";

async fn id_of(app: &TestApp, email: &str) -> Uuid {
    reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email).fetch_one(pool).await)
    .unwrap()
}

fn today() -> NaiveDate {
    reperes::certificates::paris_today(reperes::db::now())
}

const RULE_FIELDS: &str = "name=Citoyennet%C3%A9&module=base&audience=&org_unit=Ville+de+Nancy%2FDirection+de+la+citoyennet%C3%A9&partner=&arrived_after=&title_word=&due_days=30&active=true";

async fn a_rule_assigns_after_its_dry_run_and_a_completion_meets_it(app: TestApp) {
    let expected = people_under(&app, CITIZENSHIP).await;
    assert!(expected >= 2, "the demo has people in {CITIZENSHIP}");
    app.login(KARIM).await;
    // The dry run names who gains an obligation, and writes nothing.
    let (status, _, page) = app
        .post_form("/rh/regles/nouvelle", &format!("{RULE_FIELDS}&step=apercu"))
        .await;
    assert_eq!(status, Status::Ok, "{page}");
    assert!(
        page.contains(&format!(
            "<strong>{expected}</strong> personne(s) recevraient"
        )),
        "{page}"
    );
    assert!(page.contains("Camille Martin"), "{page}");
    assert!(store::rules(app.database()).await.unwrap().is_empty());
    // Saved: the rule applies at once.
    let (status, location, _) = app
        .post_form(
            "/rh/regles/nouvelle",
            &format!("{RULE_FIELDS}&step=enregistrer"),
        )
        .await;
    assert_eq!(status, Status::SeeOther);
    assert_eq!(location, "/rh/regles");
    let (_, list) = app.get("/rh/regles").await;
    assert!(list.contains("Citoyenneté"), "{list}");
    assert!(list.contains("30 jours après l&#x27;assignation"), "{list}");
    let saved: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE kind = 'rule_saved'"
    ).fetch_one(pool).await)
    .unwrap();
    assert_eq!(saved, 1);
    let camille = id_of(&app, CAMILLE).await;
    let cycles = cycles_of(&app, camille, today()).await;
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0].state, State::Assigned);
    assert_eq!(cycles[0].due_on, today() + Duration::days(30));
    // Everyone targeted has exactly one cycle; a second sweep changes nothing.
    let again = apply_rules(&app, reperes::db::now()).await;
    assert_eq!(again, flow::SweepReport::default());
    app.logout().await;

    // Camille sees it on her home page, on her page and in the API.
    app.login(CAMILLE).await;
    let (_, home) = app.get("/modules").await;
    assert!(home.contains("id=\"mes-obligations\""), "{home}");
    assert!(home.contains("Module de base (test)"));
    let (_, mine) = app.get("/obligations").await;
    assert!(mine.contains("À faire"), "{mine}");
    let (status, api) = app.get_json("/api/v1/me/obligations").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(api["obligations"][0]["state"], "assigned");
    assert_eq!(api["obligations"][0]["module"], "base");

    // Passing the quiz meets it, in the completion's transaction: the very next read
    // shows it completed, valid as long as the certificate.
    pass_base_quiz(&app).await;
    let (_, api) = app.get_json("/api/v1/me/obligations").await;
    assert_eq!(api["obligations"][0]["state"], "completed", "{api}");
    let (_, progress) = app.get_json("/api/v1/me/progress").await;
    assert_eq!(
        api["obligations"][0]["valid_until"], progress["certificates"][0]["valid_until"],
        "{progress}"
    );
    let (_, home) = app.get("/modules").await;
    assert!(
        !home.contains("id=\"mes-obligations\""),
        "nothing left to do on the home page"
    );
}

async fn cycles_through_time_overdue_renewal_withdrawal_departure(app: TestApp) {
    let rule = save_unit_rule(&app, CITIZENSHIP, 30, reperes::db::now()).await;
    let now = reperes::db::now();
    flow::reevaluate(app.database(), catalog(&app), now)
        .await
        .unwrap();
    let camille = id_of(&app, CAMILLE).await;
    let manager = id_of(&app, "jean-pierre.muller@demo.reperes.test").await;
    // Day 30 is the last day; day 31 it is overdue.
    let day = |n: i64| today() + Duration::days(n);
    assert_eq!(
        cycles_of(&app, camille, day(30)).await[0].state,
        State::Assigned
    );
    assert_eq!(
        cycles_of(&app, camille, day(31)).await[0].state,
        State::Overdue
    );

    // Completed: valid 24 months; expiring in the last 60 days, then the sweep opens
    // cycle 2, due on the last day of validity.
    app.login(CAMILLE).await;
    pass_base_quiz(&app).await;
    let first = cycles_of(&app, camille, today()).await;
    assert_eq!(first[0].state, State::Completed);
    let until = first[0].valid_until.expect("valid until");
    assert_eq!(
        cycles_of(&app, camille, until - Duration::days(59)).await[0].state,
        State::Expiring
    );
    let before_window = reperes::db::now() + (until - Duration::days(61) - today());
    let report = flow::reevaluate(app.database(), catalog(&app), before_window)
        .await
        .unwrap();
    assert_eq!(report.opened, 0, "no renewal before the window");
    let in_window = reperes::db::now() + (until - Duration::days(59) - today());
    let report = flow::reevaluate(app.database(), catalog(&app), in_window)
        .await
        .unwrap();
    assert_eq!(report.opened, 1);
    let cycles = cycles_of(&app, camille, until - Duration::days(59)).await;
    assert_eq!(cycles.len(), 2, "history is kept");
    assert_eq!(cycles[1].cycle, 2);
    assert_eq!(cycles[1].due_on, until);
    assert_eq!(cycles[1].state, State::Assigned);
    // The current list shows cycle 2 only; the history both.
    let (current, _) = store::list(
        app.database(),
        camille,
        &reperes::people::Visibility::OnlySelf,
        &store::ListQuery::default(),
        until - Duration::days(59),
        100,
        0,
    )
    .await
    .unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].cycle, 2);

    // The rule is switched off: open cycles are withdrawn, completed ones stay.
    let off = Rule {
        active: false,
        ..rule.clone()
    };
    let event = reperes::audit::Event::by(None, reperes::audit::Kind::RuleSaved, "test");
    store::save_rule(app.database(), &off, None, reperes::db::now(), &event)
        .await
        .unwrap();
    let report = flow::reevaluate(app.database(), catalog(&app), in_window)
        .await
        .unwrap();
    assert!(report.withdrawn >= 2, "{report:?}");
    let cycles = cycles_of(&app, camille, until - Duration::days(59)).await;
    assert_eq!(cycles[0].state, State::Expiring);
    assert_eq!(cycles[1].state, State::Withdrawn);

    // Back on: people targeted again get a new cycle; one who left gets « left ».
    store::save_rule(app.database(), &rule, None, reperes::db::now(), &event)
        .await
        .unwrap();
    apply_rules(&app, reperes::db::now()).await;
    let manager_cycles = cycles_of(&app, manager, today()).await;
    assert_eq!(manager_cycles.len(), 2);
    assert_eq!(manager_cycles[1].state, State::Assigned);
    reperes::on_db!(app.database(), pool => sqlx::query("UPDATE users SET active = FALSE WHERE id = $1")
        .bind(manager).execute(pool).await.map(|_| ()))
    .unwrap();
    let report = apply_rules(&app, reperes::db::now()).await;
    assert_eq!(report.left, 1);
    let manager_cycles = cycles_of(&app, manager, today()).await;
    assert_eq!(manager_cycles[1].state, State::Left);
}

async fn exemptions_need_a_reason_are_audited_and_happen_once(app: TestApp) {
    save_unit_rule(&app, CITIZENSHIP, 30, reperes::db::now()).await;
    apply_rules(&app, reperes::db::now()).await;
    let camille = id_of(&app, CAMILLE).await;
    let id = cycles_of(&app, camille, today()).await[0].id;
    app.login(KARIM).await;
    let (_, page) = app.get(&format!("/rh/obligations/{id}")).await;
    assert!(page.contains("Dispenser Camille Martin"), "{page}");
    let (status, _, body) = app
        .post_form(&format!("/rh/obligations/{id}/dispense"), "reason=+")
        .await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(body.contains("Indiquez le motif de la dispense"), "{body}");
    assert_eq!(
        cycles_of(&app, camille, today()).await[0].state,
        State::Assigned
    );
    let (status, location, _) = app
        .post_form(
            &format!("/rh/obligations/{id}/dispense"),
            "reason=Cong%C3%A9+de+longue+dur%C3%A9e",
        )
        .await;
    assert_eq!(status, Status::SeeOther);
    assert_eq!(location, format!("/rh/obligations/{id}"));
    let cycle = &cycles_of(&app, camille, today()).await[0];
    assert_eq!(cycle.state, State::Exempt);
    assert_eq!(
        cycle.closure_reason.as_deref(),
        Some("Congé de longue durée")
    );
    let audited: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE kind = 'exemption' AND subject = $1"
    ).bind(CAMILLE).fetch_one(pool).await)
    .unwrap();
    assert_eq!(audited, 1);
    let (status, _, body) = app
        .post_form(
            &format!("/rh/obligations/{id}/dispense"),
            "reason=Encore+une+fois",
        )
        .await;
    assert_eq!(status, Status::Conflict, "{body}");
    // The exemption holds: the nightly sweep does not reopen it.
    let report = apply_rules(&app, reperes::db::now()).await;
    assert_eq!(report.opened, 0);
    app.logout().await;
    app.login(CAMILLE).await;
    let (_, mine) = app.get("/obligations").await;
    assert!(mine.contains("Congé de longue durée"), "{mine}");
}

async fn bad_rules_are_refused_in_french_and_write_nothing(app: TestApp) {
    app.login(KARIM).await;
    let cases = [
        (
            json!({ "name": "Personne", "module": "base", "due_days": "30" }),
            "doit cibler quelqu",
        ),
        (
            json!({ "name": "Négatif", "module": "base", "audience": "accueil", "due_days": "-5" }),
            "nombre entier de jours",
        ),
        (
            json!({ "name": "Février", "module": "base", "audience": "accueil", "arrived_after": "2026-02-30", "due_days": "30" }),
            "Date d'arrivée invalide",
        ),
        (
            json!({ "name": "Inconnu", "module": "nope", "audience": "accueil", "due_days": "30" }),
            "Module inconnu",
        ),
        (
            json!({ "name": "Service", "module": "base", "org_unit": "Ville de Nulle Part", "due_days": "30" }),
            "Service inconnu",
        ),
    ];
    for (body, message) in cases {
        let (status, res) = app
            .post_json("/api/v1/obligation-rules", &body.to_string())
            .await;
        assert_eq!(status, Status::UnprocessableEntity, "{body} → {res}");
        assert!(
            res["error"]["message"].as_str().unwrap().contains(message),
            "{body} → {res}"
        );
    }
    // The page says the same, on the form, with what was typed kept.
    let (status, _, page) = app
        .post_form(
            "/rh/regles/nouvelle",
            "name=Vide&module=base&audience=&org_unit=&partner=&arrived_after=&title_word=&due_days=-1&step=enregistrer",
        )
        .await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(page.contains("doit cibler quelqu"), "{page}");
    assert!(page.contains("value=\"Vide\""), "{page}");
    assert!(store::rules(app.database()).await.unwrap().is_empty());
    let obligations: i64 = reperes::on_db!(app.database(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM obligations"
    ).fetch_one(pool).await)
    .unwrap();
    assert_eq!(obligations, 0);
}

async fn managers_see_their_subtree_and_export_it(app: TestApp) {
    save_unit_rule(&app, "Ville de Nancy", 30, reperes::db::now()).await;
    apply_rules(&app, reperes::db::now()).await;
    // A name that a spreadsheet would run as a formula.
    reperes::on_db!(app.database(), pool => sqlx::query("UPDATE users SET display_name = '=HYPERLINK(\"x\")' WHERE email = $1")
        .bind(CAMILLE).execute(pool).await.map(|_| ()))
    .unwrap();
    app.login("jean-pierre.muller@demo.reperes.test").await;
    let (status, page) = app.get("/equipe/obligations").await;
    assert_eq!(status, Status::Ok);
    let mine = people_under(&app, CITIZENSHIP).await;
    assert!(
        page.contains(&format!("{mine} obligation(s)")),
        "only the subtree: {page}"
    );
    assert!(!page.contains("Sophie"), "CCAS is outside the subtree");
    let (status, csv) = app.get("/equipe/obligations.csv").await;
    assert_eq!(status, Status::Ok);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].contains("personne;courriel;service"), "{csv}");
    assert_eq!(lines.len() as i64, mine + 1, "{csv}");
    assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{csv}");
    // A filter that matches nothing says so.
    let (_, page) = app.get("/equipe/obligations?etat=completed").await;
    assert!(page.contains("Aucune obligation ne correspond"), "{page}");
    let (status, _) = app.get("/equipe/obligations?etat=bidule").await;
    assert_eq!(status, Status::BadRequest);
    app.logout().await;
    // HR: the whole city, counted per module.
    app.login(KARIM).await;
    let (status, page) = app.get("/rh/obligations").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("Module de base (test)"), "{page}");
    let (_, api) = app.get_json("/api/v1/obligations?limit=1").await;
    let everyone = people_under(&app, "Ville de Nancy").await;
    assert_eq!(api["total"], everyone, "{api}");
    assert_eq!(api["obligations"].as_array().unwrap().len(), 1);
}

async fn the_list_states_agree_with_the_rule_of_mod_rs(app: TestApp) {
    save_unit_rule(&app, "Ville de Nancy", 10, reperes::db::now()).await;
    apply_rules(&app, reperes::db::now()).await;
    app.login(CAMILLE).await;
    pass_base_quiz(&app).await;
    let camille = id_of(&app, CAMILLE).await;
    let until = cycles_of(&app, camille, today()).await[0]
        .valid_until
        .unwrap();
    let karim = id_of(&app, KARIM).await;
    // Days around every boundary: due date, expiring window, end of validity.
    let days = [
        0,
        10,
        11,
        (until - today()).num_days() - 60,
        (until - today()).num_days() - 59,
        (until - today()).num_days(),
        (until - today()).num_days() + 1,
    ];
    for n in days {
        let day = today() + Duration::days(n);
        for user in [camille, karim] {
            let row = &cycles_of(&app, user, day).await[0];
            let facts = obligations::CycleFacts {
                due_on: row.due_on,
                completed_on: row.completed_at.map(reperes::certificates::paris_today),
                valid_until: row.valid_until,
                closure: None,
                started: false,
            };
            assert_eq!(
                row.state,
                obligations::state(&facts, day),
                "day +{n} for {user}"
            );
        }
    }
}

async fn a_rule_for_many_people_needs_a_confirmation(app: TestApp) {
    let app = TestApp::with_figment(app.backend, |f| {
        f.merge(("rule_max_without_confirmation", 1))
    })
    .await
    .expect("same backend");
    let expected = people_under(&app, CITIZENSHIP).await;
    app.login(KARIM).await;
    let body = json!({ "name": "Citoyenneté", "module": "base", "org_unit": CITIZENSHIP, "due_days": "30" });
    // The dry run says so…
    let (status, res) = app
        .post_json("/api/v1/obligation-rules/dry-run", &body.to_string())
        .await;
    assert_eq!(status, Status::Ok);
    assert_eq!(res["dry_run"]["gained"], expected);
    assert_eq!(res["dry_run"]["needs_confirmation"], true);
    // …saving without the confirmation is refused and writes nothing…
    let (status, res) = app
        .post_json("/api/v1/obligation-rules", &body.to_string())
        .await;
    assert_eq!(status, Status::UnprocessableEntity, "{res}");
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{expected} personnes")),
        "{res}"
    );
    assert!(store::rules(app.database()).await.unwrap().is_empty());
    // …and with it, the rule is saved and applied at once.
    let mut confirmed = body.clone();
    confirmed["confirm"] = json!(true);
    let (status, res) = app
        .post_json("/api/v1/obligation-rules", &confirmed.to_string())
        .await;
    assert_eq!(status, Status::Created, "{res}");
    assert_eq!(res["sweep"]["opened"], expected);
    // The page asks for the same confirmation, with a box to tick.
    let (status, _, page) = app
        .post_form(
            "/rh/regles/nouvelle",
            &format!(
                "{}&step=apercu",
                RULE_FIELDS.replace("module=base", "module=suite")
            ),
        )
        .await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("name=\"confirm\""), "{page}");
}
