//! Fixed-window rate limits kept in memory, per instance (several instances multiply the
//! allowance by their number; the windows are short and the limits low).
//!
//! Memory is bounded: each key carries the end of its own window, and a min-heap of window
//! ends lets every call drop the windows that are over, in amortised logarithmic time,
//! instead of sweeping the whole map under the lock. Past [`RateLimiter::MAX_KEYS`] live
//! windows the one closest to its end makes room.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Windows {
    /// key → (end of its window, hits in it)
    counts: HashMap<String, (Instant, u32)>,
    /// (end, key), soonest first; an entry whose key has a newer window is stale.
    ends: BinaryHeap<Reverse<(Instant, String)>>,
}

#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<Windows>,
}

impl RateLimiter {
    /// Live windows kept at most.
    pub const MAX_KEYS: usize = 100_000;

    /// Counts one hit for `key`; false when it exceeds `max` within `per`.
    pub fn allow(&self, key: &str, max: u32, per: Duration) -> bool {
        self.allow_at(key, max, per, Instant::now())
    }

    fn allow_at(&self, key: &str, max: u32, per: Duration, now: Instant) -> bool {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        // Drop the windows that are over.
        while let Some(Reverse((end, _))) = w.ends.peek() {
            if *end > now {
                break;
            }
            if let Some(Reverse((end, k))) = w.ends.pop() {
                if w.counts.get(&k).is_some_and(|(e, _)| *e == end) {
                    w.counts.remove(&k);
                }
            }
        }
        if let Some((_, hits)) = w.counts.get_mut(key) {
            *hits += 1;
            return *hits <= max;
        }
        // A new window; make room first if the map is full.
        while w.counts.len() >= Self::MAX_KEYS {
            match w.ends.pop() {
                Some(Reverse((end, k))) => {
                    if w.counts.get(&k).is_some_and(|(e, _)| *e == end) {
                        w.counts.remove(&k);
                    }
                }
                None => break,
            }
        }
        let end = now + per;
        w.counts.insert(key.to_string(), (end, 1));
        w.ends.push(Reverse((end, key.to_string())));
        1 <= max
    }

    /// Live windows, for tests and diagnostics.
    pub fn len(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .counts
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RateLimiter {
    /// Like `allow`, as a 429 error carrying `message` when the limit is exceeded.
    pub fn check(
        &self,
        key: &str,
        max: u32,
        per: Duration,
        message: &str,
    ) -> crate::error::Result<()> {
        if self.allow(key, max, per) {
            Ok(())
        } else {
            Err(crate::error::Error::TooManyRequests(message.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_counts_and_resets() {
        let r = RateLimiter::default();
        let t = Instant::now();
        let per = Duration::from_secs(60);
        assert!(r.allow_at("a", 2, per, t));
        assert!(r.allow_at("a", 2, per, t));
        assert!(!r.allow_at("a", 2, per, t));
        assert!(r.allow_at("b", 2, per, t), "keys are separate");
        assert!(r.allow_at("a", 2, per, t + per), "a new window");
    }

    #[test]
    fn windows_of_different_lengths_stay_intact_and_ended_ones_are_dropped() {
        let r = RateLimiter::default();
        let t = Instant::now();
        let (short, long) = (Duration::from_secs(60), Duration::from_secs(900));
        for _ in 0..3 {
            r.allow_at("address", 3, long, t);
        }
        // Many short windows come and go; the long one keeps its count.
        for i in 0..1000 {
            r.allow_at(&format!("client-{i}"), 10, short, t);
        }
        assert_eq!(r.len(), 1001);
        let later = t + Duration::from_secs(120);
        assert!(
            !r.allow_at("address", 3, long, later),
            "still the same window"
        );
        assert_eq!(r.len(), 1, "ended windows are gone");
    }

    #[test]
    fn memory_stays_bounded() {
        let r = RateLimiter::default();
        let t = Instant::now();
        for i in 0..(RateLimiter::MAX_KEYS + 500) {
            r.allow_at(&format!("k{i}"), 1, Duration::from_secs(900), t);
        }
        assert_eq!(r.len(), RateLimiter::MAX_KEYS);
    }
}
