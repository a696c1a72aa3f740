//! Scheduled jobs. Schedules are in Paris wall-clock time, computed here with chrono-tz
//! (the scheduler crate's own time zones keep the UTC offset of the day a job was created).
//! Every instance ticks (`scheduler.rs`, tokio-cron-scheduler); each run first claims its
//! `(job, slot)` row (`store.rs`), so a slot runs once across instances, and a slot missed
//! while every instance was down is run at the next tick: the slot due is always the latest
//! one at or before now.

pub mod routes;
pub mod runner;
pub mod scheduler;
pub mod store;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Europe::Paris;
use serde::Serialize;

/// This process's name in the runs and exports it claims (host, process id and a random
/// suffix), computed once at start and managed as state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance(pub String);

impl Instance {
    pub fn new() -> Instance {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "instance".into());
        let suffix: u16 = rand::random();
        Instance(format!("{host}-{}-{suffix:04x}", std::process::id()))
    }
}

impl Default for Instance {
    fn default() -> Instance {
        Instance::new()
    }
}

/// When a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Every `seconds` seconds (aligned on the epoch).
    Every { seconds: i64 },
    /// Every day at `hour:minute`, Paris time.
    Daily { hour: u32, minute: u32 },
    /// Monday to Friday, every hour from `from` to `to` (inclusive) at `minute`, Paris time.
    WorkingHours { from: u32, to: u32, minute: u32 },
    /// On the first day of every month at `hour:minute`, Paris time.
    Monthly { hour: u32, minute: u32 },
}

/// One occurrence of a schedule: a key unique per job (the claim), and its instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub key: String,
    pub at: DateTime<Utc>,
}

/// The instant a Paris wall-clock time falls on. A time skipped by the spring change
/// (02:30 on the last Sunday of March) falls an hour later, on the same clock reading the
/// day would have shown without the change (03:30 CEST); a time that happens twice in the
/// autumn is taken at its first occurrence.
pub fn paris_instant(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(hour.min(23), minute.min(59), 0).unwrap_or(NaiveTime::MIN);
    let local = date.and_time(time);
    match Paris.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let later = local + Duration::hours(1);
            Paris
                .from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| Utc.from_utc_datetime(&local))
        }
    }
}

impl Schedule {
    /// The latest occurrence at or before `now`: the slot that is due.
    pub fn due(&self, now: DateTime<Utc>) -> Option<Slot> {
        match *self {
            Schedule::Every { seconds } => {
                let seconds = seconds.max(1);
                let start = now.timestamp().div_euclid(seconds) * seconds;
                let at = Utc.timestamp_opt(start, 0).single()?;
                Some(Slot {
                    key: at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    at,
                })
            }
            Schedule::Daily { hour, minute } => {
                let today = now.with_timezone(&Paris).date_naive();
                [today, today.pred_opt()?].into_iter().find_map(|d| {
                    let at = paris_instant(d, hour, minute);
                    (at <= now).then(|| Slot {
                        key: d.format("%Y-%m-%d").to_string(),
                        at,
                    })
                })
            }
            Schedule::Monthly { hour, minute } => {
                let today = now.with_timezone(&Paris).date_naive();
                let first = today.with_day(1)?;
                let previous = first.pred_opt()?.with_day(1)?;
                [first, previous].into_iter().find_map(|d| {
                    let at = paris_instant(d, hour, minute);
                    (at <= now).then(|| Slot {
                        key: d.format("%Y-%m").to_string(),
                        at,
                    })
                })
            }
            Schedule::WorkingHours { from, to, minute } => {
                let local = now.with_timezone(&Paris);
                let mut date = local.date_naive();
                let mut hour = local.hour();
                // At most a week back: the previous working hour.
                for _ in 0..(24 * 8) {
                    let working = !matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
                    if working && (from..=to).contains(&hour) {
                        let at = paris_instant(date, hour, minute);
                        if at <= now {
                            return Some(Slot {
                                key: format!("{}T{hour:02}", date.format("%Y-%m-%d")),
                                at,
                            });
                        }
                    }
                    if hour == 0 {
                        date = date.pred_opt()?;
                        hour = 23;
                    } else {
                        hour -= 1;
                    }
                }
                None
            }
        }
    }

    /// In French, for the admin page.
    pub fn describe(&self) -> String {
        match *self {
            Schedule::Every { seconds } => format!("toutes les {seconds} secondes"),
            Schedule::Daily { hour, minute } => format!("chaque jour à {hour:02}h{minute:02} (heure de Paris)"),
            Schedule::Monthly { hour, minute } => {
                format!("le 1er de chaque mois à {hour:02}h{minute:02} (heure de Paris)")
            }
            Schedule::WorkingHours { from, to, minute } => format!(
                "du lundi au vendredi, chaque heure de {from:02}h{minute:02} à {to:02}h{minute:02} (heure de Paris)"
            ),
        }
    }
}

/// The service's jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// Sends the due rows of the mail outbox.
    OutboxDelivery,
    /// Deletes spent sign-in links, old ended sessions, old sent mail bodies and old runs.
    Cleanup,
    /// Applies the assignment rules: first cycles, renewals, withdrawals, departures.
    ObligationsSweep,
    /// Queues the day's reminder digests and campaign mails (working hours).
    RemindersSweep,
    /// Waiting lists of shared sessions: offers past their hold lapse, freed and released
    /// seats go to the next people.
    TrainingsSweep,
    /// The equality plan's monthly snapshot of every indicator.
    EqualitySnapshot,
}

impl Job {
    pub const ALL: [Job; 6] = [
        Job::OutboxDelivery,
        Job::Cleanup,
        Job::ObligationsSweep,
        Job::RemindersSweep,
        Job::TrainingsSweep,
        Job::EqualitySnapshot,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Job::OutboxDelivery => "outbox_delivery",
            Job::Cleanup => "cleanup",
            Job::ObligationsSweep => "obligations_sweep",
            Job::RemindersSweep => "reminders_sweep",
            Job::TrainingsSweep => "trainings_sweep",
            Job::EqualitySnapshot => "equality_snapshot",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Job::OutboxDelivery => "Envoi des courriels en attente",
            Job::Cleanup => "Nettoyage (liens de connexion, sessions, historique des tâches)",
            Job::ObligationsSweep => {
                "Obligations de formation (assignations, renouvellements, départs)"
            }
            Job::RemindersSweep => "Rappels de formation et campagnes (jours ouvrés, 8 h – 18 h)",
            Job::TrainingsSweep => {
                "Listes d'attente des formations partagées (places libérées, propositions expirées)"
            }
            Job::EqualitySnapshot => "Instantané mensuel des indicateurs du plan d'égalité",
        }
    }

    /// The job's schedule; the outbox is polled every `outbox_seconds`.
    pub fn schedule(self, outbox_seconds: i64) -> Schedule {
        match self {
            Job::OutboxDelivery => Schedule::Every {
                seconds: outbox_seconds.max(1),
            },
            Job::Cleanup => Schedule::Daily {
                hour: 2,
                minute: 30,
            },
            Job::ObligationsSweep => Schedule::Daily { hour: 3, minute: 0 },
            Job::TrainingsSweep => Schedule::Every { seconds: 300 },
            // After the night's obligations sweep, so the month starts from fresh figures.
            Job::EqualitySnapshot => Schedule::Monthly { hour: 4, minute: 0 },
            Job::RemindersSweep => Schedule::WorkingHours {
                from: 8,
                to: 18,
                minute: 5,
            },
        }
    }

    pub fn parse(code: &str) -> Option<Job> {
        Job::ALL.into_iter().find(|j| j.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Every minute between two instants, and the distinct slots a ticking instance would
    /// claim: the runs of that schedule.
    fn runs(schedule: Schedule, from: &str, to: &str) -> Vec<Slot> {
        let (mut now, end) = (utc(from), utc(to));
        let mut seen: Vec<Slot> = Vec::new();
        while now <= end {
            if let Some(slot) = schedule.due(now) {
                if !seen.iter().any(|s| s.key == slot.key) {
                    seen.push(slot);
                }
            }
            now += Duration::minutes(1);
        }
        seen
    }

    #[test]
    fn the_monthly_snapshot_runs_once_a_month_on_the_first_at_four_paris_time() {
        let monthly = Schedule::Monthly { hour: 4, minute: 0 };
        let slots = runs(monthly, "2026-02-27T00:00:00Z", "2026-04-02T00:00:00Z");
        let keys: Vec<_> = slots.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["2026-02", "2026-03", "2026-04"]);
        // 04:00 CET on 1 March, 04:00 CEST on 1 April.
        assert_eq!(slots[1].at, utc("2026-03-01T03:00:00Z"));
        assert_eq!(slots[2].at, utc("2026-04-01T02:00:00Z"));
    }

    #[test]
    fn a_daily_0230_job_runs_once_on_the_spring_change_day_an_hour_later() {
        let daily = Schedule::Daily {
            hour: 2,
            minute: 30,
        };
        let slots = runs(daily, "2026-03-28T12:00:00Z", "2026-03-30T12:00:00Z");
        let keys: Vec<_> = slots.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["2026-03-28", "2026-03-29", "2026-03-30"]);
        // 02:30 does not exist on 29 March 2026: 03:30 CEST, 01:30 UTC.
        assert_eq!(slots[1].at, utc("2026-03-29T01:30:00Z"));
        assert_eq!(slots[2].at, utc("2026-03-30T00:30:00Z"));
    }

    #[test]
    fn a_daily_0230_job_runs_once_on_the_autumn_change_day_at_the_first_0230() {
        let daily = Schedule::Daily {
            hour: 2,
            minute: 30,
        };
        let slots = runs(daily, "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z");
        let keys: Vec<_> = slots.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["2026-10-24", "2026-10-25", "2026-10-26"]);
        // 02:30 happens twice on 25 October 2026 (CEST then CET): the first one only.
        assert_eq!(slots[1].at, utc("2026-10-25T00:30:00Z"));
        assert_eq!(slots[2].at, utc("2026-10-26T01:30:00Z"));
    }

    #[test]
    fn working_hours_skip_nights_and_weekends_in_paris_time() {
        let hourly = Schedule::WorkingHours {
            from: 8,
            to: 18,
            minute: 0,
        };
        // Friday 2 October 2026 18:00 CEST to Monday 5 October 09:30 CEST.
        let slots = runs(hourly, "2026-10-02T15:30:00Z", "2026-10-05T07:30:00Z");
        let keys: Vec<_> = slots.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "2026-10-02T17",
                "2026-10-02T18",
                "2026-10-05T08",
                "2026-10-05T09"
            ]
        );
        assert_eq!(slots[2].at, utc("2026-10-05T06:00:00Z"));
    }

    #[test]
    fn a_missed_slot_is_the_one_due_at_the_next_start() {
        let daily = Schedule::Daily {
            hour: 2,
            minute: 30,
        };
        // Down from before 02:30 until noon: today's slot is due at once.
        let due = daily.due(utc("2026-06-01T10:00:00Z")).unwrap();
        assert_eq!(due.key, "2026-06-01");
        // Before today's 02:30: yesterday's slot is the due one.
        let due = daily.due(utc("2026-06-01T00:10:00Z")).unwrap();
        assert_eq!(due.key, "2026-05-31");
    }

    #[test]
    fn every_n_seconds_is_aligned() {
        let every = Schedule::Every { seconds: 5 };
        let due = every.due(utc("2026-06-01T10:00:07Z")).unwrap();
        assert_eq!(due.at, utc("2026-06-01T10:00:05Z"));
        assert_eq!(
            runs(every, "2026-06-01T10:00:00Z", "2026-06-01T10:03:00Z").len(),
            4
        );
    }
}
