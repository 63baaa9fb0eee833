//! Per-user lease quotas (issue 13): how many leases of a type one authenticated user
//! (the *holder*, over every owner name it acts as) may hold at once.
//!
//! How every backend keeps them exact, also with several replicas on one database:
//! - a grant records the holder in the resource row ([`super::Grant::holder`]); every
//!   end of a lease (release, reset, expiry) clears it;
//! - the database keeps a count per (holder, type) in the `holder_counts` table,
//!   maintained by triggers on `resources` whenever a row's holder (or type) changes or a
//!   held row is inserted or deleted — so no write path, present or future, can forget it;
//! - a grant with a quota first reads the holder's count *inside its own transaction*,
//!   and on PostgreSQL locks that count's row while doing so: the grants of one holder
//!   (on any replica) then run one after the other, each seeing the count its
//!   predecessors committed, and the check below decides before anything is written.
//!   (A plain `SELECT count(*)` under READ COMMITTED would let two replicas both see
//!   room for one more.) On SQLite one connection serialises every write anyway.
//!
//! Without a holder (a server without an auth file) nothing is recorded and nothing is
//! checked: upstream's behaviour, byte for byte. A lease granted before a limit was
//! configured still counts, since the holder is recorded whether or not it has a limit.

use std::collections::BTreeMap;

use crate::{AcquireByStateRequest, AcquireRequest, Error, MultiAcquireRequest, Result};

/// One limit to check: `holder` may hold at most `max` leases of `rtype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota<'a> {
    /// The authenticated user.
    pub(crate) holder: &'a str,
    /// The resource type.
    pub(crate) rtype: &'a str,
    /// Its limit.
    pub(crate) max: u32,
}

impl<'a> Quota<'a> {
    /// The limit an acquire must respect, if any (a holder and a limit).
    pub(crate) fn of_acquire(req: &'a AcquireRequest) -> Option<Self> {
        Some(Self {
            holder: req.holder.as_deref().filter(|h| !h.is_empty())?,
            rtype: &req.rtype,
            max: req.max_held?,
        })
    }

    /// The limits an `acquirebystate` of resources of `types` (one entry per distinct
    /// resource granted) must respect, each with how many of that type it would grant,
    /// in type order (the order a backend locks the counts in).
    pub(crate) fn of_by_state<'t>(
        req: &'a AcquireByStateRequest,
        types: impl IntoIterator<Item = &'t str>,
    ) -> Vec<(Self, u32)> {
        let mut wanted: BTreeMap<&str, u32> = BTreeMap::new();
        for rtype in types {
            *wanted.entry(rtype).or_default() += 1;
        }
        Self::limits(req.holder.as_deref(), &req.max_held, wanted)
    }

    /// The limits an all-or-nothing set must respect: per type, the sum of its items'
    /// counts, in type order.
    pub(crate) fn of_many(req: &'a MultiAcquireRequest) -> Vec<(Self, u32)> {
        let mut wanted: BTreeMap<&str, u32> = BTreeMap::new();
        for item in &req.items {
            let n = wanted.entry(&item.rtype).or_default();
            *n = n.saturating_add(item.count);
        }
        Self::limits(req.holder.as_deref(), &req.max_held, wanted)
    }

    /// Each type of `wanted` that `holder` has a limit for, with how many it asks for.
    fn limits(
        holder: Option<&'a str>,
        max_held: &'a BTreeMap<String, u32>,
        wanted: BTreeMap<&str, u32>,
    ) -> Vec<(Self, u32)> {
        let Some(holder) = holder.filter(|h| !h.is_empty()) else {
            return Vec::new();
        };
        wanted
            .into_iter()
            .filter_map(|(rtype, asked)| {
                let (rtype, max) = max_held.get_key_value(rtype)?;
                Some((
                    Self {
                        holder,
                        rtype,
                        max: *max,
                    },
                    asked,
                ))
            })
            .collect()
    }

    /// Whether the holder, holding `held` leases of the type now (as its transaction
    /// read it), may be granted `asked` more; otherwise the 429 to answer.
    pub(crate) fn check(&self, held: i64, asked: u32) -> Result<()> {
        // A count is never negative; a corrupt one counts as none rather than wrapping.
        let held = u64::try_from(held).unwrap_or_default();
        if held.saturating_add(u64::from(asked)) <= u64::from(self.max) {
            return Ok(());
        }
        Err(Error::QuotaExceeded {
            user: self.holder.to_string(),
            held,
            max: self.max,
            rtype: self.rtype.to_string(),
            asked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acquire(holder: Option<&str>, max: Option<u32>) -> AcquireRequest {
        AcquireRequest {
            rtype: "t".into(),
            holder: holder.map(str::to_string),
            max_held: max,
            ..Default::default()
        }
    }

    #[test]
    fn only_a_holder_with_a_limit_is_checked() {
        assert_eq!(Quota::of_acquire(&acquire(None, Some(3))), None);
        assert_eq!(Quota::of_acquire(&acquire(Some("prow"), None)), None);
        let req = acquire(Some("prow"), Some(3));
        assert_eq!(
            Quota::of_acquire(&req),
            Some(Quota {
                holder: "prow",
                rtype: "t",
                max: 3
            })
        );
    }

    #[test]
    fn the_limit_is_inclusive_and_the_refusal_says_why() {
        let q = Quota {
            holder: "prow",
            rtype: "gce-project",
            max: 10,
        };
        assert!(q.check(9, 1).is_ok());
        assert!(q.check(-4, 1).is_ok(), "a corrupt count counts as none");
        let refused = q.check(10, 1).unwrap_err();
        assert_eq!(refused.status(), 429);
        assert_eq!(
            refused.to_string(),
            "user prow holds 10 of 10 gce-project leases"
        );
        assert!(q.check(8, 2).is_ok());
        assert!(matches!(
            q.check(9, 2),
            Err(Error::QuotaExceeded {
                held: 9,
                asked: 2,
                ..
            })
        ));
        let none = Quota { max: 0, ..q };
        assert!(
            none.check(0, 1).is_err(),
            "a limit of 0 refuses every grant"
        );
    }

    #[test]
    fn by_state_counts_each_limited_type_once() {
        let req = AcquireByStateRequest {
            holder: Some("prow".into()),
            max_held: BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 1)]),
            ..Default::default()
        };
        let limits = Quota::of_by_state(&req, ["b", "c", "a", "b", "c"]);
        let shown: Vec<(&str, u32, u32)> =
            limits.iter().map(|(q, n)| (q.rtype, q.max, *n)).collect();
        assert_eq!(shown, [("a", 2, 1), ("b", 1, 2)], "c is unlimited");
        let anonymous = AcquireByStateRequest {
            holder: None,
            ..req.clone()
        };
        assert!(Quota::of_by_state(&anonymous, ["a"]).is_empty());
    }
}
