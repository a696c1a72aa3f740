//! Pages: the outbox for admins (deliveries, failures with their error, send again), and in
//! debug builds the development mailbox that reads the folder transport.

use std::net::IpAddr;

use rocket::http::{ContentType, Header, Status};
use rocket::response::{Redirect, Responder};
use rocket::{get, post, routes, Route, State};
use serde_json::json;

use super::worker::Mailer;
use super::{mailbox, store, MailKind, Status as MailStatus};
use crate::audit::{self, Event, Kind};
use crate::auth::{Admin, CurrentUser};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::views::Page;

/// Whether this build has the development mailbox (debug builds only, like the development
/// sign-in; never a release build, whatever its settings).
pub const DEV_MAILBOX: bool = cfg!(debug_assertions);

pub fn routes() -> Vec<Route> {
    let mut r = routes![outbox_page, resend, send_test];
    if DEV_MAILBOX {
        r.extend(routes![mailbox_page, mail_page, mail_html, mail_attachment]);
    }
    r
}

const PAGE_SIZE: i64 = 100;

#[get("/admin/envois?<statut>&<page>")]
async fn outbox_page(
    db: &State<Db>,
    mailer: &State<std::sync::Arc<Mailer>>,
    admin: Admin,
    statut: Option<&str>,
    page: Option<u32>,
) -> Result<Page> {
    let status = match statut.filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(MailStatus::parse(s).ok_or_else(|| {
            Error::BadRequest(format!(
                "Statut inconnu « {s} » : choisissez queued, sending, sent ou failed."
            ))
        })?),
    };
    let page = i64::from(page.unwrap_or(1).max(1));
    let rows = store::latest(db, status, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let counts = store::counts(db).await?;
    let count = |s: MailStatus| {
        counts
            .iter()
            .find(|(c, _)| *c == s)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let filters: Vec<_> = [
        MailStatus::Queued,
        MailStatus::Sending,
        MailStatus::Sent,
        MailStatus::Failed,
    ]
    .into_iter()
    .map(|s| {
        json!({ "code": s.code(), "label": s.label(), "count": count(s), "current": Some(s) == status })
    })
    .collect();
    let messages: Vec<_> = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|m| {
            json!({
                "id": m.id, "kind": MailKind::label(&m.kind), "recipient": m.recipient,
                "subject": m.subject, "status": m.status.label(),
                "failed": m.status == MailStatus::Failed,
                "resendable": m.status == MailStatus::Failed && MailKind::resendable(&m.kind),
                "tries": m.tries, "next_attempt_at": m.next_attempt_at,
                "waiting": m.status == MailStatus::Queued,
                "last_error": m.last_error, "created_at": m.created_at, "sent_at": m.sent_at,
            })
        })
        .collect();
    let query = |p: i64| match status {
        Some(s) => format!("?statut={}&page={p}", s.code()),
        None => format!("?page={p}"),
    };
    Ok(Page::new(
        "admin/outbox",
        "Envois de courriels",
        Some(&admin.0),
        json!({
            "transport": mailer.transport.describe(),
            "filters": filters,
            "all": status.is_none(),
            "messages": messages,
            "previous": (page > 1).then(|| query(page - 1)),
            "next": more.then(|| query(page + 1)),
            "max_tries": super::MAX_TRIES,
        }),
    ))
}

#[post("/admin/envois/<id>/renvoyer")]
async fn resend(db: &State<Db>, admin: Admin, ip: Option<IpAddr>, id: Id) -> Result<Redirect> {
    let id = id.0;
    let missing = || Error::NotFound("Ce message n'existe pas.".into());
    let entry = store::find(db, id).await?.ok_or_else(missing)?;
    if !MailKind::resendable(&entry.kind) {
        return Err(Error::Conflict(format!(
            "Un lien de connexion n'est valable que {} minutes : il n'est pas renvoyé. La personne peut en demander un nouveau sur la page de connexion.",
            crate::auth::links::VALIDITY_MINUTES
        )));
    }
    store::requeue(db, id, crate::db::now()).await?;
    audit::store::record(
        db,
        Event::by(Some(&admin.0), Kind::MailResent, &entry.recipient)
            .details(&entry.subject)
            .client(ip),
    )
    .await?;
    Ok(Redirect::to("/admin/envois?statut=queued"))
}

/// Queues a test message to the admin's own address, to check the relay from end to end.
#[post("/admin/envois/essai")]
async fn send_test(db: &State<Db>, admin: Admin) -> Result<Redirect> {
    let mail = super::Outgoing {
        kind: MailKind::Test,
        user_id: Some(admin.0.id),
        recipient: admin.0.email.clone(),
        subject: "Essai d'envoi de Repères".into(),
        text: format!(
            "Bonjour {},\n\nCe message d'essai a été demandé depuis la page « Envois de courriels » de Repères. \
             S'il vous parvient, les courriels du service partent bien.\n\nRepères — Ville de Nancy\n",
            admin.0.display_name
        ),
        html: None,
        attachments: Vec::new(),
        sensitive: false,
        dedupe_key: None,
        obligation_ids: Vec::new(),
        list_unsubscribe: None,
    };
    store::enqueue_one(db, &mail).await?;
    Ok(Redirect::to("/admin/envois?statut=queued"))
}

fn folder(mailer: &Mailer) -> Result<&std::path::PathBuf> {
    mailer.transport.folder().ok_or_else(|| {
        Error::NotFound(format!(
            "La boîte de développement lit les courriels écrits dans un dossier ; ce service les envoie au {}.",
            mailer.transport.describe()
        ))
    })
}

/// The development mailbox: every mail written by the folder transport, newest first.
/// Open to anyone in a debug build, like the development sign-in: a partner who is not
/// signed in must be able to read their sign-in link.
#[get("/dev/courriels")]
async fn mailbox_page(
    mailer: &State<std::sync::Arc<Mailer>>,
    user: Option<CurrentUser>,
) -> Result<Page> {
    let (dir, messages) = match mailer.transport.folder() {
        Some(dir) => {
            let dir2 = dir.clone();
            let list = tokio::task::spawn_blocking(move || mailbox::list(&dir2))
                .await
                .map_err(|e| Error::Internal(format!("mailbox: {e}")))?
                .map_err(|e| Error::Internal(format!("mailbox {}: {e}", dir.display())))?;
            (Some(dir.display().to_string()), list)
        }
        None => (None, Vec::new()),
    };
    Ok(Page::new(
        "dev/mailbox",
        "Boîte de développement",
        user.as_ref().map(|u| &u.0),
        json!({
            "folder": dir,
            "transport": mailer.transport.describe(),
            "messages": messages,
            "limit": mailbox::LIST_LIMIT,
        }),
    ))
}

#[get("/dev/courriels/<key>", rank = 2)]
async fn mail_page(
    mailer: &State<std::sync::Arc<Mailer>>,
    user: Option<CurrentUser>,
    key: &str,
) -> Result<Page> {
    let dir = folder(mailer)?.clone();
    let key = key.to_string();
    let shown = tokio::task::spawn_blocking(move || mailbox::read(&dir, &key))
        .await
        .map_err(|e| Error::Internal(format!("mailbox: {e}")))?
        .ok_or_else(|| Error::NotFound("Ce courriel n'existe pas.".into()))?;
    Ok(Page::new(
        "dev/mail",
        format!("Courriel : {}", shown.subject),
        user.as_ref().map(|u| &u.0),
        json!(shown),
    ))
}

/// A downloaded file: sent as an attachment, never rendered in Repères' own pages.
pub struct Download {
    name: String,
    content_type: ContentType,
    bytes: Vec<u8>,
}

impl<'r> Responder<'r, 'static> for Download {
    fn respond_to(self, _: &'r rocket::Request<'_>) -> rocket::response::Result<'static> {
        let name: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        rocket::Response::build()
            .status(Status::Ok)
            .header(self.content_type)
            .header(Header::new(
                "Content-Disposition",
                format!("attachment; filename=\"{name}\""),
            ))
            .sized_body(self.bytes.len(), std::io::Cursor::new(self.bytes))
            .ok()
    }
}

#[get("/dev/courriels/<key>/html")]
async fn mail_html(mailer: &State<std::sync::Arc<Mailer>>, key: &str) -> Result<Download> {
    let dir = folder(mailer)?.clone();
    let k = key.to_string();
    let html = tokio::task::spawn_blocking(move || mailbox::html(&dir, &k))
        .await
        .map_err(|e| Error::Internal(format!("mailbox: {e}")))?
        .ok_or_else(|| Error::NotFound("Ce courriel n'a pas de partie HTML.".into()))?;
    Ok(Download {
        name: format!("{key}.html"),
        content_type: ContentType::HTML,
        bytes: html.into_bytes(),
    })
}

#[get("/dev/courriels/<key>/pieces/<index>")]
async fn mail_attachment(
    mailer: &State<std::sync::Arc<Mailer>>,
    key: &str,
    index: usize,
) -> Result<Download> {
    let dir = folder(mailer)?.clone();
    let k = key.to_string();
    let (name, content_type, bytes) =
        tokio::task::spawn_blocking(move || mailbox::attachment(&dir, &k, index))
            .await
            .map_err(|e| Error::Internal(format!("mailbox: {e}")))?
            .ok_or_else(|| Error::NotFound("Cette pièce jointe n'existe pas.".into()))?;
    Ok(Download {
        name,
        content_type: ContentType::parse_flexible(&content_type).unwrap_or(ContentType::Binary),
        bytes,
    })
}
