//! Shared trainings: offers, their sessions (in person or online, one or more slots in
//! Paris time), enrolment with partner quotas and a waiting list, attendance, calendar
//! invitations. The rules live here and are pure: which seat a person gets
//! ([`seat_for`]), how Paris wall-clock times become instants ([`paris_instant`]), which
//! changes a session accepts ([`check_capacity`]). SQL in `store.rs`, use cases in
//! `flow.rs`, pages in `routes.rs`, JSON in `api.rs`, iCalendar files in `calendar.rs`.

pub mod api;
pub mod calendar;
pub mod flow;
pub mod routes;
pub mod sheet;
pub mod store;

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use serde::Serialize;
use uuid::Uuid;

/// How long a freed seat is held for the first person waiting, by default.
pub const DEFAULT_HOLD_HOURS: i64 = 48;

/// In the room or online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    InPerson,
    Online,
}

impl Mode {
    pub fn code(self) -> &'static str {
        match self {
            Mode::InPerson => "in_person",
            Mode::Online => "online",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "in_person" | "presentiel" => Some(Mode::InPerson),
            "online" | "distanciel" => Some(Mode::Online),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Mode::InPerson => "En présentiel",
            Mode::Online => "À distance",
        }
    }
}

impl TryFrom<String> for Mode {
    type Error = String;
    fn try_from(s: String) -> Result<Mode, String> {
        Mode::parse(&s).ok_or_else(|| format!("unknown session mode {s:?}"))
    }
}

/// Where an enrolment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waits for the approval of the manager or the partner referent.
    Pending,
    /// Holds a seat.
    Booked,
    /// A freed seat is held for the person until they confirm (or the hold ends).
    Offered,
    /// On the waiting list.
    Waiting,
    Cancelled,
    /// The approval was refused.
    Refused,
    /// A seat was offered and not confirmed in time.
    Lapsed,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Pending,
        Status::Booked,
        Status::Offered,
        Status::Waiting,
        Status::Cancelled,
        Status::Refused,
        Status::Lapsed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Booked => "booked",
            Status::Offered => "offered",
            Status::Waiting => "waiting",
            Status::Cancelled => "cancelled",
            Status::Refused => "refused",
            Status::Lapsed => "lapsed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Pending => "En attente d'accord",
            Status::Booked => "Place réservée",
            Status::Offered => "Place proposée, à confirmer",
            Status::Waiting => "Sur liste d'attente",
            Status::Cancelled => "Annulée",
            Status::Refused => "Demande refusée",
            Status::Lapsed => "Proposition expirée",
        }
    }

    /// Counts against the capacity.
    pub fn holds_seat(self) -> bool {
        matches!(self, Status::Booked | Status::Offered)
    }

    /// Still in the session's lists: a second enrolment returns this one.
    pub fn active(self) -> bool {
        matches!(
            self,
            Status::Pending | Status::Booked | Status::Offered | Status::Waiting
        )
    }
}

impl TryFrom<String> for Status {
    type Error = String;
    fn try_from(s: String) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|x| x.code() == s)
            .ok_or_else(|| format!("unknown enrolment status {s:?}"))
    }
}

/// A mark on the roster for one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Present,
    Absent,
    Excused,
}

impl Presence {
    pub const ALL: [Presence; 3] = [Presence::Present, Presence::Absent, Presence::Excused];

    pub fn code(self) -> &'static str {
        match self {
            Presence::Present => "present",
            Presence::Absent => "absent",
            Presence::Excused => "excused",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Presence::Present => "Présent ou présente",
            Presence::Absent => "Absent ou absente",
            Presence::Excused => "Excusé ou excusée",
        }
    }

    pub fn parse(s: &str) -> Option<Presence> {
        Presence::ALL.into_iter().find(|p| p.code() == s)
    }
}

impl TryFrom<String> for Presence {
    type Error = String;
    fn try_from(s: String) -> Result<Presence, String> {
        Presence::parse(&s).ok_or_else(|| format!("unknown presence {s:?}"))
    }
}

/// The seats of a session as they stand, read under the session's lock.
#[derive(Debug, Clone, Default)]
pub struct Seats {
    pub capacity: i64,
    /// Seats reserved per partner organisation.
    pub quotas: HashMap<Uuid, i64>,
    /// The release date has passed: unused reserved seats are open to everyone.
    pub released: bool,
    /// Seats held outside any quota.
    pub held_general: i64,
    /// Seats held on each partner's quota.
    pub held_quota: HashMap<Uuid, i64>,
}

/// Which seat a person gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seat {
    /// One of their organisation's reserved seats.
    Quota(Uuid),
    General,
    /// None: the waiting list.
    Full,
}

impl Seats {
    pub fn held(&self) -> i64 {
        self.held_general + self.held_quota.values().sum::<i64>()
    }

    /// Reserved seats nobody holds yet, before the release date.
    pub fn reserved_unused(&self) -> i64 {
        if self.released {
            return 0;
        }
        self.quotas
            .iter()
            .map(|(p, seats)| (seats - self.held_quota.get(p).copied().unwrap_or(0)).max(0))
            .sum()
    }

    /// Seats anyone may take.
    pub fn general_free(&self) -> i64 {
        (self.capacity - self.held() - self.reserved_unused()).max(0)
    }

    /// Seats left for a person of `partner`.
    pub fn free_for(&self, partner: Option<Uuid>) -> i64 {
        let own = match partner {
            Some(p) if !self.released => {
                let seats = self.quotas.get(&p).copied().unwrap_or(0);
                (seats - self.held_quota.get(&p).copied().unwrap_or(0)).max(0)
            }
            _ => 0,
        };
        own + self.general_free()
    }

    /// Records a seat taken.
    pub fn take(&mut self, seat: Seat) {
        match seat {
            Seat::Quota(p) => *self.held_quota.entry(p).or_default() += 1,
            Seat::General => self.held_general += 1,
            Seat::Full => {}
        }
    }
}

/// The seat a person of `partner` gets: their organisation's reserved seat while the quota
/// lasts and before its release date, then a general seat, else none.
pub fn seat_for(seats: &Seats, partner: Option<Uuid>) -> Seat {
    if seats.held() >= seats.capacity {
        return Seat::Full;
    }
    if let Some(p) = partner {
        if !seats.released {
            let quota = seats.quotas.get(&p).copied().unwrap_or(0);
            if seats.held_quota.get(&p).copied().unwrap_or(0) < quota {
                return Seat::Quota(p);
            }
        }
    }
    if seats.general_free() > 0 {
        Seat::General
    } else {
        Seat::Full
    }
}

/// Checks a capacity and quotas against the seats already taken; the French reason when
/// refused.
pub fn check_capacity(capacity: i64, quotas: &[(Uuid, i64)], held: i64) -> Result<(), String> {
    if capacity < 1 {
        return Err("La capacité doit être d'au moins une place.".into());
    }
    if capacity < held {
        return Err(format!(
            "La capacité ne peut pas descendre à {capacity} : {held} places sont déjà prises."
        ));
    }
    let reserved: i64 = quotas.iter().map(|(_, s)| *s).sum();
    if reserved > capacity {
        return Err(format!(
            "Les places réservées aux partenaires ({reserved}) dépassent la capacité ({capacity})."
        ));
    }
    if quotas.iter().any(|(_, s)| *s < 1) {
        return Err("Un quota réservé compte au moins une place.".into());
    }
    Ok(())
}

/// A Paris wall-clock date and time as an instant. A time that does not exist (the hour
/// skipped in March) is refused; a time that happens twice (October) is the first one.
pub fn paris_instant(date: NaiveDate, time: NaiveTime) -> Result<DateTime<Utc>, String> {
    match Paris.from_local_datetime(&date.and_time(time)) {
        chrono::LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        chrono::LocalResult::None => Err(format!(
            "L'heure {} n'existe pas le {} à Paris (passage à l'heure d'été).",
            time.format("%H:%M"),
            date.format("%d/%m/%Y")
        )),
    }
}

/// The end of a Paris calendar day (23:59:59), for deadlines typed as dates.
pub fn end_of_paris_day(date: NaiveDate) -> DateTime<Utc> {
    let t = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default();
    paris_instant(date, t).unwrap_or_else(|_| Utc.from_utc_datetime(&date.and_time(t)))
}

/// Parses `2026-03-29` or `29/03/2026`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%d/%m/%Y"))
        .ok()
}

/// Parses `09:30` or `9h30`.
pub fn parse_time(s: &str) -> Option<NaiveTime> {
    let s = s.trim().replace('h', ":");
    let s = if s.ends_with(':') {
        format!("{s}00")
    } else {
        s
    };
    NaiveTime::parse_from_str(&s, "%H:%M").ok()
}

/// Where a freed seat goes: held for the person (they confirm within the hold), or given
/// at once when the session starts before the hold would end.
pub fn offer_or_give(
    now: DateTime<Utc>,
    starts_at: DateTime<Utc>,
    hold: Duration,
) -> (Status, Option<DateTime<Utc>>) {
    if starts_at <= now + hold {
        (Status::Booked, None)
    } else {
        (Status::Offered, Some(now + hold))
    }
}

/// Formats an instant in Paris time: « mardi 3 mars 2026, 9 h 30 ».
pub fn paris_label(t: DateTime<Utc>) -> String {
    const DAYS: [&str; 7] = [
        "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    ];
    use chrono::{Datelike, Timelike};
    let l = t.with_timezone(&Paris);
    format!(
        "{} {}, {} h {:02}",
        DAYS[l.weekday().num_days_from_monday() as usize],
        crate::certificates::pdf::french_date(l.date_naive()),
        l.hour(),
        l.minute()
    )
}

/// « 9 h 30 » in Paris time.
pub fn paris_hour(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    let l = t.with_timezone(&Paris);
    format!("{} h {:02}", l.hour(), l.minute())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seats(capacity: i64, quotas: &[(Uuid, i64)]) -> Seats {
        Seats {
            capacity,
            quotas: quotas.iter().copied().collect(),
            ..Seats::default()
        }
    }

    #[test]
    fn quota_seats_go_first_to_their_partner_then_general_seats() {
        let p = Uuid::new_v4();
        let mut s = seats(5, &[(p, 3)]);
        let mut got = Vec::new();
        for _ in 0..7 {
            let seat = seat_for(&s, Some(p));
            s.take(seat);
            got.push(seat);
        }
        assert_eq!(
            got,
            vec![
                Seat::Quota(p),
                Seat::Quota(p),
                Seat::Quota(p),
                Seat::General,
                Seat::General,
                Seat::Full,
                Seat::Full
            ]
        );
    }

    #[test]
    fn reserved_seats_stay_closed_to_others_until_release() {
        let p = Uuid::new_v4();
        let mut s = seats(4, &[(p, 3)]);
        assert_eq!(seat_for(&s, None), Seat::General);
        s.take(Seat::General);
        assert_eq!(
            seat_for(&s, None),
            Seat::Full,
            "three seats kept for the partner"
        );
        assert_eq!(s.free_for(None), 0);
        assert_eq!(s.free_for(Some(p)), 3);
        s.released = true;
        assert_eq!(seat_for(&s, None), Seat::General);
        assert_eq!(
            seat_for(&s, Some(p)),
            Seat::General,
            "after release, no quota"
        );
    }

    #[test]
    fn capacity_changes_are_checked_against_seats_taken() {
        let p = Uuid::new_v4();
        assert!(check_capacity(10, &[(p, 3)], 4).is_ok());
        let e = check_capacity(3, &[], 4).unwrap_err();
        assert!(e.contains("4 places sont déjà prises"), "{e}");
        assert!(check_capacity(2, &[(p, 3)], 0).is_err());
        assert!(check_capacity(0, &[], 0).is_err());
    }

    #[test]
    fn paris_times_across_daylight_saving_changes() {
        let d = |s| parse_date(s).unwrap();
        let t = |s| parse_time(s).unwrap();
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            paris_instant(d("2026-03-28"), t("09:30"))
                .unwrap()
                .to_rfc3339(),
            "2026-03-28T08:30:00+00:00"
        );
        assert_eq!(
            paris_instant(d("2026-03-30"), t("9h30"))
                .unwrap()
                .to_rfc3339(),
            "2026-03-30T07:30:00+00:00"
        );
        assert!(paris_instant(d("2026-03-29"), t("02:30")).is_err());
        assert_eq!(
            paris_instant(d("2026-10-25"), t("02:30"))
                .unwrap()
                .to_rfc3339(),
            "2026-10-25T00:30:00+00:00"
        );
        assert_eq!(parse_date("29/03/2026"), Some(d("2026-03-29")));
        assert_eq!(parse_time("14h"), Some(t("14:00")));
        assert_eq!(parse_time("25:00"), None);
    }

    #[test]
    fn a_freed_seat_is_held_unless_the_session_is_close() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let hold = Duration::hours(48);
        let (s, until) = offer_or_give(now, now + Duration::days(5), hold);
        assert_eq!((s, until), (Status::Offered, Some(now + hold)));
        let (s, until) = offer_or_give(now, now + Duration::hours(20), hold);
        assert_eq!((s, until), (Status::Booked, None));
    }

    #[test]
    fn dates_read_in_french() {
        let t = Utc.with_ymd_and_hms(2026, 3, 3, 8, 30, 0).unwrap();
        assert_eq!(paris_label(t), "mardi 3 mars 2026, 9 h 30");
    }
}
