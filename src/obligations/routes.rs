//! Pages of obligations: the learner's own, the team and HR lists (with CSV), the HR
//! overview, one obligation with its exemption form, and the rule editor with its dry run.

use std::net::IpAddr;

use rocket::form::{Form, FromForm};
use rocket::response::stream::TextStream;
use rocket::response::Redirect;
use rocket::{get, post, routes, Route, State};
use serde_json::json;
use uuid::Uuid;

use super::flow::{self, Filters, RuleInput};
use super::{DueFrom, Rule, State as CycleState};
use crate::auth::{CurrentUser, HrOrAdmin, Supervisor};
use crate::catalog::{Audience, Catalog};
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::people;
use crate::views::{attachment, cell, CsvDownload, Page};

pub fn routes() -> Vec<Route> {
    routes![
        mine,
        team,
        team_csv,
        overview,
        one,
        exempt,
        rules,
        new_rule,
        edit_rule,
        save_new_rule,
        save_rule
    ]
}

/// Rows per page of the lists.
const PAGE_SIZE: i64 = 50;

#[get("/obligations")]
async fn mine(db: &State<Db>, catalog: &State<Catalog>, me: CurrentUser) -> Result<Page> {
    let obligations = flow::mine(db, catalog, &me.0).await?;
    Ok(Page::new(
        "obligations/mine",
        "Mes obligations de formation",
        Some(&me.0),
        json!({ "obligations": obligations }),
    ))
}

fn filters(
    etat: Option<&str>,
    module: Option<&str>,
    service: Option<&str>,
    historique: Option<bool>,
) -> Filters {
    Filters {
        state: etat.unwrap_or("").to_string(),
        module: module.unwrap_or("").to_string(),
        org_unit: service.unwrap_or("").to_string(),
        history: historique.unwrap_or(false),
    }
}

fn query_string(f: &Filters) -> String {
    let enc = |s: &str| rocket::http::RawStr::new(s).percent_encode().to_string();
    format!(
        "etat={}&module={}&service={}{}",
        enc(&f.state),
        enc(&f.module),
        enc(&f.org_unit),
        if f.history { "&historique=true" } else { "" }
    )
}

#[allow(clippy::too_many_arguments)] // one argument per filter of the list
#[get("/equipe/obligations?<etat>&<module>&<service>&<historique>&<page>")]
async fn team(
    db: &State<Db>,
    catalog: &State<Catalog>,
    viewer: Supervisor,
    etat: Option<&str>,
    module: Option<&str>,
    service: Option<&str>,
    historique: Option<bool>,
    page: Option<i64>,
) -> Result<Page> {
    let visibility = flow::scope(&viewer.0)?;
    let f = filters(etat, module, service, historique);
    let page = page.unwrap_or(1).max(1);
    let (rows, total) = flow::team(
        db,
        catalog,
        viewer.0.id,
        &visibility,
        &f,
        PAGE_SIZE,
        (page - 1) * PAGE_SIZE,
    )
    .await?;
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let qs = query_string(&f);
    let link = |p: i64| format!("/equipe/obligations?{qs}&page={p}");
    let states: Vec<_> = CycleState::ALL
        .into_iter()
        .map(|s| json!({ "code": s.code(), "label": s.label(), "selected": s.code() == f.state }))
        .collect();
    let modules: Vec<_> = catalog
        .modules()
        .iter()
        .map(|m| json!({ "slug": m.slug, "title": m.title, "selected": m.slug == f.module }))
        .collect();
    Ok(Page::new(
        "obligations/team",
        "Obligations de formation de l'équipe",
        Some(&viewer.0),
        json!({
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "previous": (page > 1).then(|| link(page - 1)),
            "next": (page < pages).then(|| link(page + 1)),
            "csv": format!("/equipe/obligations.csv?{qs}"),
            "filters": f,
            "filtered": !f.state.is_empty() || !f.module.is_empty() || !f.org_unit.is_empty() || f.history,
            "states": states,
            "modules": modules,
            "hr": viewer.0.role.is_hr(),
        }),
    ))
}

fn csv_line(r: &flow::ObligationView) -> String {
    let line = [
        cell(&r.person),
        cell(&r.email),
        cell(r.org_unit.as_deref().unwrap_or("")),
        cell(r.partner.as_deref().unwrap_or("")),
        cell(&r.module),
        r.cycle.to_string(),
        cell(r.state_label),
        r.due_on.to_string(),
        r.completed_at
            .map(|d| crate::certificates::paris_today(d).to_string())
            .unwrap_or_default(),
        r.valid_until.map(|d| d.to_string()).unwrap_or_default(),
        cell(r.exemption_reason.as_deref().unwrap_or("")),
    ];
    format!("{}\r\n", line.join(";"))
}

/// Rows read per page of the CSV export.
const CSV_PAGE: i64 = 5_000;

#[allow(clippy::too_many_arguments)] // one argument per filter of the list
#[get("/equipe/obligations.csv?<etat>&<module>&<service>&<historique>")]
async fn team_csv<'r>(
    db: &'r State<Db>,
    catalog: &'r State<Catalog>,
    viewer: Supervisor,
    etat: Option<&str>,
    module: Option<&str>,
    service: Option<&str>,
    historique: Option<bool>,
) -> Result<CsvDownload<TextStream![String + 'r]>> {
    let visibility = flow::scope(&viewer.0)?;
    let query = filters(etat, module, service, historique).query()?;
    let viewer = viewer.0.id;
    let today = crate::certificates::paris_today(crate::db::now());
    let body = TextStream! {
        // A BOM so that spreadsheet programs read the accents right; semicolons, as they
        // expect in French.
        yield "\u{feff}personne;courriel;service;structure;module;cycle;etat;echeance;validee_le;valable_jusqu_au;motif_dispense\r\n".to_string();
        let mut after = None;
        loop {
            match flow::export_page(db, catalog, viewer, &visibility, &query, today, after, CSV_PAGE).await {
                Ok(rows) if rows.is_empty() => break,
                Ok(rows) => {
                    after = rows.last().map(|r| r.id);
                    yield rows.iter().map(csv_line).collect::<String>();
                }
                Err(e) => {
                    // The status has left already: say it in the file.
                    tracing::error!(error = %e, "obligations export interrupted");
                    yield "\r\n« Export interrompu par une erreur : recommencez. »\r\n".to_string();
                    break;
                }
            }
        }
    };
    Ok(CsvDownload {
        body,
        disposition: attachment(&format!("obligations-{today}.csv")),
    })
}

#[get("/rh/obligations?<service>")]
async fn overview(
    db: &State<Db>,
    catalog: &State<Catalog>,
    hr: HrOrAdmin,
    service: Option<&str>,
) -> Result<Page> {
    let unit = service.map(str::trim).filter(|s| !s.is_empty());
    let modules = flow::overview(db, catalog, hr.0.id, &people::Visibility::All, unit).await?;
    let units: Vec<String> = people::store::org_units(db)
        .await?
        .into_iter()
        .map(|u| u.path)
        .collect();
    Ok(Page::new(
        "obligations/overview",
        "Suivi des formations obligatoires",
        Some(&hr.0),
        json!({ "modules": modules, "service": unit.unwrap_or(""), "units": units }),
    ))
}

#[get("/rh/obligations/<id>")]
async fn one(db: &State<Db>, catalog: &State<Catalog>, hr: HrOrAdmin, id: Id) -> Result<Page> {
    let (obligation, history) = flow::one(db, catalog, id.0).await?;
    Ok(Page::new(
        "obligations/one",
        format!("Obligation — {}", obligation.person),
        Some(&hr.0),
        json!({ "obligation": obligation, "history": history }),
    ))
}

#[derive(FromForm)]
struct Exemption<'r> {
    reason: &'r str,
}

#[post("/rh/obligations/<id>/dispense", data = "<form>")]
async fn exempt(
    db: &State<Db>,
    hr: HrOrAdmin,
    ip: Option<IpAddr>,
    id: Id,
    form: std::result::Result<Form<Exemption<'_>>, rocket::form::Errors<'_>>,
) -> Result<Redirect> {
    let reason = form.map(|f| f.reason.to_string()).unwrap_or_default();
    flow::exempt(db, &hr.0, id.0, &reason, ip).await?;
    Ok(Redirect::to(format!("/rh/obligations/{id}")))
}

/// The rule editor's choices and the rule being edited (as typed).
async fn editor_data(
    db: &Db,
    catalog: &Catalog,
    action: &str,
    input: &RuleInput,
) -> Result<serde_json::Value> {
    let modules: Vec<_> = catalog
        .modules()
        .iter()
        .map(|m| json!({ "slug": m.slug, "title": m.title, "selected": m.slug == input.module }))
        .collect();
    let offers: Vec<_> = crate::trainings::store::offers(db)
        .await?
        .into_iter()
        .map(|o| {
            let duty = super::offer_duty(o.id);
            json!({ "selected": duty == input.module, "slug": duty, "title": o.title })
        })
        .collect();
    let audiences: Vec<_> = Audience::ALL
        .into_iter()
        .map(|a| json!({ "code": a.code(), "label": a.label(), "selected": a.code() == input.audience }))
        .collect();
    let partners: Vec<_> = people::store::partners(db)
        .await?
        .into_iter()
        .map(|p| json!({ "id": p.id, "name": p.name, "selected": p.id.to_string() == input.partner }))
        .collect();
    let units: Vec<String> = people::store::org_units(db)
        .await?
        .into_iter()
        .map(|u| u.path)
        .collect();
    Ok(json!({
        "action": action,
        "input": {
            "name": input.name, "org_unit": input.org_unit, "arrived_after": input.arrived_after,
            "title_word": input.title_word, "due_days": input.due_days,
            "arrival": input.due_from == DueFrom::Arrival.code(), "active": input.active,
        },
        "modules": modules,
        "offers": offers,
        "audiences": audiences,
        "partners": partners,
        "units": units,
        "preview": null,
        "error": null,
    }))
}

fn input_of(rule: &Rule) -> RuleInput {
    let t = &rule.target;
    RuleInput {
        name: rule.name.clone(),
        module: rule.module_slug.clone(),
        audience: t.audience.map(|a| a.code().to_string()).unwrap_or_default(),
        org_unit: t.org_unit.clone().unwrap_or_default(),
        partner: t.partner_id.map(|p| p.to_string()).unwrap_or_default(),
        arrived_after: t.arrived_after.map(|d| d.to_string()).unwrap_or_default(),
        title_word: t.title_word.clone().unwrap_or_default(),
        due_days: rule.due_days.to_string(),
        due_from: rule.due_from.code().to_string(),
        active: rule.active,
    }
}

#[get("/rh/regles")]
async fn rules(db: &State<Db>, catalog: &State<Catalog>, hr: HrOrAdmin) -> Result<Page> {
    let rules = flow::rule_views(db, catalog).await?;
    Ok(Page::new(
        "obligations/rules",
        "Règles d'obligation de formation",
        Some(&hr.0),
        json!({ "rules": rules }),
    ))
}

#[get("/rh/regles/nouvelle")]
async fn new_rule(db: &State<Db>, catalog: &State<Catalog>, hr: HrOrAdmin) -> Result<Page> {
    let input = RuleInput {
        due_days: "90".into(),
        active: true,
        ..RuleInput::default()
    };
    Ok(Page::new(
        "obligations/rule",
        "Nouvelle règle d'obligation",
        Some(&hr.0),
        editor_data(db, catalog, "/rh/regles/nouvelle", &input).await?,
    ))
}

#[get("/rh/regles/<id>")]
async fn edit_rule(
    db: &State<Db>,
    catalog: &State<Catalog>,
    hr: HrOrAdmin,
    id: Id,
) -> Result<Page> {
    let rule = flow::rule(db, id.0).await?;
    Ok(Page::new(
        "obligations/rule",
        format!("Règle « {} »", rule.name),
        Some(&hr.0),
        editor_data(db, catalog, &format!("/rh/regles/{id}"), &input_of(&rule)).await?,
    ))
}

#[derive(FromForm)]
struct RuleForm<'r> {
    name: &'r str,
    module: &'r str,
    audience: &'r str,
    org_unit: &'r str,
    partner: &'r str,
    arrived_after: &'r str,
    title_word: &'r str,
    due_days: &'r str,
    arrival: bool,
    active: bool,
    /// « apercu » shows the dry run; « enregistrer » saves.
    step: &'r str,
    confirm: bool,
}

impl RuleForm<'_> {
    fn input(&self) -> RuleInput {
        RuleInput {
            name: self.name.into(),
            module: self.module.into(),
            audience: self.audience.into(),
            org_unit: self.org_unit.into(),
            partner: self.partner.into(),
            arrived_after: self.arrived_after.into(),
            title_word: self.title_word.into(),
            due_days: self.due_days.into(),
            due_from: if self.arrival {
                DueFrom::Arrival
            } else {
                DueFrom::Assignment
            }
            .code()
            .into(),
            active: self.active,
        }
    }
}

/// The editor's answer to a POST: the dry run (step « apercu »), the same form with the
/// problem when the rule is refused, or the list once saved.
#[allow(clippy::too_many_arguments)] // one argument per piece of managed state
async fn submit(
    db: &Db,
    catalog: &Catalog,
    config: &Config,
    hr: &people::User,
    ip: Option<IpAddr>,
    id: Option<Uuid>,
    form: std::result::Result<Form<RuleForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let form = form.map_err(|e| Error::BadRequest(format!("Formulaire incomplet : {e}")))?;
    let input = form.input();
    let action = match id {
        Some(id) => format!("/rh/regles/{id}"),
        None => "/rh/regles/nouvelle".into(),
    };
    let mut data = editor_data(db, catalog, &action, &input).await?;
    let title = if id.is_some() {
        "Modifier la règle"
    } else {
        "Nouvelle règle d'obligation"
    };
    let outcome = if form.step == "enregistrer" {
        flow::save_rule(
            db,
            catalog,
            hr,
            id,
            &input,
            form.confirm,
            config.rule_max_without_confirmation,
            ip,
        )
        .await
        .map(|_| ())
    } else {
        let rule = flow::parse_rule(db, catalog, id.unwrap_or_else(Uuid::new_v4), &input).await;
        match rule {
            Ok(rule) => {
                let preview =
                    flow::dry_run(db, &rule, config.rule_max_without_confirmation).await?;
                data["preview"] = serde_json::to_value(preview).unwrap_or_default();
                return Ok(Err(Page::new("obligations/rule", title, Some(hr), data)));
            }
            Err(e) => Err(e),
        }
    };
    match outcome {
        Ok(()) => Ok(Ok(Redirect::to("/rh/regles"))),
        Err(Error::Unprocessable(message)) => {
            data["error"] = json!(message);
            Ok(Err(Page::new("obligations/rule", title, Some(hr), data)
                .status(rocket::http::Status::UnprocessableEntity)))
        }
        Err(e) => Err(e),
    }
}

#[post("/rh/regles/nouvelle", data = "<form>")]
async fn save_new_rule(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    hr: HrOrAdmin,
    ip: Option<IpAddr>,
    form: std::result::Result<Form<RuleForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    submit(db, catalog, config, &hr.0, ip, None, form).await
}

#[allow(clippy::too_many_arguments)] // one argument per piece of managed state
#[post("/rh/regles/<id>", data = "<form>")]
async fn save_rule(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    hr: HrOrAdmin,
    ip: Option<IpAddr>,
    id: Id,
    form: std::result::Result<Form<RuleForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    flow::rule(db, id.0).await?;
    submit(db, catalog, config, &hr.0, ip, Some(id.0), form).await
}
