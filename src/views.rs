//! Server-rendered pages: Handlebars 6, templates read from `templates/` once at start,
//! strict mode on (a missing value is an error, caught by the tests, not a blank).

use std::io::Cursor;
use std::path::Path;

use handlebars::{DirectorySourceOptions, Handlebars};
use rocket::http::{ContentType, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::DEV_LOGIN;
use crate::error::{wants_json, Error};
use crate::people::User;

/// The loaded templates: pages and mail bodies (HTML-escaped), and the plain-text mail
/// bodies (`mail/*.txt.hbs`, not escaped: they are not HTML).
#[derive(Clone)]
pub struct Views {
    hb: Handlebars<'static>,
    text: Handlebars<'static>,
}

impl Views {
    /// Loads every `*.hbs` file under `dir`; the name of a template is its path without
    /// the extension (`learning/catalogue`).
    pub fn load(dir: &Path) -> Result<Views, String> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_helper("date", Box::new(date));
        hb.register_helper("datetime", Box::new(datetime));
        hb.register_templates_directory(dir, DirectorySourceOptions::default())
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        for required in ["layout", "error"] {
            if !hb.has_template(required) {
                return Err(format!(
                    "{}: template \"{required}.hbs\" is missing",
                    dir.display()
                ));
            }
        }
        let mut text = hb.clone();
        text.register_escape_fn(handlebars::no_escape);
        Ok(Views { hb, text })
    }

    /// A mail's two bodies: `mail/<name>.txt` (plain text) and `mail/<name>.html`.
    pub fn mail(&self, name: &str, context: &Value) -> Result<(String, String), Error> {
        let text = self
            .text
            .render(&format!("mail/{name}.txt"), context)
            .map_err(|e| Error::Internal(format!("template mail/{name}.txt: {e}")))?;
        let html = self.render(&format!("mail/{name}.html"), context)?;
        Ok((text, html))
    }

    pub fn render(&self, name: &str, context: &Value) -> Result<String, Error> {
        self.hb
            .render(name, context)
            .map_err(|e| Error::Internal(format!("template {name}: {e}")))
    }

    /// A page: its template renders the content of `<main>` from the whole context, then
    /// `layout` wraps it, from the same context with the page's data swapped for the
    /// rendered `body`. Not a Handlebars partial block: a partial copies the context it
    /// is given, and every value read inside it is copied again (Handlebars 6), which on a
    /// list page cost more than the rest of the request.
    /// The context is handed over as it is (`render` would serialise a copy of it).
    fn render_page(&self, name: &str, context: Value) -> Result<String, Error> {
        let mut context = handlebars::Context::from(context);
        let body = self.render_context(name, &context)?;
        if let Value::Object(map) = context.data_mut() {
            map.remove("page");
            map.insert("body".into(), Value::String(body));
        }
        self.render_context("layout", &context)
    }

    fn render_context(&self, name: &str, context: &handlebars::Context) -> Result<String, Error> {
        self.hb
            .render_with_context(name, context)
            .map_err(|e| Error::Internal(format!("template {name}: {e}")))
    }
}

/// Formats an RFC 3339 instant as a Paris calendar date: `30/11/2026`.
pub fn paris_date(rfc3339: &str) -> String {
    format_paris(rfc3339, "%d/%m/%Y")
}

fn format_paris(rfc3339: &str, pattern: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|d| {
            d.with_timezone(&chrono_tz::Europe::Paris)
                .format(pattern)
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

handlebars::handlebars_helper!(date: |v: str| format_paris(v, "%d/%m/%Y"));
handlebars::handlebars_helper!(datetime: |v: str| format_paris(v, "%d/%m/%Y à %Hh%M"));

/// What the layout shows about the signed-in person.
#[derive(Serialize)]
pub struct Me {
    pub name: String,
    pub role: &'static str,
    /// Follows other people's training (manager, HR, partner referent, admin).
    pub supervises: bool,
    pub hr: bool,
    pub admin: bool,
    /// Runs shared trainings (trainer, HR, admin).
    pub trainer: bool,
    /// A partner organisation's referent.
    pub referent: bool,
    /// Reads the equality plan's dashboard (manager for their subtree, HR, admin).
    pub equality: bool,
}

impl From<&User> for Me {
    fn from(u: &User) -> Me {
        use crate::people::Role;
        Me {
            name: u.display_name.clone(),
            role: u.role.label(),
            supervises: matches!(
                u.role,
                Role::Manager | Role::Hr | Role::PartnerReferent | Role::Admin
            ),
            hr: u.role.is_hr(),
            admin: u.role.is_admin(),
            trainer: u.role.is_trainer(),
            equality: matches!(u.role, Role::Manager | Role::Hr | Role::Admin),
            referent: u.role == Role::PartnerReferent,
        }
    }
}

/// A page to render: template name, title and data. Rendered as a response, so a handler
/// returns `Result<Page>`.
pub struct Page {
    template: &'static str,
    title: String,
    me: Option<Me>,
    data: Value,
    status: Status,
}

impl Page {
    pub fn new(
        template: &'static str,
        title: impl Into<String>,
        me: Option<&User>,
        data: impl Serialize,
    ) -> Page {
        Page {
            template,
            title: title.into(),
            me: me.map(Me::from),
            // A view struct of plain fields always serialises; null keeps the page up if not.
            data: serde_json::to_value(data).unwrap_or(Value::Null),
            status: Status::Ok,
        }
    }

    pub fn status(mut self, status: Status) -> Page {
        self.status = status;
        self
    }
}

fn context(title: String, me: Option<Me>, data: Value, csrf: String) -> Value {
    let mut map = serde_json::Map::with_capacity(5);
    map.insert("csrf".into(), Value::String(csrf));
    map.insert("title".into(), Value::String(title));
    map.insert(
        "me".into(),
        me.and_then(|m| serde_json::to_value(m).ok())
            .unwrap_or(Value::Null),
    );
    map.insert("dev_login".into(), Value::Bool(DEV_LOGIN));
    map.insert("page".into(), data);
    Value::Object(map)
}

fn html_response<'o>(status: Status, html: String) -> response::Result<'o> {
    Response::build()
        .status(status)
        .header(ContentType::HTML)
        .sized_body(html.len(), Cursor::new(html))
        .ok()
}

impl<'r, 'o: 'r> Responder<'r, 'o> for Page {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'o> {
        let Some(views) = req.rocket().state::<Views>() else {
            return Err(Status::InternalServerError);
        };
        let csrf = crate::auth::csrf::token(req.cookies());
        match views.render_page(self.template, context(self.title, self.me, self.data, csrf)) {
            Ok(html) => html_response(self.status, html),
            Err(e) => e.respond_to(req),
        }
    }
}

/// The HTML error page; falls back to a minimal escaped page if the templates fail.
pub fn error_page(req: &Request<'_>, status: Status, message: &str) -> String {
    let title = match status.code {
        401 => "Connexion requise",
        403 => "Accès refusé",
        404 => "Page introuvable",
        405 => "Méthode non acceptée",
        400 | 422 => "Demande incorrecte",
        409 => "Action impossible",
        _ => "Erreur",
    };
    let data = json!({ "status": status.code, "message": message });
    req.rocket()
        .state::<Views>()
        .and_then(|v| {
            let csrf = crate::auth::csrf::token(req.cookies());
            v.render_page("error", context(title.into(), None, data, csrf))
                .ok()
        })
        .unwrap_or_else(|| {
            format!(
                "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body><main><h1>{title}</h1><p>{}</p></main></body></html>",
                handlebars::html_escape(message)
            )
        })
}

/// Builds the response for a status and message: JSON under `/api/`, the HTML error page
/// elsewhere.
pub fn respond<'o>(req: &Request<'_>, status: Status, message: &str) -> response::Result<'o> {
    if wants_json(req) {
        let body = json!({ "error": { "status": status.code, "message": message } }).to_string();
        Response::build()
            .status(status)
            .header(ContentType::JSON)
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    } else {
        html_response(status, error_page(req, status, message))
    }
}

/// An error answers with its status and its public message; internal details go to the
/// log only.
impl<'r, 'o: 'r> Responder<'r, 'o> for Error {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'o> {
        if self.status() == Status::InternalServerError {
            tracing::error!(
                request_id = %crate::requests::request_id(req),
                method = %req.method(),
                route = %crate::requests::route_of(req),
                error = %self,
                "internal error"
            );
        }
        respond(req, self.status(), &self.public_message())
    }
}

/// A status and a message, answered like an [`Error`]: used by the catchers.
pub struct StatusMessage(pub Status, pub String);

impl<'r, 'o: 'r> Responder<'r, 'o> for StatusMessage {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'o> {
        respond(req, self.0, &self.1)
    }
}

/// A CSV download: UTF-8 (the body starts with a BOM), `;` separators, as spreadsheet
/// programs in French expect; `R` may be a stream.
#[derive(rocket::Responder)]
#[response(content_type = "text/csv")]
pub struct CsvDownload<R> {
    pub body: R,
    pub disposition: rocket::http::Header<'static>,
}

/// The `Content-Disposition` of a file to save as `filename`.
pub fn attachment(filename: &str) -> rocket::http::Header<'static> {
    rocket::http::Header::new(
        "Content-Disposition",
        format!("attachment; filename=\"{filename}\""),
    )
}

/// A CSV cell: quoted, quotes doubled, and a leading formula character neutralised so a
/// spreadsheet never runs a name as a formula.
pub fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}
