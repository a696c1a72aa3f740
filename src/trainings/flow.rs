//! Use cases of shared trainings, shared by pages and API: offers and sessions (checked
//! input), enrolment by oneself or by a referent, HR or a manager, approvals, cancellation,
//! the waiting list's offers, attendance, and the views. Who may do what is decided here;
//! handlers call these only.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::calendar::{self, Method, SlotEvent};
use super::store::{
    self, Cancellation, Changed, EnrolmentRow, NewOffer, NewSession, Notice, NoticeKind, Request,
    SessionFull, SessionRow,
};
use super::{paris_hour, paris_label, Mode, Presence, Seats, Status};
use crate::audit::{Event, Kind};
use crate::catalog::{Audience, Catalog};
use crate::certificates::Certifier;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::notifications::{Attachment, MailKind, Outgoing};
use crate::people::{self, PersonRef, User};
use crate::views::Views;

/// What the mails of trainings need.
pub struct Mailing<'a> {
    pub views: &'a Views,
    pub public_url: &'a str,
    pub mail_from: &'a str,
    pub hold: Duration,
}

/// The bare address of the sender setting `Name <address>`, read as the mail transport
/// reads it.
fn address_of(from: &str) -> String {
    from.parse::<lettre::message::Mailbox>()
        .map(|m| m.email.to_string())
        .unwrap_or_else(|_| from.trim().to_string())
}

/// The calendar events of an enrolment: one per slot, each with a UID stable for the
/// enrolment and the slot, and the enrolment's current SEQUENCE.
pub fn slot_events(
    full: &SessionFull,
    e: &EnrolmentRow,
    public_url: &str,
    cancelled: bool,
) -> Vec<SlotEvent> {
    let host = crate::notifications::mail_host(public_url);
    let s = &full.session;
    let n = full.slots.len();
    full.slots
        .iter()
        .enumerate()
        .map(|(i, slot)| SlotEvent {
            uid: format!("{}-{}@{host}", e.id.simple(), i + 1),
            sequence: u32::try_from(e.sequence).unwrap_or(0),
            summary: if n > 1 {
                format!("{} ({}/{n})", s.title, i + 1)
            } else {
                s.title.clone()
            },
            description: format!(
                "Formation partagée Repères. {}\nDétail et annulation : {public_url}/formations/sessions/{}",
                s.description, s.id
            ),
            location: place_of(s, true),
            url: format!("{public_url}/formations/sessions/{}", s.id),
            starts_at: slot.starts_at,
            ends_at: slot.ends_at,
            cancelled: cancelled || s.cancelled_at.is_some(),
        })
        .collect()
}

/// Where a session happens, for a page or a calendar: the address and room, or « À
/// distance » (with the link when the reader holds a seat).
fn place_of(s: &SessionRow, with_link: bool) -> String {
    match s.mode {
        Mode::InPerson => [s.address.as_deref(), s.room.as_deref()]
            .into_iter()
            .flatten()
            .filter(|x| !x.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Mode::Online => match (&s.online_link, with_link) {
            (Some(link), true) => format!("À distance : {link}"),
            _ => "À distance".into(),
        },
    }
}

/// Builds the mail of a notice: French text and HTML from `mail/training`, and a calendar
/// file when a seat is given, changed or withdrawn.
pub fn compose(m: &Mailing<'_>, n: &Notice<'_>) -> Result<Outgoing> {
    let e = n.enrolment;
    let s = &n.session.session;
    let (subject, lead, method) = match n.kind {
        NoticeKind::Booked => (
            "Votre place est réservée",
            "Votre place à cette formation est réservée. L'invitation jointe l'ajoute à votre agenda.".to_string(),
            Some(Method::Request),
        ),
        NoticeKind::Given => (
            "Une place s'est libérée : elle est à vous",
            "Une place s'est libérée et la session commence bientôt : elle vous est attribuée directement. Si vous ne pouvez pas venir, annulez-la pour la laisser à quelqu'un d'autre.".to_string(),
            Some(Method::Request),
        ),
        NoticeKind::Waiting => (
            "Vous êtes sur liste d'attente",
            format!(
                "La session est complète : vous êtes en position {} sur la liste d'attente. Si une place se libère, vous serez prévenu ou prévenue par courriel.",
                e.position.unwrap_or(1)
            ),
            None,
        ),
        NoticeKind::Pending => (
            "Votre demande d'inscription attend un accord",
            "Cette formation demande l'accord de votre responsable (ou du référent de votre structure). Vous serez prévenu ou prévenue de sa décision.".to_string(),
            None,
        ),
        NoticeKind::Offered => (
            "Une place s'est libérée : confirmez-la",
            format!(
                "Une place s'est libérée pour vous. Confirmez-la avant le {} ; sans confirmation, elle sera proposée à la personne suivante.",
                e.offer_expires_at.map(paris_label).unwrap_or_default()
            ),
            None,
        ),
        NoticeKind::Refused => (
            "Votre demande d'inscription n'a pas été acceptée",
            "Votre demande d'inscription à cette formation n'a pas été acceptée. Rapprochez-vous de votre responsable pour en connaître la raison ou choisir une autre session.".to_string(),
            None,
        ),
        NoticeKind::Lapsed => (
            "La place proposée n'a pas été confirmée",
            "La place qui vous était proposée n'a pas été confirmée à temps : elle passe à la personne suivante. Vous pouvez vous inscrire à une autre session.".to_string(),
            None,
        ),
        NoticeKind::Cancelled => (
            "Votre inscription est annulée",
            "Votre inscription à cette formation est annulée. L'annulation jointe retire la session de votre agenda.".to_string(),
            Some(Method::Cancel),
        ),
        NoticeKind::Changed => (
            "La session a changé",
            "La date, l'heure ou le lieu de cette session ont changé. Voici les nouvelles informations ; l'invitation jointe met votre agenda à jour.".to_string(),
            e.status.holds_seat().then_some(Method::Request),
        ),
        NoticeKind::SessionCancelled => (
            "La session est annulée",
            format!(
                "Cette session est annulée. Motif : {}.{} Vous pouvez vous inscrire à une autre session.",
                s.cancel_reason.as_deref().unwrap_or("non précisé"),
                if e.status.holds_seat() {
                    " L'annulation jointe la retire de votre agenda."
                } else {
                    ""
                }
            ),
            // Only people who had the event in their calendar get a cancellation of it.
            e.status.holds_seat().then_some(Method::Cancel),
        ),
        NoticeKind::ApprovalRequest => (
            "Une demande d'inscription attend votre accord",
            format!(
                "{} demande à suivre cette formation. Donnez votre accord ou refusez la demande depuis Repères.",
                e.display_name
            ),
            None,
        ),
    };
    let (recipient, name, user_id) = match n.to {
        Some(p) => (p.email.clone(), p.display_name.clone(), p.id),
        None => (e.email.clone(), e.display_name.clone(), e.user_id),
    };
    let holds = matches!(n.kind, NoticeKind::Booked | NoticeKind::Given)
        || (n.kind == NoticeKind::Changed && e.status.holds_seat());
    let slots: Vec<Value> = n
        .session
        .slots
        .iter()
        .map(|sl| json!({ "from": paris_label(sl.starts_at), "to": paris_hour(sl.ends_at) }))
        .collect();
    let action_url = match n.kind {
        NoticeKind::ApprovalRequest => format!("{}/formations/demandes", m.public_url),
        _ => format!("{}/formations/sessions/{}", m.public_url, s.id),
    };
    let context = json!({
        "name": name,
        "lead": lead,
        "title": s.title,
        "mode": s.mode.label(),
        "place": place_of(s, holds),
        "access": s.access_info,
        "slots": slots,
        "url": action_url,
        "confirm": n.kind == NoticeKind::Offered,
    });
    let (text, html) = m.views.mail("training", &context)?;
    let attachments = match method {
        Some(method) => {
            let cancelled = method == Method::Cancel;
            let events = slot_events(n.session, e, m.public_url, cancelled);
            let ics = calendar::file(method, &events, &address_of(m.mail_from), crate::db::now());
            let kind = if cancelled { "CANCEL" } else { "REQUEST" };
            vec![Attachment {
                filename: "invitation.ics".into(),
                content_type: format!("text/calendar; charset=utf-8; method={kind}"),
                data: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, ics),
            }]
        }
        None => Vec::new(),
    };
    Ok(Outgoing {
        kind: MailKind::Training,
        user_id: Some(user_id),
        recipient,
        subject: format!("{subject} — {}", s.title),
        text,
        html: Some(html),
        attachments,
        sensitive: false,
        dedupe_key: None,
        obligation_ids: Vec::new(),
        list_unsubscribe: None,
    })
}

fn composer<'a>(m: &'a Mailing<'a>) -> impl Fn(&Notice<'_>) -> Result<Outgoing> + Send + Sync + 'a {
    move |n| compose(m, n)
}

// ---------------------------------------------------------------- offers

/// An offer as typed in the form or sent to the API.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct OfferInput {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Audience codes, separated by spaces or commas.
    #[serde(default)]
    pub audiences: String,
    #[serde(default)]
    pub axes: String,
    #[serde(default)]
    pub prerequisite_module: String,
    #[serde(default)]
    pub completes_module: String,
    #[serde(default)]
    pub requires_approval: bool,
}

/// Checks and writes an offer (trainers, HR, admins).
pub async fn save_offer(
    db: &Db,
    catalog: &Catalog,
    by: &User,
    id: Option<Uuid>,
    input: &OfferInput,
    client: Option<IpAddr>,
) -> Result<Uuid> {
    if !by.role.is_trainer() {
        return Err(Error::Forbidden);
    }
    let mut problems = Vec::new();
    let title = input.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        problems.push("Donnez un titre à l'offre (200 caractères au plus).".to_string());
    }
    if input.description.chars().count() > 5000 {
        problems.push("La description compte 5 000 caractères au plus.".into());
    }
    let mut audiences = Vec::new();
    for a in input
        .audiences
        .split([' ', ',', ';'])
        .filter(|a| !a.is_empty())
    {
        match Audience::parse(a) {
            Some(a) => audiences.push(a.code()),
            None => problems.push(format!("Public inconnu : « {a} ».")),
        }
    }
    if audiences.is_empty() && problems.is_empty() {
        problems.push("Choisissez au moins un public.".into());
    }
    let module = |s: &str, what: &str, problems: &mut Vec<String>| {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        if catalog.get(s).is_none() {
            problems.push(format!("Module {what} inconnu : « {s} »."));
        }
        Some(s.to_string())
    };
    let prerequisite = module(&input.prerequisite_module, "préalable", &mut problems);
    let completes = module(
        &input.completes_module,
        "validé par la présence",
        &mut problems,
    );
    let mut axes = Vec::new();
    for a in input.axes.split([' ', ',', ';']).filter(|a| !a.is_empty()) {
        match crate::catalog::plan_axis(a) {
            Some((code, _)) if !axes.contains(&code) => axes.push(code),
            Some(_) => {}
            None => problems.push(format!(
                "Axe inconnu : « {a} » (T1 à T5 pour le plan territorial, E1 à E5 pour le plan d'égalité professionnelle)."
            )),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems.join(" ")));
    }
    let id = id.unwrap_or_else(Uuid::new_v4);
    let offer = NewOffer {
        id,
        title: title.to_string(),
        description: input.description.trim().to_string(),
        audiences: audiences.join(" "),
        axes: axes.join(" "),
        prerequisite_module: prerequisite,
        completes_module: completes,
        requires_approval: input.requires_approval,
    };
    let event = Event::by(Some(by), Kind::TrainingSaved, title).client(client);
    store::save_offer(db, &offer, Some(by.id), crate::db::now(), &event).await?;
    Ok(id)
}

// ---------------------------------------------------------------- sessions

/// One slot as typed: a date, a start and an end time (Paris).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SlotInput {
    pub date: String,
    pub start: String,
    pub end: String,
}

/// A partner's reserved seats as typed: the partner's id or name.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct QuotaInput {
    pub partner: String,
    #[serde(deserialize_with = "number_or_text")]
    pub seats: String,
}

/// A session as typed in the form or sent to the API (numbers may come as text).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SessionInput {
    pub offer: String,
    pub mode: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub room: String,
    #[serde(default)]
    pub access_info: String,
    #[serde(default)]
    pub online_link: String,
    #[serde(deserialize_with = "number_or_text")]
    pub capacity: String,
    pub slots: Vec<SlotInput>,
    /// Last day to enrol (Paris); the day before the first slot when empty.
    #[serde(default)]
    pub enrol_until: String,
    /// Last day to cancel oneself; two days before the first slot when empty.
    #[serde(default)]
    pub cancel_until: String,
    /// Day from which unused reserved seats open to everyone.
    #[serde(default)]
    pub quota_release: String,
    #[serde(default)]
    pub quotas: Vec<QuotaInput>,
    /// Trainers' e-mail addresses; the author when empty and a trainer.
    #[serde(default)]
    pub trainers: Vec<String>,
}

fn number_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// Checks a session as typed; every problem is reported at once, in French.
pub async fn parse_session(
    db: &Db,
    by: &User,
    id: Uuid,
    input: &SessionInput,
) -> Result<NewSession> {
    let mut problems = Vec::new();
    let offer_id = Uuid::parse_str(input.offer.trim()).ok();
    let offer = match offer_id {
        Some(o) => store::offer(db, o).await?,
        None => None,
    };
    if offer.is_none() {
        problems.push("Choisissez une offre de formation existante.".to_string());
    }
    let mode = Mode::parse(input.mode.trim());
    let opt = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    };
    let (address, link) = (opt(&input.address), opt(&input.online_link));
    match mode {
        None => problems.push("Choisissez la modalité : en présentiel ou à distance.".into()),
        Some(Mode::InPerson) if address.is_none() => {
            problems.push("Une session en présentiel a une adresse.".into())
        }
        Some(Mode::Online)
            if !link
                .as_deref()
                .is_some_and(|l| l.starts_with("https://") && l.len() > 8) =>
        {
            problems.push("Une session à distance a un lien de connexion en https://.".into())
        }
        _ => {}
    }
    for (value, what) in [
        (&address, "L'adresse"),
        (&opt(&input.room), "La salle"),
        (&opt(&input.access_info), "Les informations d'accès"),
        (&link, "Le lien"),
    ] {
        if value.as_deref().is_some_and(|v| v.chars().count() > 1000) {
            problems.push(format!("{what} compte 1 000 caractères au plus."));
        }
    }
    let capacity = input.capacity.trim().parse::<i64>().ok();
    match capacity {
        Some(c) if (1..=10_000).contains(&c) => {}
        _ => problems.push("La capacité est un nombre de places entre 1 et 10 000.".into()),
    }
    let mut slots = Vec::new();
    if input.slots.is_empty() || input.slots.len() > 20 {
        problems.push("Une session compte de 1 à 20 créneaux.".into());
    }
    for (i, s) in input.slots.iter().enumerate() {
        let n = i + 1;
        let date = super::parse_date(&s.date);
        let (start, end) = (super::parse_time(&s.start), super::parse_time(&s.end));
        let (Some(date), Some(start), Some(end)) = (date, start, end) else {
            problems.push(format!(
                "Créneau n° {n} : donnez une date (AAAA-MM-JJ) et des heures de début et de fin (HH:MM)."
            ));
            continue;
        };
        match (
            super::paris_instant(date, start),
            super::paris_instant(date, end),
        ) {
            (Ok(a), Ok(b)) if b > a => slots.push((a, b)),
            (Ok(_), Ok(_)) => problems.push(format!(
                "Créneau n° {n} : il finit avant de commencer (ou en même temps)."
            )),
            (Err(e), _) | (_, Err(e)) => problems.push(format!("Créneau n° {n} : {e}")),
        }
    }
    slots.sort();
    if slots.windows(2).any(|w| w[1].0 < w[0].1) {
        problems.push("Deux créneaux de la session se chevauchent.".into());
    }
    let first = slots.first().map(|s| s.0);
    let deadline = |s: &str, what: &str, default_days: i64, problems: &mut Vec<String>| {
        if s.trim().is_empty() {
            return first.map(|f| {
                let day = f.with_timezone(&chrono_tz::Europe::Paris).date_naive()
                    - Duration::days(default_days);
                super::end_of_paris_day(day).min(f)
            });
        }
        match super::parse_date(s) {
            Some(d) => Some(super::end_of_paris_day(d)),
            None => {
                problems.push(format!("{what} : date illisible (AAAA-MM-JJ)."));
                None
            }
        }
    };
    let enrol_until = deadline(
        &input.enrol_until,
        "Date limite d'inscription",
        1,
        &mut problems,
    );
    let cancel_until = deadline(
        &input.cancel_until,
        "Date limite d'annulation",
        2,
        &mut problems,
    );
    if let (Some(f), Some(e)) = (first, enrol_until) {
        if e > super::end_of_paris_day(f.with_timezone(&chrono_tz::Europe::Paris).date_naive()) {
            problems
                .push("La date limite d'inscription doit précéder le début de la session.".into());
        }
    }
    if let (Some(f), Some(c)) = (first, cancel_until) {
        if c > super::end_of_paris_day(f.with_timezone(&chrono_tz::Europe::Paris).date_naive()) {
            problems
                .push("La date limite d'annulation doit précéder le début de la session.".into());
        }
    }
    let quota_release_at = if input.quota_release.trim().is_empty() {
        None
    } else {
        match super::parse_date(&input.quota_release) {
            Some(d) => Some(super::end_of_paris_day(d)),
            None => {
                problems.push("Date d'ouverture des places réservées : date illisible.".into());
                None
            }
        }
    };
    let partners = people::store::partners(db).await?;
    let mut quotas: Vec<(Uuid, i64)> = Vec::new();
    for q in input.quotas.iter().filter(|q| !q.partner.trim().is_empty()) {
        let key = q.partner.trim();
        let partner = partners
            .iter()
            .find(|p| p.id.to_string() == key || p.name == key);
        let seats = q.seats.trim().parse::<i64>().ok().filter(|s| *s >= 1);
        match (partner, seats) {
            (Some(p), Some(s)) if !quotas.iter().any(|x| x.0 == p.id) => quotas.push((p.id, s)),
            (Some(p), Some(_)) => problems.push(format!("Deux quotas pour « {} ».", p.name)),
            (None, _) => problems.push(format!("Structure partenaire inconnue : « {key} ».")),
            (_, None) => problems.push(format!(
                "Le quota de « {key} » est un nombre de places d'au moins 1."
            )),
        }
    }
    if let Some(c) = capacity {
        let reserved: i64 = quotas.iter().map(|q| q.1).sum();
        if reserved > c {
            problems.push(format!(
                "Les places réservées aux partenaires ({reserved}) dépassent la capacité ({c})."
            ));
        }
    }
    let mut trainers = Vec::new();
    for t in input
        .trainers
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        match people::store::find_by_email(db, t).await? {
            Some(u) if u.role.is_trainer() => trainers.push(u.id),
            Some(_) => problems.push(format!(
                "« {t} » n'a pas le rôle de formateur ou formatrice."
            )),
            None => problems.push(format!("Personne inconnue : « {t} ».")),
        }
    }
    if trainers.is_empty() && by.role == people::Role::Trainer {
        trainers.push(by.id);
    }
    trainers.sort();
    trainers.dedup();
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems.join(" ")));
    }
    let (Some(offer), Some(mode), Some(capacity), Some(enrol_until), Some(cancel_until)) =
        (offer, mode, capacity, enrol_until, cancel_until)
    else {
        return Err(Error::Unprocessable("Session incomplète.".into()));
    };
    Ok(NewSession {
        id,
        offer_id: offer.id,
        mode,
        address: if mode == Mode::InPerson {
            address
        } else {
            None
        },
        room: opt(&input.room),
        access_info: opt(&input.access_info),
        online_link: if mode == Mode::Online { link } else { None },
        capacity,
        enrol_until,
        cancel_until,
        quota_release_at,
        slots,
        trainers,
        quotas,
    })
}

/// The input that reproduces a stored session (the start of a change).
pub fn input_of(full: &SessionFull) -> SessionInput {
    let s = &full.session;
    let paris = |t: DateTime<Utc>| t.with_timezone(&chrono_tz::Europe::Paris);
    let day = |t: DateTime<Utc>| paris(t).format("%Y-%m-%d").to_string();
    SessionInput {
        offer: s.offer_id.to_string(),
        mode: s.mode.code().into(),
        address: s.address.clone().unwrap_or_default(),
        room: s.room.clone().unwrap_or_default(),
        access_info: s.access_info.clone().unwrap_or_default(),
        online_link: s.online_link.clone().unwrap_or_default(),
        capacity: s.capacity.to_string(),
        slots: full
            .slots
            .iter()
            .map(|sl| SlotInput {
                date: day(sl.starts_at),
                start: paris(sl.starts_at).format("%H:%M").to_string(),
                end: paris(sl.ends_at).format("%H:%M").to_string(),
            })
            .collect(),
        enrol_until: day(s.enrol_until),
        cancel_until: day(s.cancel_until),
        quota_release: s.quota_release_at.map(day).unwrap_or_default(),
        quotas: full
            .quotas
            .iter()
            .map(|q| QuotaInput {
                partner: q.partner_id.to_string(),
                seats: q.seats.to_string(),
            })
            .collect(),
        trainers: full.trainers.iter().map(|t| t.email.clone()).collect(),
    }
}

/// Whether `user` runs `full` (a trainer of the session) or is HR.
pub fn runs(user: &User, full: &SessionFull) -> bool {
    user.role.is_hr() || (user.role.is_trainer() && full.trainers.iter().any(|t| t.id == user.id))
}

/// Creates a session (trainers, HR, admins).
pub async fn create_session(
    db: &Db,
    by: &User,
    input: &SessionInput,
    client: Option<IpAddr>,
) -> Result<Uuid> {
    if !by.role.is_trainer() {
        return Err(Error::Forbidden);
    }
    let n = parse_session(db, by, Uuid::new_v4(), input).await?;
    let event =
        Event::by(Some(by), Kind::TrainingSaved, format!("session {}", n.id)).client(client);
    store::create_session(db, &n, Some(by.id), crate::db::now(), &event).await?;
    Ok(n.id)
}

/// A session `user` may see: any, for people signed in (the list is public within the
/// service); `None` for an unknown id.
pub async fn find(db: &Db, id: Uuid) -> Result<SessionFull> {
    store::session(db, id)
        .await?
        .ok_or_else(|| Error::NotFound("Cette session n'existe pas.".into()))
}

/// A session the user runs (trainer of it, HR or admin); 404 otherwise.
pub async fn find_run(db: &Db, user: &User, id: Uuid) -> Result<SessionFull> {
    let full = find(db, id).await?;
    if !runs(user, &full) {
        return Err(if user.role.is_trainer() {
            Error::ForbiddenWith("Vous n'animez pas cette session.".into())
        } else {
            Error::Forbidden
        });
    }
    Ok(full)
}

/// Changes a session: `patch` holds the fields to change, over the stored ones.
pub async fn update_session(
    db: &Db,
    m: &Mailing<'_>,
    by: &User,
    id: Uuid,
    patch: &Value,
    client: Option<IpAddr>,
) -> Result<Changed> {
    let full = find_run(db, by, id).await?;
    let mut current = serde_json::to_value(input_of(&full))
        .map_err(|e| Error::Internal(format!("session input: {e}")))?;
    let Some(fields) = patch.as_object() else {
        return Err(Error::Unprocessable(
            "Envoyez un objet JSON des champs à changer.".into(),
        ));
    };
    for (k, v) in fields {
        if current.get(k).is_none() {
            return Err(Error::Unprocessable(format!("Champ inconnu : « {k} ».")));
        }
        current[k] = v.clone();
    }
    let input: SessionInput = serde_json::from_value(current)
        .map_err(|e| Error::Unprocessable(format!("Champs illisibles : {e}.")))?;
    if input.offer != full.session.offer_id.to_string() {
        return Err(Error::Unprocessable(
            "L'offre d'une session ne change pas.".into(),
        ));
    }
    let n = parse_session(db, by, id, &input).await?;
    let event = Event::by(Some(by), Kind::TrainingSaved, format!("session {id}")).client(client);
    let compose = composer(m);
    store::update_session(db, &n, m.hold, crate::db::now(), &event, &compose).await
}

/// Cancels a session with its reason (5 to 500 characters).
pub async fn cancel_session(
    db: &Db,
    m: &Mailing<'_>,
    by: &User,
    id: Uuid,
    reason: &str,
    client: Option<IpAddr>,
) -> Result<usize> {
    find_run(db, by, id).await?;
    let reason = reason.trim();
    let n = reason.chars().count();
    if !(5..=500).contains(&n) {
        return Err(Error::Unprocessable(
            "Donnez le motif de l'annulation (5 à 500 caractères) : il est envoyé aux inscrits."
                .into(),
        ));
    }
    let event = Event::by(Some(by), Kind::TrainingCancelled, format!("session {id}"))
        .details(reason)
        .client(client);
    let compose = composer(m);
    store::cancel_session(
        db,
        id,
        reason,
        Some(by.id),
        crate::db::now(),
        &event,
        &compose,
    )
    .await
}

// ---------------------------------------------------------------- enrolment

/// What an enrolment answers: the enrolment and, when the person already holds another
/// session at the same time, a warning.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolled {
    pub enrolment: EnrolmentView,
    pub created: bool,
    pub warning: Option<String>,
}

/// An enrolment as pages and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct EnrolmentView {
    pub id: Uuid,
    pub session: Uuid,
    pub person: Uuid,
    pub name: String,
    pub email: String,
    pub partner: Option<String>,
    pub org_unit: Option<String>,
    pub status: Status,
    pub status_label: &'static str,
    pub position: Option<i64>,
    pub offer_expires: Option<String>,
    pub attended: bool,
    pub requested_at: DateTime<Utc>,
}

impl From<&EnrolmentRow> for EnrolmentView {
    fn from(e: &EnrolmentRow) -> EnrolmentView {
        EnrolmentView {
            id: e.id,
            session: e.session_id,
            person: e.user_id,
            name: e.display_name.clone(),
            email: e.email.clone(),
            partner: e.partner.clone(),
            org_unit: e.org_path.clone(),
            status: e.status,
            status_label: e.status.label(),
            position: e.position,
            offer_expires: e.offer_expires_at.map(paris_label),
            attended: e.attended_at.is_some(),
            requested_at: e.requested_at,
        }
    }
}

/// The sessions of `enrolments`, each read once.
async fn sessions_of(
    db: &Db,
    enrolments: &[EnrolmentRow],
) -> Result<std::collections::HashMap<Uuid, SessionFull>> {
    let ids: Vec<Uuid> = enrolments.iter().map(|e| e.session_id).collect();
    store::sessions_of(db, &ids).await
}

fn person_ref(e: &EnrolmentRow) -> PersonRef {
    PersonRef {
        id: e.user_id,
        org_path: e.org_path.clone(),
        partner_id: e.partner_id,
    }
}

/// Enrols `person` (the caller when `None`) in a session. A person enrols themself when
/// the offer's audiences include theirs; a partner referent, a manager or HR enrols the
/// people they follow (404 for anyone else, as elsewhere).
pub async fn enrol(
    db: &Db,
    m: &Mailing<'_>,
    catalog: &Catalog,
    by: &User,
    session: Uuid,
    person: Option<Uuid>,
) -> Result<Enrolled> {
    let full = find(db, session).await?;
    let s = &full.session;
    let target = match person.filter(|p| *p != by.id) {
        None => by.clone(),
        Some(p) => {
            // Active people only: someone who left cannot be enrolled.
            people::store::find(db, p)
                .await?
                .filter(|u| {
                    by.visibility().covers(&PersonRef {
                        id: u.id,
                        org_path: u.org_path.clone(),
                        partner_id: u.partner_id,
                    })
                })
                .ok_or_else(|| Error::NotFound("Cette personne n'existe pas.".into()))?
        }
    };
    let for_self = target.id == by.id;
    if for_self {
        let audiences: Vec<&str> = s.audiences.split(' ').collect();
        let open = audiences.contains(&"tous")
            || target
                .audiences
                .iter()
                .any(|a| audiences.contains(&a.code()))
            || by.role.is_hr();
        if !open {
            return Err(Error::ForbiddenWith(
                "Cette formation s'adresse à d'autres publics que le vôtre : demandez à votre responsable ou au service RH.".into(),
            ));
        }
    }
    if let Some(module) = &s.prerequisite_module {
        if !crate::learning::store::has_completed(db, target.id, module).await? {
            let title = catalog
                .get(module)
                .map(|m| m.title.as_str())
                .unwrap_or(module);
            return Err(Error::Conflict(format!(
                "Cette formation demande d'avoir d'abord validé le module « {title} »."
            )));
        }
    }
    let needs_approval = s.requires_approval && for_self && !by.role.is_hr();
    let compose = composer(m);
    let (row, created) = store::enrol(
        db,
        Request {
            session,
            user: target.id,
            by: by.id,
            needs_approval,
            now: crate::db::now(),
        },
        &compose,
    )
    .await?;
    let warning = store::overlapping(db, target.id, session, &full.slots)
        .await?
        .map(|title| {
            format!(
                "Attention : {} est déjà inscrit ou inscrite à « {title} » sur le même horaire.",
                if for_self {
                    "vous".to_string()
                } else {
                    target.display_name.clone()
                }
            )
            .replace(
                "vous est déjà inscrit ou inscrite",
                "vous êtes déjà inscrit ou inscrite",
            )
        });
    Ok(Enrolled {
        enrolment: EnrolmentView::from(&row),
        created,
        warning,
    })
}

/// An enrolment the user may act on: their own, one of a person they follow, or one of a
/// session they run. 404 otherwise.
async fn enrolment_for(db: &Db, by: &User, id: Uuid) -> Result<(EnrolmentRow, SessionFull)> {
    let missing = || Error::NotFound("Cette inscription n'existe pas.".into());
    let e = store::enrolment(db, id).await?.ok_or_else(missing)?;
    let full = find(db, e.session_id).await?;
    if e.user_id == by.id || by.visibility().covers(&person_ref(&e)) || runs(by, &full) {
        Ok((e, full))
    } else {
        Err(missing())
    }
}

/// Cancels an enrolment: the person (or who follows them) until the cancellation
/// deadline; the trainer of the session or HR at any time.
pub async fn cancel(db: &Db, m: &Mailing<'_>, by: &User, id: Uuid) -> Result<EnrolmentView> {
    let (_, full) = enrolment_for(db, by, id).await?;
    let compose = composer(m);
    let row = store::cancel(
        db,
        Cancellation {
            enrolment: id,
            by: by.id,
            after_deadline_allowed: runs(by, &full),
            now: crate::db::now(),
        },
        m.hold,
        &compose,
    )
    .await?;
    Ok(EnrolmentView::from(&row))
}

/// Confirms a seat offered from the waiting list (the person only).
pub async fn confirm(db: &Db, m: &Mailing<'_>, by: &User, id: Uuid) -> Result<EnrolmentView> {
    let (e, _) = enrolment_for(db, by, id).await?;
    if e.user_id != by.id {
        return Err(Error::ForbiddenWith(
            "Seule la personne inscrite confirme la place proposée.".into(),
        ));
    }
    let compose = composer(m);
    let row = store::confirm(db, id, crate::db::now(), &compose).await?;
    Ok(EnrolmentView::from(&row))
}

/// Approves or refuses a request: the person's manager (subtree), their partner referent,
/// or HR.
pub async fn decide(
    db: &Db,
    m: &Mailing<'_>,
    by: &User,
    id: Uuid,
    approve: bool,
) -> Result<EnrolmentView> {
    let (e, _) = enrolment_for(db, by, id).await?;
    if e.user_id == by.id || !by.visibility().covers(&person_ref(&e)) {
        return Err(Error::ForbiddenWith(
            "Seul le ou la responsable de la personne, son référent ou le service RH décide."
                .into(),
        ));
    }
    let compose = composer(m);
    let row = store::decide(db, id, approve, by.id, crate::db::now(), &compose).await?;
    Ok(EnrolmentView::from(&row))
}

/// Requests waiting for the viewer's decision.
pub async fn pending_for(db: &Db, by: &User) -> Result<Vec<(EnrolmentView, String)>> {
    let visibility = by.visibility();
    let pending: Vec<EnrolmentRow> = store::pending(db)
        .await?
        .into_iter()
        .filter(|e| e.user_id != by.id && visibility.covers(&person_ref(e)))
        .collect();
    let sessions = sessions_of(db, &pending).await?;
    Ok(pending
        .iter()
        .map(|e| {
            let title = sessions
                .get(&e.session_id)
                .map(|f| format!("{} — {}", f.session.title, paris_label(f.session.starts_at)))
                .unwrap_or_default();
            (EnrolmentView::from(e), title)
        })
        .collect())
}

/// The waiting lists' upkeep (job): offers past their hold lapse and the seats pass on;
/// seats freed by a quota's release date go to the waiting list.
pub async fn settle_all(db: &Db, m: &Mailing<'_>, now: DateTime<Utc>) -> Result<String> {
    let compose = composer(m);
    let (mut lapsed, mut promoted) = (0, 0);
    for id in store::unsettled(db, now).await? {
        let (l, p) = store::settle(db, id, m.hold, now, &compose).await?;
        lapsed += l;
        promoted += p;
    }
    Ok(format!(
        "{lapsed} proposition(s) expirée(s), {promoted} place(s) attribuée(s)"
    ))
}

// ---------------------------------------------------------------- attendance

/// Records the roster of a slot (trainer of the session or HR).
pub async fn mark(
    db: &Db,
    certifier: &Certifier,
    catalog: &Catalog,
    by: &User,
    session: Uuid,
    slot: Uuid,
    marks: &[(Uuid, Presence)],
) -> Result<usize> {
    let full = find_run(db, by, session).await?;
    if !full.slots.iter().any(|s| s.id == slot) {
        return Err(Error::NotFound("Ce créneau n'existe pas.".into()));
    }
    if full.session.cancelled_at.is_some() {
        return Err(Error::Conflict("Cette session est annulée.".into()));
    }
    let attest = attester(certifier, &full);
    let now = crate::db::now();
    let completes = completes(catalog, &full, now);
    let completes = completes.as_ref().map(|(m, d)| (m.as_str(), *d));
    let attended = store::mark(db, session, slot, marks, by.id, now, &attest, completes).await?;
    Ok(attended.len())
}

/// The module an offer completes by attendance, and until when it then counts (the
/// module's validity, from the day attended).
fn completes(
    catalog: &Catalog,
    full: &SessionFull,
    now: DateTime<Utc>,
) -> Option<(String, chrono::NaiveDate)> {
    let slug = full.session.completes_module.as_ref()?;
    let months = catalog.get(slug).map(|m| m.validity_months).unwrap_or(12);
    Some((
        slug.clone(),
        crate::certificates::paris_today(crate::learning::valid_until(now, months)),
    ))
}

/// Signs the attestation de présence of a session.
fn attester<'a>(
    certifier: &'a Certifier,
    full: &'a SessionFull,
) -> impl Fn(&str, DateTime<Utc>) -> crate::certificates::SignedAttendance + Send + Sync + 'a {
    move |holder, at| {
        let slots = full
            .slots
            .iter()
            .map(|s| format!("{} à {}", paris_label(s.starts_at), paris_hour(s.ends_at)))
            .collect();
        certifier.attendance(
            holder,
            &full.session.title,
            slots,
            &place_of(&full.session, false),
            at,
        )
    }
}

// ---------------------------------------------------------------- views

/// A session as pages and the API show it to `viewer`: the online link only to people
/// holding a seat and to those who run it.
pub fn session_view(full: &SessionFull, viewer: &User, mine: Option<&EnrolmentRow>) -> Value {
    let s = &full.session;
    let seats = Seats {
        capacity: s.capacity,
        quotas: full
            .quotas
            .iter()
            .map(|q| (q.partner_id, q.seats))
            .collect(),
        released: s.quota_release_at.is_some_and(|r| r <= crate::db::now()),
        held_general: s.held - full.quotas.iter().map(|q| q.used).sum::<i64>(),
        held_quota: full.quotas.iter().map(|q| (q.partner_id, q.used)).collect(),
    };
    let holds = mine.is_some_and(|e| e.status.holds_seat());
    let show_link = holds || runs(viewer, full);
    let now = crate::db::now();
    json!({
        "id": s.id,
        "offer": s.offer_id,
        "title": s.title,
        "description": s.description,
        "audiences": s.audiences.split(' ').filter_map(Audience::parse).map(|a| a.label()).collect::<Vec<_>>(),
        "axes": s.axes.split(' ').filter_map(crate::catalog::plan_axis).map(|(_, label)| label).collect::<Vec<_>>(),
        "requires_approval": s.requires_approval,
        "prerequisite_module": s.prerequisite_module,
        "mode": s.mode,
        "mode_label": s.mode.label(),
        "online": s.mode == Mode::Online,
        "address": s.address,
        "room": s.room,
        "access_info": s.access_info,
        "online_link": if show_link { s.online_link.clone() } else { None },
        "place": place_of(s, false),
        "capacity": s.capacity,
        "held": s.held,
        "waiting": s.waiting,
        "seats_left": seats.free_for(viewer.partner_id),
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "when": paris_label(s.starts_at),
        "slots": full.slots.iter().enumerate().map(|(i, sl)| json!({
            "id": sl.id, "n": i + 1, "starts_at": sl.starts_at, "ends_at": sl.ends_at,
            "from": paris_label(sl.starts_at), "to": paris_hour(sl.ends_at),
        })).collect::<Vec<_>>(),
        "enrol_until": s.enrol_until,
        "enrol_until_label": paris_label(s.enrol_until),
        "enrolment_open": s.cancelled_at.is_none() && now <= s.enrol_until,
        "cancel_until": s.cancel_until,
        "cancel_until_label": paris_label(s.cancel_until),
        "cancelled": s.cancelled_at.is_some(),
        "cancel_reason": s.cancel_reason,
        "trainers": full.trainers.iter().map(|t| t.display_name.clone()).collect::<Vec<_>>(),
        "quotas": full.quotas,
        "quota_release": s.quota_release_at.map(paris_label),
        "mine": mine.filter(|e| e.status.active()).map(EnrolmentView::from),
        "runs": runs(viewer, full),
    })
}

/// Filters of the list of upcoming sessions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionFilters {
    /// An offer id.
    pub offer: String,
    /// `2026-03`.
    pub month: String,
    /// Words of the address.
    pub place: String,
    /// `in_person` or `online`.
    pub mode: String,
    /// Only sessions with seats left for the viewer.
    pub seats_left: bool,
}

/// Upcoming sessions matching `f`, as the viewer sees them (the first 500): a fixed number
/// of queries whatever the number of sessions.
pub async fn upcoming(db: &Db, viewer: &User, f: &SessionFilters) -> Result<Vec<Value>> {
    let now = crate::db::now();
    let rows: Vec<SessionRow> = store::sessions_from(db, now, 500)
        .await?
        .into_iter()
        .filter(|row| {
            let local = row.starts_at.with_timezone(&chrono_tz::Europe::Paris);
            let place = format!(
                "{} {}",
                row.address.as_deref().unwrap_or(""),
                row.room.as_deref().unwrap_or("")
            )
            .to_lowercase();
            (f.offer.is_empty() || row.offer_id.to_string() == f.offer)
                && (f.month.is_empty() || local.format("%Y-%m").to_string() == f.month)
                && (f.mode.is_empty() || row.mode.code() == f.mode)
                && (f.place.is_empty() || place.contains(&f.place.to_lowercase()))
        })
        .collect();
    let mine = store::enrolments_of_user(db, viewer.id).await?;
    let mut out = Vec::new();
    for full in store::complete(db, rows).await? {
        let my = mine.iter().find(|e| e.session_id == full.session.id);
        let view = session_view(&full, viewer, my);
        if f.seats_left
            && (view["seats_left"].as_i64().unwrap_or(0) == 0
                || full.session.cancelled_at.is_some())
        {
            continue;
        }
        out.push(view);
    }
    Ok(out)
}

/// A person's enrolments with their sessions (« Mes formations »).
pub async fn mine(db: &Db, user: &User) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let attestations = crate::certificates::store::attendance_numbers(db, user.id).await?;
    let enrolments = store::enrolments_of_user(db, user.id).await?;
    let sessions = sessions_of(db, &enrolments).await?;
    for e in &enrolments {
        if let Some(full) = sessions.get(&e.session_id) {
            let attestation = attestations
                .iter()
                .find(|(enrolment, _)| *enrolment == e.id)
                .map(|(_, number)| number.clone());
            out.push(json!({
                "enrolment": EnrolmentView::from(e),
                "session": session_view(full, user, Some(e)),
                "attestation": attestation,
            }));
        }
    }
    Ok(out)
}

/// The roster of a session: people holding a seat with their marks per slot, then the
/// waiting list and the others.
pub async fn roster(db: &Db, by: &User, session: Uuid) -> Result<(SessionFull, Vec<Value>)> {
    let full = find_run(db, by, session).await?;
    let marks = store::attendance(db, session).await?;
    let rows = store::enrolments_of_session(db, session)
        .await?
        .iter()
        .map(|e| {
            let per_slot: Vec<Value> = full
                .slots
                .iter()
                .map(|sl| {
                    let mark = marks
                        .iter()
                        .find(|(en, s, _)| *en == e.id && *s == sl.id)
                        .map(|m| m.2);
                    json!({ "slot": sl.id, "mark": mark.map(|m| m.code()), "label": mark.map(|m| m.label()) })
                })
                .collect();
            json!({ "enrolment": EnrolmentView::from(e), "marks": per_slot })
        })
        .collect();
    Ok((full, rows))
}

/// The sessions a trainer runs (all of them for HR).
pub async fn run_by(db: &Db, by: &User) -> Result<Vec<SessionRow>> {
    if by.role.is_hr() {
        store::all_sessions(db, 500).await
    } else {
        store::sessions_of_trainer(db, by.id).await
    }
}

// ---------------------------------------------------------------- demo

/// The demo's shared trainings, written once when there is no offer yet: a shared session
/// of the spotting training for partners and agents (with seats reserved for a partner),
/// an online session, and a full session with a waiting list, so that a newcomer sees
/// every state. Returns whether anything was written.
pub async fn seed_demo(db: &Db, m: &Mailing<'_>, now: DateTime<Utc>) -> Result<bool> {
    if !store::offers(db).await?.is_empty() {
        return Ok(false);
    }
    let trainer = people::store::find_by_email(db, "lucie.fontaine@demo.reperes.test").await?;
    let Some(trainer) = trainer else {
        return Ok(false);
    };
    let offer_id = Uuid::new_v4();
    let event = Event::by(None, Kind::TrainingSaved, "démonstration");
    store::save_offer(
        db,
        &NewOffer {
            id: offer_id,
            title: "Observer et repérer les discriminations".into(),
            description: "Une demi-journée en groupe, agents de la Ville et salariés des structures partenaires : reconnaître une discrimination dans une situation d'accueil, d'orientation ou de recrutement, connaître les critères et les recours, savoir vers qui orienter une victime.".into(),
            audiences: "accueil rh social partenaire encadrement".into(),
            axes: "T2".into(),
            prerequisite_module: None,
            completes_module: None,
            requires_approval: false,
        },
        None,
        now,
        &event,
    )
    .await?;
    let partners = people::store::partners(db).await?;
    let clairiere = partners
        .iter()
        .find(|p| p.name == "Centre social La Clairière")
        .map(|p| p.id);
    let today = now.with_timezone(&chrono_tz::Europe::Paris).date_naive();
    let at = |days: i64, h: u32, min: u32| {
        let t = chrono::NaiveTime::from_hms_opt(h, min, 0).unwrap_or_default();
        super::paris_instant(today + Duration::days(days), t).unwrap_or(now)
    };
    let session = |capacity: i64, days: i64, mode: Mode, quotas: Vec<(Uuid, i64)>| {
        NewSession {
        id: Uuid::new_v4(),
        offer_id,
        mode,
        address: (mode == Mode::InPerson).then(|| "Hôtel de ville, 1 place Stanislas, Nancy".to_string()),
        room: (mode == Mode::InPerson).then(|| "Salle des commissions".to_string()),
        access_info: (mode == Mode::InPerson).then(|| {
            "Entrée de plain-pied rue des Dominicains, boucle magnétique, tram ligne 1 arrêt Point Central".to_string()
        }),
        online_link: (mode == Mode::Online).then(|| "https://visio.demo.reperes.test/reperer".to_string()),
        capacity,
        enrol_until: at(days - 1, 23, 59),
        cancel_until: at(days - 2, 23, 59),
        quota_release_at: (!quotas.is_empty()).then(|| at(days - 7, 23, 59)),
        slots: vec![(at(days, 9, 0), at(days, 12, 30))],
        trainers: vec![trainer.id],
        quotas,
    }
    };
    let shared = session(
        12,
        21,
        Mode::InPerson,
        clairiere.map(|c| vec![(c, 3)]).unwrap_or_default(),
    );
    let online = session(20, 28, Mode::Online, Vec::new());
    let full = session(2, 14, Mode::InPerson, Vec::new());
    for s in [&shared, &online, &full] {
        store::create_session(db, s, Some(trainer.id), now, &event).await?;
    }
    let compose = composer(m);
    for (session, email) in [
        (full.id, "aicha.diallo@demo.reperes.test"),
        (full.id, "lea.petit@demo.reperes.test"),
        (full.id, "sophie.nguyen@demo.reperes.test"),
        (shared.id, "aicha.diallo@demo.reperes.test"),
    ] {
        if let Some(u) = people::store::find_by_email(db, email).await? {
            store::enrol(
                db,
                Request {
                    session,
                    user: u.id,
                    by: trainer.id,
                    needs_approval: false,
                    now,
                },
                &compose,
            )
            .await?;
        }
    }
    Ok(true)
}

// ---------------------------------------------------------------- check-in, feed, lists

/// A check-in code is valid from this many minutes before its slot to as many after.
pub const CHECKIN_MARGIN_MINUTES: i64 = 30;

/// The address a slot's QR code holds.
pub fn checkin_url(public_url: &str, slot: &store::CheckinSlot) -> String {
    format!(
        "{public_url}/formations/presence/{}/{}",
        slot.id, slot.checkin_secret
    )
}

/// Equal strings, compared in a time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The slot of a check-in code, when the code is right (404 otherwise, whoever asks).
pub async fn checkin_slot(db: &Db, slot: Uuid, token: &str) -> Result<store::CheckinSlot> {
    let missing = || Error::NotFound("Ce code de présence n'existe pas.".into());
    let s = store::checkin_slot(db, slot).await?.ok_or_else(missing)?;
    if !same_secret(&s.checkin_secret, token) {
        return Err(missing());
    }
    Ok(s)
}

/// Records the signed-in person present at a slot from its QR code: the code must be
/// right, used from 30 minutes before the slot to 30 minutes after, by someone holding a
/// seat. Returns the session.
pub async fn check_in(
    db: &Db,
    certifier: &Certifier,
    catalog: &Catalog,
    user: &User,
    slot: Uuid,
    token: &str,
    now: DateTime<Utc>,
) -> Result<SessionFull> {
    let s = checkin_slot(db, slot, token).await?;
    let margin = Duration::minutes(CHECKIN_MARGIN_MINUTES);
    if now < s.starts_at - margin || now > s.ends_at + margin {
        return Err(Error::Conflict(format!(
            "Ce code de présence n'est valable que de 30 minutes avant à 30 minutes après le créneau ({} à {}).",
            paris_label(s.starts_at),
            paris_hour(s.ends_at)
        )));
    }
    let full = find(db, s.session_id).await?;
    if full.session.cancelled_at.is_some() {
        return Err(Error::Conflict("Cette session est annulée.".into()));
    }
    let e = store::enrolment_of(db, s.session_id, user.id)
        .await?
        .filter(|e| e.status == Status::Booked)
        .ok_or_else(|| {
            Error::ForbiddenWith(
                "Vous n'avez pas de place à cette session : adressez-vous au formateur ou à la formatrice.".into(),
            )
        })?;
    {
        let attest = attester(certifier, &full);
        let completes = completes(catalog, &full, now);
        store::mark(
            db,
            s.session_id,
            s.id,
            &[(e.id, Presence::Present)],
            user.id,
            now,
            &attest,
            completes.as_ref().map(|(m, d)| (m.as_str(), *d)),
        )
        .await?;
    }
    Ok(full)
}

/// A new private calendar feed for `user` (the previous link stops working): its address,
/// shown once.
pub async fn new_feed(db: &Db, user: &User, public_url: &str) -> Result<String> {
    let token = crate::auth::random_token();
    store::set_feed(
        db,
        user.id,
        &crate::auth::tokens::hash(&token),
        crate::db::now(),
    )
    .await?;
    Ok(format!("{public_url}/agenda/{token}.ics"))
}

/// The calendar feed behind a secret: the seats its owner holds, from 30 days back.
pub async fn feed(db: &Db, token: &str, public_url: &str, organizer: &str) -> Result<String> {
    let token = token.strip_suffix(".ics").unwrap_or(token);
    let missing = || Error::NotFound("Ce lien d'agenda n'existe pas ou a été révoqué.".into());
    let owner = store::feed_owner(db, &crate::auth::tokens::hash(token))
        .await?
        .ok_or_else(missing)?;
    let since = crate::db::now() - Duration::days(30);
    let mut events = Vec::new();
    let booked: Vec<EnrolmentRow> = store::enrolments_of_user(db, owner)
        .await?
        .into_iter()
        .filter(|e| e.status == Status::Booked)
        .collect();
    let sessions = sessions_of(db, &booked).await?;
    for e in &booked {
        if let Some(full) = sessions.get(&e.session_id) {
            if full.session.ends_at >= since && full.session.cancelled_at.is_none() {
                events.extend(slot_events(full, e, public_url, false));
            }
        }
    }
    Ok(calendar::file(
        Method::Publish,
        &events,
        &address_of(organizer),
        crate::db::now(),
    ))
}

/// The staff of a partner organisation with their enrolments, and the organisation's
/// reserved seats in sessions to come (the referent's page).
pub async fn partner_view(db: &Db, referent: &User) -> Result<Value> {
    let Some(partner) = referent.partner_id else {
        return Err(Error::ForbiddenWith(
            "Votre compte n'est rattaché à aucune structure partenaire.".into(),
        ));
    };
    let staff = store::enrolments_of_partner(db, partner).await?;
    let sessions = sessions_of(db, &staff).await?;
    let enrolments: Vec<Value> = staff
        .iter()
        .filter_map(|e| {
            let s = &sessions.get(&e.session_id)?.session;
            Some(json!({
                "enrolment": EnrolmentView::from(e),
                "session": { "id": s.id, "title": s.title, "when": paris_label(s.starts_at) },
            }))
        })
        .collect();
    let upcoming = store::sessions_from(db, crate::db::now(), 500).await?;
    let mut quotas = Vec::new();
    for full in store::complete(db, upcoming).await? {
        let s = &full.session;
        if let Some(q) = full.quotas.iter().find(|q| q.partner_id == partner) {
            quotas.push(json!({
                "session": s.id, "title": s.title, "when": paris_label(s.starts_at),
                "seats": q.seats, "used": q.used,
                "release": s.quota_release_at.map(paris_label),
            }));
        }
    }
    Ok(json!({ "enrolments": enrolments, "quotas": quotas }))
}

/// The roster of a session as CSV lines (header first): one line per enrolment, with the
/// mark of each slot.
pub async fn roster_csv(db: &Db, by: &User, session: Uuid) -> Result<(String, String)> {
    use crate::views::cell;
    let (full, rows) = roster(db, by, session).await?;
    let mut out = String::from("\u{feff}nom;courriel;structure;service;inscription;position");
    for (i, _) in full.slots.iter().enumerate() {
        out.push_str(&format!(";creneau_{}", i + 1));
    }
    out.push_str("\r\n");
    for r in &rows {
        let e = &r["enrolment"];
        let text = |k: &str| e[k].as_str().unwrap_or("").to_string();
        let mut line = vec![
            cell(&text("name")),
            cell(&text("email")),
            cell(&text("partner")),
            cell(&text("org_unit")),
            cell(&text("status_label")),
            e["position"]
                .as_i64()
                .map(|p| p.to_string())
                .unwrap_or_default(),
        ];
        for m in r["marks"].as_array().into_iter().flatten() {
            line.push(cell(m["label"].as_str().unwrap_or("")));
        }
        out.push_str(&line.join(";"));
        out.push_str("\r\n");
    }
    let day = full
        .session
        .starts_at
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y-%m-%d");
    Ok((out, format!("emargement-{day}.csv")))
}

/// The printable sign-in sheet of slot `n` (from 1) of a session (its trainers, HR).
pub async fn sign_in_sheet(
    db: &Db,
    by: &User,
    session: Uuid,
    n: usize,
) -> Result<(Vec<u8>, String)> {
    let (full, rows) = roster(db, by, session).await?;
    let slot = full
        .slots
        .get(n.max(1) - 1)
        .ok_or_else(|| Error::NotFound("Ce créneau n'existe pas.".into()))?;
    let people: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r["enrolment"]["status"] == "booked")
        .map(|r| {
            let e = &r["enrolment"];
            let org = e["partner"]
                .as_str()
                .or_else(|| e["org_unit"].as_str().and_then(|p| p.rsplit('/').next()))
                .unwrap_or("")
                .to_string();
            (e["name"].as_str().unwrap_or("").to_string(), org)
        })
        .collect();
    let sheet = super::sheet::Sheet {
        title: full.session.title.clone(),
        slot: format!(
            "{} à {}",
            paris_label(slot.starts_at),
            paris_hour(slot.ends_at)
        ),
        slot_label: format!("Créneau {} sur {}", n.max(1), full.slots.len()),
        place: place_of(&full.session, false),
        trainers: full
            .trainers
            .iter()
            .map(|t| t.display_name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        people,
    };
    let pdf = tokio::task::spawn_blocking(move || super::sheet::render(&sheet))
        .await
        .map_err(|e| Error::Internal(format!("sign-in sheet: {e}")))?
        .map_err(|e| Error::Internal(format!("sign-in sheet: {e}")))?;
    let day = slot
        .starts_at
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y-%m-%d");
    Ok((pdf, format!("emargement-{day}-creneau-{}.pdf", n.max(1))))
}

/// A person's shared trainings with their attendance, for the people who follow them
/// (the person page: manager, partner referent, HR; the caller checks the scope).
pub async fn record_of(db: &Db, user: Uuid) -> Result<Vec<Value>> {
    let marks = store::marks_of_user(db, user).await?;
    let mut out = Vec::new();
    let enrolments = store::enrolments_of_user(db, user).await?;
    let sessions = sessions_of(db, &enrolments).await?;
    for e in &enrolments {
        let Some(full) = sessions.get(&e.session_id) else {
            continue;
        };
        let count = |p: Presence| {
            marks
                .iter()
                .filter(|(id, m, _)| *id == e.id && m == p.code())
                .map(|(_, _, n)| *n)
                .sum::<i64>()
        };
        out.push(json!({
            "session": full.session.id,
            "title": full.session.title,
            "when": paris_label(full.session.starts_at),
            "cancelled": full.session.cancelled_at.is_some(),
            "status_label": e.status.label(),
            "slots": full.slots.len(),
            "present": count(Presence::Present),
            "absent": count(Presence::Absent),
            "excused": count(Presence::Excused),
        }));
    }
    Ok(out)
}
