//! iCalendar files (RFC 5545) for enrolments, built with the `icalendar` crate: an
//! invitation (`METHOD:REQUEST`) when a seat is booked or the session changes, a
//! cancellation (`METHOD:CANCEL`) when it is cancelled, and the private feed of a person.
//! Times are written in Paris wall-clock time with `TZID=Europe/Paris`, and the calendar
//! carries the zone's `VTIMEZONE` so that every program reads them the same way.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, CalendarDateTime, Component, Event, EventLike, EventStatus, Property};

/// The zone definition of Europe/Paris since 1996 (EU rules: last Sunday of March at
/// 02:00 to summer time, last Sunday of October at 03:00 back).
const PARIS_VTIMEZONE: &str = "BEGIN:VTIMEZONE\r\n\
TZID:Europe/Paris\r\n\
X-LIC-LOCATION:Europe/Paris\r\n\
BEGIN:DAYLIGHT\r\n\
TZOFFSETFROM:+0100\r\n\
TZOFFSETTO:+0200\r\n\
TZNAME:CEST\r\n\
DTSTART:19700329T020000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n\
END:DAYLIGHT\r\n\
BEGIN:STANDARD\r\n\
TZOFFSETFROM:+0200\r\n\
TZOFFSETTO:+0100\r\n\
TZNAME:CET\r\n\
DTSTART:19701025T030000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n\
END:STANDARD\r\n\
END:VTIMEZONE\r\n";

/// One event: a slot of a session as one person holds it.
#[derive(Debug, Clone)]
pub struct SlotEvent {
    /// Stable for the enrolment and the slot: a change replaces the event in the
    /// person's calendar instead of adding one.
    pub uid: String,
    pub sequence: u32,
    pub summary: String,
    pub description: String,
    pub location: String,
    pub url: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub cancelled: bool,
}

/// What a calendar file asks of the program that opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Add or update the events.
    Request,
    /// Remove them.
    Cancel,
    /// A subscribed feed: no method.
    Publish,
}

fn paris(t: DateTime<Utc>) -> CalendarDateTime {
    CalendarDateTime::WithTimezone {
        date_time: t.with_timezone(&chrono_tz::Europe::Paris).naive_local(),
        tzid: "Europe/Paris".into(),
    }
}

/// The calendar file for `events`, stamped at `now`, with an organizer address.
pub fn file(method: Method, events: &[SlotEvent], organizer: &str, now: DateTime<Utc>) -> String {
    let mut cal = Calendar::empty();
    cal.append_property(Property::new("VERSION", "2.0"));
    cal.append_property(Property::new("PRODID", "-//Ville de Nancy//Reperes//FR"));
    cal.append_property(Property::new("CALSCALE", "GREGORIAN"));
    match method {
        Method::Request => {
            cal.append_property(Property::new("METHOD", "REQUEST"));
        }
        Method::Cancel => {
            cal.append_property(Property::new("METHOD", "CANCEL"));
        }
        Method::Publish => {
            cal.append_property(Property::new("METHOD", "PUBLISH"));
            cal.append_property(Property::new("X-WR-CALNAME", "Mes formations Repères"));
            cal.append_property(Property::new("X-WR-TIMEZONE", "Europe/Paris"));
        }
    }
    for e in events {
        let mut ev = Event::with_uid(&e.uid);
        ev.timestamp(now)
            .sequence(e.sequence)
            .summary(&e.summary)
            .description(&e.description)
            .location(&e.location)
            .url(&e.url)
            .starts(paris(e.starts_at))
            .ends(paris(e.ends_at))
            .status(if e.cancelled || method == Method::Cancel {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            });
        ev.append_property(Property::new("ORGANIZER", format!("mailto:{organizer}")));
        cal.push(ev.done());
    }
    let text = cal.done().to_string();
    // The zone goes before the first event (the crate has no VTIMEZONE component).
    match text.find("BEGIN:VEVENT") {
        Some(at) => format!("{}{PARIS_VTIMEZONE}{}", &text[..at], &text[at..]),
        None => text.replace("END:VCALENDAR", &format!("{PARIS_VTIMEZONE}END:VCALENDAR")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event(cancelled: bool) -> SlotEvent {
        SlotEvent {
            uid: "e1-1@reperes.test".into(),
            sequence: 2,
            summary: "Repérer les discriminations".into(),
            description: "Session partagée, salle 3; accès de plain-pied".into(),
            location: "Hôtel de ville, place Stanislas".into(),
            url: "https://reperes.test/formations/sessions/x".into(),
            starts_at: Utc.with_ymd_and_hms(2026, 3, 30, 7, 30, 0).unwrap(),
            ends_at: Utc.with_ymd_and_hms(2026, 3, 30, 11, 0, 0).unwrap(),
            cancelled,
        }
    }

    #[test]
    fn an_invitation_writes_paris_times_with_its_zone() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let ics = file(
            Method::Request,
            &[event(false)],
            "formation@reperes.test",
            now,
        );
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
        assert!(ics.contains("METHOD:REQUEST\r\n"));
        // Summer time from 29 March: 07:30 UTC is 09:30 in Paris.
        assert!(
            ics.contains("DTSTART;TZID=Europe/Paris:20260330T093000\r\n"),
            "{ics}"
        );
        assert!(ics.contains("SEQUENCE:2\r\n"));
        assert!(ics.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Paris"));
        assert!(ics.find("BEGIN:VTIMEZONE") < ics.find("BEGIN:VEVENT"));
        assert!(ics.contains("STATUS:CONFIRMED"));
        let cancel = file(
            Method::Cancel,
            &[event(true)],
            "formation@reperes.test",
            now,
        );
        assert!(cancel.contains("METHOD:CANCEL\r\n") && cancel.contains("STATUS:CANCELLED"));
    }
}
