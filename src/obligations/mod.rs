//! Mandatory training: assignment rules say who must complete which module by when; an
//! obligation is one cycle of that duty for one person (one per person, module and cycle).
//! This file holds the rules as plain functions (matching, due dates, states, the dry run's
//! difference); SQL in `store.rs`, use cases in `flow.rs`, the nightly sweep in `sweep.rs`,
//! pages in `routes.rs`, JSON in `api.rs`.

pub mod api;
pub mod flow;
pub mod routes;
pub mod store;
pub mod sweep;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};
use serde::Serialize;
use uuid::Uuid;

use crate::catalog::Audience;
use crate::people::in_subtree;

/// Days before the end of validity during which a completed cycle is « expiring » and the
/// next cycle is opened, due on the last day of validity.
pub const EXPIRING_DAYS: i64 = 60;

/// What the due date counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DueFrom {
    /// The day the obligation is assigned.
    Assignment,
    /// The person's arrival (hire date in the directory); the assignment day without one.
    Arrival,
}

impl DueFrom {
    pub fn code(self) -> &'static str {
        match self {
            DueFrom::Assignment => "assignment",
            DueFrom::Arrival => "arrival",
        }
    }

    pub fn parse(s: &str) -> Option<DueFrom> {
        [DueFrom::Assignment, DueFrom::Arrival]
            .into_iter()
            .find(|d| d.code() == s)
    }
}

impl TryFrom<String> for DueFrom {
    type Error = String;
    fn try_from(s: String) -> Result<DueFrom, String> {
        DueFrom::parse(&s).ok_or_else(|| format!("unknown due origin {s:?}"))
    }
}

/// Who a rule targets. Every criterion given must hold; at least one must be given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Target {
    pub audience: Option<Audience>,
    /// An org-unit path: the unit and everything under it.
    pub org_unit: Option<String>,
    pub partner_id: Option<Uuid>,
    /// Arrived on or after this day.
    pub arrived_after: Option<NaiveDate>,
    /// A word the job title contains (case-insensitive).
    pub title_word: Option<String>,
}

impl Target {
    pub fn is_empty(&self) -> bool {
        self.audience.is_none()
            && self.org_unit.is_none()
            && self.partner_id.is_none()
            && self.arrived_after.is_none()
            && self.title_word.is_none()
    }

    pub fn matches(&self, p: &Candidate) -> bool {
        if self.is_empty() {
            return false;
        }
        if let Some(a) = self.audience {
            if !p.audiences.contains(&a) {
                return false;
            }
        }
        if let Some(root) = &self.org_unit {
            match &p.org_path {
                Some(path) if in_subtree(root, path) => {}
                _ => return false,
            }
        }
        if let Some(partner) = self.partner_id {
            if p.partner_id != Some(partner) {
                return false;
            }
        }
        if let Some(after) = self.arrived_after {
            match p.hire_date {
                Some(d) if d >= after => {}
                _ => return false,
            }
        }
        if let Some(word) = &self.title_word {
            let word = word.to_lowercase();
            match &p.job_title {
                Some(t) if t.to_lowercase().contains(&word) => {}
                _ => return false,
            }
        }
        true
    }
}

/// An assignment rule: a target, a module, and how long people have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: Uuid,
    pub name: String,
    pub module_slug: String,
    pub target: Target,
    pub due_days: u32,
    pub due_from: DueFrom,
    pub active: bool,
}

/// What a rule needs to know about a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: Uuid,
    pub audiences: Vec<Audience>,
    pub org_path: Option<String>,
    pub partner_id: Option<Uuid>,
    pub hire_date: Option<NaiveDate>,
    pub job_title: Option<String>,
}

impl Rule {
    /// The due date for `p` if assigned on `today`.
    pub fn due_on(&self, p: &Candidate, today: NaiveDate) -> NaiveDate {
        let from = match self.due_from {
            DueFrom::Arrival => p.hire_date.unwrap_or(today),
            DueFrom::Assignment => today,
        };
        from + Duration::days(i64::from(self.due_days))
    }
}

/// Who must complete what: for each (person, module) targeted by an active rule, the rule
/// that gives the earliest due date (ties: the rule first in `rules`).
pub fn targets(
    rules: &[Rule],
    people: &[Candidate],
    today: NaiveDate,
) -> BTreeMap<(Uuid, String), (Uuid, NaiveDate)> {
    let mut out: BTreeMap<(Uuid, String), (Uuid, NaiveDate)> = BTreeMap::new();
    for rule in rules.iter().filter(|r| r.active) {
        for p in people.iter().filter(|p| rule.target.matches(p)) {
            let due = rule.due_on(p, today);
            out.entry((p.id, rule.module_slug.clone()))
                .and_modify(|e| {
                    if due < e.1 {
                        *e = (rule.id, due);
                    }
                })
                .or_insert((rule.id, due));
        }
    }
    out
}

/// What changing the rules would do: who gains and who loses an obligation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub gained: Vec<(Uuid, String)>,
    pub lost: Vec<(Uuid, String)>,
}

pub fn difference(
    before: &BTreeMap<(Uuid, String), (Uuid, NaiveDate)>,
    after: &BTreeMap<(Uuid, String), (Uuid, NaiveDate)>,
) -> Difference {
    let b: BTreeSet<_> = before.keys().collect();
    let a: BTreeSet<_> = after.keys().collect();
    Difference {
        gained: a.difference(&b).map(|k| (*k).clone()).collect(),
        lost: b.difference(&a).map(|k| (*k).clone()).collect(),
    }
}

/// Why a cycle was closed without a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Closure {
    /// HR exempted the person, with a reason.
    Exempt,
    /// The person was deactivated.
    Left,
    /// No rule targets the person for this module any more.
    Withdrawn,
}

impl Closure {
    pub fn code(self) -> &'static str {
        match self {
            Closure::Exempt => "exempt",
            Closure::Left => "left",
            Closure::Withdrawn => "withdrawn",
        }
    }
}

impl TryFrom<String> for Closure {
    type Error = String;
    fn try_from(s: String) -> Result<Closure, String> {
        [Closure::Exempt, Closure::Left, Closure::Withdrawn]
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| format!("unknown closure {s:?}"))
    }
}

/// Where a cycle stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Past due and not completed: listed first.
    Overdue,
    Assigned,
    InProgress,
    Expiring,
    Expired,
    Completed,
    Exempt,
    Left,
    Withdrawn,
}

impl State {
    pub fn code(self) -> &'static str {
        match self {
            State::Overdue => "overdue",
            State::Assigned => "assigned",
            State::InProgress => "in_progress",
            State::Expiring => "expiring",
            State::Expired => "expired",
            State::Completed => "completed",
            State::Exempt => "exempt",
            State::Left => "left",
            State::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.code() == s)
    }

    pub const ALL: [State; 9] = [
        State::Overdue,
        State::Assigned,
        State::InProgress,
        State::Expiring,
        State::Expired,
        State::Completed,
        State::Exempt,
        State::Left,
        State::Withdrawn,
    ];

    pub fn label(self) -> &'static str {
        match self {
            State::Overdue => "En retard",
            State::Assigned => "À faire",
            State::InProgress => "En cours",
            State::Expiring => "Expire bientôt",
            State::Expired => "Expirée",
            State::Completed => "Validée",
            State::Exempt => "Dispense accordée",
            State::Left => "Départ de la structure",
            State::Withdrawn => "Retirée",
        }
    }

    /// Still something to do for this cycle.
    pub fn is_open(self) -> bool {
        matches!(self, State::Overdue | State::Assigned | State::InProgress)
    }
}

/// The facts of one cycle that its state depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleFacts {
    pub due_on: NaiveDate,
    pub completed_on: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
    pub closure: Option<Closure>,
    /// A quiz attempt started since the cycle was assigned.
    pub started: bool,
}

/// The state of a cycle on `today` (Paris date).
pub fn state(c: &CycleFacts, today: NaiveDate) -> State {
    if let Some(closure) = c.closure {
        return match closure {
            Closure::Exempt => State::Exempt,
            Closure::Left => State::Left,
            Closure::Withdrawn => State::Withdrawn,
        };
    }
    if c.completed_on.is_some() {
        return match c.valid_until {
            Some(v) if today > v => State::Expired,
            Some(v) if today > v - Duration::days(EXPIRING_DAYS) => State::Expiring,
            _ => State::Completed,
        };
    }
    if today > c.due_on {
        State::Overdue
    } else if c.started {
        State::InProgress
    } else {
        State::Assigned
    }
}

/// The day the next cycle opens after a completion valid until `valid_until`: the first
/// day of its expiring window (the last [`EXPIRING_DAYS`] days, the last one included).
pub fn renewal_opens(valid_until: NaiveDate) -> NaiveDate {
    valid_until - Duration::days(EXPIRING_DAYS - 1)
}

/// A rule can assign a shared training offer instead of a module: its duty key is
/// `formation:<offer id>`, met by attending a session of the offer in full.
pub const OFFER_DUTY_PREFIX: &str = "formation:";

/// How long attending a shared training counts, in months (offers have no validity of
/// their own): the next cycle opens in the last 60 days.
pub const OFFER_VALIDITY_MONTHS: u32 = 36;

/// The duty key of a shared training offer.
pub fn offer_duty(offer: Uuid) -> String {
    format!("{OFFER_DUTY_PREFIX}{offer}")
}

/// The offer behind a duty key, when it names one.
pub fn duty_offer(key: &str) -> Option<Uuid> {
    key.strip_prefix(OFFER_DUTY_PREFIX)
        .and_then(|id| Uuid::parse_str(id).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn person(title: &str, path: &str, hire: Option<&str>) -> Candidate {
        Candidate {
            id: Uuid::new_v4(),
            audiences: vec![Audience::Accueil],
            org_path: Some(path.into()),
            partner_id: None,
            hire_date: hire.map(d),
            job_title: Some(title.into()),
        }
    }

    fn rule(target: Target, days: u32, from: DueFrom) -> Rule {
        Rule {
            id: Uuid::new_v4(),
            name: "r".into(),
            module_slug: "accueil".into(),
            target,
            due_days: days,
            due_from: from,
            active: true,
        }
    }

    #[test]
    fn an_empty_target_matches_nobody() {
        let p = person("Agent d'accueil", "Ville/CCAS", None);
        assert!(!Target::default().matches(&p));
    }

    #[test]
    fn every_criterion_must_hold() {
        let p = person("Agent d'accueil", "Ville/CCAS/Accueil", Some("2026-03-01"));
        let t = Target {
            audience: Some(Audience::Accueil),
            org_unit: Some("Ville/CCAS".into()),
            arrived_after: Some(d("2026-01-01")),
            title_word: Some("ACCUEIL".into()),
            partner_id: None,
        };
        assert!(t.matches(&p));
        // Case-sensitive subtree, as in the people's scope.
        let t2 = Target {
            org_unit: Some("Ville/Ccas".into()),
            ..t.clone()
        };
        assert!(!t2.matches(&p));
        let t3 = Target {
            arrived_after: Some(d("2026-06-01")),
            ..t.clone()
        };
        assert!(!t3.matches(&p));
        let t4 = Target {
            audience: Some(Audience::Rh),
            ..t
        };
        assert!(!t4.matches(&p));
    }

    #[test]
    fn due_from_arrival_or_assignment() {
        let p = person("Agent", "Ville", Some("2026-09-01"));
        let today = d("2026-12-02");
        let t = Target {
            title_word: Some("agent".into()),
            ..Target::default()
        };
        assert_eq!(
            rule(t.clone(), 90, DueFrom::Arrival).due_on(&p, today),
            d("2026-11-30")
        );
        assert_eq!(
            rule(t.clone(), 30, DueFrom::Assignment).due_on(&p, today),
            d("2027-01-01")
        );
        let no_hire = person("Agent", "Ville", None);
        assert_eq!(
            rule(t, 30, DueFrom::Arrival).due_on(&no_hire, today),
            d("2027-01-01")
        );
    }

    #[test]
    fn the_earliest_due_date_wins_and_the_difference_lists_gains_and_losses() {
        let a = person("Agent d'accueil", "Ville/CCAS", None);
        let b = person("Juriste", "Ville/DRH", None);
        let today = d("2026-12-02");
        let by_title = rule(
            Target {
                title_word: Some("accueil".into()),
                ..Target::default()
            },
            60,
            DueFrom::Assignment,
        );
        let by_unit = rule(
            Target {
                org_unit: Some("Ville/CCAS".into()),
                ..Target::default()
            },
            30,
            DueFrom::Assignment,
        );
        let people = vec![a.clone(), b.clone()];
        let before = targets(std::slice::from_ref(&by_title), &people, today);
        let both = targets(&[by_title.clone(), by_unit.clone()], &people, today);
        assert_eq!(both.len(), 1);
        assert_eq!(
            both[&(a.id, "accueil".into())],
            (by_unit.id, d("2027-01-01"))
        );
        let everyone = rule(
            Target {
                org_unit: Some("Ville".into()),
                ..Target::default()
            },
            30,
            DueFrom::Assignment,
        );
        let after = targets(&[everyone], &people, today);
        let diff = difference(&before, &after);
        assert_eq!(diff.gained, vec![(b.id, "accueil".to_string())]);
        assert!(diff.lost.is_empty());
        let diff = difference(&after, &targets(&[], &people, today));
        assert_eq!(diff.lost.len(), 2);
    }

    #[test]
    fn states_through_a_cycle() {
        let mut c = CycleFacts {
            due_on: d("2026-12-31"),
            completed_on: None,
            valid_until: None,
            closure: None,
            started: false,
        };
        assert_eq!(state(&c, d("2026-12-02")), State::Assigned);
        c.started = true;
        assert_eq!(state(&c, d("2026-12-31")), State::InProgress);
        assert_eq!(state(&c, d("2027-01-01")), State::Overdue);
        c.completed_on = Some(d("2027-01-05"));
        c.valid_until = Some(d("2029-01-05"));
        assert_eq!(state(&c, d("2027-01-05")), State::Completed);
        assert_eq!(state(&c, d("2028-11-06")), State::Completed);
        assert_eq!(state(&c, d("2028-11-07")), State::Expiring);
        assert_eq!(state(&c, d("2029-01-05")), State::Expiring);
        assert_eq!(state(&c, d("2029-01-06")), State::Expired);
        assert_eq!(renewal_opens(d("2029-01-05")), d("2028-11-07"));
        c.closure = Some(Closure::Exempt);
        assert_eq!(state(&c, d("2027-01-06")), State::Exempt);
    }
}
