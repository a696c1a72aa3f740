//! The sweep's decision, as a plain function: from the rules' targets and the current
//! cycles, which cycles to open (first assignments, renewals, people targeted again) and
//! which to withdraw. `flow::reevaluate` reads the facts and applies the result.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::store::{Changes, Completions, LatestCycle, NewCycle};
use super::{renewal_opens, Closure};

/// The last day a completion at `completed_at` is valid (Paris date).
pub type ValidUntil<'a> = &'a dyn Fn(&str, DateTime<Utc>) -> NaiveDate;

pub fn plan(
    targets: &BTreeMap<(Uuid, String), (Uuid, NaiveDate)>,
    current: &[LatestCycle],
    completions: &Completions,
    valid_until: ValidUntil<'_>,
    today: NaiveDate,
) -> Changes {
    let mut changes = Changes::default();
    // The current cycles by person and module (borrowed keys: a million cycles are not
    // copied), and which of them a rule still targets.
    let index: HashMap<(Uuid, &str), usize> = current
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.user_id, c.module_slug.as_str()), i))
        .collect();
    let mut targeted = vec![false; current.len()];
    // A completion still valid today, later than `after`, satisfies a new cycle.
    let usable = |key: &(Uuid, String), after: Option<DateTime<Utc>>| {
        completions.get(key).and_then(|(id, at)| {
            let until = valid_until(&key.1, *at);
            (until >= today && after.is_none_or(|a| *at > a)).then_some((*id, *at, until))
        })
    };
    for (key, (rule, due)) in targets {
        let closure = |c: &LatestCycle| c.closure.clone().and_then(|s| Closure::try_from(s).ok());
        let found = index.get(&(key.0, key.1.as_str())).map(|&i| {
            targeted[i] = true;
            &current[i]
        });
        let next = match found {
            None => Some(NewCycle {
                user_id: key.0,
                module_slug: key.1.clone(),
                cycle: 1,
                rule_id: *rule,
                due_on: *due,
                completion: usable(key, None),
            }),
            Some(c) => match (closure(c), c.completed_at, c.valid_until) {
                // An exemption holds for its cycle; nothing reopens it.
                (Some(Closure::Exempt), _, _) => None,
                // Targeted again after leaving or after the rules changed.
                (Some(_), _, _) => Some(NewCycle {
                    user_id: key.0,
                    module_slug: key.1.clone(),
                    cycle: c.cycle + 1,
                    rule_id: *rule,
                    due_on: *due,
                    completion: usable(key, c.completed_at),
                }),
                // Renewal: opens in the expiring window, due on the last day of validity.
                (None, Some(done), Some(until)) if today >= renewal_opens(until) => {
                    Some(NewCycle {
                        user_id: key.0,
                        module_slug: key.1.clone(),
                        cycle: c.cycle + 1,
                        rule_id: *rule,
                        due_on: until,
                        completion: usable(key, Some(done)),
                    })
                }
                _ => None,
            },
        };
        changes.open.extend(next);
    }
    for (c, targeted) in current.iter().zip(targeted) {
        let open = c.completed_at.is_none() && c.closure.is_none();
        if open && !targeted {
            changes.withdraw.push((c.user_id, c.module_slug.clone()));
        }
    }
    changes.withdraw.sort();
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn two_years(_: &str, at: DateTime<Utc>) -> NaiveDate {
        at.date_naive() + chrono::Duration::days(730)
    }

    #[test]
    fn first_assignment_renewal_return_and_withdrawal() {
        let (a, b, c, e) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let rule = Uuid::new_v4();
        let m = "accueil".to_string();
        let today = d("2026-12-02");
        let targets: BTreeMap<_, _> = [a, b, c, e]
            .into_iter()
            .map(|p| ((p, m.clone()), (rule, d("2027-01-01"))))
            .collect();
        let cycle = |user, completed: Option<&str>, until: Option<&str>, closure: Option<&str>| {
            LatestCycle {
                user_id: user,
                module_slug: m.clone(),
                cycle: 1,
                completed_at: completed
                    .map(|s| Utc.from_utc_datetime(&d(s).and_hms_opt(10, 0, 0).unwrap())),
                valid_until: until.map(d),
                closure: closure.map(String::from),
            }
        };
        let gone = Uuid::new_v4();
        let current = [
            // b: completed, valid until 2027-01-20: in the window, renewal due then.
            cycle(b, Some("2025-01-20"), Some("2027-01-20"), None),
            // c: withdrawn once, targeted again.
            cycle(c, None, None, Some("withdrawn")),
            // e: exempt: stays so.
            cycle(e, None, None, Some("exempt")),
            // gone: open, no longer targeted.
            cycle(gone, None, None, None),
        ];
        let done_at = Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap();
        let completions: HashMap<_, _> = [((a, m.clone()), (Some(Uuid::new_v4()), done_at))].into();
        let changes = plan(&targets, &current, &completions, &two_years, today);
        let by_user: HashMap<_, _> = changes.open.iter().map(|n| (n.user_id, n)).collect();
        assert_eq!(changes.open.len(), 3);
        // a completed in June: the first cycle opens already met.
        assert_eq!(by_user[&a].cycle, 1);
        assert!(by_user[&a].completion.is_some());
        assert_eq!(by_user[&b].cycle, 2);
        assert_eq!(by_user[&b].due_on, d("2027-01-20"));
        assert!(by_user[&b].completion.is_none());
        assert_eq!(by_user[&c].cycle, 2);
        assert!(!by_user.contains_key(&e));
        assert_eq!(changes.withdraw, vec![(gone, m.clone())]);
        // Before the window, no renewal yet.
        let early = plan(
            &targets,
            &current,
            &completions,
            &two_years,
            d("2026-11-01"),
        );
        assert!(!early.open.iter().any(|n| n.user_id == b));
    }
}
