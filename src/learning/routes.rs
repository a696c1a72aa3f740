//! The learner's HTML pages.

use rocket::data::Capped;
use rocket::response::Redirect;
use rocket::{get, post, routes, Route, State};
use serde::Serialize;
use serde_json::json;

use super::flow;
use crate::auth::CurrentUser;
use crate::catalog::Catalog;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::views::Page;

pub fn routes() -> Vec<Route> {
    routes![
        home,
        catalogue,
        module_page,
        lesson_page,
        start_quiz,
        quiz_page,
        submit_quiz,
        result_page,
        progress_page
    ]
}

#[get("/")]
fn home(user: Option<CurrentUser>) -> Redirect {
    match user {
        Some(_) => Redirect::to("/modules"),
        None => Redirect::to("/connexion"),
    }
}

#[get("/modules")]
async fn catalogue(db: &State<Db>, catalog: &State<Catalog>, user: CurrentUser) -> Result<Page> {
    let modules = flow::catalogue(db, catalog, &user.0).await?;
    // Only what the cards show, moved into a typed view: the page is the busiest one, and
    // the view is turned into the template's data once.
    let modules = modules
        .into_iter()
        .map(|m| Card {
            slug: m.slug,
            title: m.title,
            summary: m.summary,
            estimated_minutes: m.estimated_minutes,
            status: m.status,
            status_label: m.status_label,
            lessons_viewed: m.lessons_viewed,
            lessons_total: m.lessons_total,
            valid_until: m.valid_until,
        })
        .collect();
    // « Mes obligations » on the home page: what is to do, late or expiring soon.
    let obligations = crate::obligations::flow::mine(db, catalog, &user.0)
        .await?
        .into_iter()
        .filter(|o| o.open || o.state == crate::obligations::State::Expiring)
        .collect();
    Ok(Page::new(
        "learning/catalogue",
        "Catalogue des modules",
        Some(&user.0),
        CatalogueView {
            modules,
            obligations,
        },
    ))
}

/// A module's card in the catalogue.
#[derive(Serialize)]
struct Card {
    slug: String,
    title: String,
    summary: String,
    estimated_minutes: u32,
    status: super::Status,
    status_label: &'static str,
    lessons_viewed: usize,
    lessons_total: usize,
    valid_until: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Serialize)]
struct CatalogueView {
    modules: Vec<Card>,
    obligations: Vec<crate::obligations::flow::ObligationView>,
}

#[get("/modules/<slug>")]
async fn module_page(
    db: &State<Db>,
    catalog: &State<Catalog>,
    user: CurrentUser,
    slug: &str,
) -> Result<Page> {
    let state = flow::one_module(db, catalog, &user.0, slug).await?;
    let module = flow::module_for(catalog, &user.0, slug)?;
    let viewed = super::store::viewed_lessons(db, user.0.id, slug).await?;
    let open = super::store::open_attempt(db, user.0.id, slug).await?;
    let first_unread = flow::lesson_entries(module, &viewed, 0)
        .into_iter()
        .find(|l| !l.viewed)
        .map(|l| l.number);
    Ok(Page::new(
        "learning/module",
        state.title.clone(),
        Some(&user.0),
        json!({
            "module": state,
            "lessons": flow::lesson_entries(module, &viewed, 0),
            "next_lesson": first_unread.unwrap_or(1),
            "all_read": first_unread.is_none(),
            "open_attempt": open,
        }),
    ))
}

#[get("/modules/<slug>/lecons/<number>")]
async fn lesson_page(
    db: &State<Db>,
    catalog: &State<Catalog>,
    user: CurrentUser,
    slug: &str,
    number: &str,
) -> Result<Page> {
    let number: usize = number
        .parse()
        .map_err(|_| Error::NotFound(format!("Ce module n'a pas de leçon « {number} ».")))?;
    let lesson = flow::open_lesson(db, catalog, &user.0, slug, number).await?;
    Ok(Page::new(
        "learning/lesson",
        format!("{} – {}", lesson.title, lesson.module_title),
        Some(&user.0),
        json!({ "lesson": lesson }),
    ))
}

/// Starts the quiz, or resumes the attempt already open, so that a double click or a
/// return to the module page never spends an attempt.
#[post("/modules/<slug>/quiz")]
async fn start_quiz(
    db: &State<Db>,
    catalog: &State<Catalog>,
    user: CurrentUser,
    slug: &str,
) -> Result<Redirect> {
    let id = flow::start_attempt(db, catalog, &user.0, slug).await?.id();
    Ok(Redirect::to(format!("/tentatives/{id}")))
}

#[get("/tentatives/<id>")]
async fn quiz_page(
    db: &State<Db>,
    catalog: &State<Catalog>,
    user: CurrentUser,
    id: Id,
) -> Result<std::result::Result<Page, Redirect>> {
    let attempt = flow::attempt_of(db, &user.0, id.0).await?;
    if attempt.submitted_at.is_some() {
        return Ok(Err(Redirect::to(format!(
            "/tentatives/{}/resultat",
            attempt.id
        ))));
    }
    let view = flow::attempt_view(&attempt, &flow::title_of(catalog, &attempt.module_slug))?;
    Ok(Ok(Page::new(
        "learning/quiz",
        format!("Quiz – {}", view.module_title),
        Some(&user.0),
        json!({ "count": view.questions.len(), "attempt": view }),
    )))
}

/// The quiz form (`q[<question id>]=<option id>`, once per chosen option), read strictly:
/// an unexpected field or a broken encoding is refused rather than silently dropped, since
/// dropping it would grade an answer the learner did give as missing.
#[post("/tentatives/<id>", data = "<body>")]
async fn submit_quiz(
    db: &State<Db>,
    catalog: &State<Catalog>,
    certifier: &State<crate::certificates::Certifier>,
    user: CurrentUser,
    id: Id,
    body: std::result::Result<Capped<String>, std::io::Error>,
) -> Result<Redirect> {
    let id = id.0;
    let body =
        body.map_err(|e| Error::BadRequest(format!("Formulaire de quiz illisible : {e}")))?;
    if !body.is_complete() {
        return Err(Error::BadRequest(
            "Le formulaire envoyé est trop volumineux.".into(),
        ));
    }
    let answers =
        super::parse_quiz_form(crate::auth::csrf::strip_field(&body)).map_err(Error::BadRequest)?;
    let attempt = flow::submit(db, catalog, certifier, &user.0, id, answers).await?;
    Ok(Redirect::to(format!("/tentatives/{}/resultat", attempt.id)))
}

#[get("/tentatives/<id>/resultat")]
async fn result_page(
    db: &State<Db>,
    catalog: &State<Catalog>,
    user: CurrentUser,
    id: Id,
) -> Result<std::result::Result<Page, Redirect>> {
    let attempt = flow::attempt_of(db, &user.0, id.0).await?;
    let title = flow::title_of(catalog, &attempt.module_slug);
    let Some(result) = flow::result_view(&attempt, &title)? else {
        return Ok(Err(Redirect::to(format!("/tentatives/{}", attempt.id))));
    };
    let state = match flow::module_for(catalog, &user.0, &attempt.module_slug) {
        Ok(_) => Some(flow::one_module(db, catalog, &user.0, &attempt.module_slug).await?),
        Err(_) => None,
    };
    Ok(Ok(Page::new(
        "learning/result",
        format!("Résultat – {title}"),
        Some(&user.0),
        json!({ "result": result, "module": state }),
    )))
}

#[get("/progression")]
async fn progress_page(
    db: &State<Db>,
    catalog: &State<Catalog>,
    certifier: &State<crate::certificates::Certifier>,
    user: CurrentUser,
) -> Result<Page> {
    let progress = flow::progress(db, catalog, &user.0).await?;
    let certificates = crate::certificates::flow::entries(db, certifier, user.0.id).await?;
    Ok(Page::new(
        "learning/progress",
        "Ma progression",
        Some(&user.0),
        json!({ "module_count": progress.modules.len(), "progress": progress, "certificates": certificates }),
    ))
}
