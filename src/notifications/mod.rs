//! Notifications: every e-mail the service sends goes through an outbox.
//!
//! A state change that causes a mail writes an outbox row in its own transaction
//! ([`store::enqueue!`]); a background worker ([`worker`]) claims due rows, hands them to the
//! [`transport::Transport`] (an SMTP relay, or in development a folder of `.eml` files read
//! by the development mailbox), and records the outcome: sent, retried later with backoff,
//! or failed after the last try (visible to admins, who can send it again).
//!
//! Guarantees: a queued row is delivered **at least once** to the relay (a crash between
//! sending and recording sends it again after its lease runs out, with the same
//! `Message-ID`, so the copy is recognisable); a row with a `dedupe_key` is queued **at most
//! once** (unique key, "do nothing on conflict").

pub mod mailbox;
pub mod routes;
pub mod store;
pub mod transport;
pub mod worker;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Tries before a message is kept as failed.
pub const MAX_TRIES: i64 = 8;
/// First retry delay; each later one is three times longer, up to [`MAX_BACKOFF_MINUTES`].
pub const FIRST_BACKOFF_MINUTES: i64 = 1;
pub const MAX_BACKOFF_MINUTES: i64 = 6 * 60;
/// How long a worker owns a claimed row before another may take it again.
pub const LEASE_MINUTES: i64 = 5;

/// The delay before the next try, after `tries` failed tries (1 minute, 3, 9, 27, 81, 243,
/// then 6 hours).
pub fn backoff(tries: i64) -> Duration {
    let mut minutes = FIRST_BACKOFF_MINUTES;
    for _ in 1..tries.max(1) {
        minutes = (minutes * 3).min(MAX_BACKOFF_MINUTES);
    }
    Duration::minutes(minutes.min(MAX_BACKOFF_MINUTES))
}

/// What a failed try leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

/// The rule after the `tries`-th try failed at `now`.
pub fn after_failure(tries: i64, now: DateTime<Utc>) -> AfterFailure {
    if tries >= MAX_TRIES {
        AfterFailure::GiveUp
    } else {
        AfterFailure::RetryAt(now + backoff(tries))
    }
}

/// The state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Sending,
    Sent,
    Failed,
    /// A reminder whose obligations were all met before it left: not sent.
    Dropped,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Dropped => "dropped",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Queued => "En attente",
            Status::Sending => "En cours d'envoi",
            Status::Sent => "Envoyé",
            Status::Failed => "Échec",
            Status::Dropped => "Abandonné (plus rien à rappeler)",
        }
    }

    pub fn parse(code: &str) -> Option<Status> {
        Some(match code {
            "queued" => Status::Queued,
            "sending" => Status::Sending,
            "sent" => Status::Sent,
            "failed" => Status::Failed,
            "dropped" => Status::Dropped,
            _ => return None,
        })
    }
}

impl TryFrom<String> for Status {
    type Error = String;
    fn try_from(code: String) -> Result<Status, String> {
        Status::parse(&code).ok_or_else(|| format!("unknown outbox status {code:?}"))
    }
}

/// Why a mail is sent: decides whether an admin may send it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A partner's one-time sign-in link: secret, short-lived, never resent.
    LoginLink,
    /// A test message an admin sends to check the relay.
    Test,
    /// A daily digest of training reminders (obligations due, late, expiring).
    Reminder,
    /// A campaign on one of the plan's key days (with List-Unsubscribe).
    Campaign,
    /// A shared training: booking, waiting list, change, cancellation, approval request.
    Training,
}

impl MailKind {
    pub fn code(self) -> &'static str {
        match self {
            MailKind::LoginLink => "login_link",
            MailKind::Test => "test",
            MailKind::Reminder => "reminder",
            MailKind::Campaign => "campaign",
            MailKind::Training => "training",
        }
    }

    /// Mail that waits for working hours (08:00–19:00 Paris, Monday to Friday), at queueing
    /// and at every retry.
    pub fn held_to_working_hours(self) -> bool {
        matches!(self, MailKind::Reminder | MailKind::Campaign)
    }

    pub fn parse(code: &str) -> Option<MailKind> {
        [
            MailKind::LoginLink,
            MailKind::Test,
            MailKind::Reminder,
            MailKind::Campaign,
            MailKind::Training,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }

    pub fn label(code: &str) -> &'static str {
        match code {
            "login_link" => "Lien de connexion",
            "test" => "Essai d'envoi",
            "reminder" => "Rappel de formation",
            "campaign" => "Campagne de sensibilisation",
            "training" => "Formation partagée",
            _ => "Autre",
        }
    }

    /// Whether an admin may queue a failed message of this kind again.
    pub fn resendable(code: &str) -> bool {
        code != MailKind::LoginLink.code()
    }
}

/// A file joined to a mail (a calendar invitation, a PDF).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    /// The bytes, base64 (standard alphabet), as stored.
    pub data: String,
}

/// A mail to queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub kind: MailKind,
    pub user_id: Option<Uuid>,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Holds a secret: the body is blanked once delivered.
    pub sensitive: bool,
    /// When present, a second message with the same key is not queued.
    pub dedupe_key: Option<String>,
    /// A reminder's obligations: when all of them are met before it leaves, it is dropped.
    pub obligation_ids: Vec<Uuid>,
    /// The one-click unsubscribe address of a campaign mail (List-Unsubscribe).
    pub list_unsubscribe: Option<String>,
}

/// The first instant at or after `t` inside the working window: Monday to Friday, 08:00 to
/// 19:00 Paris time. Reminders and campaigns never leave outside it.
pub fn working_window(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{Datelike, NaiveTime, TimeZone, Timelike, Weekday};
    let paris = chrono_tz::Europe::Paris;
    let local = t.with_timezone(&paris);
    let weekday = |d: chrono::NaiveDate| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
    let date = local.date_naive();
    if weekday(date) && (8..19).contains(&local.hour()) {
        return t;
    }
    let mut day = if local.hour() < 8 {
        date
    } else {
        date + Duration::days(1)
    };
    while !weekday(day) {
        day += Duration::days(1);
    }
    let open = NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default();
    paris
        .from_local_datetime(&day.and_time(open))
        .earliest()
        .map(|x| x.with_timezone(&Utc))
        .unwrap_or(t)
}

/// The text that replaces a secret body once the mail has left.
pub const BLANKED_BODY: &str = "(contenu masqué après l'envoi : il contenait un lien de connexion)";

/// The stable `Message-ID` of an outbox row: the same at every try, so a copy sent again
/// after a crash is recognisable.
pub fn message_id(id: Uuid, public_url: &str) -> String {
    format!("<{}@{}>", id.simple(), mail_host(public_url))
}

/// The host of the public address, for identifiers that must be unique across the world
/// (`Message-ID`, calendar `UID`): `reperes.invalid` when there is none.
pub fn mail_host(public_url: &str) -> &str {
    public_url
        .split("://")
        .nth(1)
        .unwrap_or(public_url)
        .split(['/', ':'])
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("reperes.invalid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_from_one_minute_to_six_hours() {
        let minutes: Vec<i64> = (1..=MAX_TRIES).map(|t| backoff(t).num_minutes()).collect();
        assert_eq!(minutes, [1, 3, 9, 27, 81, 243, 360, 360]);
    }

    #[test]
    fn the_eighth_failure_gives_up() {
        let now = Utc::now();
        assert_eq!(
            after_failure(1, now),
            AfterFailure::RetryAt(now + Duration::minutes(1))
        );
        assert!(matches!(after_failure(7, now), AfterFailure::RetryAt(_)));
        assert_eq!(after_failure(8, now), AfterFailure::GiveUp);
    }

    #[test]
    fn message_ids_are_stable_and_name_the_host() {
        let id = Uuid::nil();
        assert_eq!(
            message_id(id, "https://reperes.nancy.fr/app"),
            "<00000000000000000000000000000000@reperes.nancy.fr>"
        );
        assert_eq!(
            message_id(id, "http://127.0.0.1:8000"),
            message_id(id, "http://127.0.0.1:8000")
        );
        assert!(message_id(id, "").ends_with("@reperes.invalid>"));
    }

    #[test]
    fn mail_waits_for_working_hours_in_paris() {
        let utc = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&Utc)
        };
        // Wednesday 2 December 2026, 10:00 Paris: now.
        assert_eq!(
            working_window(utc("2026-12-02T09:00:00Z")),
            utc("2026-12-02T09:00:00Z")
        );
        // 19:30 Paris → Thursday 08:00.
        assert_eq!(
            working_window(utc("2026-12-02T18:30:00Z")),
            utc("2026-12-03T07:00:00Z")
        );
        // Friday 20:00 → Monday 08:00.
        assert_eq!(
            working_window(utc("2026-12-04T19:00:00Z")),
            utc("2026-12-07T07:00:00Z")
        );
        // 06:00 on a Tuesday in summer (UTC+2) → 08:00 that day.
        assert_eq!(
            working_window(utc("2026-06-02T04:00:00Z")),
            utc("2026-06-02T06:00:00Z")
        );
    }

    #[test]
    fn login_links_are_never_resent() {
        assert!(!MailKind::resendable("login_link"));
        assert!(MailKind::resendable("test"));
    }
}
