//! How the `request_id` queue ranks (SPEC §4.2, generalised for sets and priorities).
//!
//! Each (type, state) has a queue of live places. A place belongs to a request
//! (`/acquire` with a request id, or a set of `POST /api/v2/acquire`, which holds one
//! place per item) and carries the request's priority and how many resources of that
//! (type, state) it wants. Places rank by priority (higher first), then by the
//! request's arrival (first come, first served). A request may take resources of a
//! (type, state) only beyond those reserved by the places ahead of it: the sum of their
//! counts. A request without a request id ranks after every live place.
//!
//! All places of one request share one arrival number (the sequence value of its first
//! place), so every queue orders any two requests the same way: two sets can never each
//! wait for the other (no deadlock), and a set at the head of its queues blocks later
//! requests until it is served or lapses.

use mason_types::Timestamp;

use crate::rows;

/// A request's position in every queue it waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RankKey {
    /// Higher first.
    pub(crate) priority: i32,
    /// Arrival order within a priority (smaller first).
    pub(crate) arrival: i64,
}

impl RankKey {
    /// The rank of a caller without a request id: after every live place.
    pub(crate) const LAST: RankKey = RankKey {
        priority: i32::MIN,
        arrival: i64::MAX,
    };

    /// Whether a place ranked `other` is ahead of this one (what the SQL's
    /// `priority > ?P OR (priority = ?P AND coalesce(arrival, seq) < ?A)` says).
    #[cfg(test)]
    pub(crate) fn is_behind(&self, other: &RankKey) -> bool {
        other.priority > self.priority
            || (other.priority == self.priority && other.arrival < self.arrival)
    }
}

/// When a place attempted at `now` lapses (stored microseconds): one request TTL after
/// the attempt, or after `queue_until` when the server holds the request open longer.
pub(crate) fn place_expiry(
    now: Timestamp,
    queue_until: Option<Timestamp>,
    ttl: std::time::Duration,
) -> i64 {
    let from = queue_until.map_or(now, |until| until.max(now));
    rows::to_micros(&from).saturating_add(rows::duration_micros(ttl))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::from_micros;

    #[test]
    fn priority_first_then_arrival_and_the_anonymous_caller_last() {
        let early = RankKey {
            priority: 0,
            arrival: 1,
        };
        let late = RankKey {
            priority: 0,
            arrival: 2,
        };
        let urgent = RankKey {
            priority: 5,
            arrival: 3,
        };
        assert!(late.is_behind(&early));
        assert!(!early.is_behind(&late));
        assert!(early.is_behind(&urgent), "a higher priority goes first");
        assert!(!urgent.is_behind(&early));
        assert!(!early.is_behind(&early), "a request is not ahead of itself");
        for key in [early, late, urgent] {
            assert!(RankKey::LAST.is_behind(&key));
        }
    }

    #[test]
    fn a_held_place_lives_until_its_wait_ends_plus_the_ttl() {
        let ttl = std::time::Duration::from_secs(30);
        let now = from_micros(1_000_000);
        assert_eq!(place_expiry(now, None, ttl), 31_000_000);
        let later = from_micros(90_000_000);
        assert_eq!(place_expiry(now, Some(later), ttl), 120_000_000);
        let earlier = from_micros(0);
        assert_eq!(place_expiry(now, Some(earlier), ttl), 31_000_000);
    }
}
