//! The authorisation matrix: every route, every role, a resource inside and outside the
//! role's scope, and the status each must get. A route mounted without a row here fails the
//! test, so new routes cannot skip it. SQLite and PostgreSQL.

mod common;

use std::collections::BTreeSet;

use common::*;
use rocket::http::{ContentType, Header};

on_both!(
    every_route_for_every_role,
    every_cookie_write_without_the_token_is_refused_and_changes_nothing
);

/// Callers, in the order of the status columns below.
const CALLERS: [&str; 9] = [
    "anonymous",
    "learner",
    "manager",
    "hr",
    "trainer",
    "partner_referent",
    "admin",
    "token_read",
    "token_rw",
];

fn email(caller: &str) -> Option<&'static str> {
    Some(match caller {
        "learner" => "camille.martin@demo.reperes.test",
        "manager" => "jean-pierre.muller@demo.reperes.test",
        "hr" => "karim.benali@demo.reperes.test",
        "trainer" => "lucie.fontaine@demo.reperes.test",
        "partner_referent" => "malik.haddad@demo.reperes.test",
        "admin" => "admin@demo.reperes.test",
        _ => return None,
    })
}

enum Body {
    None,
    Form(&'static str),
    Json(&'static str),
    Csv,
    ImportUpload,
}

struct Row {
    method: &'static str,
    /// The route as mounted (`<param>` segments), for the coverage check.
    template: &'static str,
    /// The path requested, with `{camille}`, `{sophie}`, `{aicha}`, `{lea}`, `{attempt}`.
    path: &'static str,
    body: Body,
    expected: [u16; 9],
}

/// A rule as the editor posts it for its dry run (nothing is written).
const RULE_FORM: &str = "name=R&module=base&audience=tous&org_unit=&partner=&arrived_after=&title_word=&due_days=30&step=apercu";
const RULE_JSON: &str = r#"{"name": "R", "module": "base", "audience": "tous", "due_days": "30"}"#;

/// A session form with nothing filled in (refused: 422, nothing written).
const SESSION_FORM: &str = "offer=&mode=&address=&room=&access_info=&online_link=&capacity=&enrol_until=&cancel_until=&quota_release=&trainers=";

const CSV: &str = "matricule;courriel;nom;prenom;service;publics;fonction;date_entree;sexe;categorie\nM1;m1@ville.test;Un;M;Ville/Service;tous;;2020-01-01;;\n";

fn rows() -> Vec<Row> {
    use Body::*;
    //                                                                    anon learn manag hr  train pref admin tokR tokW
    let r = |method, template, path, body, expected| Row {
        method,
        template,
        path,
        body,
        expected,
    };
    vec![
        r(
            "GET",
            "/",
            "/",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303],
        ),
        r(
            "GET",
            "/connexion?<next>&<envoye>",
            "/connexion",
            None,
            [200; 9],
        ),
        r("GET", "/accessibilite", "/accessibilite", None, [200; 9]),
        r("GET", "/healthz", "/healthz", None, [200; 9]),
        r(
            "GET",
            "/static/<path..>",
            "/static/site.css",
            None,
            [200; 9],
        ),
        r(
            "GET",
            "/api/v1/openapi.json",
            "/api/v1/openapi.json",
            None,
            [200; 9],
        ),
        // Learner pages: any person; a token is not a person.
        r(
            "GET",
            "/modules",
            "/modules",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/progression",
            "/progression",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/modules/<slug>",
            "/modules/base",
            None,
            [401, 200, 404, 404, 404, 404, 200, 403, 403],
        ),
        r(
            "GET",
            "/modules/<slug>",
            "/modules/suite",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/modules/<slug>/lecons/<number>",
            "/modules/suite/lecons/1",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/tentatives/<id>",
            "/tentatives/{attempt}",
            None,
            [401, 200, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "GET",
            "/tentatives/<id>/resultat",
            "/tentatives/{attempt}/resultat",
            None,
            [401, 303, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/modules",
            "/api/v1/modules",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/modules/<slug>",
            "/api/v1/modules/base",
            None,
            [401, 200, 404, 404, 404, 404, 200, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/modules/<slug>/lessons/<number>",
            "/api/v1/modules/suite/lessons/1",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/me/progress",
            "/api/v1/me/progress",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/attempts/<id>",
            "/api/v1/attempts/{attempt}",
            None,
            [401, 200, 404, 404, 404, 404, 404, 403, 403],
        ),
        // People: scope by role.
        r(
            "GET",
            "/personnes?<q>&<service>&<public>&<partenaire>&<etat>&<tri>&<page>",
            "/personnes",
            None,
            [401, 403, 200, 200, 403, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/personnes/<id>",
            "/personnes/{camille}",
            None,
            [401, 200, 200, 200, 404, 404, 200, 403, 403],
        ),
        r(
            "GET",
            "/personnes/<id>",
            "/personnes/{sophie}",
            None,
            [401, 404, 404, 200, 404, 404, 200, 403, 403],
        ),
        r(
            "GET",
            "/personnes/<id>",
            "/personnes/{aicha}",
            None,
            [401, 404, 404, 200, 404, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/personnes/<id>",
            "/personnes/{lea}",
            None,
            [401, 404, 404, 200, 404, 404, 200, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/people?<q>&<org_unit>&<audience>&<partner>&<active>&<sort>&<limit>&<offset>",
            "/api/v1/people",
            None,
            [401, 403, 200, 200, 403, 200, 200, 200, 200],
        ),
        r(
            "GET",
            "/api/v1/people/<id>",
            "/api/v1/people/{camille}",
            None,
            [401, 200, 200, 200, 404, 404, 200, 200, 200],
        ),
        r(
            "GET",
            "/api/v1/people/<id>",
            "/api/v1/people/{sophie}",
            None,
            [401, 404, 404, 200, 404, 404, 200, 200, 200],
        ),
        r(
            "GET",
            "/api/v1/people/<id>",
            "/api/v1/people/{aicha}",
            None,
            [401, 404, 404, 200, 404, 200, 200, 200, 200],
        ),
        r(
            "GET",
            "/api/v1/org-units",
            "/api/v1/org-units",
            None,
            [401, 403, 403, 200, 403, 403, 200, 200, 200],
        ),
        r(
            "GET",
            "/api/v1/partners",
            "/api/v1/partners",
            None,
            [401, 403, 403, 200, 403, 403, 200, 200, 200],
        ),
        r(
            "GET",
            "/rh/import",
            "/rh/import",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/admin/jetons",
            "/admin/jetons",
            None,
            [401, 403, 403, 403, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/admin/journal?<page>",
            "/admin/journal",
            None,
            [401, 403, 403, 403, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/admin/envois?<statut>&<page>",
            "/admin/envois",
            None,
            [401, 403, 403, 403, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/admin/taches",
            "/admin/taches",
            None,
            [401, 403, 403, 403, 403, 403, 200, 403, 403],
        ),
        // The development mailbox (debug builds): open to anyone, like the development
        // sign-in; an unknown message is not found.
        r("GET", "/dev/courriels", "/dev/courriels", None, [200; 9]),
        r(
            "GET",
            "/dev/courriels/<key>",
            "/dev/courriels/20260101T000000000000-inconnu",
            None,
            [404; 9],
        ),
        r(
            "GET",
            "/dev/courriels/<key>/html",
            "/dev/courriels/20260101T000000000000-inconnu/html",
            None,
            [404; 9],
        ),
        r(
            "GET",
            "/dev/courriels/<key>/pieces/<index>",
            "/dev/courriels/20260101T000000000000-inconnu/pieces/0",
            None,
            [404; 9],
        ),
        // Changes.
        r(
            "POST",
            "/modules/<slug>/quiz",
            "/modules/base/quiz",
            Form(""),
            [401, 303, 404, 404, 404, 404, 409, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/modules/<slug>/attempts",
            "/api/v1/modules/base/attempts",
            None,
            // Camille's attempt is open: it is resumed, not spent again.
            [401, 200, 404, 404, 404, 404, 409, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/attempts/<id>/submission",
            "/api/v1/attempts/{attempt}/submission",
            Json(r#"{"answers":{}}"#),
            [401, 200, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "POST",
            "/tentatives/<id>",
            "/tentatives/{attempt}",
            Form(""),
            [401, 303, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "POST",
            "/personnes/<id>/role",
            "/personnes/{camille}/role",
            Form("role=learner"),
            [401, 403, 403, 403, 403, 403, 303, 403, 403],
        ),
        r(
            "POST",
            "/admin/jetons",
            "/admin/jetons",
            Form("name=matrice&scope=read"),
            [401, 403, 403, 403, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/admin/envois/<id>/renvoyer",
            "/admin/envois/00000000-0000-0000-0000-000000000000/renvoyer",
            Form(""),
            [401, 403, 403, 403, 403, 403, 404, 403, 403],
        ),
        r(
            "POST",
            "/admin/envois/essai",
            "/admin/envois/essai",
            Form(""),
            [401, 403, 403, 403, 403, 403, 303, 403, 403],
        ),
        r(
            "POST",
            "/admin/jetons/<id>/revoquer",
            "/admin/jetons/00000000-0000-0000-0000-000000000000/revoquer",
            Form(""),
            [401, 403, 403, 403, 403, 403, 404, 403, 403],
        ),
        r(
            "POST",
            "/rh/import",
            "/rh/import",
            ImportUpload,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/directory/import?<dry_run>&<confirm_deactivations>",
            "/api/v1/directory/import?dry_run=true",
            Csv,
            [401, 403, 403, 200, 403, 403, 200, 403, 200],
        ),
        // Obligations: the learner's own, the team and HR lists, the rules and exemptions.
        r(
            "GET",
            "/obligations",
            "/obligations",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/equipe/obligations?<etat>&<module>&<service>&<historique>&<page>",
            "/equipe/obligations?etat=overdue",
            None,
            [401, 403, 200, 200, 403, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/equipe/obligations.csv?<etat>&<module>&<service>&<historique>",
            "/equipe/obligations.csv",
            None,
            [401, 403, 200, 200, 403, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/rh/obligations?<service>",
            "/rh/obligations",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/rh/obligations/<id>",
            "/rh/obligations/{obligation}",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/rh/obligations/<id>/dispense",
            "/rh/obligations/{obligation}/dispense",
            Form("reason="),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/rh/regles",
            "/rh/regles",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/rh/regles/nouvelle",
            "/rh/regles/nouvelle",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/rh/regles/<id>",
            "/rh/regles/{rule}",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/rh/regles/nouvelle",
            "/rh/regles/nouvelle",
            Form(RULE_FORM),
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/rh/regles/<id>",
            "/rh/regles/{rule}",
            Form(RULE_FORM),
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/me/obligations",
            "/api/v1/me/obligations",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/obligations?<state>&<module>&<org_unit>&<history>&<limit>&<offset>",
            "/api/v1/obligations?state=assigned",
            None,
            [401, 403, 200, 200, 403, 200, 200, 200, 200],
        ),
        r(
            "GET",
            "/api/v1/obligation-rules",
            "/api/v1/obligation-rules",
            None,
            [401, 403, 403, 200, 403, 403, 200, 200, 200],
        ),
        r(
            "POST",
            "/api/v1/obligation-rules/dry-run",
            "/api/v1/obligation-rules/dry-run",
            Json(RULE_JSON),
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/obligation-rules",
            "/api/v1/obligation-rules",
            Json("{}"),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/obligation-rules/<id>",
            "/api/v1/obligation-rules/{rule}",
            Json("{}"),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/obligations/<id>/exemption",
            "/api/v1/obligations/{obligation}/exemption",
            Json(r#"{"reason": ""}"#),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        // The equality plan. {indicator}: a seeded indicator; {action}: an action owned by
        // Karim (HR); {snapshot}: a snapshot. Writes send bad input (422, nothing written).
        r(
            "GET",
            "/egalite?<du>&<au>&<service>&<public>",
            "/egalite",
            None,
            [401, 403, 200, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/egalite/indicateurs/<id>?<du>&<au>&<service>&<public>",
            "/egalite/indicateurs/{indicator}",
            None,
            [401, 403, 200, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/rh/egalite/plan",
            "/rh/egalite/plan",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/rh/egalite/plan",
            "/rh/egalite/plan",
            Form("starts_on=2026-01-01&ends_on=2030-01-01"),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/rh/egalite/actions",
            "/rh/egalite/actions",
            Form("axis=E9&title=x&owner=&starts_on=&ends_on="),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/rh/egalite/actions/<id>",
            "/rh/egalite/actions/{action}",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/rh/egalite/actions/<id>",
            "/rh/egalite/actions/{action}",
            Form("axis=E1&title=Former&owner=&starts_on=2026-06-01&ends_on=2026-01-01"),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/rh/egalite/actions/<id>/commentaires",
            "/rh/egalite/actions/{action}/commentaires",
            Form("body="),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/rh/egalite/indicateurs",
            "/rh/egalite/indicateurs",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/rh/egalite/indicateurs",
            "/rh/egalite/indicateurs",
            Form("code=&axis=E1&title=&kind=auto"),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/rh/egalite/indicateurs/<id>",
            "/rh/egalite/indicateurs/{indicator}",
            Form("code=&axis=E1&title=&kind=auto"),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/rh/egalite/indicateurs/<id>/valeurs",
            "/rh/egalite/indicateurs/{indicator}/valeurs",
            Form("period=x&value=1&source=s"),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/rh/egalite/instantanes",
            "/rh/egalite/instantanes",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/rh/egalite/instantanes",
            "/rh/egalite/instantanes",
            Form(""),
            [401, 403, 403, 303, 403, 403, 303, 403, 403],
        ),
        r(
            "GET",
            "/rh/egalite/instantanes/<id>/rapport.pdf",
            "/rh/egalite/instantanes/{snapshot}/rapport.pdf",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/rh/egalite/instantanes/<id>/rapport.ods",
            "/rh/egalite/instantanes/{snapshot}/rapport.ods",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/rh/egalite/instantanes/<id>/rapport.csv",
            "/rh/egalite/instantanes/{snapshot}/rapport.csv",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/rh/egalite/territorial?<du>&<au>",
            "/rh/egalite/territorial",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/equality/dashboard?<from>&<to>&<unit>&<audience>",
            "/api/v1/equality/dashboard",
            None,
            [401, 403, 403, 200, 403, 403, 200, 200, 200],
        ),
        r(
            "GET",
            "/api/v1/equality/plan",
            "/api/v1/equality/plan",
            None,
            [401, 403, 403, 200, 403, 403, 200, 200, 200],
        ),
        r(
            "PUT",
            "/api/v1/equality/plan",
            "/api/v1/equality/plan",
            Json(r#"{"starts_on": "2026-01-01", "ends_on": "2031-01-01"}"#),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/equality/actions",
            "/api/v1/equality/actions",
            Json(r#"{"axis": "E9", "title": "x", "owner": "", "starts_on": "", "ends_on": ""}"#),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "PATCH",
            "/api/v1/equality/actions/<id>",
            "/api/v1/equality/actions/{action}",
            Json(r#"{"axis": "E9"}"#),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/equality/actions/<id>/comments",
            "/api/v1/equality/actions/{action}/comments",
            Json(r#"{"body": ""}"#),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/equality/indicators",
            "/api/v1/equality/indicators",
            None,
            [401, 403, 403, 200, 403, 403, 200, 200, 200],
        ),
        r(
            "POST",
            "/api/v1/equality/indicators",
            "/api/v1/equality/indicators",
            Json(r#"{"code": "", "axis": "E1", "title": "", "kind": "auto"}"#),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "PATCH",
            "/api/v1/equality/indicators/<id>",
            "/api/v1/equality/indicators/{indicator}",
            Json(r#"{"axis": "E9"}"#),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/equality/indicators/<id>?<unit>&<audience>&<from>&<to>",
            "/api/v1/equality/indicators/{indicator}",
            None,
            [401, 403, 403, 200, 403, 403, 200, 200, 200],
        ),
        r(
            "POST",
            "/api/v1/equality/indicators/<id>/values",
            "/api/v1/equality/indicators/{indicator}/values",
            Json(r#"{"period": "x", "value": "1", "source": "s"}"#),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/equality/snapshots",
            "/api/v1/equality/snapshots",
            None,
            [401, 403, 403, 200, 403, 403, 200, 200, 200],
        ),
        r(
            "POST",
            "/api/v1/equality/snapshots",
            "/api/v1/equality/snapshots",
            None,
            [401, 403, 403, 201, 403, 403, 201, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/equality/snapshots/<id>",
            "/api/v1/equality/snapshots/{snapshot}",
            None,
            [401, 403, 403, 200, 403, 403, 200, 200, 200],
        ),
        r(
            "GET",
            "/api/v1/equality/territorial?<from>&<to>",
            "/api/v1/equality/territorial",
            None,
            [401, 403, 403, 200, 403, 403, 200, 200, 200],
        ),
        // Shared trainings. {session}: a session Lucie (trainer) runs; writes that would
        // change it go to an unknown id (tests/trainings.rs covers them on real ones).
        r(
            "GET",
            "/formations?<offre>&<mois>&<lieu>&<modalite>&<places>",
            "/formations",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/formations/sessions/<id>?<fait>",
            "/formations/sessions/{session}",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "POST",
            "/formations/sessions/<id>/inscription",
            "/formations/sessions/00000000-0000-0000-0000-000000000000/inscription",
            Form(""),
            [401, 404, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "POST",
            "/formations/sessions/<id>/inscrire",
            "/formations/sessions/{session}/inscrire",
            Form("email=personne%40inconnue.test"),
            [401, 403, 404, 404, 403, 404, 404, 403, 403],
        ),
        r(
            "POST",
            "/formations/inscriptions/<id>/annulation",
            "/formations/inscriptions/00000000-0000-0000-0000-000000000000/annulation",
            Form(""),
            [401, 404, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "POST",
            "/formations/inscriptions/<id>/confirmation",
            "/formations/inscriptions/00000000-0000-0000-0000-000000000000/confirmation",
            Form(""),
            [401, 404, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "GET",
            "/mes-formations",
            "/mes-formations",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/formations/animation",
            "/formations/animation",
            None,
            [401, 403, 403, 200, 200, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/formations/sessions/<id>/emargement?<creneau>",
            "/formations/sessions/{session}/emargement",
            None,
            [401, 403, 403, 200, 200, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/formations/sessions/<id>/emargement?<creneau>",
            "/formations/sessions/{session}/emargement?creneau=1",
            Form("presence-00000000-0000-0000-0000-000000000000=peut-etre"),
            [401, 403, 403, 422, 422, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/formations/demandes",
            "/formations/demandes",
            None,
            [401, 403, 200, 200, 403, 200, 200, 403, 403],
        ),
        r(
            "POST",
            "/formations/inscriptions/<id>/decision",
            "/formations/inscriptions/00000000-0000-0000-0000-000000000000/decision",
            Form("decision=peut-etre"),
            [401, 403, 422, 422, 403, 422, 422, 403, 403],
        ),
        r(
            "GET",
            "/rh/formations",
            "/rh/formations",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/formations/offres/nouvelle",
            "/formations/offres/nouvelle",
            None,
            [401, 403, 403, 200, 200, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/formations/offres/nouvelle",
            "/formations/offres/nouvelle",
            Form("title=&description=&prerequisite_module=&completes_module="),
            [401, 403, 403, 422, 422, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/formations/sessions/nouvelle?<offre>",
            "/formations/sessions/nouvelle",
            None,
            [401, 403, 403, 200, 200, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/formations/sessions/nouvelle",
            "/formations/sessions/nouvelle",
            Form(SESSION_FORM),
            [401, 403, 403, 422, 422, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/formations/sessions/<id>/modifier",
            "/formations/sessions/{session}/modifier",
            None,
            [401, 403, 403, 200, 200, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/formations/sessions/<id>/modifier",
            "/formations/sessions/{session}/modifier",
            Form(SESSION_FORM),
            [401, 403, 403, 422, 422, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/formations/sessions/<id>/annulation",
            "/formations/sessions/{session}/annulation",
            Form("reason="),
            [401, 403, 403, 422, 422, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/formations/sessions/<id>/emargement.csv",
            "/formations/sessions/{session}/emargement.csv",
            None,
            [401, 403, 403, 200, 200, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/formations/sessions/<id>/feuille.pdf?<creneau>",
            "/formations/sessions/{session}/feuille.pdf",
            None,
            [401, 403, 403, 200, 200, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/formations/attestations/<number>/pdf",
            "/formations/attestations/RPR-0000-0000-0000-0000/pdf",
            None,
            [401, 404, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "GET",
            "/formations/sessions/<id>/qr?<creneau>",
            "/formations/sessions/{session}/qr",
            None,
            [401, 403, 403, 200, 200, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/formations/presence/<slot>/<token>",
            "/formations/presence/00000000-0000-0000-0000-000000000000/faux",
            None,
            [401, 404, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "POST",
            "/formations/presence/<slot>/<token>",
            "/formations/presence/00000000-0000-0000-0000-000000000000/faux",
            Form(""),
            [401, 404, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "POST",
            "/mes-formations/agenda",
            "/mes-formations/agenda",
            Form(""),
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "POST",
            "/mes-formations/agenda/revocation",
            "/mes-formations/agenda/revocation",
            Form(""),
            [401, 303, 303, 303, 303, 303, 303, 403, 403],
        ),
        // The feed's secret is its authority (calendar applications have no session).
        r("GET", "/agenda/<token>", "/agenda/inconnu.ics", None, [404; 9]),
        r(
            "GET",
            "/partenaire/formations",
            "/partenaire/formations",
            None,
            [401, 403, 403, 403, 403, 200, 403, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/training-offers",
            "/api/v1/training-offers",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/training-offers",
            "/api/v1/training-offers",
            Json(r#"{"title": ""}"#),
            [401, 403, 403, 422, 422, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/sessions?<offer>&<month>&<place>&<mode>&<seats_left>",
            "/api/v1/sessions",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/sessions",
            "/api/v1/sessions",
            Json("{}"),
            [401, 403, 403, 422, 422, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/sessions/<id>",
            "/api/v1/sessions/{session}",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "PATCH",
            "/api/v1/sessions/<id>",
            "/api/v1/sessions/{session}",
            Json(r#"{"capacity": 0}"#),
            [401, 403, 403, 422, 422, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/sessions/<id>/cancellation",
            "/api/v1/sessions/{session}/cancellation",
            Json(r#"{"reason": ""}"#),
            [401, 403, 403, 422, 422, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/sessions/<id>/enrolments",
            "/api/v1/sessions/00000000-0000-0000-0000-000000000000/enrolments",
            None,
            [401, 404, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "DELETE",
            "/api/v1/enrolments/<id>",
            "/api/v1/enrolments/00000000-0000-0000-0000-000000000000",
            None,
            [401, 404, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/enrolments/<id>/confirmation",
            "/api/v1/enrolments/00000000-0000-0000-0000-000000000000/confirmation",
            None,
            [401, 404, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "POST",
            "/api/v1/enrolments/<id>/decision",
            "/api/v1/enrolments/00000000-0000-0000-0000-000000000000/decision",
            Json(r#"{"approve": true}"#),
            [401, 404, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/me/enrolments",
            "/api/v1/me/enrolments",
            None,
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/api/v1/sessions/<id>/attendance",
            "/api/v1/sessions/{session}/attendance",
            None,
            [401, 403, 403, 200, 200, 403, 200, 403, 403],
        ),
        r(
            "PUT",
            "/api/v1/sessions/<id>/attendance",
            "/api/v1/sessions/{session}/attendance",
            Json(r#"{"slot": "00000000-0000-0000-0000-000000000000", "marks": [{"enrolment": "00000000-0000-0000-0000-000000000000", "status": "peut-etre"}]}"#),
            [401, 403, 403, 422, 422, 403, 422, 403, 403],
        ),
        // Reminders and campaigns (HR); everyone's preferences; the one-click unsubscribe.
        r(
            "GET",
            "/rh/rappels?<date>",
            "/rh/rappels?date=2027-01-15",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/rh/rappels/reglages",
            "/rh/rappels/reglages",
            Form("before_due=x&overdue_first=1&overdue_every=7&escalate_team=14&escalate_hr=30&before_expiry=60"),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "GET",
            "/rh/campagnes/nouvelle",
            "/rh/campagnes/nouvelle",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "GET",
            "/rh/campagnes/<id>",
            "/rh/campagnes/{campaign}",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/rh/campagnes/nouvelle",
            "/rh/campagnes/nouvelle",
            Form("name=X&month=2&day=30&days_before=7&text=Un+texte+assez+long"),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r(
            "POST",
            "/rh/campagnes/<id>",
            "/rh/campagnes/{campaign}",
            Form("name=X&month=2&day=30&days_before=7&text=Un+texte+assez+long"),
            [401, 403, 403, 422, 403, 403, 422, 403, 403],
        ),
        r("GET", "/preferences", "/preferences", None, [401, 200, 200, 200, 200, 200, 200, 403, 403]),
        r(
            "POST",
            "/preferences",
            "/preferences",
            Form("campaigns=true"),
            [401, 200, 200, 200, 200, 200, 200, 403, 403],
        ),
        r(
            "GET",
            "/desabonnement/<token>",
            "/desabonnement/inconnu",
            None,
            [200, 200, 200, 200, 200, 200, 200, 200, 200],
        ),
        r(
            "POST",
            "/desabonnement/<token>",
            "/desabonnement/inconnu",
            None,
            [404, 404, 404, 404, 404, 404, 404, 404, 404],
        ),
        // Sign-in routes: public, and the same answer for everyone.
        r(
            "POST",
            "/connexion/lien",
            "/connexion/lien",
            Form("email=quelquun-{caller}%40ailleurs.test"),
            [303; 9],
        ),
        r(
            "GET",
            "/connexion/lien/<token>",
            "/connexion/lien/abc",
            None,
            [200; 9],
        ),
        r(
            "POST",
            "/connexion/lien/<token>",
            "/connexion/lien/abc",
            Form(""),
            [403; 9],
        ),
        r(
            "GET",
            "/auth/oidc/login?<next>",
            "/auth/oidc/login",
            None,
            [404; 9],
        ),
        r(
            "GET",
            "/auth/oidc/callback?<code>&<state>&<error>",
            "/auth/oidc/callback?code=x&state=y",
            None,
            [404; 9],
        ),
        r(
            "POST",
            "/auth/dev",
            "/auth/dev",
            Form("email=inconnu%40ailleurs.test"),
            [422; 9],
        ),
        r(
            "POST",
            "/__csrf-refuse",
            "/__csrf-refuse",
            Form(""),
            [403; 9],
        ),
        r(
            "POST",
            "/api/__csrf-refuse",
            "/api/__csrf-refuse",
            Json("{}"),
            [403; 9],
        ),
        r("GET", "/dev/bare", "/dev/bare", None, [404; 9]),
        // Where the admission control sends a request when the service is full.
        r("GET", "/__occupe", "/__occupe", None, [503; 9]),
        r("GET", "/api/__occupe", "/api/__occupe", None, [503; 9]),
        // Certificates (unknown numbers and jobs here; owners, managers and HR are covered in
        // tests/certificates.rs).
        r("GET", "/verify?<numero>", "/verify", None, [200; 9]),
        r(
            "GET",
            "/verify/<number>",
            "/verify/RPR-0000-0000-0000-0000",
            None,
            [404; 9],
        ),
        r(
            "GET",
            "/api/v1/certificates/<number>",
            "/api/v1/certificates/RPR-0000-0000-0000-0000",
            None,
            [404; 9],
        ),
        r(
            "GET",
            "/certificats/<number>/pdf",
            "/certificats/RPR-0000-0000-0000-0000/pdf",
            None,
            [401, 404, 404, 404, 404, 404, 404, 403, 403],
        ),
        r(
            "POST",
            "/certificats/<number>/revoquer",
            "/certificats/RPR-0000-0000-0000-0000/revoquer",
            Form("reason=motif+de+test"),
            [401, 403, 403, 404, 403, 403, 404, 403, 403],
        ),
        r(
            "GET",
            "/rh/certificats",
            "/rh/certificats",
            None,
            [401, 403, 403, 200, 403, 403, 200, 403, 403],
        ),
        r(
            "POST",
            "/rh/certificats/export",
            "/rh/certificats/export",
            Form("unit=&from=2026-01-01&to=2026-12-31"),
            [401, 403, 403, 303, 403, 403, 303, 403, 403],
        ),
        r(
            "GET",
            "/rh/certificats/export/<id>",
            "/rh/certificats/export/00000000-0000-0000-0000-000000000000",
            None,
            [401, 403, 403, 404, 403, 403, 404, 403, 403],
        ),
        r(
            "GET",
            "/rh/certificats/export/<id>/etat",
            "/rh/certificats/export/00000000-0000-0000-0000-000000000000/etat",
            None,
            [401, 403, 403, 404, 403, 403, 404, 403, 403],
        ),
        r(
            "GET",
            "/rh/certificats/export/<id>/zip",
            "/rh/certificats/export/00000000-0000-0000-0000-000000000000/zip",
            None,
            [401, 403, 403, 404, 403, 403, 404, 403, 403],
        ),
        // Last: they end the session.
        r(
            "POST",
            "/auth/deconnexion-partout",
            "/auth/deconnexion-partout",
            Form(""),
            [401, 303, 303, 303, 303, 303, 303, 403, 403],
        ),
        r(
            "POST",
            "/auth/deconnexion",
            "/auth/deconnexion",
            Form(""),
            [303; 9],
        ),
    ]
}

/// The number of rows of every table: a write that was refused must leave it unchanged.
async fn table_counts(app: &TestApp) -> Vec<(String, i64)> {
    let db = app.database();
    let tables: Vec<String> = match db {
        reperes::Db::Sqlite(pool) => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        reperes::Db::Postgres(pool) => sqlx::query_scalar(
            "SELECT tablename::TEXT FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    let mut out = vec![];
    for t in tables {
        let sql = format!("SELECT COUNT(*) FROM \"{t}\"");
        let n: i64 = reperes::on_db!(db, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await).unwrap();
        out.push((t, n));
    }
    out
}

/// Every write of the matrix, sent by a caller with a session whom the route lets through,
/// as text/plain, with no content type and as JSON, without the CSRF token: 403 and no
/// change anywhere. Then the second layer: a cross-site request is refused even with the
/// token.
async fn every_cookie_write_without_the_token_is_refused_and_changes_nothing(app: TestApp) {
    let mut failures = vec![];
    for (col, caller) in CALLERS.iter().enumerate().take(7) {
        if let Some(email) = email(caller) {
            app.login(email).await;
        }
        // The browser has its token cookie, but the requests below do not repeat it.
        app.csrf().await;
        let before = table_counts(&app).await;
        // The one-click unsubscribe is the one write without the CSRF check: a mail provider
        // posts it without cookies, and the secret in its address is the authority (tested
        // in tests/reminders.rs).
        for row in rows()
            .iter()
            .filter(|r| r.method != "GET" && !r.path.starts_with("/desabonnement/"))
        {
            if matches!(row.expected[col], 401 | 403) {
                continue;
            }
            let path = row
                .path
                .replace("{camille}", "00000000-0000-0000-0000-000000000000")
                .replace("{sophie}", "00000000-0000-0000-0000-000000000000")
                .replace("{aicha}", "00000000-0000-0000-0000-000000000000")
                .replace("{lea}", "00000000-0000-0000-0000-000000000000")
                .replace("{attempt}", "00000000-0000-0000-0000-000000000000")
                .replace("{obligation}", "00000000-0000-0000-0000-000000000000")
                .replace("{rule}", "00000000-0000-0000-0000-000000000000")
                .replace("{campaign}", "00000000-0000-0000-0000-000000000000")
                .replace("{session}", "00000000-0000-0000-0000-000000000000")
                .replace("{indicator}", "00000000-0000-0000-0000-000000000000")
                .replace("{action}", "00000000-0000-0000-0000-000000000000")
                .replace("{snapshot}", "00000000-0000-0000-0000-000000000000");
            for (label, content_type, body) in [
                ("text/plain", Some(ContentType::Plain), "csrf=x&email=a@b.c"),
                ("no content type", None, ""),
                ("JSON", Some(ContentType::JSON), "{}"),
            ] {
                let req = match row.method {
                    "PATCH" => app.client.patch(path.clone()),
                    "PUT" => app.client.put(path.clone()),
                    "DELETE" => app.client.delete(path.clone()),
                    _ => app.client.post(path.clone()),
                };
                let mut req = req.body(body);
                if let Some(ct) = content_type {
                    req = req.header(ct);
                }
                let got = req.dispatch().await.status().code;
                if got != 403 {
                    failures.push(format!(
                        "{caller}: {} {} as {label} → {got}",
                        row.method, row.path
                    ));
                }
            }
        }
        assert_eq!(
            before,
            table_counts(&app).await,
            "{caller}: a refused write changed data"
        );
    }
    assert!(
        failures.is_empty(),
        "writes accepted without the token:\n{}",
        failures.join("\n")
    );

    // With the token, but from another site: refused; from this site: accepted.
    app.login(ADMIN).await;
    let token = app.csrf().await;
    for (name, value) in [
        ("Sec-Fetch-Site", "cross-site"),
        ("Origin", "https://attaquant.example"),
        ("Origin", "null"),
    ] {
        let res = app
            .client
            .post("/admin/jetons")
            .header(ContentType::Form)
            .header(Header::new(name, value))
            .body(format!("csrf={token}&name=outil&scope=read"))
            .dispatch()
            .await;
        assert_eq!(res.status().code, 403, "{name}: {value}");
    }
    let res = app
        .client
        .post("/admin/jetons")
        .header(ContentType::Form)
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .header(Header::new("Origin", "http://localhost"))
        .header(Header::new("Host", "localhost"))
        .body(format!("csrf={token}&name=outil&scope=read"))
        .dispatch()
        .await;
    assert_eq!(res.status().code, 200, "same-site request with the token");
}

/// A session that Lucie (trainer) runs, with Camille booked: its id.
async fn lucie_session(app: &TestApp) -> String {
    app.login("lucie.fontaine@demo.reperes.test").await;
    let (status, offer) = app
        .post_json(
            "/api/v1/training-offers",
            r#"{"title": "Repérer", "audiences": "tous"}"#,
        )
        .await;
    assert_eq!(status.code, 201, "{offer}");
    let offer = offer["offer"]["id"].as_str().unwrap().to_string();
    let day = (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%d");
    let body = format!(
        r#"{{"offer": "{offer}", "mode": "in_person", "address": "Hôtel de ville", "capacity": 10,
            "slots": [{{"date": "{day}", "start": "09:00", "end": "12:00"}}]}}"#
    );
    let (status, session) = app.post_json("/api/v1/sessions", &body).await;
    assert_eq!(status.code, 201, "{session}");
    app.logout().await;
    session["session"]["id"].as_str().unwrap().to_string()
}

/// A seeded indicator, an action owned by Karim (HR) and a snapshot: their ids.
async fn equality_resources(app: &TestApp) -> (String, String, String) {
    let db = app.database();
    let indicator: uuid::Uuid = reperes::on_db!(db, pool => sqlx::query_scalar("SELECT id FROM equality_indicators WHERE code = 'E1-DELAIS'").fetch_one(pool).await).unwrap();
    let karim = id_of(app, "karim.benali@demo.reperes.test").await;
    app.login("karim.benali@demo.reperes.test").await;
    let (status, action) = app
        .post_json(
            "/api/v1/equality/actions",
            &format!(
                r#"{{"axis": "E5", "title": "Former les jurys", "owner": "{karim}", "starts_on": "2026-01-01", "ends_on": "2026-12-31"}}"#
            ),
        )
        .await;
    assert_eq!(status.code, 201, "{action}");
    let (status, snapshot) = app.post_json("/api/v1/equality/snapshots", "").await;
    assert_eq!(status.code, 201, "{snapshot}");
    app.logout().await;
    (
        indicator.to_string(),
        action["action"]["id"].as_str().unwrap().to_string(),
        snapshot["id"].as_str().unwrap().to_string(),
    )
}

async fn id_of(app: &TestApp, email: &str) -> String {
    let id: uuid::Uuid = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(email).fetch_one(pool).await).unwrap();
    id.to_string()
}

async fn every_route_for_every_role(app: TestApp) {
    // Coverage: every mounted route has at least one row.
    let covered: BTreeSet<(String, String)> = rows()
        .iter()
        .map(|r| (r.method.to_string(), r.template.to_string()))
        .collect();
    let mut missing = vec![];
    for route in app.client.rocket().routes() {
        let key = (route.method.as_str().to_string(), route.uri.to_string());
        if !covered.contains(&key) {
            missing.push(format!("{} {}", key.0, key.1));
        }
    }
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:?}"
    );

    // Resources: Camille's open attempt; people in and out of each scope.
    app.login(CAMILLE).await;
    for n in 1..=2 {
        app.get(&format!("/modules/base/lecons/{n}")).await;
    }
    let (_, attempt) = app.post_json("/api/v1/modules/base/attempts", "").await;
    let attempt = attempt["attempt_id"].as_str().unwrap().to_string();
    app.logout().await;
    let camille = id_of(&app, CAMILLE).await;
    let sophie = id_of(&app, SOPHIE).await;
    let aicha = id_of(&app, AICHA).await;
    let lea = id_of(&app, "lea.petit@demo.reperes.test").await;
    let (rule, obligation) = camille_obligation(&app, &camille).await;
    let campaign: uuid::Uuid = reperes::on_db!(app.database(), pool => sqlx::query_scalar("SELECT id FROM campaigns ORDER BY month, day LIMIT 1").fetch_one(pool).await).unwrap();
    let campaign = campaign.to_string();
    let session = lucie_session(&app).await;
    let (indicator, action, snapshot) = equality_resources(&app).await;
    let (_, token_read) = reperes::auth::tokens::create(
        app.database(),
        "lecture",
        reperes::auth::tokens::TokenScope::Read,
        None,
        None,
    )
    .await
    .unwrap();
    let (_, token_rw) = reperes::auth::tokens::create(
        app.database(),
        "écriture",
        reperes::auth::tokens::TokenScope::ReadWrite,
        None,
        None,
    )
    .await
    .unwrap();

    let mut failures = vec![];
    for (col, caller) in CALLERS.iter().enumerate() {
        if let Some(email) = email(caller) {
            app.login(email).await;
        }
        let bearer = match *caller {
            "token_read" => Some(token_read.clone()),
            "token_rw" => Some(token_rw.clone()),
            _ => None,
        };
        for row in rows() {
            let path = row
                .path
                .replace("{camille}", &camille)
                .replace("{sophie}", &sophie)
                .replace("{aicha}", &aicha)
                .replace("{lea}", &lea)
                .replace("{rule}", &rule)
                .replace("{obligation}", &obligation)
                .replace("{campaign}", &campaign)
                .replace("{session}", &session)
                .replace("{indicator}", &indicator)
                .replace("{action}", &action)
                .replace("{snapshot}", &snapshot)
                .replace("{attempt}", &attempt);
            let mut req = match row.method {
                "GET" => app.client.get(path.clone()),
                "PATCH" => app.client.patch(path.clone()),
                "PUT" => app.client.put(path.clone()),
                "DELETE" => app.client.delete(path.clone()),
                _ => app.client.post(path.clone()),
            };
            match &bearer {
                Some(t) => req = req.header(Header::new("Authorization", format!("Bearer {t}"))),
                // A page's script sends the browser's token in a header with JSON or CSV.
                None if row.method != "GET" => {
                    req = req.header(Header::new("X-CSRF-Token", app.csrf().await))
                }
                None => {}
            }
            req = match &row.body {
                Body::None => req,
                Body::Form(f) => req
                    .header(ContentType::Form)
                    .body(app.with_csrf(&f.replace("{caller}", caller)).await),
                Body::Json(j) => req.header(ContentType::JSON).body(*j),
                Body::Csv => req.header(ContentType::CSV).body(CSV),
                Body::ImportUpload => {
                    let csrf = app.csrf().await;
                    let b = "----matrix";
                    let body = format!(
                        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\nContent-Type: text/csv\r\n\r\n{CSV}\r\n--{b}\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n\r\ntrue\r\n--{b}--\r\n"
                    );
                    req.header(
                        ContentType::new("multipart", "form-data").with_params(("boundary", b)),
                    )
                    .body(body)
                }
            };
            let got = req.dispatch().await.status().code;
            if got != row.expected[col] {
                failures.push(format!(
                    "{caller}: {} {} → {got}, expected {}",
                    row.method, row.path, row.expected[col]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} unexpected statuses:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A rule for every city agent and Camille's obligation under it: (rule id, obligation id).
async fn camille_obligation(app: &TestApp, camille: &str) -> (String, String) {
    use reperes::obligations::store;
    let now = reperes::db::now();
    let rule = save_unit_rule(app, "Ville de Nancy", 30, now).await;
    apply_rules(app, now).await;
    let query = store::ListQuery {
        user: Some(camille.parse().unwrap()),
        ..store::ListQuery::default()
    };
    let today = reperes::certificates::paris_today(now);
    let (rows, _) = store::list(
        app.database(),
        uuid::Uuid::nil(),
        &reperes::people::Visibility::All,
        &query,
        today,
        10,
        0,
    )
    .await
    .unwrap();
    (rule.id.to_string(), rows[0].id.to_string())
}
