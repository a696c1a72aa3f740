//! Pages of reminders: the HR page (rules, preview on a chosen date, campaigns), the
//! campaign editor, everyone's mail preferences and the one-click unsubscribe.

use std::net::IpAddr;

use chrono::NaiveDate;
use rocket::form::{Form, FromForm};
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::{get, post, routes, Route, State};
use serde_json::json;

use super::flow::{self, CampaignInput, SettingsInput};
use super::Campaign;
use crate::auth::{CurrentUser, HrOrAdmin};
use crate::catalog::{Audience, Catalog};
use crate::certificates::paris_today;
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::people::User;
use crate::views::Page;

pub fn routes() -> Vec<Route> {
    routes![
        overview,
        save_settings,
        new_campaign,
        edit_campaign,
        save_new_campaign,
        save_campaign,
        preferences,
        save_preferences,
        unsubscribe_page,
        unsubscribe
    ]
}

async fn overview_page(
    db: &Db,
    catalog: &Catalog,
    config: &Config,
    hr: &User,
    date: Option<&str>,
    input: Option<SettingsInput>,
    error: Option<String>,
) -> Result<Page> {
    let today = paris_today(crate::db::now());
    let (day, date_error) = match date.map(str::trim).filter(|d| !d.is_empty()) {
        None => (today, None),
        Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(day) => (day, None),
            Err(_) => (
                today,
                Some(format!(
                    "« {d} » n'est pas une date (AAAA-MM-JJ) : aperçu d'aujourd'hui."
                )),
            ),
        },
    };
    let preview = flow::plan(db, catalog, &config.public_url, day).await?;
    let recipients = preview.len();
    let stages: usize = preview
        .iter()
        .map(|p| p.own.len() + p.team.len() + p.hr.len())
        .sum();
    let settings = flow::settings(db).await?;
    let campaigns: Vec<_> = flow::campaigns(db)
        .await?
        .into_iter()
        .map(|c| {
            let next = [day.format("%Y").to_string().parse::<i32>().unwrap_or(2026)]
                .into_iter()
                .flat_map(|y| [y, y + 1])
                .filter_map(|y| c.sends_on(y))
                .find(|d| *d >= day);
            json!({ "id": c.id, "name": c.name, "key_day": format!("{:02}/{:02}", c.day, c.month),
                    "days_before": c.days_before, "active": c.active,
                    "next": next.map(crate::certificates::pdf::french_date) })
        })
        .collect();
    Ok(Page::new(
        "reminders/overview",
        "Rappels et campagnes",
        Some(hr),
        json!({
            "settings": input.unwrap_or_else(|| SettingsInput::of(&settings)),
            "error": error,
            "date": day.to_string(),
            "date_label": crate::certificates::pdf::french_date(day),
            "date_error": date_error,
            "preview": preview,
            "recipients": recipients,
            "stages": stages,
            "campaigns": campaigns,
        }),
    ))
}

#[get("/rh/rappels?<date>")]
async fn overview(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    hr: HrOrAdmin,
    date: Option<&str>,
) -> Result<Page> {
    overview_page(db, catalog, config, &hr.0, date, None, None).await
}

#[derive(FromForm)]
struct SettingsForm<'r> {
    before_due: &'r str,
    overdue_first: &'r str,
    overdue_every: &'r str,
    escalate_team: &'r str,
    escalate_hr: &'r str,
    before_expiry: &'r str,
    before_session: Option<&'r str>,
}

#[post("/rh/rappels/reglages", data = "<form>")]
async fn save_settings(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<Config>,
    hr: HrOrAdmin,
    ip: Option<IpAddr>,
    form: std::result::Result<Form<SettingsForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let form = form.map_err(|e| Error::BadRequest(format!("Formulaire incomplet : {e}")))?;
    let input = SettingsInput {
        before_due: form.before_due.into(),
        overdue_first: form.overdue_first.into(),
        overdue_every: form.overdue_every.into(),
        escalate_team: form.escalate_team.into(),
        escalate_hr: form.escalate_hr.into(),
        before_expiry: form.before_expiry.into(),
        before_session: form.before_session.unwrap_or("").into(),
    };
    match flow::save_settings(db, &hr.0, &input, ip).await {
        Ok(_) => Ok(Ok(Redirect::to("/rh/rappels"))),
        Err(Error::Unprocessable(message)) => Ok(Err(overview_page(
            db,
            catalog,
            config,
            &hr.0,
            None,
            Some(input),
            Some(message),
        )
        .await?
        .status(Status::UnprocessableEntity))),
        Err(e) => Err(e),
    }
}

fn campaign_page(
    catalog: &Catalog,
    hr: &User,
    action: &str,
    title: &str,
    c: &CampaignInput,
    error: Option<String>,
) -> Page {
    let modules: Vec<_> = catalog
        .modules()
        .iter()
        .map(
            |m| json!({ "slug": m.slug, "title": m.title, "checked": c.modules.contains(&m.slug) }),
        )
        .collect();
    let audiences: Vec<_> = Audience::ALL
        .into_iter()
        .map(|a| json!({ "code": a.code(), "label": a.label(), "checked": c.audiences.iter().any(|x| x == a.code()) }))
        .collect();
    Page::new(
        "reminders/campaign",
        title,
        Some(hr),
        json!({ "action": action, "input": {
                    "name": c.name, "month": c.month, "day": c.day, "days_before": c.days_before,
                    "text": c.text, "active": c.active },
                "modules": modules, "audiences": audiences, "error": error }),
    )
}

fn input_of(c: &Campaign) -> CampaignInput {
    CampaignInput {
        name: c.name.clone(),
        month: c.month.to_string(),
        day: c.day.to_string(),
        days_before: c.days_before.to_string(),
        text: c.text.clone(),
        modules: c.modules.clone(),
        audiences: c.audiences.iter().map(|a| a.code().to_string()).collect(),
        active: c.active,
    }
}

#[get("/rh/campagnes/nouvelle")]
fn new_campaign(catalog: &State<Catalog>, hr: HrOrAdmin) -> Page {
    let input = CampaignInput {
        days_before: "7".into(),
        active: true,
        ..CampaignInput::default()
    };
    campaign_page(
        catalog,
        &hr.0,
        "/rh/campagnes/nouvelle",
        "Nouvelle campagne",
        &input,
        None,
    )
}

#[get("/rh/campagnes/<id>")]
async fn edit_campaign(
    db: &State<Db>,
    catalog: &State<Catalog>,
    hr: HrOrAdmin,
    id: Id,
) -> Result<Page> {
    let c = flow::campaign(db, id.0).await?;
    Ok(campaign_page(
        catalog,
        &hr.0,
        &format!("/rh/campagnes/{id}"),
        &format!("Campagne « {} »", c.name),
        &input_of(&c),
        None,
    ))
}

#[derive(FromForm)]
struct CampaignForm<'r> {
    name: &'r str,
    month: &'r str,
    day: &'r str,
    days_before: &'r str,
    text: &'r str,
    modules: Vec<&'r str>,
    audiences: Vec<&'r str>,
    active: bool,
}

async fn submit_campaign(
    db: &Db,
    catalog: &Catalog,
    hr: &User,
    ip: Option<IpAddr>,
    id: Option<uuid::Uuid>,
    form: std::result::Result<Form<CampaignForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    let form = form.map_err(|e| Error::BadRequest(format!("Formulaire incomplet : {e}")))?;
    let input = CampaignInput {
        name: form.name.into(),
        month: form.month.into(),
        day: form.day.into(),
        days_before: form.days_before.into(),
        text: form.text.into(),
        modules: form.modules.iter().map(|s| s.to_string()).collect(),
        audiences: form.audiences.iter().map(|s| s.to_string()).collect(),
        active: form.active,
    };
    match flow::save_campaign(db, catalog, hr, id, &input, ip).await {
        Ok(_) => Ok(Ok(Redirect::to("/rh/rappels"))),
        Err(Error::Unprocessable(message)) => {
            let action = match id {
                Some(id) => format!("/rh/campagnes/{id}"),
                None => "/rh/campagnes/nouvelle".into(),
            };
            Ok(Err(campaign_page(
                catalog,
                hr,
                &action,
                "Campagne",
                &input,
                Some(message),
            )
            .status(Status::UnprocessableEntity)))
        }
        Err(e) => Err(e),
    }
}

#[post("/rh/campagnes/nouvelle", data = "<form>")]
async fn save_new_campaign(
    db: &State<Db>,
    catalog: &State<Catalog>,
    hr: HrOrAdmin,
    ip: Option<IpAddr>,
    form: std::result::Result<Form<CampaignForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    submit_campaign(db, catalog, &hr.0, ip, None, form).await
}

#[post("/rh/campagnes/<id>", data = "<form>")]
async fn save_campaign(
    db: &State<Db>,
    catalog: &State<Catalog>,
    hr: HrOrAdmin,
    ip: Option<IpAddr>,
    id: Id,
    form: std::result::Result<Form<CampaignForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<std::result::Result<Redirect, Page>> {
    flow::campaign(db, id.0).await?;
    submit_campaign(db, catalog, &hr.0, ip, Some(id.0), form).await
}

#[get("/preferences")]
async fn preferences(db: &State<Db>, me: CurrentUser) -> Result<Page> {
    let receive = flow::receives_campaigns(db, me.0.id).await?;
    Ok(Page::new(
        "reminders/preferences",
        "Mes préférences de courriel",
        Some(&me.0),
        json!({ "campaigns": receive, "saved": false }),
    ))
}

#[derive(FromForm)]
struct PreferencesForm {
    campaigns: bool,
}

#[post("/preferences", data = "<form>")]
async fn save_preferences(
    db: &State<Db>,
    me: CurrentUser,
    form: Form<PreferencesForm>,
) -> Result<Page> {
    flow::set_campaigns(db, me.0.id, form.campaigns).await?;
    Ok(Page::new(
        "reminders/preferences",
        "Mes préférences de courriel",
        Some(&me.0),
        json!({ "campaigns": form.campaigns, "saved": true }),
    ))
}

#[get("/desabonnement/<token>")]
fn unsubscribe_page(token: &str, user: Option<CurrentUser>) -> Page {
    Page::new(
        "reminders/unsubscribe",
        "Ne plus recevoir les campagnes",
        user.as_ref().map(|u| &u.0),
        json!({ "token": token, "done": false }),
    )
}

/// One click from the mail (RFC 8058) or the button of the page: the secret token in the
/// address is the authority, so this route is exempt from the CSRF check.
#[post("/desabonnement/<token>")]
async fn unsubscribe(db: &State<Db>, token: &str, user: Option<CurrentUser>) -> Result<Page> {
    if !flow::unsubscribe(db, token).await? {
        return Err(Error::NotFound(
            "Ce lien de désabonnement n'est pas valable. Vous pouvez choisir vos courriels sur la page « Mes préférences » après vous être connecté ou connectée."
                .into(),
        ));
    }
    Ok(Page::new(
        "reminders/unsubscribe",
        "Désabonnement enregistré",
        user.as_ref().map(|u| &u.0),
        json!({ "token": "", "done": true }),
    ))
}
