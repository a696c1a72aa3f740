//! Reminders: which reminder stage applies to an obligation on a given day, who receives
//! it, and the campaigns of the plan's key days. Plain functions here; SQL in `store.rs`,
//! the sweep and the preview in `flow.rs`, pages in `routes.rs`.
//!
//! Each stage has a key that is recorded once sent (`reminder_log`), so a stage is never
//! queued twice; the stage that applies on a day is the latest one reached, so a day the
//! sweep did not run costs at most a late reminder, never a burst of old ones.

pub mod flow;
pub mod routes;
pub mod store;

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::Audience;

/// The reminder rules, editable by HR. Days are counted from the due date (before it,
/// after it) or from the end of a certificate's validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Days before the due date (14 and 3).
    pub before_due: Vec<u32>,
    /// First reminder this many days after the due date (1)…
    pub overdue_first: u32,
    /// …then every this many days (7).
    pub overdue_every: u32,
    /// The manager (partner referent for partner staff) hears of it after this many days
    /// overdue (14)…
    pub escalate_team: u32,
    /// …and HR after this many (30).
    pub escalate_hr: u32,
    /// Days before a certificate's end of validity (60, 30, 7).
    pub before_expiry: Vec<u32>,
    /// Days before a shared session, to the people holding a seat (7 and 1).
    pub before_session: Vec<u32>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            before_due: vec![14, 3],
            overdue_first: 1,
            overdue_every: 7,
            escalate_team: 14,
            escalate_hr: 30,
            before_expiry: vec![60, 30, 7],
            before_session: vec![7, 1],
        }
    }
}

/// Parses « 14, 3 » into days, largest first; every problem in French.
pub fn parse_days(label: &str, text: &str) -> Result<Vec<u32>, String> {
    let mut days = Vec::new();
    for part in text.split([',', ';', ' ']).filter(|p| !p.trim().is_empty()) {
        match part.trim().parse::<u32>() {
            Ok(n) if (1..=365).contains(&n) => days.push(n),
            _ => {
                return Err(format!(
                    "{label} : « {} » n'est pas un nombre de jours entre 1 et 365.",
                    part.trim()
                ))
            }
        }
    }
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    Ok(days)
}

/// Who a stage is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    /// The person who must train.
    Person,
    /// Their manager, or the referent of their partner organisation.
    Manager,
    /// HR.
    Hr,
}

/// What a stage says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// Due in `days` days.
    BeforeDue,
    /// `days` days late.
    Overdue,
    /// A certificate ends in `days` days (and the renewal is due then).
    BeforeExpiry,
}

/// A reminder due for an obligation on a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub kind: StageKind,
    pub to: Recipient,
    /// The stage's number of days (before the date, or late).
    pub days: i64,
    /// Recorded once sent: never queued twice.
    pub key: String,
}

/// The facts of a current cycle a reminder depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub obligation: Uuid,
    pub user: Uuid,
    pub module: String,
    pub cycle: i64,
    pub due_on: NaiveDate,
    /// Still to do (not completed, not closed).
    pub open: bool,
    /// Completed and not renewed yet: the end of its validity.
    pub valid_until: Option<NaiveDate>,
}

/// The latest of `offsets` days before `date` that `today` has reached, if `today` is not
/// past `date`.
fn latest_before(offsets: &[u32], date: NaiveDate, today: NaiveDate) -> Option<i64> {
    if today > date {
        return None;
    }
    offsets
        .iter()
        .map(|&d| i64::from(d))
        .filter(|&d| today >= date - Duration::days(d))
        .min()
}

/// The stages that apply to `c` on `today`: at most one for the person, and the
/// escalations reached.
pub fn stages(s: &Settings, c: &Cycle, today: NaiveDate) -> Vec<Stage> {
    let mut out = Vec::new();
    // Expiry reminders are keyed by person, module and end date, not by cycle: the renewal
    // cycle that opens in the window carries the same end date, so nothing is said twice.
    let expiry_key =
        |days: i64, end: NaiveDate| format!("expiry:{}:{}:{end}:{days}", c.user, c.module);
    if !c.open {
        if let Some(end) = c.valid_until {
            if let Some(days) = latest_before(&s.before_expiry, end, today) {
                out.push(Stage {
                    kind: StageKind::BeforeExpiry,
                    to: Recipient::Person,
                    days,
                    key: expiry_key(days, end),
                });
            }
        }
        return out;
    }
    let late = (today - c.due_on).num_days();
    if late <= 0 {
        // A renewal (cycle 2 and later) is due on the end of the previous validity: its
        // reminders are the expiry ones.
        let (offsets, kind) = if c.cycle > 1 {
            (&s.before_expiry, StageKind::BeforeExpiry)
        } else {
            (&s.before_due, StageKind::BeforeDue)
        };
        if let Some(days) = latest_before(offsets, c.due_on, today) {
            out.push(Stage {
                kind,
                to: Recipient::Person,
                days,
                key: if kind == StageKind::BeforeExpiry {
                    expiry_key(days, c.due_on)
                } else {
                    format!("due:{}:{days}", c.obligation)
                },
            });
        }
        return out;
    }
    let first = i64::from(s.overdue_first);
    let every = i64::from(s.overdue_every.max(1));
    if late >= first {
        let days = first + (late - first) / every * every;
        out.push(Stage {
            kind: StageKind::Overdue,
            to: Recipient::Person,
            days,
            key: format!("overdue:{}:{days}", c.obligation),
        });
    }
    if late >= i64::from(s.escalate_team) {
        out.push(Stage {
            kind: StageKind::Overdue,
            to: Recipient::Manager,
            days: late,
            key: format!("manager:{}", c.obligation),
        });
    }
    if late >= i64::from(s.escalate_hr) {
        out.push(Stage {
            kind: StageKind::Overdue,
            to: Recipient::Hr,
            days: late,
            key: format!("hr:{}", c.obligation),
        });
    }
    out
}

/// A campaign on one of the plan's key days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Campaign {
    pub id: Uuid,
    pub name: String,
    pub month: u32,
    pub day: u32,
    /// Days before the key day when it goes out.
    pub days_before: u32,
    pub text: String,
    pub modules: Vec<String>,
    /// Empty: everyone.
    pub audiences: Vec<Audience>,
    pub active: bool,
}

impl Campaign {
    /// The day it goes out in `year`: `days_before` days before its key day. The key day is
    /// a valid date by construction (checked on save; 29 February falls on the 28th in
    /// other years).
    pub fn sends_on(&self, year: i32) -> Option<NaiveDate> {
        let key_day = NaiveDate::from_ymd_opt(year, self.month, self.day).or_else(|| {
            (self.month == 2 && self.day == 29)
                .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
                .flatten()
        })?;
        Some(key_day - Duration::days(i64::from(self.days_before)))
    }

    /// The campaign that sends on `today`, looking at this year's key day and next year's
    /// (a campaign a few days before 3 January sends in December).
    pub fn year_sending_on(&self, today: NaiveDate) -> Option<i32> {
        [today.year(), today.year() + 1]
            .into_iter()
            .find(|&y| self.sends_on(y) == Some(today))
    }

    pub fn for_person(&self, audiences: &[Audience]) -> bool {
        self.audiences.is_empty()
            || audiences.contains(&Audience::Tous)
            || self.audiences.iter().any(|a| audiences.contains(a))
    }
}

/// Checks a key day: a real date in a leap year (so 29 February is allowed, 30 February
/// is not).
pub fn valid_key_day(month: u32, day: u32) -> bool {
    NaiveDate::from_ymd_opt(2024, month, day).is_some()
}

/// The plan's key days, as the default campaigns.
pub const DEFAULT_CAMPAIGNS: &[(&str, u32, u32, &str)] = &[
    (
        "Journée internationale des droits des femmes",
        3,
        8,
        "Le 8 mars, journée internationale des droits des femmes : c'est l'occasion de revoir comment repérer le sexisme et les inégalités entre les femmes et les hommes au travail.",
    ),
    (
        "Journée internationale pour l'élimination de la discrimination raciale",
        3,
        21,
        "Le 21 mars, journée internationale pour l'élimination de la discrimination raciale : un module court pour repérer les discriminations liées à l'origine, au guichet comme au recrutement.",
    ),
    (
        "Journée mondiale contre l'homophobie et la transphobie",
        5,
        17,
        "Le 17 mai, journée mondiale contre l'homophobie et la transphobie : l'orientation sexuelle et l'identité de genre sont des critères de discrimination interdits par la loi.",
    ),
    (
        "Semaine européenne pour l'emploi des personnes handicapées",
        11,
        16,
        "En novembre, la semaine européenne pour l'emploi des personnes handicapées : accueil, aménagements raisonnables, recrutement, faisons le point.",
    ),
    (
        "Journée internationale pour l'élimination de la violence à l'égard des femmes",
        11,
        25,
        "Le 25 novembre, journée internationale pour l'élimination de la violence à l'égard des femmes : savoir repérer, écouter et orienter.",
    ),
    (
        "Journée internationale des personnes handicapées",
        12,
        3,
        "Le 3 décembre, journée internationale des personnes handicapées : l'accessibilité de l'accueil et le handicap comme critère de discrimination.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn cycle(due: &str, open: bool, valid: Option<&str>, n: i64) -> Cycle {
        Cycle {
            obligation: Uuid::nil(),
            user: Uuid::nil(),
            module: "m".into(),
            cycle: n,
            due_on: d(due),
            open,
            valid_until: valid.map(d),
        }
    }

    fn one(s: &Settings, c: &Cycle, today: &str) -> Vec<(Recipient, i64)> {
        stages(s, c, d(today))
            .into_iter()
            .map(|s| (s.to, s.days))
            .collect()
    }

    #[test]
    fn before_due_then_overdue_weekly_then_escalations() {
        let s = Settings::default();
        let c = cycle("2027-01-31", true, None, 1);
        assert!(one(&s, &c, "2027-01-16").is_empty());
        assert_eq!(one(&s, &c, "2027-01-17"), [(Recipient::Person, 14)]);
        assert_eq!(one(&s, &c, "2027-01-27"), [(Recipient::Person, 14)]);
        assert_eq!(one(&s, &c, "2027-01-28"), [(Recipient::Person, 3)]);
        assert_eq!(one(&s, &c, "2027-01-31"), [(Recipient::Person, 3)]);
        assert_eq!(one(&s, &c, "2027-02-01"), [(Recipient::Person, 1)]);
        assert_eq!(one(&s, &c, "2027-02-07"), [(Recipient::Person, 1)]);
        assert_eq!(one(&s, &c, "2027-02-08"), [(Recipient::Person, 8)]);
        assert_eq!(
            one(&s, &c, "2027-02-14"),
            [(Recipient::Person, 8), (Recipient::Manager, 14)]
        );
        assert_eq!(
            one(&s, &c, "2027-03-02"),
            [
                (Recipient::Person, 29),
                (Recipient::Manager, 30),
                (Recipient::Hr, 30)
            ]
        );
        // Keys: the same stage has the same key on every day it applies.
        let k = |t: &str| stages(&s, &c, d(t))[0].key.clone();
        assert_eq!(k("2027-01-17"), k("2027-01-20"));
        assert_ne!(k("2027-01-17"), k("2027-01-28"));
        assert_eq!(
            stages(&s, &c, d("2027-02-20"))[1].key,
            stages(&s, &c, d("2027-03-20"))[1].key
        );
    }

    #[test]
    fn expiry_reminders_are_the_same_for_the_old_and_the_renewal_cycle() {
        let s = Settings::default();
        let done = cycle("2025-01-01", false, Some("2027-03-01"), 1);
        let renewal = Cycle {
            obligation: Uuid::new_v4(),
            ..cycle("2027-03-01", true, None, 2)
        };
        let old = stages(&s, &done, d("2027-01-01"));
        assert_eq!(old[0].days, 60);
        let new = stages(&s, &renewal, d("2027-01-05"));
        assert_eq!(new[0].kind, StageKind::BeforeExpiry);
        assert_eq!(new[0].key, old[0].key, "one expiry-60 reminder, not two");
        assert_eq!(stages(&s, &renewal, d("2027-02-22"))[0].days, 7);
        assert!(stages(&s, &done, d("2027-03-02")).is_empty());
    }

    #[test]
    fn campaigns_send_days_before_their_key_day() {
        let c = Campaign {
            id: Uuid::nil(),
            name: "x".into(),
            month: 1,
            day: 3,
            days_before: 7,
            text: String::new(),
            modules: vec![],
            audiences: vec![Audience::Accueil],
            active: true,
        };
        assert_eq!(c.sends_on(2027), Some(d("2026-12-27")));
        assert_eq!(c.year_sending_on(d("2026-12-27")), Some(2027));
        assert_eq!(c.year_sending_on(d("2026-12-28")), None);
        assert!(c.for_person(&[Audience::Accueil, Audience::Social]));
        assert!(!c.for_person(&[Audience::Rh]));
        assert!(valid_key_day(2, 29));
        assert!(!valid_key_day(2, 30));
        assert!(!valid_key_day(13, 1));
        let leap = Campaign {
            month: 2,
            day: 29,
            days_before: 0,
            ..c
        };
        assert_eq!(leap.sends_on(2027), Some(d("2027-02-28")));
        assert_eq!(parse_days("Avant l'échéance", "3, 14 14"), Ok(vec![14, 3]));
        assert!(parse_days("x", "-1").is_err());
    }
}
