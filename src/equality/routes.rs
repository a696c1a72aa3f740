//! Pages of the equality plan: the dashboard (HR; managers for their subtree), an
//! indicator's page with its breakdowns, and for HR the plan's actions, the indicators,
//! the snapshots with the committee report, and the territorial review.

use rocket::form::{Form, FromForm};
use rocket::http::{ContentType, Status};
use rocket::response::Redirect;
use rocket::{get, post, routes, Route, State};
use serde_json::json;
use uuid::Uuid;

use super::flow::{self, ActionInput, Ctx, IndicatorInput, PeriodInput, Query, ValueInput};
use super::{axes, store, ActionStatus, Measure};
use crate::auth::{HrOrAdmin, Supervisor};
use crate::catalog::{Audience, Catalog};
use crate::certificates::paris_today;
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::people::User;
use crate::views::{attachment, CsvDownload, Page};

pub fn routes() -> Vec<Route> {
    routes![
        dashboard,
        indicator,
        plan,
        save_period,
        create_action,
        action,
        update_action,
        comment,
        indicators,
        create_indicator,
        update_indicator,
        add_value,
        snapshots,
        take_snapshot,
        report_pdf,
        report_ods,
        report_csv,
        territorial
    ]
}

/// The computation settings of this service.
pub fn ctx<'a>(catalog: &'a Catalog, config: &Config) -> Ctx<'a> {
    Ctx {
        catalog,
        threshold: config.equality_min_cell.max(2),
    }
}

fn query(du: Option<&str>, au: Option<&str>, service: Option<&str>, public: Option<&str>) -> Query {
    Query {
        from: du.unwrap_or("").into(),
        to: au.unwrap_or("").into(),
        unit: service.unwrap_or("").into(),
        audience: public.unwrap_or("").into(),
    }
}

fn audiences(selected: &str) -> Vec<serde_json::Value> {
    Audience::ALL
        .into_iter()
        .map(|a| json!({ "code": a.code(), "label": a.label(), "selected": a.code() == selected }))
        .collect()
}

#[allow(clippy::too_many_arguments)] // one argument per filter
#[get("/egalite?<du>&<au>&<service>&<public>")]
async fn dashboard(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    viewer: Supervisor,
    du: Option<&str>,
    au: Option<&str>,
    service: Option<&str>,
    public: Option<&str>,
) -> Result<Page> {
    let q = query(du, au, service, public);
    let d = flow::dashboard(db, &ctx(catalog, config), &viewer.0.visibility(), &q).await?;
    Ok(Page::new(
        "equality/dashboard",
        "Plan d'égalité professionnelle : tableau de bord",
        Some(&viewer.0),
        json!({
            "d": d,
            "audiences": audiences(&d.audience),
            "hr": viewer.0.role.is_hr(),
        }),
    ))
}

#[allow(clippy::too_many_arguments)] // one argument per filter
#[get("/egalite/indicateurs/<id>?<du>&<au>&<service>&<public>")]
async fn indicator(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    viewer: Supervisor,
    id: Id,
    du: Option<&str>,
    au: Option<&str>,
    service: Option<&str>,
    public: Option<&str>,
) -> Result<Page> {
    indicator_page(
        db,
        catalog,
        config,
        &viewer.0,
        id.0,
        &query(du, au, service, public),
        None,
        None,
    )
    .await
}

#[allow(clippy::too_many_arguments)] // the page and what a failed form sends back
async fn indicator_page(
    db: &Db,
    catalog: &Catalog,
    config: &Config,
    viewer: &User,
    id: Uuid,
    q: &Query,
    input: Option<(IndicatorInput, ValueInput)>,
    error: Option<String>,
) -> Result<Page> {
    let d = flow::detail(db, &ctx(catalog, config), &viewer.visibility(), id, q).await?;
    let hr = viewer.role.is_hr();
    let (edit, value) =
        input.unwrap_or_else(|| (IndicatorInput::of(&d.indicator), ValueInput::default()));
    let manual = matches!(d.indicator.source, super::Source::Manual { .. });
    Ok(Page::new(
        "equality/indicator",
        format!("Indicateur : {}", d.indicator.title),
        Some(viewer),
        json!({
            "d": d,
            "hr": hr,
            "manual": manual,
            "encadrement_seul": edit.managers_only,
            "edit": edit,
            "value": value,
            "error": error,
            "axes": axes_options(&edit.axis),
            "audiences": audiences(&d.audience),
            "directions": directions(&edit.direction),
        }),
    ))
}

fn axes_options(selected: &str) -> Vec<serde_json::Value> {
    axes()
        .into_iter()
        .map(|a| json!({ "code": a.code, "title": a.title, "selected": a.code == selected }))
        .collect()
}

fn directions(selected: &str) -> Vec<serde_json::Value> {
    [("at_least", "au moins (≥)"), ("at_most", "au plus (≤)")]
        .into_iter()
        .map(|(c, l)| json!({ "code": c, "label": l, "selected": c == selected }))
        .collect()
}

async fn plan_page(
    db: &Db,
    catalog: &Catalog,
    hr: &User,
    period: Option<PeriodInput>,
    action: Option<ActionInput>,
    error: Option<String>,
) -> Result<Page> {
    let today = paris_today(crate::db::now());
    let plan = flow::plan(db, today).await?;
    let period = period.unwrap_or_else(|| PeriodInput {
        starts_on: plan.starts_on.map(|d| d.to_string()).unwrap_or_default(),
        ends_on: plan.ends_on.map(|d| d.to_string()).unwrap_or_default(),
    });
    let action = action.unwrap_or_default();
    Ok(Page::new(
        "equality/plan",
        "Plan d'égalité professionnelle : axes et actions",
        Some(hr),
        json!({
            "plan": plan,
            "period": period,
            "action": action,
            "error": error,
            "form": action_form(db, catalog, &action).await?,
        }),
    ))
}

/// The choices of an action's form.
async fn action_form(db: &Db, catalog: &Catalog, a: &ActionInput) -> Result<serde_json::Value> {
    let owners: Vec<_> = store::owners(db)
        .await?
        .into_iter()
        .map(|(id, name)| json!({ "id": id, "name": name, "selected": id.to_string() == a.owner }))
        .collect();
    let modules: Vec<_> = catalog
        .modules()
        .iter()
        .map(
            |m| json!({ "slug": m.slug, "title": m.title, "checked": a.modules.contains(&m.slug) }),
        )
        .collect();
    let offers: Vec<_> = crate::trainings::store::offers(db)
        .await?
        .into_iter()
        .map(|o| json!({ "id": o.id, "title": o.title, "checked": a.offers.contains(&o.id.to_string()) }))
        .collect();
    let statuses: Vec<_> = ActionStatus::ALL
        .into_iter()
        .map(|s| json!({ "code": s.code(), "label": s.label(), "selected": s.code() == a.status }))
        .collect();
    Ok(
        json!({ "owners": owners, "modules": modules, "offers": offers, "statuses": statuses,
               "axes": axes_options(&a.axis) }),
    )
}

#[get("/rh/egalite/plan")]
async fn plan(db: &State<Db>, catalog: &State<Catalog>, hr: HrOrAdmin) -> Result<Page> {
    plan_page(db, catalog, &hr.0, None, None, None).await
}

#[derive(FromForm)]
struct PeriodForm<'r> {
    starts_on: &'r str,
    ends_on: &'r str,
}

fn incomplete(e: rocket::form::Errors<'_>) -> Error {
    Error::BadRequest(format!("Formulaire incomplet : {e}"))
}

#[post("/rh/egalite/plan", data = "<form>")]
async fn save_period(
    db: &State<Db>,
    catalog: &State<Catalog>,
    hr: HrOrAdmin,
    form: std::result::Result<Form<PeriodForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let form = form.map_err(incomplete)?;
    let input = PeriodInput {
        starts_on: form.starts_on.into(),
        ends_on: form.ends_on.into(),
    };
    match flow::save_period(db, &hr.0, &input, crate::db::now()).await {
        Ok(_) => Ok(Ok(Redirect::to("/rh/egalite/plan"))),
        Err(Error::Unprocessable(m)) => Ok(Err(plan_page(
            db,
            catalog,
            &hr.0,
            Some(input),
            None,
            Some(m),
        )
        .await?
        .status(Status::UnprocessableEntity))),
        Err(e) => Err(e),
    }
}

#[derive(FromForm)]
struct ActionForm<'r> {
    axis: &'r str,
    title: &'r str,
    description: Option<&'r str>,
    owner: &'r str,
    starts_on: &'r str,
    ends_on: &'r str,
    status: Option<&'r str>,
    progress: Option<&'r str>,
    modules: Vec<&'r str>,
    offers: Vec<&'r str>,
}

impl ActionForm<'_> {
    fn input(&self) -> ActionInput {
        ActionInput {
            axis: self.axis.into(),
            title: self.title.into(),
            description: self.description.unwrap_or("").into(),
            owner: self.owner.into(),
            starts_on: self.starts_on.into(),
            ends_on: self.ends_on.into(),
            status: self.status.unwrap_or("").into(),
            progress: self.progress.unwrap_or("").into(),
            modules: self.modules.iter().map(|m| m.to_string()).collect(),
            offers: self.offers.iter().map(|o| o.to_string()).collect(),
        }
    }
}

#[post("/rh/egalite/actions", data = "<form>")]
async fn create_action(
    db: &State<Db>,
    catalog: &State<Catalog>,
    hr: HrOrAdmin,
    form: std::result::Result<Form<ActionForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let input = form.map_err(incomplete)?.input();
    match flow::save_action(db, catalog, &hr.0, None, &input, crate::db::now()).await {
        Ok(a) => Ok(Ok(Redirect::to(format!("/rh/egalite/actions/{}", a.id)))),
        Err(Error::Unprocessable(m)) => Ok(Err(plan_page(
            db,
            catalog,
            &hr.0,
            None,
            Some(input),
            Some(m),
        )
        .await?
        .status(Status::UnprocessableEntity))),
        Err(e) => Err(e),
    }
}

async fn action_page(
    db: &Db,
    catalog: &Catalog,
    hr: &User,
    id: Uuid,
    input: Option<ActionInput>,
    error: Option<String>,
) -> Result<Page> {
    let a = store::action(db, id)
        .await?
        .ok_or_else(flow::action_not_found)?;
    let today = paris_today(crate::db::now());
    let input = input.unwrap_or_else(|| ActionInput::of(&a));
    let comments: Vec<_> = store::comments(db, id)
        .await?
        .into_iter()
        .map(|c| json!({ "author": c.author_name, "body": c.body,
                         "at": format!("{} à {}", crate::certificates::pdf::french_date(paris_today(c.created_at)),
                                       crate::trainings::paris_hour(c.created_at)) }))
        .collect();
    Ok(Page::new(
        "equality/action",
        format!("Action : {}", a.title),
        Some(hr),
        json!({
            "a": flow::ActionView::of(a, today),
            "input": input,
            "error": error,
            "comments": comments,
            "form": action_form(db, catalog, &input).await?,
        }),
    ))
}

#[get("/rh/egalite/actions/<id>")]
async fn action(db: &State<Db>, catalog: &State<Catalog>, hr: HrOrAdmin, id: Id) -> Result<Page> {
    action_page(db, catalog, &hr.0, id.0, None, None).await
}

#[post("/rh/egalite/actions/<id>", data = "<form>")]
async fn update_action(
    db: &State<Db>,
    catalog: &State<Catalog>,
    hr: HrOrAdmin,
    id: Id,
    form: std::result::Result<Form<ActionForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let input = form.map_err(incomplete)?.input();
    match flow::save_action(db, catalog, &hr.0, Some(id.0), &input, crate::db::now()).await {
        Ok(a) => Ok(Ok(Redirect::to(format!("/rh/egalite/actions/{}", a.id)))),
        Err(Error::Unprocessable(m)) => Ok(Err(action_page(
            db,
            catalog,
            &hr.0,
            id.0,
            Some(input),
            Some(m),
        )
        .await?
        .status(Status::UnprocessableEntity))),
        Err(e) => Err(e),
    }
}

#[derive(FromForm)]
struct CommentForm<'r> {
    body: &'r str,
}

#[post("/rh/egalite/actions/<id>/commentaires", data = "<form>")]
async fn comment(
    db: &State<Db>,
    catalog: &State<Catalog>,
    hr: HrOrAdmin,
    id: Id,
    form: std::result::Result<Form<CommentForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let form = form.map_err(incomplete)?;
    match flow::comment(db, &hr.0, id.0, form.body, crate::db::now()).await {
        Ok(()) => Ok(Ok(Redirect::to(format!(
            "/rh/egalite/actions/{}#historique",
            id.0
        )))),
        Err(Error::Unprocessable(m)) => {
            Ok(Err(action_page(db, catalog, &hr.0, id.0, None, Some(m))
                .await?
                .status(Status::UnprocessableEntity)))
        }
        Err(e) => Err(e),
    }
}

async fn indicators_page(
    db: &Db,
    catalog: &Catalog,
    hr: &User,
    input: Option<IndicatorInput>,
    error: Option<String>,
) -> Result<Page> {
    let list = store::indicators(db).await?;
    let offers: Vec<_> = crate::trainings::store::offers(db).await?;
    let offer_titles = offers.iter().map(|o| (o.id, o.title.clone())).collect();
    let rows: Vec<_> = list
        .iter()
        .map(|i| {
            json!({
                "id": i.id, "code": i.code, "axis": i.axis, "title": i.title,
                "manual": matches!(i.source, super::Source::Manual { .. }),
                "target": i.target_text(),
                "deadline": i.deadline.map(crate::certificates::pdf::french_date),
                "what": match &i.source {
                    super::Source::Auto { definition } => flow::describe(definition, catalog, &offer_titles),
                    super::Source::Manual { .. } => "Saisi par les RH, avec sa source".into(),
                },
            })
        })
        .collect();
    let input = input.unwrap_or_else(|| IndicatorInput {
        kind: "auto".into(),
        staff: "all".into(),
        ..IndicatorInput::default()
    });
    let measures: Vec<_> = Measure::KINDS
        .iter()
        .map(|(c, l)| json!({ "code": c, "label": l, "selected": *c == input.measure }))
        .collect();
    let modules: Vec<_> = catalog
        .modules()
        .iter()
        .map(|m| json!({ "slug": m.slug, "title": m.title, "selected": m.slug == input.module }))
        .collect();
    let offers: Vec<_> = offers
        .into_iter()
        .map(|o| json!({ "id": o.id, "title": o.title, "selected": o.id.to_string() == input.offer }))
        .collect();
    let actions: Vec<_> = store::actions(db)
        .await?
        .into_iter()
        .map(|a| json!({ "id": a.id, "title": format!("{} — {}", a.axis, a.title), "selected": a.id.to_string() == input.action }))
        .collect();
    let audience_boxes: Vec<_> = Audience::ALL
        .into_iter()
        .map(|a| json!({ "code": a.code(), "label": a.label(), "checked": input.audiences.iter().any(|x| x == a.code()) }))
        .collect();
    let categories: Vec<_> = crate::people::import::CATEGORIES
        .iter()
        .map(|c| json!({ "code": c, "label": super::category_label(c), "checked": input.categories.iter().any(|x| x == c) }))
        .collect();
    Ok(Page::new(
        "equality/indicators",
        "Plan d'égalité professionnelle : indicateurs",
        Some(hr),
        json!({
            "rows": rows,
            "encadrement_seul": input.managers_only,
            "input": input,
            "error": error,
            "axes": axes_options(&input.axis),
            "measures": measures,
            "modules": modules,
            "offers": offers,
            "actions": actions,
            "audiences": audience_boxes,
            "categories": categories,
            "directions": directions(&input.direction),
            "auto": input.kind != "manual",
        }),
    ))
}

#[get("/rh/egalite/indicateurs")]
async fn indicators(db: &State<Db>, catalog: &State<Catalog>, hr: HrOrAdmin) -> Result<Page> {
    indicators_page(db, catalog, &hr.0, None, None).await
}

#[derive(FromForm)]
struct IndicatorForm<'r> {
    code: &'r str,
    axis: &'r str,
    action: Option<&'r str>,
    title: &'r str,
    kind: &'r str,
    measure: Option<&'r str>,
    module: Option<&'r str>,
    offer: Option<&'r str>,
    audiences: Vec<&'r str>,
    staff: Option<&'r str>,
    #[field(name = "encadrement_seul")]
    managers_only: Option<bool>,
    categories: Vec<&'r str>,
    unit: Option<&'r str>,
    min: Option<&'r str>,
    max: Option<&'r str>,
    target: Option<&'r str>,
    direction: Option<&'r str>,
    deadline: Option<&'r str>,
}

impl IndicatorForm<'_> {
    fn input(&self) -> IndicatorInput {
        let s = |o: Option<&str>| o.unwrap_or("").to_string();
        IndicatorInput {
            code: self.code.into(),
            axis: self.axis.into(),
            action: s(self.action),
            title: self.title.into(),
            kind: self.kind.into(),
            measure: s(self.measure),
            module: s(self.module),
            offer: s(self.offer),
            audiences: self.audiences.iter().map(|a| a.to_string()).collect(),
            managers_only: self.managers_only.unwrap_or(false),
            staff: s(self.staff),
            categories: self.categories.iter().map(|c| c.to_string()).collect(),
            unit: s(self.unit),
            min: s(self.min),
            max: s(self.max),
            target: s(self.target),
            direction: s(self.direction),
            deadline: s(self.deadline),
        }
    }
}

#[post("/rh/egalite/indicateurs", data = "<form>")]
async fn create_indicator(
    db: &State<Db>,
    catalog: &State<Catalog>,
    hr: HrOrAdmin,
    form: std::result::Result<Form<IndicatorForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let input = form.map_err(incomplete)?.input();
    match flow::save_indicator(db, catalog, None, &input, crate::db::now()).await {
        Ok(i) => Ok(Ok(Redirect::to(format!("/egalite/indicateurs/{}", i.id)))),
        Err(Error::Unprocessable(m) | Error::Conflict(m)) => Ok(Err(indicators_page(
            db,
            catalog,
            &hr.0,
            Some(input),
            Some(m),
        )
        .await?
        .status(Status::UnprocessableEntity))),
        Err(e) => Err(e),
    }
}

#[post("/rh/egalite/indicateurs/<id>", data = "<form>")]
async fn update_indicator(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    hr: HrOrAdmin,
    id: Id,
    form: std::result::Result<Form<IndicatorForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let mut input = form.map_err(incomplete)?.input();
    let existing = store::indicator(db, id.0)
        .await?
        .ok_or_else(flow::indicator_not_found)?;
    input.action = existing
        .action_id
        .map(|a| a.to_string())
        .unwrap_or_default();
    match flow::save_indicator(db, catalog, Some(id.0), &input, crate::db::now()).await {
        Ok(i) => Ok(Ok(Redirect::to(format!("/egalite/indicateurs/{}", i.id)))),
        Err(Error::Unprocessable(m) | Error::Conflict(m)) => Ok(Err(indicator_page(
            db,
            catalog,
            config,
            &hr.0,
            id.0,
            &Query::default(),
            Some((input, ValueInput::default())),
            Some(m),
        )
        .await?
        .status(Status::UnprocessableEntity))),
        Err(e) => Err(e),
    }
}

#[derive(FromForm)]
struct ValueForm<'r> {
    period: &'r str,
    value: &'r str,
    source: &'r str,
}

#[post("/rh/egalite/indicateurs/<id>/valeurs", data = "<form>")]
async fn add_value(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    hr: HrOrAdmin,
    id: Id,
    form: std::result::Result<Form<ValueForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let form = form.map_err(incomplete)?;
    let input = ValueInput {
        period: form.period.into(),
        value: form.value.into(),
        source: form.source.into(),
    };
    match flow::save_value(db, &hr.0, id.0, &input, crate::db::now()).await {
        Ok(()) => Ok(Ok(Redirect::to(format!(
            "/egalite/indicateurs/{}#valeurs",
            id.0
        )))),
        Err(Error::Unprocessable(m)) => {
            let existing = store::indicator(db, id.0)
                .await?
                .ok_or_else(flow::indicator_not_found)?;
            Ok(Err(indicator_page(
                db,
                catalog,
                config,
                &hr.0,
                id.0,
                &Query::default(),
                Some((IndicatorInput::of(&existing), input)),
                Some(m),
            )
            .await?
            .status(Status::UnprocessableEntity)))
        }
        Err(e) => Err(e),
    }
}

#[get("/rh/egalite/instantanes")]
async fn snapshots(db: &State<Db>, hr: HrOrAdmin) -> Result<Page> {
    Ok(Page::new(
        "equality/snapshots",
        "Plan d'égalité professionnelle : instantanés et rapports",
        Some(&hr.0),
        json!({ "snapshots": flow::snapshots(db).await? }),
    ))
}

#[post("/rh/egalite/instantanes")]
async fn take_snapshot(
    db: &State<Db>,
    catalog: &State<Catalog>,
    hr: HrOrAdmin,
) -> Result<Redirect> {
    flow::take_snapshot(db, catalog, crate::db::now(), None, Some(hr.0.id)).await?;
    Ok(Redirect::to("/rh/egalite/instantanes"))
}

fn issuer(config: &Config) -> String {
    format!("{} — {}", config.issuer_city, config.issuer_service)
}

/// A report file.
#[derive(rocket::Responder)]
pub struct ReportFile {
    pub body: Vec<u8>,
    pub content_type: ContentType,
    pub disposition: rocket::http::Header<'static>,
}

async fn report_of(
    db: &Db,
    catalog: &Catalog,
    config: &Config,
    id: Uuid,
) -> Result<super::report::Report> {
    flow::report(db, &ctx(catalog, config), &issuer(config), id).await
}

#[get("/rh/egalite/instantanes/<id>/rapport.pdf")]
async fn report_pdf(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    _hr: HrOrAdmin,
    id: Id,
) -> Result<ReportFile> {
    let r = report_of(db, catalog, config, id.0).await?;
    let name = format!("plan-egalite-{}.pdf", r.snapshot_on);
    let bytes = tokio::task::spawn_blocking(move || super::report::pdf(&r))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::Internal)?;
    Ok(ReportFile {
        body: bytes,
        content_type: ContentType::PDF,
        disposition: attachment(&name),
    })
}

#[get("/rh/egalite/instantanes/<id>/rapport.ods")]
async fn report_ods(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    _hr: HrOrAdmin,
    id: Id,
) -> Result<ReportFile> {
    let r = report_of(db, catalog, config, id.0).await?;
    let name = format!("plan-egalite-{}.ods", r.snapshot_on);
    Ok(ReportFile {
        body: super::report::ods(&r).map_err(Error::Internal)?,
        content_type: ContentType::new("application", "vnd.oasis.opendocument.spreadsheet"),
        disposition: attachment(&name),
    })
}

#[get("/rh/egalite/instantanes/<id>/rapport.csv")]
async fn report_csv(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    _hr: HrOrAdmin,
    id: Id,
) -> Result<CsvDownload<String>> {
    let r = report_of(db, catalog, config, id.0).await?;
    Ok(CsvDownload {
        disposition: attachment(&format!("plan-egalite-{}.csv", r.snapshot_on)),
        body: super::report::csv(&r),
    })
}

#[get("/rh/egalite/territorial?<du>&<au>")]
async fn territorial(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    hr: HrOrAdmin,
    du: Option<&str>,
    au: Option<&str>,
) -> Result<Page> {
    let t = flow::territorial(
        db,
        &ctx(catalog, config),
        du.unwrap_or(""),
        au.unwrap_or(""),
    )
    .await?;
    Ok(Page::new(
        "equality/territorial",
        "Plan territorial : personnes formées par axe et par structure",
        Some(&hr.0),
        json!({ "t": t }),
    ))
}
