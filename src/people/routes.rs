//! Pages and API for following people: managers (their org subtree), HR and admins
//! (everyone), partner referents (their organisation); the directory import; roles.

use std::net::IpAddr;

use rocket::form::{Form, FromForm};
use rocket::fs::TempFile;
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::serde::json::Value;
use rocket::{get, post, routes, Route, State};
use serde_json::json;
use tokio::io::AsyncReadExt;

use super::{directory, ActiveFilter, PeopleQuery, PeopleSort, Role, Visibility};
use crate::audit::{Event, Kind};
use crate::auth::{Admin, ApiCaller, CurrentUser, HrOrAdmin, Supervisor, UserCache};
use crate::catalog::Catalog;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::learning::flow;
use crate::views::Page;

pub fn routes() -> Vec<Route> {
    routes![
        people_page,
        person_page,
        set_role,
        import_page,
        import_upload
    ]
}

pub fn api_routes() -> Vec<Route> {
    routes![
        api_people,
        api_person,
        api_org_units,
        api_partners,
        api_import
    ]
}

const PAGE_SIZE: i64 = 100;

fn scope_title(v: &Visibility) -> &'static str {
    match v {
        Visibility::All => "Toutes les personnes",
        Visibility::OrgSubtree(_) => "Mon équipe",
        Visibility::Partner(_) => "Personnel de ma structure",
        Visibility::OnlySelf => "Personnes",
    }
}

#[allow(clippy::too_many_arguments)] // one argument per filter of the page
#[get("/personnes?<q>&<service>&<public>&<partenaire>&<etat>&<tri>&<page>")]
async fn people_page(
    db: &State<Db>,
    who: Supervisor,
    q: Option<&str>,
    service: Option<&str>,
    public: Option<&str>,
    partenaire: Option<&str>,
    etat: Option<&str>,
    tri: Option<&str>,
    page: Option<u32>,
) -> Result<Page> {
    let visibility = who.0.visibility();
    let query =
        PeopleQuery::parse(q, service, public, partenaire, etat, tri).map_err(Error::BadRequest)?;
    let page = i64::from(page.unwrap_or(1).max(1));
    let (people, total) = super::flow::search(
        db,
        who.0.id,
        &visibility,
        &query,
        PAGE_SIZE,
        (page - 1) * PAGE_SIZE,
    )
    .await?;
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let scope = match &visibility {
        Visibility::OrgSubtree(p) => p.clone(),
        Visibility::Partner(_) => who
            .0
            .partner_id
            .map(|_| "structure partenaire".to_string())
            .unwrap_or_default(),
        _ => String::new(),
    };
    // The filters as typed, to keep them in the form and in the page links.
    let keep = |v: Option<&str>| v.map(str::trim).unwrap_or("").to_string();
    let filters = json!({
        "q": keep(q), "service": keep(service), "public": keep(public),
        "partenaire": keep(partenaire), "etat": keep(etat), "tri": keep(tri),
    });
    let link = |n: i64| {
        let mut url = String::from("/personnes?");
        for (k, v) in [
            ("q", q),
            ("service", service),
            ("public", public),
            ("partenaire", partenaire),
            ("etat", etat),
            ("tri", tri),
        ] {
            if let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) {
                url.push_str(&format!(
                    "{k}={}&",
                    rocket::http::RawStr::new(v).percent_encode()
                ));
            }
        }
        format!("{url}page={n}")
    };
    let audiences: Vec<_> = crate::catalog::Audience::ALL
        .iter()
        .map(|a| json!({ "code": a.code(), "label": a.label(), "selected": query.audience == Some(*a) }))
        .collect();
    let partners: Vec<_> = super::flow::partners_for(db, &visibility)
        .await?
        .into_iter()
        .map(|p| json!({ "id": p.id, "name": p.name, "selected": query.partner == Some(p.id) }))
        .collect();
    let units = super::flow::units_in(db, &visibility).await?;
    Ok(Page::new(
        "people/list",
        scope_title(&visibility),
        Some(&who.0),
        json!({
            "people": people,
            "total": total,
            "scope": scope,
            "page": page,
            "pages": pages,
            "filters": filters,
            "filtered": query != PeopleQuery::default(),
            "audiences": audiences,
            "partners": partners,
            "units": units,
            "states": [
                { "code": "actifs", "label": "Actives", "selected": query.active == ActiveFilter::Active },
                { "code": "inactifs", "label": "Désactivées", "selected": query.active == ActiveFilter::Inactive },
                { "code": "tous", "label": "Toutes", "selected": query.active == ActiveFilter::All },
            ],
            "sorts": [
                { "code": "nom", "label": "Nom", "selected": query.sort == PeopleSort::Name },
                { "code": "service", "label": "Service ou structure", "selected": query.sort == PeopleSort::OrgUnit },
                { "code": "modules", "label": "Modules validés (le plus d'abord)", "selected": query.sort == PeopleSort::Completed },
            ],
            "previous": (page > 1).then(|| link(page - 1)),
            "next": (page < pages).then(|| link(page + 1)),
        }),
    ))
}

#[get("/personnes/<id>")]
async fn person_page(
    db: &State<Db>,
    catalog: &State<Catalog>,
    certifier: &State<crate::certificates::Certifier>,
    me: CurrentUser,
    id: Id,
) -> Result<Page> {
    let person = super::flow::visible_person(db, &me.0, id.0).await?;
    let user = super::flow::user_of(db, &person).await?;
    let progress = flow::progress(db, catalog, &user).await?;
    let roles: Vec<_> = Role::ALL
        .into_iter()
        .map(|r| json!({ "code": r.code(), "label": r.label(), "current": r == user.role }))
        .collect();
    Ok(Page::new(
        "people/person",
        person.display_name.clone(),
        Some(&me.0),
        json!({
            "person": person,
            "role_label": user.role.label(),
            "progress": progress,
            "can_set_role": me.0.role.is_admin(),
            "can_revoke": me.0.role.is_hr(),
            "certificates": crate::certificates::flow::entries(db, certifier, user.id).await?,
            "trainings": crate::trainings::flow::record_of(db, user.id).await?,
            "roles": roles,
        }),
    ))
}

#[derive(FromForm)]
struct RoleForm<'r> {
    role: &'r str,
}

#[post("/personnes/<id>/role", data = "<form>")]
#[allow(clippy::too_many_arguments)] // one argument per piece of managed state
async fn set_role(
    db: &State<Db>,
    catalog: &State<Catalog>,
    cache: &State<UserCache>,
    admin: Admin,
    ip: Option<IpAddr>,
    id: Id,
    form: std::result::Result<Form<RoleForm<'_>>, rocket::form::Errors<'_>>,
) -> Result<Redirect> {
    let form = form.map_err(|_| Error::BadRequest("Choisissez un rôle.".into()))?;
    let person = super::flow::set_role(db, cache, catalog, &admin.0, id.0, form.role, ip).await?;
    Ok(Redirect::to(format!("/personnes/{person}")))
}

#[get("/rh/import")]
fn import_page(hr: HrOrAdmin) -> Page {
    Page::new(
        "people/import",
        "Import de l'annuaire",
        Some(&hr.0),
        json!({ "report": null, "errors": [], "columns": super::import::COLUMNS.join(";") }),
    )
}

#[derive(FromForm)]
struct Upload<'r> {
    file: TempFile<'r>,
    dry_run: bool,
    confirm_deactivations: bool,
}

/// Largest accepted file.
const MAX_IMPORT_BYTES: u64 = 32 * 1024 * 1024;

async fn read_upload(file: &TempFile<'_>) -> Result<String> {
    if file.len() == 0 {
        return Err(Error::Unprocessable(
            "Choisissez le fichier CSV exporté du logiciel RH.".into(),
        ));
    }
    if file.len() > MAX_IMPORT_BYTES {
        return Err(Error::Unprocessable("Le fichier dépasse 32 Mo.".into()));
    }
    let mut bytes = Vec::with_capacity(file.len() as usize);
    file.open()
        .await
        .map_err(|e| Error::Internal(format!("reading upload: {e}")))?
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| Error::Internal(format!("reading upload: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::Unprocessable("Le fichier doit être un CSV encodé en UTF-8.".into()))
}

#[post("/rh/import", data = "<form>")]
async fn import_upload(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<crate::config::Config>,
    hr: HrOrAdmin,
    ip: Option<IpAddr>,
    form: std::result::Result<Form<Upload<'_>>, rocket::form::Errors<'_>>,
) -> Result<(Status, Page)> {
    let form =
        form.map_err(|e| Error::BadRequest(format!("Formulaire d'import illisible : {e}")))?;
    let text = read_upload(&form.file).await?;
    let name = form
        .file
        .raw_name()
        .map(|n| n.dangerous_unsafe_unsanitized_raw().as_str().to_string())
        .unwrap_or_else(|| "fichier".into());
    let event = Event::by(Some(&hr.0), Kind::Import, name).client(ip);
    let safeguard = directory::Safeguard {
        confirmed: form.confirm_deactivations,
        max_percent: config.import_max_deactivation_percent,
    };
    let (status, report, errors) =
        match super::flow::import(db, catalog, &text, form.dry_run, safeguard, event).await? {
            Ok(r) => (Status::Ok, Some(r), vec![]),
            Err(e) => (
                Status::UnprocessableEntity,
                None,
                e.iter().map(|l| l.to_string()).collect(),
            ),
        };
    Ok((
        status,
        Page::new(
            "people/import",
            "Import de l'annuaire",
            Some(&hr.0),
            json!({ "report": report, "errors": errors, "columns": super::import::COLUMNS.join(";") }),
        ),
    ))
}

// ---- API ----

#[allow(clippy::too_many_arguments)] // one argument per filter of the list
#[get("/people?<q>&<org_unit>&<audience>&<partner>&<active>&<sort>&<limit>&<offset>")]
async fn api_people(
    db: &State<Db>,
    caller: ApiCaller,
    q: Option<&str>,
    org_unit: Option<&str>,
    audience: Option<&str>,
    partner: Option<&str>,
    active: Option<&str>,
    sort: Option<&str>,
    limit: Option<i64>,
    offset: Option<i64>,
) -> Result<Value> {
    let (visibility, viewer) = super::flow::api_visibility(&caller)?;
    let query = PeopleQuery::parse(q, org_unit, audience, partner, active, sort)
        .map_err(Error::BadRequest)?;
    let limit = limit.unwrap_or(PAGE_SIZE).clamp(1, 1000);
    let offset = offset.unwrap_or(0).max(0);
    let (people, total) =
        super::flow::search(db, viewer, &visibility, &query, limit, offset).await?;
    Ok(json!({ "people": people, "total": total, "limit": limit, "offset": offset }))
}

#[get("/people/<id>")]
async fn api_person(
    db: &State<Db>,
    catalog: &State<Catalog>,
    caller: ApiCaller,
    id: Id,
) -> Result<Value> {
    let person = super::flow::person_for(db, &caller, id.0).await?;
    let user = super::flow::user_of(db, &person).await?;
    let progress = flow::progress(db, catalog, &user).await?;
    Ok(json!({ "person": person, "progress": progress }))
}

#[get("/org-units")]
async fn api_org_units(db: &State<Db>, caller: ApiCaller) -> Result<Value> {
    Ok(json!({ "org_units": super::flow::org_units(db, &caller).await? }))
}

#[get("/partners")]
async fn api_partners(db: &State<Db>, caller: ApiCaller) -> Result<Value> {
    Ok(json!({ "partners": super::flow::partners(db, &caller).await? }))
}

/// The directory import for machine clients: the CSV file as the body.
#[post("/directory/import?<dry_run>&<confirm_deactivations>", data = "<data>")]
#[allow(clippy::too_many_arguments)] // one argument per piece of managed state and option
async fn api_import(
    db: &State<Db>,
    catalog: &State<Catalog>,
    config: &State<crate::config::Config>,
    caller: ApiCaller,
    ip: Option<IpAddr>,
    dry_run: Option<bool>,
    confirm_deactivations: Option<bool>,
    data: rocket::data::Data<'_>,
) -> Result<(Status, Value)> {
    super::flow::hr_or_token(&caller, true)?;
    // The same size as an upload through the page, not the 64 KiB of a plain string.
    let body = data
        .open(rocket::data::ToByteUnit::bytes(MAX_IMPORT_BYTES))
        .into_string()
        .await
        .map_err(|e| Error::BadRequest(format!("corps illisible : {e}")))?;
    if !body.is_complete() {
        return Err(Error::Unprocessable(format!(
            "Le fichier dépasse la taille autorisée ({} Mo).",
            MAX_IMPORT_BYTES / 1024 / 1024
        )));
    }
    let safeguard = directory::Safeguard {
        confirmed: confirm_deactivations.unwrap_or(false),
        max_percent: config.import_max_deactivation_percent,
    };
    let event = match &caller {
        ApiCaller::Person(u) => Event::by(Some(u), Kind::Import, "API"),
        ApiCaller::Token(t) => Event {
            actor: format!("jeton {}", t.name),
            ..Event::by(None, Kind::Import, "API")
        },
    }
    .client(ip);
    Ok(
        match super::flow::import(
            db,
            catalog,
            &body,
            dry_run.unwrap_or(false),
            safeguard,
            event,
        )
        .await?
        {
            Ok(report) => (Status::Ok, json!({ "report": report })),
            Err(lines) => (
                Status::UnprocessableEntity,
                json!({ "error": { "status": 422, "message": "Le fichier contient des lignes invalides ; rien n'a été importé.",
                               "lines": lines.iter().map(|l| l.to_string()).collect::<Vec<_>>() } }),
            ),
        },
    )
}
