//! Log lines for repeating store faults, at most one per second per kind, each with the
//! count of the lines it stands for: a full disk under load is one line a second saying
//! how many requests failed, not hundreds.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The shortest time between two lines of one kind.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Per kind: when the last line was written, and how many were held back since.
#[derive(Default)]
pub(crate) struct LogLimit {
    kinds: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl LogLimit {
    /// The process-wide limit of the server's store-fault lines.
    pub(crate) fn global() -> &'static LogLimit {
        static GLOBAL: OnceLock<LogLimit> = OnceLock::new();
        GLOBAL.get_or_init(LogLimit::default)
    }

    /// Whether a line of `kind` may be written at `now`: `Some(n)` with the number of
    /// lines held back since the last one (write them as a count), `None` to stay quiet.
    pub(crate) fn admit(&self, kind: &'static str, now: Instant) -> Option<u64> {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        match kinds.get_mut(kind) {
            Some((last, held)) if now.duration_since(*last) < LOG_INTERVAL => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                *last = now;
                Some(std::mem::take(held))
            }
            None => {
                kinds.insert(kind, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_second_per_kind_with_the_count_held_back() {
        let limit = LogLimit::default();
        let t0 = Instant::now();
        assert_eq!(limit.admit("full", t0), Some(0));
        for i in 1..=659 {
            assert_eq!(limit.admit("full", t0 + Duration::from_micros(i)), None);
        }
        assert_eq!(limit.admit("other", t0), Some(0), "kinds are counted apart");
        assert_eq!(limit.admit("full", t0 + LOG_INTERVAL), Some(659));
        assert_eq!(limit.admit("full", t0 + LOG_INTERVAL * 2), Some(0));
    }
}
