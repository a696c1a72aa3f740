//! Fixed-window rate limits kept in memory, per instance (several instances multiply the
//! allowance by their number; the windows are short and the limits low).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    const MAX_KEYS: usize = 200_000;

    /// Counts one hit for `key`; false when it exceeds `max` within `per`.
    pub fn allow(&self, key: &str, max: u32, per: Duration) -> bool {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= Self::MAX_KEYS {
            windows.retain(|_, (start, _)| now.duration_since(*start) < per);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= per {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= max
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
        assert!(r.allow("a", 2, Duration::from_millis(50)));
        assert!(r.allow("a", 2, Duration::from_millis(50)));
        assert!(!r.allow("a", 2, Duration::from_millis(50)));
        assert!(
            r.allow("b", 2, Duration::from_millis(50)),
            "keys are separate"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(r.allow("a", 2, Duration::from_millis(50)));
    }
}
