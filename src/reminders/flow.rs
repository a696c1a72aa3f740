//! Use cases of reminders: what is due on a day (the preview), the sweep that queues one
//! digest per recipient and per day, the campaigns, the settings and the preferences.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::store::{self, Digest, Person};
use super::{stages, Campaign, Recipient, Settings, StageKind};
use crate::audit::{Event, Kind};
use crate::catalog::Catalog;
use crate::certificates::paris_today;
use crate::certificates::pdf::french_date;
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::notifications::{MailKind, Outgoing};
use crate::people::{Role, User};
use crate::views::Views;

/// What a sweep needs besides the database.
pub struct Context<'a> {
    pub catalog: &'a Catalog,
    pub views: &'a Views,
    pub public_url: &'a str,
}

/// One line of a digest.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub person: String,
    pub person_id: Uuid,
    pub title: String,
    pub module: String,
    pub url: String,
    pub sentence: String,
    #[serde(skip)]
    pub key: String,
    #[serde(skip)]
    pub obligation: Uuid,
    /// Still to do: the digest is dropped at delivery when none of its lines is.
    #[serde(skip)]
    pub open: bool,
}

/// Everything one recipient is due on a day.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub recipient: Uuid,
    pub name: String,
    pub email: String,
    pub own: Vec<Line>,
    pub team: Vec<Line>,
    pub hr: Vec<Line>,
    /// Shared sessions coming soon where the recipient holds a seat.
    pub sessions: Vec<Line>,
    /// The equality plan: actions the recipient owns, HR's monthly digest.
    pub plan: Vec<Line>,
}

impl Planned {
    fn lines(&self) -> impl Iterator<Item = &Line> {
        self.own
            .iter()
            .chain(&self.team)
            .chain(&self.hr)
            .chain(&self.sessions)
            .chain(&self.plan)
    }
}

fn sentence(kind: StageKind, to: Recipient, days: i64, due_on: NaiveDate) -> String {
    let due = french_date(due_on);
    match (kind, to) {
        (StageKind::BeforeDue, _) => {
            format!("à suivre avant le {due} (dans {days} jours au plus)")
        }
        (StageKind::BeforeExpiry, _) => format!(
            "votre attestation arrive à échéance le {due} : suivez le module à nouveau pour la renouveler"
        ),
        (StageKind::Overdue, Recipient::Person) => {
            format!("en retard depuis le {due} : à suivre dès que possible")
        }
        (StageKind::Overdue, _) => format!("en retard de {days} jours (échéance : {due})"),
    }
}

/// Who hears of a person's overdue duty: the partner referents of their organisation for
/// partner staff; otherwise the managers of the closest org unit above or at theirs.
/// Indexed once per sweep, so that finding them does not read the whole directory for
/// every late line.
struct Managers<'a> {
    by_partner: HashMap<Uuid, Vec<&'a Person>>,
    by_unit: HashMap<&'a str, Vec<&'a Person>>,
}

impl<'a> Managers<'a> {
    fn new(everyone: &'a [Person]) -> Managers<'a> {
        let mut m = Managers {
            by_partner: HashMap::new(),
            by_unit: HashMap::new(),
        };
        for p in everyone {
            match (p.role, p.partner_id, p.org_path.as_deref()) {
                (Role::PartnerReferent, Some(partner), _) => {
                    m.by_partner.entry(partner).or_default().push(p)
                }
                (Role::Manager, _, Some(path)) => m.by_unit.entry(path).or_default().push(p),
                _ => {}
            }
        }
        m
    }

    fn of(&self, p: &Person) -> Vec<&'a Person> {
        let others = |list: Option<&Vec<&'a Person>>| -> Vec<&'a Person> {
            list.into_iter()
                .flatten()
                .copied()
                .filter(|m| m.id != p.id)
                .collect()
        };
        if let Some(partner) = p.partner_id {
            return others(self.by_partner.get(&partner));
        }
        // From the person's unit up to the root: the first with managers (other than them).
        let mut unit = p.org_path.as_deref();
        while let Some(path) = unit {
            let found = others(self.by_unit.get(path));
            if !found.is_empty() {
                return found;
            }
            unit = path.rfind('/').map(|i| &path[..i]);
        }
        Vec::new()
    }
}

/// Which list of a digest a line belongs to.
#[derive(Debug, Clone, Copy)]
enum List {
    Own,
    Team,
    Hr,
    Sessions,
    Plan,
}

/// What a line says, before its text is written: a stage of one of the day's cycles, or a
/// line written already (sessions, the equality plan: a few per day).
enum Source {
    Stage {
        cycle: usize,
        kind: StageKind,
        to: Recipient,
        days: i64,
    },
    Ready(Box<Line>),
}

/// A line of a recipient's digest, not written out yet.
struct Pending {
    list: List,
    /// The stage key with the recipient: recorded once queued, never queued twice.
    key: String,
    source: Source,
}

/// The reminders of a day before their text is written: the digests hold indices into
/// the day's cycles, and a digest's lines are written only when it is rendered. A day
/// when the whole city has a reminder never holds the text of every line at once.
pub struct Day {
    cycles: Vec<super::Cycle>,
    people: Vec<Person>,
    index: HashMap<Uuid, usize>,
    titles: HashMap<String, String>,
    public_url: String,
    /// Recipients in id order, each with their lines in the order found.
    digests: Vec<(Uuid, Vec<Pending>)>,
}

impl Day {
    fn person(&self, id: Uuid) -> Option<&Person> {
        self.index.get(&id).map(|&i| &self.people[i])
    }

    /// How many recipients have a digest.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Writes out the digests of `digests` (a slice of the day's).
    fn write(&self, digests: &[(Uuid, Vec<Pending>)]) -> Vec<Planned> {
        digests
            .iter()
            .filter_map(|(recipient, lines)| self.digest(*recipient, lines))
            .collect()
    }

    /// Every digest of the day, written out (the preview).
    pub fn planned(&self) -> Vec<Planned> {
        self.write(&self.digests)
    }

    fn digest(&self, recipient: Uuid, lines: &[Pending]) -> Option<Planned> {
        let r = self.person(recipient)?;
        let mut out = Planned {
            recipient,
            name: r.display_name.clone(),
            email: r.email.clone(),
            own: Vec::new(),
            team: Vec::new(),
            hr: Vec::new(),
            sessions: Vec::new(),
            plan: Vec::new(),
        };
        for pending in lines {
            let Some(line) = self.line(pending) else {
                continue;
            };
            match pending.list {
                List::Own => out.own.push(line),
                List::Team => out.team.push(line),
                List::Hr => out.hr.push(line),
                List::Sessions => out.sessions.push(line),
                List::Plan => out.plan.push(line),
            }
        }
        Some(out)
    }

    fn line(&self, pending: &Pending) -> Option<Line> {
        let (cycle, kind, to, days) = match &pending.source {
            Source::Ready(line) => return Some((**line).clone()),
            Source::Stage {
                cycle,
                kind,
                to,
                days,
            } => (&self.cycles[*cycle], *kind, *to, *days),
        };
        let person = self.person(cycle.user)?;
        let date = match kind {
            StageKind::BeforeExpiry => cycle.valid_until.unwrap_or(cycle.due_on),
            _ => cycle.due_on,
        };
        // A shared training offer is taken by enrolling in one of its sessions.
        let url = match crate::obligations::duty_offer(&cycle.module) {
            Some(offer) => format!("{}/formations?offre={offer}", self.public_url),
            None => format!("{}/modules/{}", self.public_url, cycle.module),
        };
        Some(Line {
            person: person.display_name.clone(),
            person_id: person.id,
            title: self
                .titles
                .get(&cycle.module)
                .cloned()
                .unwrap_or_else(|| cycle.module.clone()),
            module: cycle.module.clone(),
            url,
            sentence: sentence(kind, to, days, date),
            key: pending.key.clone(),
            obligation: cycle.obligation,
            open: cycle.open,
        })
    }
}

/// Who receives what on `today`, written out: every stage reached and not queued yet,
/// grouped by recipient. Nothing is written to the database.
pub async fn plan(
    db: &Db,
    catalog: &Catalog,
    public_url: &str,
    today: NaiveDate,
) -> Result<Vec<Planned>> {
    Ok(day(db, catalog, public_url, today).await?.planned())
}

/// The day's reminders, not written out yet (see [`Day`]).
pub async fn day(db: &Db, catalog: &Catalog, public_url: &str, today: NaiveDate) -> Result<Day> {
    let started = std::time::Instant::now();
    let settings = store::settings(db).await?;
    let people = store::people(db).await?;
    let index: HashMap<Uuid, usize> = people.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
    let mut cycles = store::cycles(db, &settings, today).await?;
    cycles.retain(|c| index.contains_key(&c.user));
    let by_id = |id: &Uuid| index.get(id).map(|&i| &people[i]);
    let hr: Vec<&Person> = people.iter().filter(|p| p.role == Role::Hr).collect();
    let managers = Managers::new(&people);
    let titles = crate::obligations::flow::titles(db, catalog).await?;
    let read = started.elapsed();
    // (recipient, line)
    let mut candidates: Vec<(Uuid, Pending)> = Vec::new();
    for (i, c) in cycles.iter().enumerate() {
        let Some(person) = by_id(&c.user) else {
            continue;
        };
        for stage in stages(&settings, c, today) {
            let (recipients, list): (Vec<&Person>, List) = match stage.to {
                Recipient::Person => (vec![person], List::Own),
                Recipient::Manager => (managers.of(person), List::Team),
                Recipient::Hr => (hr.clone(), List::Hr),
            };
            for r in recipients {
                candidates.push((
                    r.id,
                    Pending {
                        list,
                        key: format!("{}>{}", stage.key, r.id),
                        source: Source::Stage {
                            cycle: i,
                            kind: stage.kind,
                            to: stage.to,
                            days: stage.days,
                        },
                    },
                ));
            }
        }
    }
    // Shared sessions: the people holding a seat hear of it days before (7 and 1).
    if let Some(furthest) = settings.before_session.iter().max() {
        let from = crate::trainings::end_of_paris_day(today);
        let to = crate::trainings::end_of_paris_day(
            today + chrono::Duration::days(i64::from(*furthest)),
        );
        for b in crate::trainings::store::booked_between(db, from - chrono::Duration::days(1), to)
            .await?
        {
            let day = paris_today(b.starts_at);
            let days = (day - today).num_days();
            if days < 1 || !settings.before_session.contains(&(days as u32)) {
                continue;
            }
            let Some(person) = by_id(&b.user_id) else {
                continue;
            };
            let key = format!("session:{}:{days}:{day}>{}", b.enrolment_id, person.id);
            let line = Line {
                person: person.display_name.clone(),
                person_id: person.id,
                title: b.title.clone(),
                module: String::new(),
                url: format!("{public_url}/formations/sessions/{}", b.session_id),
                sentence: format!(
                    "session partagée le {}{}",
                    crate::trainings::paris_label(b.starts_at),
                    if days == 1 {
                        " (demain)".to_string()
                    } else {
                        format!(" (dans {days} jours)")
                    }
                ),
                key: key.clone(),
                obligation: Uuid::nil(),
                open: false,
            };
            candidates.push((
                person.id,
                Pending {
                    list: List::Sessions,
                    key,
                    source: Source::Ready(Box::new(line)),
                },
            ));
        }
    }
    // The equality plan: its action owners and HR's monthly digest.
    let hr_ids: Vec<Uuid> = hr.iter().map(|p| p.id).collect();
    for r in crate::equality::flow::reminders(db, public_url, &hr_ids, today).await? {
        let Some(person) = by_id(&r.recipient) else {
            continue;
        };
        let line = Line {
            person: person.display_name.clone(),
            person_id: person.id,
            title: r.title,
            module: String::new(),
            url: r.url,
            sentence: r.sentence,
            key: r.key.clone(),
            obligation: Uuid::nil(),
            open: false,
        };
        candidates.push((
            person.id,
            Pending {
                list: List::Plan,
                key: r.key,
                source: Source::Ready(Box::new(line)),
            },
        ));
    }
    let staged = started.elapsed();
    let done = {
        let keys: Vec<&str> = candidates.iter().map(|(_, p)| p.key.as_str()).collect();
        store::logged(db, &keys).await?
    };
    let mut digests: BTreeMap<Uuid, Vec<Pending>> = BTreeMap::new();
    for ((recipient, pending), done) in candidates.into_iter().zip(done) {
        if !done && index.contains_key(&recipient) {
            digests.entry(recipient).or_default().push(pending);
        }
    }
    tracing::debug!(
        read_ms = read.as_millis() as u64,
        stages_ms = (staged - read).as_millis() as u64,
        log_ms = (started.elapsed() - staged).as_millis() as u64,
        "reminders of the day"
    );
    Ok(Day {
        cycles,
        people,
        index,
        titles,
        public_url: public_url.to_string(),
        digests: digests.into_iter().collect(),
    })
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub digests: u64,
    pub stages: u64,
    pub campaign_mails: u64,
}

impl SweepReport {
    pub fn summary(&self) -> String {
        format!(
            "{} courriel(s) de rappel ({} rappel(s)), {} courriel(s) de campagne",
            self.digests, self.stages, self.campaign_mails
        )
    }
}

fn digest_mail(ctx: &Context<'_>, p: &Planned, today: NaiveDate, hr_days: u32) -> Result<Outgoing> {
    let count = p.lines().count();
    let subject =
        if p.own.is_empty() && p.team.is_empty() && p.hr.is_empty() && p.sessions.is_empty() {
            match p.plan.as_slice() {
                [one] => format!("Plan d'égalité professionnelle : {}", one.title),
                _ => format!("Plan d'égalité professionnelle : {count} rappels"),
            }
        } else if p.own.is_empty() && p.team.is_empty() && p.hr.is_empty() {
            match p.sessions.as_slice() {
                [one] => format!("Formation partagée : {}", one.title),
                _ => format!("Vos formations partagées à venir : {count} rappels"),
            }
        } else if p.team.is_empty() && p.hr.is_empty() {
            if p.own.len() == 1 {
                format!("Formation obligatoire : {}", p.own[0].title)
            } else {
                format!("Vos formations obligatoires : {count} rappels")
            }
        } else {
            format!(
                "Formations obligatoires : {count} rappel(s) du {}",
                french_date(today)
            )
        };
    let context = json!({
        "subject": subject,
        "name": p.name,
        "own": p.own,
        "team": p.team,
        "hr": p.hr,
        "sessions": p.sessions,
        "plan": p.plan,
        "hr_days": hr_days,
        "team_url": format!("{}/equipe/obligations?etat=overdue", ctx.public_url),
        "hr_url": format!("{}/rh/obligations", ctx.public_url),
        "public_url": ctx.public_url,
    });
    let (text, html) = ctx.views.mail("reminder", &context)?;
    let mut obligations: Vec<Uuid> = p.lines().map(|l| l.obligation).collect();
    obligations.sort();
    obligations.dedup();
    Ok(Outgoing {
        kind: MailKind::Reminder,
        user_id: Some(p.recipient),
        recipient: p.email.clone(),
        subject,
        text,
        html: Some(html),
        attachments: Vec::new(),
        sensitive: false,
        dedupe_key: Some(format!("digest:{}:{today}", p.recipient)),
        // A digest of expiry notices only (nothing open) is never dropped.
        obligation_ids: if p.lines().all(|l| l.open) {
            obligations
        } else {
            Vec::new()
        },
        list_unsubscribe: None,
    })
}

/// The hourly sweep (working hours): queues today's digests and the campaigns that go out
/// today. Running it again the same day queues nothing new.
pub async fn sweep(db: &Db, ctx: &Context<'_>, now: DateTime<Utc>) -> Result<SweepReport> {
    let today = paris_today(now);
    let settings = store::settings(db).await?;
    let started = std::time::Instant::now();
    let day = day(db, ctx.catalog, ctx.public_url, today).await?;
    let planned_in = started.elapsed();
    let (mut queued, mut recorded) = (0, 0);
    // Written out, rendered and queued a thousand recipients at a time: the lines and mails
    // of the whole city are never all in memory at once.
    for chunk in day.digests.chunks(1000) {
        let planned = day.write(chunk);
        let mut digests = Vec::with_capacity(planned.len());
        for p in &planned {
            digests.push(Digest {
                recipient: p.recipient,
                mail: digest_mail(ctx, p, today, settings.escalate_hr)?,
                stages: p
                    .lines()
                    .map(|l| {
                        (
                            l.key.clone(),
                            (!l.obligation.is_nil()).then_some(l.obligation),
                        )
                    })
                    .collect(),
            });
        }
        let (q, r) = store::queue(db, &digests, now).await?;
        queued += q;
        recorded += r;
    }
    tracing::info!(
        plan_ms = planned_in.as_millis() as u64,
        queue_ms = (started.elapsed() - planned_in).as_millis() as u64,
        recipients = day.len(),
        queued,
        "reminders sweep"
    );
    let campaign_mails = campaigns_due(db, ctx, today, now).await?;
    Ok(SweepReport {
        digests: queued,
        stages: recorded,
        campaign_mails,
    })
}

/// Queues the campaign mails that go out on `today`, once per person, campaign and year.
async fn campaigns_due(
    db: &Db,
    ctx: &Context<'_>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<u64> {
    let due: Vec<(Campaign, i32)> = store::campaigns(db)
        .await?
        .into_iter()
        .filter(|c| c.active)
        .filter_map(|c| c.year_sending_on(today).map(|y| (c, y)))
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let subscribers = store::subscribers(db).await?;
    let mut sent = 0;
    for (c, year) in due {
        let modules: Vec<_> = c
            .modules
            .iter()
            .filter_map(|slug| ctx.catalog.get(slug))
            .map(|m| json!({ "title": m.title, "url": format!("{}/modules/{}", ctx.public_url, m.slug) }))
            .collect();
        let mut digests = Vec::new();
        for s in subscribers.iter().filter(|s| c.for_person(&s.audiences())) {
            let Some(token) = &s.preference_token else {
                continue;
            };
            let unsubscribe = format!("{}/desabonnement/{token}", ctx.public_url);
            let context = json!({
                "subject": c.name, "name": s.display_name, "text": c.text, "modules": modules,
                "unsubscribe_url": unsubscribe,
                "preferences_url": format!("{}/preferences", ctx.public_url),
            });
            let (text, html) = ctx.views.mail("campaign", &context)?;
            digests.push(Digest {
                recipient: s.id,
                mail: Outgoing {
                    kind: MailKind::Campaign,
                    user_id: Some(s.id),
                    recipient: s.email.clone(),
                    subject: c.name.clone(),
                    text,
                    html: Some(html),
                    attachments: Vec::new(),
                    sensitive: false,
                    dedupe_key: Some(format!("campaign:{}:{year}:{}", c.id, s.id)),
                    obligation_ids: Vec::new(),
                    list_unsubscribe: Some(unsubscribe),
                },
                stages: Vec::new(),
            });
        }
        sent += store::queue(db, &digests, now).await?.0;
    }
    Ok(sent)
}

/// The reminder rules as typed in the form.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct SettingsInput {
    pub before_due: String,
    pub overdue_first: String,
    pub overdue_every: String,
    pub escalate_team: String,
    pub escalate_hr: String,
    pub before_expiry: String,
    /// Empty: the default days (7 and 1).
    #[serde(default)]
    pub before_session: String,
}

impl SettingsInput {
    pub fn of(s: &Settings) -> SettingsInput {
        let days = |d: &[u32]| d.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        SettingsInput {
            before_due: days(&s.before_due),
            overdue_first: s.overdue_first.to_string(),
            overdue_every: s.overdue_every.to_string(),
            escalate_team: s.escalate_team.to_string(),
            escalate_hr: s.escalate_hr.to_string(),
            before_expiry: days(&s.before_expiry),
            before_session: days(&s.before_session),
        }
    }
}

/// Checks and saves the reminder rules (HR); audited.
pub async fn save_settings(
    db: &Db,
    by: &User,
    input: &SettingsInput,
    client: Option<IpAddr>,
) -> Result<Settings> {
    let mut problems = Vec::new();
    let mut days = |label: &str, text: &str| match super::parse_days(label, text) {
        Ok(d) => d,
        Err(e) => {
            problems.push(e);
            Vec::new()
        }
    };
    let before_due = days("Avant l'échéance", &input.before_due);
    let before_expiry = days("Avant la fin de validité", &input.before_expiry);
    let before_session = if input.before_session.trim().is_empty() {
        Settings::default().before_session
    } else {
        days("Avant une session partagée", &input.before_session)
    };
    let mut number = |label: &str, text: &str| match text.trim().parse::<u32>() {
        Ok(n) if (1..=365).contains(&n) => n,
        _ => {
            problems.push(format!(
                "{label} : « {} » n'est pas un nombre de jours entre 1 et 365.",
                text.trim()
            ));
            1
        }
    };
    let s = Settings {
        before_due,
        overdue_first: number("Premier rappel de retard", &input.overdue_first),
        overdue_every: number("Puis tous les", &input.overdue_every),
        escalate_team: number("Alerte à l'encadrement", &input.escalate_team),
        escalate_hr: number("Alerte aux RH", &input.escalate_hr),
        before_expiry,
        before_session,
    };
    if problems.is_empty() && s.escalate_hr < s.escalate_team {
        problems.push(
            "Les RH sont alertées après l'encadrement : leur délai doit être au moins aussi long."
                .into(),
        );
    }
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems.join(" ")));
    }
    let event = Event::by(Some(by), Kind::ReminderSettings, "rappels")
        .details(format!(
            "avant l'échéance {:?}, retard {}+{}, encadrement {}, RH {}, fin de validité {:?}, sessions {:?}",
            s.before_due,
            s.overdue_first,
            s.overdue_every,
            s.escalate_team,
            s.escalate_hr,
            s.before_expiry,
            s.before_session
        ))
        .client(client);
    store::save_settings(db, &s, by.id, db::now(), &event).await?;
    Ok(s)
}

pub async fn settings(db: &Db) -> Result<Settings> {
    store::settings(db).await
}

/// A campaign as typed in the form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CampaignInput {
    pub name: String,
    pub month: String,
    pub day: String,
    pub days_before: String,
    pub text: String,
    pub modules: Vec<String>,
    pub audiences: Vec<String>,
    pub active: bool,
}

/// Checks and saves a campaign (HR); audited.
pub async fn save_campaign(
    db: &Db,
    catalog: &Catalog,
    by: &User,
    id: Option<Uuid>,
    input: &CampaignInput,
    client: Option<IpAddr>,
) -> Result<Campaign> {
    let mut problems = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        problems.push("Donnez un nom à la campagne (200 caractères au plus).".to_string());
    }
    let text = input.text.trim();
    if text.chars().count() < 10 || text.chars().count() > 4000 {
        problems.push("Le texte du message doit compter de 10 à 4 000 caractères.".to_string());
    }
    let month = input.month.trim().parse::<u32>().unwrap_or(0);
    let day = input.day.trim().parse::<u32>().unwrap_or(0);
    if !super::valid_key_day(month, day) {
        problems.push(format!(
            "Le {} / {} n'est pas une date du calendrier.",
            input.day.trim(),
            input.month.trim()
        ));
    }
    let days_before = match input.days_before.trim().parse::<u32>() {
        Ok(n) if n <= 60 => n,
        _ => {
            problems.push("L'envoi se fait de 0 à 60 jours avant la journée.".to_string());
            0
        }
    };
    for m in &input.modules {
        if catalog.get(m).is_none() {
            problems.push(format!("Module inconnu : « {m} »."));
        }
    }
    let mut audiences = Vec::new();
    for a in &input.audiences {
        match crate::catalog::Audience::parse(a) {
            Some(a) => audiences.push(a),
            None => problems.push(format!("Public inconnu : « {a} ».")),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems.join(" ")));
    }
    let id = match id {
        Some(id) => {
            campaign(db, id).await?;
            id
        }
        None => Uuid::new_v4(),
    };
    let c = Campaign {
        id,
        name: name.into(),
        month,
        day,
        days_before,
        text: text.into(),
        modules: input.modules.clone(),
        audiences,
        active: input.active,
    };
    let event = Event::by(Some(by), Kind::CampaignSaved, &c.name)
        .details(format!(
            "le {day:02}/{month:02}, {days_before} jour(s) avant{}",
            if c.active { "" } else { ", inactive" }
        ))
        .client(client);
    store::save_campaign(db, &c, db::now(), Some(&event)).await?;
    Ok(c)
}

pub async fn campaigns(db: &Db) -> Result<Vec<Campaign>> {
    store::campaigns(db).await
}

pub async fn campaign(db: &Db, id: Uuid) -> Result<Campaign> {
    store::campaigns(db)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| Error::NotFound("Cette campagne n'existe pas.".into()))
}

/// The default campaigns, with the modules that fit each key day when the catalogue has
/// them.
pub async fn seed(db: &Db, catalog: &Catalog) -> Result<()> {
    let fit = |name: &str| -> Vec<String> {
        let wanted: &[&str] = if name.contains("femmes") {
            &["sexisme-et-harcelement", "egalite-professionnelle"]
        } else if name.contains("raciale") {
            &["comprendre-les-discriminations", "stereotypes-et-prejuges"]
        } else if name.contains("handicap") {
            &["accueillir-les-personnes-handicapees"]
        } else {
            &["comprendre-les-discriminations"]
        };
        wanted
            .iter()
            .filter(|s| catalog.get(s).is_some())
            .map(|s| s.to_string())
            .collect()
    };
    store::seed_campaigns(db, fit, db::now()).await
}

pub async fn receives_campaigns(db: &Db, user: Uuid) -> Result<bool> {
    store::receives_campaigns(db, user).await
}

pub async fn set_campaigns(db: &Db, user: Uuid, receive: bool) -> Result<()> {
    store::set_campaigns(db, user, receive).await
}

/// One-click unsubscribe from a campaign mail: true when the token was known.
pub async fn unsubscribe(db: &Db, token: &str) -> Result<bool> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(false);
    }
    Ok(store::unsubscribe(db, token).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(role: Role, unit: Option<&str>, partner: Option<Uuid>) -> Person {
        Person {
            id: Uuid::new_v4(),
            email: String::new(),
            display_name: String::new(),
            role,
            org_path: unit.map(String::from),
            partner_id: partner,
        }
    }

    #[test]
    fn late_lines_go_to_the_closest_managers_above_or_to_the_partner_referents() {
        let partner = Uuid::new_v4();
        let people = vec![
            person(Role::Manager, Some("Ville/Direction"), None),
            person(Role::Manager, Some("Ville/Direction/Service"), None),
            person(Role::Manager, Some("Ville/Direction/Service"), None),
            person(Role::Manager, Some("Ville/Direction/Servicebis"), None),
            person(Role::PartnerReferent, None, Some(partner)),
            person(Role::Learner, Some("Ville/Direction/Service/Équipe"), None),
            person(Role::Learner, None, Some(partner)),
            person(Role::Learner, Some("Ailleurs"), None),
        ];
        let managers = Managers::new(&people);
        let ids = |list: Vec<&Person>| {
            let mut ids: Vec<Uuid> = list.into_iter().map(|p| p.id).collect();
            ids.sort();
            ids
        };
        let sorted = |mut v: Vec<Uuid>| {
            v.sort();
            v
        };
        // An agent in a team: the two managers of the service above, not the direction's,
        // not those of a unit whose name merely starts the same.
        assert_eq!(
            ids(managers.of(&people[5])),
            sorted(vec![people[1].id, people[2].id])
        );
        // A manager of the service: the other one at the same level, not themselves.
        assert_eq!(ids(managers.of(&people[1])), vec![people[2].id]);
        // The manager of the other service: up to the direction.
        assert_eq!(ids(managers.of(&people[3])), vec![people[0].id]);
        // Partner staff: their organisation's referents; a referent has no one else.
        assert_eq!(ids(managers.of(&people[6])), vec![people[4].id]);
        assert!(managers.of(&people[4]).is_empty());
        // No manager anywhere above.
        assert!(managers.of(&people[7]).is_empty());
    }
}
