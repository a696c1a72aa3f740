//! The learner's JSON API under `/api/v1` (described in `api::openapi`).

use std::collections::HashMap;

use rocket::http::Status;
use rocket::serde::json::{Json, Value};
use rocket::{get, post, routes, Route, State};
use serde::Deserialize;
use serde_json::json;

use super::flow;
use crate::auth::CurrentUser;
use crate::catalog::Catalog;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Id;

pub fn routes() -> Vec<Route> {
    routes![
        list_modules,
        get_module,
        get_lesson,
        create_attempt,
        get_attempt,
        submit_attempt,
        my_progress
    ]
}

#[get("/modules")]
async fn list_modules(
    db: &State<Db>,
    catalog: &State<Catalog>,
    user: CurrentUser,
) -> Result<Value> {
    Ok(json!({ "modules": flow::catalogue(db, catalog, &user.0).await? }))
}

#[get("/modules/<slug>")]
async fn get_module(
    db: &State<Db>,
    catalog: &State<Catalog>,
    user: CurrentUser,
    slug: &str,
) -> Result<Value> {
    let state = flow::one_module(db, catalog, &user.0, slug).await?;
    let module = flow::module_for(catalog, &user.0, slug)?;
    let viewed = super::store::viewed_lessons(db, user.0.id, slug).await?;
    Ok(json!({
        "module": state,
        "lessons": flow::lesson_entries(module, &viewed, 0),
    }))
}

/// Reading a lesson through the API counts as viewing it.
#[get("/modules/<slug>/lessons/<number>")]
async fn get_lesson(
    db: &State<Db>,
    catalog: &State<Catalog>,
    user: CurrentUser,
    slug: &str,
    number: &str,
) -> Result<Value> {
    let number: usize = number
        .parse()
        .map_err(|_| Error::NotFound(format!("Ce module n'a pas de leçon « {number} ».")))?;
    Ok(json!({ "lesson": flow::open_lesson(db, catalog, &user.0, slug, number).await? }))
}

#[post("/modules/<slug>/attempts")]
async fn create_attempt(
    db: &State<Db>,
    catalog: &State<Catalog>,
    user: CurrentUser,
    slug: &str,
) -> Result<(Status, Value)> {
    let started = flow::start_attempt(db, catalog, &user.0, slug).await?;
    let attempt = flow::attempt_of(db, &user.0, started.id()).await?;
    let view = flow::attempt_view(&attempt, &flow::title_of(catalog, slug))?;
    let status = match started {
        flow::Started::New(_) => Status::Created,
        flow::Started::Resumed(_) => Status::Ok,
    };
    Ok((status, json!(view)))
}

/// An attempt: its questions while open, its result once submitted.
#[get("/attempts/<id>")]
async fn get_attempt(
    db: &State<Db>,
    catalog: &State<Catalog>,
    user: CurrentUser,
    id: Id,
) -> Result<Value> {
    let attempt = flow::attempt_of(db, &user.0, id.0).await?;
    let title = flow::title_of(catalog, &attempt.module_slug);
    match flow::result_view(&attempt, &title)? {
        Some(result) => Ok(json!({ "status": "submitted", "result": result })),
        None => Ok(json!({ "status": "open", "attempt": flow::attempt_view(&attempt, &title)? })),
    }
}

/// Body of a submission: the chosen option ids per question id. Unanswered questions may
/// be left out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    #[serde(deserialize_with = "answers_without_repeats")]
    answers: HashMap<String, Vec<String>>,
}

/// The answers map, refusing a question id given twice (a plain map would silently keep
/// the last one; the quiz page refuses it, so the API does too).
fn answers_without_repeats<'de, D>(
    d: D,
) -> std::result::Result<HashMap<String, Vec<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = HashMap<String, Vec<String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of question ids to lists of option ids")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = HashMap::new();
            while let Some((question, options)) = map.next_entry::<String, Vec<String>>()? {
                if out.contains_key(&question) {
                    return Err(serde::de::Error::custom(format!(
                        "la question « {question} » apparaît deux fois"
                    )));
                }
                out.insert(question, options);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique)
}

#[post("/attempts/<id>/submission", data = "<body>")]
async fn submit_attempt(
    db: &State<Db>,
    catalog: &State<Catalog>,
    certifier: &State<crate::certificates::Certifier>,
    user: CurrentUser,
    id: Id,
    body: std::result::Result<Json<Submission>, rocket::serde::json::Error<'_>>,
) -> Result<Value> {
    let id = id.0;
    let body = body.map_err(|e| match e {
        rocket::serde::json::Error::Io(e) => Error::BadRequest(format!("corps illisible : {e}")),
        rocket::serde::json::Error::Parse(_, e) => Error::Unprocessable(format!(
            "JSON invalide : {e}. Attendu : {{\"answers\": {{\"<question>\": [\"<option>\", …]}}}}"
        )),
    })?;
    let attempt = flow::submit(
        db,
        catalog,
        certifier,
        &user.0,
        id,
        body.into_inner().answers,
    )
    .await?;
    let title = flow::title_of(catalog, &attempt.module_slug);
    let result = flow::result_view(&attempt, &title)?
        .ok_or_else(|| Error::Internal("submitted attempt without result".into()))?;
    Ok(json!({ "result": result }))
}

#[get("/me/progress")]
async fn my_progress(
    db: &State<Db>,
    catalog: &State<Catalog>,
    certifier: &State<crate::certificates::Certifier>,
    user: CurrentUser,
) -> Result<Value> {
    let mut value = json!(flow::progress(db, catalog, &user.0).await?);
    value["certificates"] =
        json!(crate::certificates::flow::entries(db, certifier, user.0.id).await?);
    Ok(value)
}
