//! [`FailureLimiter`]: a source address with more than [`MAX_FAILURES`] failed
//! authentications within [`WINDOW`] is refused (429) for [`BLOCK_FOR`], whatever it
//! sends, so passwords cannot be guessed at the speed of the server.
//!
//! Only failed credential checks count (a wrong password, an unknown user or token, a
//! malformed header); a request without credentials does not, so a browser's first
//! unauthenticated request or a misconfigured client without credentials never locks an
//! address out. Clients behind one proxy share its address and so share its budget.
//!
//! The hot path (an address with no recent failures) costs one atomic load while no
//! address is tracked at all, and a short mutex-held lookup otherwise. The table is bounded
//! ([`MAX_TRACKED`]): when full, entries that no longer matter are dropped, then the
//! oldest ones that are not blocked.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed within [`WINDOW`]; one more blocks the address.
pub const MAX_FAILURES: usize = 20;
/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long a blocked address is refused.
pub const BLOCK_FOR: Duration = Duration::from_secs(60);
/// Most addresses tracked at once.
const MAX_TRACKED: usize = 100_000;

/// The failures of one address.
#[derive(Debug, Default)]
struct Record {
    /// Times of the failures within the window, oldest first (at most `MAX_FAILURES + 1`).
    failures: VecDeque<Instant>,
    /// Refused until then.
    blocked_until: Option<Instant>,
}

impl Record {
    fn matters(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|t| t > now)
            || self
                .failures
                .back()
                .is_some_and(|t| now.duration_since(*t) < WINDOW)
    }
}

/// Failed authentications per source address.
#[derive(Debug, Default)]
pub(crate) struct FailureLimiter {
    records: Mutex<HashMap<IpAddr, Record>>,
    /// `records.len()`, readable without the lock.
    tracked: AtomicUsize,
}

impl FailureLimiter {
    /// How much longer `ip` is refused, if it is.
    pub(crate) fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let until = records.get(&ip)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Count a failure of `ip`; returns whether this failure got `ip` blocked.
    pub(crate) fn record_failure(&self, ip: IpAddr, now: Instant) -> bool {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() >= MAX_TRACKED && !records.contains_key(&ip) {
            prune(&mut records, now + WINDOW);
        }
        let record = records.entry(ip).or_default();
        while record
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            record.failures.pop_front();
        }
        record.failures.push_back(now);
        let blocked = record.failures.len() > MAX_FAILURES;
        if blocked {
            record.failures.clear();
            record.blocked_until = Some(now + BLOCK_FOR);
        }
        self.tracked.store(records.len(), Ordering::Relaxed);
        blocked
    }
}

/// Make room: drop records that no longer matter, then (under a flood of addresses) the
/// unblocked half of the rest.
fn prune(records: &mut HashMap<IpAddr, Record>, now: Instant) {
    records.retain(|_, r| r.matters(now));
    if records.len() >= MAX_TRACKED {
        records.retain(|_, r| r.blocked_until.is_some_and(|t| t > now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_twenty_failures_in_a_minute_block_for_a_minute() {
        let limiter = FailureLimiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(limiter.blocked(ip, t0), None);
        for i in 0..MAX_FAILURES {
            assert!(!limiter.record_failure(ip, t0 + Duration::from_millis(i as u64)));
        }
        assert_eq!(limiter.blocked(ip, t0 + Duration::from_secs(1)), None);
        let t1 = t0 + Duration::from_secs(2);
        assert!(limiter.record_failure(ip, t1), "the 21st failure blocks");
        assert_eq!(limiter.blocked(ip, t1), Some(BLOCK_FOR));
        assert_eq!(
            limiter.blocked(ip, t1 + Duration::from_secs(59)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            limiter.blocked(other, t1),
            None,
            "other addresses are not affected"
        );
        assert_eq!(
            limiter.blocked(ip, t1 + BLOCK_FOR),
            None,
            "unblocked after a minute"
        );
    }

    #[test]
    fn failures_spread_over_more_than_a_minute_never_block() {
        let limiter = FailureLimiter::default();
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..200u64 {
            // One failure every 3.5 s: at most 18 within any minute.
            assert!(!limiter.record_failure(ip, t0 + Duration::from_millis(i * 3500)));
        }
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut records = HashMap::new();
        let now = Instant::now();
        records.insert(
            "192.0.2.9".parse().unwrap(),
            Record {
                failures: VecDeque::new(),
                blocked_until: Some(now + 3 * BLOCK_FOR),
            },
        );
        for i in 0..1000u32 {
            records.insert(
                IpAddr::from(i.to_be_bytes()),
                Record {
                    failures: VecDeque::from([now]),
                    blocked_until: None,
                },
            );
        }
        prune(&mut records, now + WINDOW);
        assert_eq!(records.len(), 1, "only the blocked address is kept");
    }
}
