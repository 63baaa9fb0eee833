//! Server-enforced lease TTLs (issue 12): when a lease has a deadline, what renews it,
//! what ends it, and what a passed deadline means for its holder.
//!
//! - **The TTL of a lease** is resolved once, at the grant: the request's `lease_ttl`
//!   when it sends one ([`requested_ttl`]), else the TTL of the resource's type as the
//!   last config sync stored it (`lease_policies`, one row per type of the config, see
//!   [`policies`]), else none — a lease without a TTL lives until it is released, as
//!   upstream's do. The grant stores the TTL, the deadline (grant time + TTL) and the
//!   type's `lease-expired-state`, so neither a config change nor a restart nor another
//!   replica changes what happens to a lease already granted. The backends state the
//!   "request's, else the type's" choice in their grant statements (a lookup of the
//!   policy row by the granted row's type), so a grant stays one statement.
//! - **A renewal** (`update` by the owner, upstream's heartbeat) moves the deadline to
//!   renewal time + TTL. A touch of a lease without a TTL leaves it without a deadline.
//! - **A passed deadline ends the lease**, even before the expiry loop gets to it: an
//!   update or a release of it is refused with [`Error::LeaseExpired`] and changes
//!   nothing ([`check_alive`]), so a late heartbeat can never resurrect a lease whose
//!   holder was told it is over. A deadline equal to now has passed.
//! - **Expiry** ([`crate::Store::expire_leases`]) ends due leases oldest deadline first,
//!   each by a compare-and-set on its generation and its still-passed deadline: owner
//!   `""`, the stored expired state ([`expired_state`]), `lastupdate` now, a fresh
//!   generation, the expiration date as for a release. An end of a lease (release,
//!   reset, expiry) clears the TTL, the deadline and the expired state.
//! - Deadlines are found through an index on the deadline (only rows that have one), so
//!   the cost of expiry and of finding the next deadline does not depend on the size of
//!   the pool.

use std::collections::BTreeMap;
use std::time::Duration;

use mason_types::{state, BoskosConfig, Timestamp};

use crate::{rows, Error, Result};

/// A requested TTL as stored (microseconds); `None` when the request sends none. A TTL
/// under a microsecond is refused (the server never sends one: it refuses anything not
/// more than 0 first).
pub(crate) fn requested_ttl(ttl: Option<Duration>) -> Result<Option<i64>> {
    match ttl {
        None => Ok(None),
        Some(ttl) if ttl < Duration::from_micros(1) => Err(Error::InvalidArgument(
            "lease_ttl must be more than 0".into(),
        )),
        Some(ttl) => Ok(Some(rows::duration_micros(ttl))),
    }
}

/// The per-type lease policy as a config sync stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyRow {
    /// The resource type.
    pub(crate) rtype: String,
    /// Its TTL in microseconds (`None`: leases of the type have none).
    pub(crate) ttl: Option<i64>,
    /// Where an expired lease's resource goes.
    pub(crate) expired_state: String,
}

/// The policy of every type in `config`, as stored by `sync_config` (the stored set is
/// replaced by this one, so a type removed from the config leaves no policy behind).
pub(crate) fn policies(config: &BoskosConfig) -> Vec<PolicyRow> {
    let all: BTreeMap<_, _> = config.lease_policies();
    all.into_iter()
        .map(|(rtype, policy)| PolicyRow {
            rtype,
            ttl: policy.ttl.map(rows::duration_micros),
            expired_state: policy.expired_state,
        })
        .collect()
}

/// Refuse a call on a lease whose deadline (stored microseconds) is at or before `now`.
pub(crate) fn check_alive(name: &str, deadline: Option<i64>, now: i64) -> Result<()> {
    match deadline {
        Some(deadline) if deadline <= now => Err(Error::LeaseExpired {
            name: name.to_string(),
            deadline: rows::from_micros(deadline),
        }),
        _ => Ok(()),
    }
}

/// The state an expired lease's resource goes to: what the grant stored, or `dirty`
/// for a lease granted without one.
pub(crate) fn expired_state(stored: Option<String>) -> String {
    stored
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| state::DIRTY.to_string())
}

/// The bind value of the fallback expired state in a statement that applies
/// [`expired_state`] itself (`coalesce(lease_expired_state, ?)`).
#[cfg(feature = "postgres")]
pub(crate) const DEFAULT_EXPIRED_STATE: &str = state::DIRTY;

/// At most how many leases one expiry call ends, as a bind value.
pub(crate) fn limit(limit: u32) -> i64 {
    i64::from(limit)
}

/// `now` as stored.
pub(crate) fn cutoff(now: &Timestamp) -> i64 {
    rows::to_micros(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_ttl_is_stored_in_microseconds_and_must_be_positive() {
        assert_eq!(requested_ttl(None).unwrap(), None);
        assert_eq!(
            requested_ttl(Some(Duration::from_millis(1500))).unwrap(),
            Some(1_500_000)
        );
        assert_eq!(
            requested_ttl(Some(Duration::from_nanos(999)))
                .unwrap_err()
                .to_string(),
            "lease_ttl must be more than 0"
        );
        assert_eq!(requested_ttl(Some(Duration::MAX)).unwrap(), Some(i64::MAX));
    }

    #[test]
    fn a_deadline_at_or_before_now_has_passed() {
        assert!(check_alive("r", None, 10).is_ok());
        assert!(check_alive("r", Some(11), 10).is_ok());
        let expired = check_alive("r", Some(10), 10).unwrap_err();
        assert_eq!(expired.status(), 409);
        assert_eq!(
            expired.to_string(),
            "resource r: the lease expired at 1970-01-01T00:00:00.000Z"
        );
        assert!(matches!(
            check_alive("r", Some(1_500_000), 2_000_000),
            Err(Error::LeaseExpired { ref name, .. }) if name == "r"
        ));
    }

    #[test]
    fn policies_cover_every_type_of_the_config() {
        let config = BoskosConfig::parse_and_validate(
            "resources:\n- type: a\n  names: [a1]\n  lease-ttl: 90s\n  lease-expired-state: tainted\n- type: b\n  names: [b1]\n",
        )
        .unwrap();
        assert_eq!(
            policies(&config),
            [
                PolicyRow {
                    rtype: "a".into(),
                    ttl: Some(90_000_000),
                    expired_state: "tainted".into()
                },
                PolicyRow {
                    rtype: "b".into(),
                    ttl: None,
                    expired_state: "dirty".into()
                },
            ]
        );
    }

    #[test]
    fn an_expired_lease_goes_to_its_stored_state_or_dirty() {
        assert_eq!(expired_state(Some("tainted".into())), "tainted");
        assert_eq!(expired_state(None), "dirty");
        assert_eq!(expired_state(Some(String::new())), "dirty");
    }
}
