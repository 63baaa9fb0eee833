//! The decisions of the calls that end a lease: `release` (SPEC §4.4) and `reset`
//! (SPEC §4.6). Both leave the resource unowned in the caller's `dest`.
//!
//! Release also restarts a dynamic resource's lifespan ([`Expiration::on_release`]):
//! - the type has a dynamic pool with a lifespan → the expiration date becomes
//!   now + lifespan (on every release, whatever `dest` is);
//! - a pool without a lifespan → the date stays as it is;
//! - no pool (a static resource) → the date is cleared.
//!
//! SQLite applies this function (with the pools' lifespans kept in memory); PostgreSQL,
//! whose pools another replica may change at any moment, states the same three cases in
//! its release statement over the `drlcs` table, so the release stays one round trip. The
//! conformance suite checks both against these rules.
//!
//! Reset never touches the expiration date.

use std::time::Duration;

use mason_types::Timestamp;

use crate::rows;

/// What an end of lease does to the expiration date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiration {
    /// Clear it.
    Clear,
    /// Leave it as it is.
    Keep,
    /// Set it (stored microseconds).
    Set(i64),
}

impl Expiration {
    /// The rule of a release at `now` of a resource whose type has `pool` (`None`: no
    /// dynamic pool; `Some(lifespan)`: a pool, with or without a lifespan).
    pub(crate) fn on_release(pool: Option<Option<Duration>>, now: Timestamp) -> Self {
        match pool {
            None => Expiration::Clear,
            Some(None) => Expiration::Keep,
            Some(Some(lifespan)) => Expiration::Set(
                rows::to_micros(&now).saturating_add(rows::duration_micros(lifespan)),
            ),
        }
    }

    /// As bind parameters of `expiration = CASE WHEN keep THEN expiration ELSE value END`.
    pub(crate) fn as_params(self) -> (bool, Option<i64>) {
        match self {
            Expiration::Clear => (false, None),
            Expiration::Keep => (true, None),
            Expiration::Set(at) => (false, Some(at)),
        }
    }
}

/// The newest `lastupdate` (stored microseconds) a lease may have to be reset at `now`:
/// idle for at least `expire`.
pub(crate) fn reset_cutoff(now: Timestamp, expire: Duration) -> i64 {
    rows::to_micros(&now).saturating_sub(rows::duration_micros(expire))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_expiration_follows_the_pool() {
        let now = rows::from_micros(1_000_000);
        assert_eq!(Expiration::on_release(None, now), Expiration::Clear);
        assert_eq!(Expiration::on_release(Some(None), now), Expiration::Keep);
        assert_eq!(
            Expiration::on_release(Some(Some(Duration::from_secs(2))), now),
            Expiration::Set(3_000_000)
        );
        assert_eq!(
            Expiration::on_release(Some(Some(Duration::MAX)), now),
            Expiration::Set(i64::MAX),
            "an absurd lifespan saturates"
        );
        assert_eq!(Expiration::Keep.as_params(), (true, None));
        assert_eq!(Expiration::Clear.as_params(), (false, None));
        assert_eq!(Expiration::Set(5).as_params(), (false, Some(5)));
    }

    #[test]
    fn reset_cutoff_saturates() {
        let now = rows::from_micros(10_000_000);
        assert_eq!(reset_cutoff(now, Duration::from_secs(4)), 6_000_000);
        assert_eq!(reset_cutoff(now, Duration::MAX), 10_000_000 - i64::MAX);
    }
}
