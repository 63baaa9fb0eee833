//! Lease TTLs on PostgreSQL (the rules are `lease/ttl.rs`'s): the per-type policies a
//! config sync stores, and the expiry of leases whose deadline passed — one statement
//! that locks the due rows with `SKIP LOCKED` ([`writes::expire`]), so replicas expiring
//! at once never end, or report, the same lease twice.
//!
//! **Where a scan starts** ([`ScanFloor`]). An ended lease leaves its old row version's
//! entry at the front of the deadline index until a vacuum removes it, and every scan
//! from the start walks past them all: with 100,000 leases ending over a minute, 50,000
//! such entries made each expiry call and each next-deadline lookup walk ~580 index
//! pages (1.7 ms each). So each store remembers the deadline up to which its last call
//! left nothing due (every row before it was ended, or locked by another transaction)
//! and starts its next scans there. A full scan from the start, at least once per
//! [`FULL_SCAN_EVERY_US`] of the store's clock, still finds what a floor can pass by: a
//! due row another transaction held when it was skipped and released without ending,
//! and a lease granted with a deadline already behind the floor (a grant that committed
//! late, or a replica whose clock is behind).

use deadpool_postgres::{GenericClient, Object};
use tokio::sync::Mutex;

use super::error::PgResult;
use super::rows::execute;
use super::txn::Ctx;
use super::writes;
use crate::lease::ttl::{self, PolicyRow};
use crate::rows::{from_micros, to_micros};
use crate::{ExpireReport, ExpireRequest, ExpiredLease};

/// Replace the stored lease policies with `policies` (in the config sync's transaction).
pub(super) async fn store_policies<C: GenericClient>(
    c: &C,
    policies: &[PolicyRow],
) -> PgResult<()> {
    execute(c, "DELETE FROM lease_policies", &[]).await?;
    let types: Vec<&str> = policies.iter().map(|p| p.rtype.as_str()).collect();
    let ttls: Vec<Option<i64>> = policies.iter().map(|p| p.ttl).collect();
    let states: Vec<&str> = policies.iter().map(|p| p.expired_state.as_str()).collect();
    execute(
        c,
        "INSERT INTO lease_policies (type, ttl_us, expired_state) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[])",
        &[&types, &ttls, &states],
    )
    .await?;
    Ok(())
}

/// How often (in the store's clock, microseconds) an expiry call scans the deadline
/// index from its start rather than from the floor.
pub(super) const FULL_SCAN_EVERY_US: i64 = 1_000_000;

/// Where this store's next expiry scan starts (see the module doc).
#[derive(Default)]
pub(super) struct ScanFloor(Mutex<Option<Floor>>);

#[derive(Clone, Copy)]
struct Floor {
    /// Every due lease with an earlier deadline was ended or locked by another
    /// transaction at the last call.
    from: i64,
    /// When the last full scan was made.
    full_at: i64,
}

impl Floor {
    /// The deadline a call at `now` scans from: the floor, or the start of the index
    /// (`i64::MIN`) when a full scan is due.
    fn start(floor: Option<Floor>, now: i64) -> i64 {
        match floor {
            Some(f) if (0..FULL_SCAN_EVERY_US).contains(&(now - f.full_at)) => f.from.min(now),
            _ => i64::MIN,
        }
    }

    /// The floor after a call at `now` that scanned from `start` and ended `expired` (oldest
    /// first) of at most `limit`: `now` when it was not full (nothing due is left, bar
    /// locked rows); otherwise the last deadline it ended (every earlier one is ended or
    /// locked).
    fn after(
        before: Option<Floor>,
        start: i64,
        now: i64,
        limit: i64,
        expired: &[ExpiredLease],
    ) -> Floor {
        let from = if i64::try_from(expired.len()).unwrap_or(i64::MAX) < limit {
            now
        } else {
            expired
                .iter()
                .map(|e| to_micros(&e.deadline))
                .max()
                .unwrap_or(start)
        };
        let full_at = match before {
            Some(f) if start != i64::MIN => f.full_at,
            _ => now,
        };
        Floor { from, full_at }
    }
}

/// End at most `req.limit` leases due at `req.now`, oldest deadline first, scanning from
/// this store's `floor`.
pub(super) async fn expire(
    client: &mut Object,
    _ctx: &Ctx,
    req: &ExpireRequest,
    floor: &ScanFloor,
) -> PgResult<ExpireReport> {
    let now = ttl::cutoff(&req.now);
    let limit = ttl::limit(req.limit);
    let mut kept = floor.0.lock().await;
    let start = Floor::start(*kept, now);
    let expired = writes::expire(&*client, now, limit, start).await?;
    let after = Floor::after(*kept, start, now, limit, &expired);
    let next = writes::next_deadline(&*client, after.from).await?;
    *kept = Some(after);
    Ok(ExpireReport {
        expired,
        next_deadline: next.map(from_micros),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(deadline: i64) -> ExpiredLease {
        ExpiredLease {
            name: format!("r{deadline}"),
            rtype: "t".into(),
            previous_owner: "o".into(),
            previous_state: "busy".into(),
            state: "dirty".into(),
            deadline: from_micros(deadline),
            generation: 1,
        }
    }

    #[test]
    fn a_scan_starts_at_the_floor_and_from_the_start_once_a_second() {
        assert_eq!(Floor::start(None, 5_000_000), i64::MIN, "first call: full");
        let f = Floor {
            from: 3_200_000,
            full_at: 3_000_000,
        };
        assert_eq!(Floor::start(Some(f), 3_999_999), 3_200_000);
        let ahead = Floor {
            from: 4_000_000,
            ..f
        };
        assert_eq!(
            Floor::start(Some(ahead), 3_500_000),
            3_500_000,
            "never after now"
        );
        assert_eq!(
            Floor::start(Some(f), 4_500_000),
            i64::MIN,
            "a second passed"
        );
        assert_eq!(
            Floor::start(Some(f), 2_000_000),
            i64::MIN,
            "clock went back"
        );
    }

    #[test]
    fn the_floor_moves_to_now_or_to_the_last_deadline_of_a_full_batch() {
        let short = Floor::after(None, i64::MIN, 10, 3, &[lease(1), lease(2)]);
        assert_eq!((short.from, short.full_at), (10, 10));
        let full = Floor::after(Some(short), 10, 20, 2, &[lease(12), lease(15)]);
        assert_eq!(
            (full.from, full.full_at),
            (15, 10),
            "a floor scan keeps full_at"
        );
        let empty_full = Floor::after(Some(full), 15, 30, 0, &[]);
        assert_eq!(empty_full.from, 15, "limit 0: nothing known past the start");
    }
}
