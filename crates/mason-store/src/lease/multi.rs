//! The decisions of `acquire_many` (`POST /api/v2/acquire`), the all-or-nothing acquire
//! of a set, as every backend runs it in one transaction:
//!
//! 1. [`check`] the request (the server has checked it too; a store never trusts it).
//! 2. With a request id, take or keep a place in the queue of every item (one arrival
//!    number for all of them, see [`super::queue`]), alive until
//!    [`super::queue::place_expiry`].
//! 3. For each item pick `count` unowned resources of its (type, state), least recently
//!    updated first, skipping those reserved for the places ahead of the request.
//! 4. Every item filled: grant them all ([`super::Grant`]), leave every queue, answer
//!    the set in item order ([`granted`]). Otherwise nothing is granted: a type without
//!    resources and without a dynamic pool makes it [`Error::UnknownTypes`] (and the
//!    transaction rolls back); else, on the request's first attempt, short dynamic pools
//!    grow ([`growth`]), and the answer is [`Error::Shortage`] ([`shortage`]) with the
//!    queue places and the growth committed.

use std::collections::HashSet;

use mason_types::multi_acquire::MAX_COUNT;
use mason_types::{DynamicResourceLifeCycle, Resource, ResourceV2, Timestamp};

use super::acquire::dynamic_growth;
use crate::{Error, MultiAcquireItem, MultiAcquireRequest, MultiAcquired, Result, Shortfall};

/// The caller's queue identity: `None` without one (an empty id counts as none).
pub(crate) fn request_id(req: &MultiAcquireRequest) -> Option<&str> {
    req.request_id.as_deref().filter(|id| !id.is_empty())
}

/// Refuse a request no store can serve: no owner, no item, a count of 0 or over
/// [`MAX_COUNT`], the same (type, state) twice, an item without type or state.
pub(crate) fn check(req: &MultiAcquireRequest) -> Result<()> {
    let mut problems = Vec::new();
    if req.owner.is_empty() {
        problems.push("owner must not be empty".to_string());
    }
    if req.items.is_empty() {
        problems.push("at least one resource item is required".to_string());
    }
    let mut seen = HashSet::new();
    for item in &req.items {
        if item.rtype.is_empty() || item.state.is_empty() || item.dest.is_empty() {
            problems.push("every item needs a type, a state and a dest".to_string());
        }
        if item.count == 0 || item.count > MAX_COUNT {
            problems.push(format!(
                "{}: count {} is not between 1 and {MAX_COUNT}",
                item.rtype, item.count
            ));
        }
        if !seen.insert((&item.rtype, &item.state)) {
            problems.push(format!(
                "{} in state {} is asked for twice",
                item.rtype, item.state
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidArgument(problems.join("; ")))
    }
}

/// What an item found: how many resources it could pick, and how many were reserved for
/// places ahead of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// Picks (at most the item's count).
    pub(crate) picked: usize,
    /// Reserved ahead.
    pub(crate) reserved: u64,
}

/// The shortfall of every item that found fewer picks than it wants (`found[i]` for
/// `items[i]`); empty when the set can be granted.
pub(crate) fn shortfalls(items: &[MultiAcquireItem], found: &[Found]) -> Vec<Shortfall> {
    items
        .iter()
        .zip(found)
        .filter(|(item, f)| f.picked < item.count as usize)
        .map(|(item, f)| Shortfall {
            rtype: item.rtype.clone(),
            state: item.state.clone(),
            wanted: item.count,
            free: u32::try_from(f.picked).unwrap_or(u32::MAX),
            reserved: u32::try_from(f.reserved).unwrap_or(u32::MAX),
        })
        .collect()
}

/// The refusal of a short set: [`Error::UnknownTypes`] when some short item's type is
/// not known (`known(type)`: it has a resource or a dynamic pool), else
/// [`Error::Shortage`].
pub(crate) fn shortage(short: Vec<Shortfall>, known: impl Fn(&str) -> bool) -> Error {
    let mut unknown: Vec<String> = short
        .iter()
        .filter(|s| !known(&s.rtype))
        .map(|s| s.rtype.clone())
        .collect();
    unknown.dedup();
    if unknown.is_empty() {
        Error::Shortage(short)
    } else {
        Error::UnknownTypes(unknown)
    }
}

/// The resources a first attempt creates for a short item of a dynamic pool: as many as
/// it is short of, within the pool's max-count (`existing` resources of the type exist).
pub(crate) fn growth(
    drlc: &DynamicResourceLifeCycle,
    existing: i64,
    short: &Shortfall,
    now: Timestamp,
) -> Vec<Resource> {
    let missing = i64::from(short.wanted - short.free.min(short.wanted));
    (0..missing)
        .map_while(|i| dynamic_growth(drlc, existing + i, now))
        .collect()
}

/// The answer of a granted set: the resources in item order (each item's in pick
/// order), requested at the request's first attempt.
pub(crate) fn granted(resources: Vec<ResourceV2>, requested_at: Timestamp) -> MultiAcquired {
    MultiAcquired {
        resources,
        requested_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::from_micros;

    fn item(rtype: &str, count: u32) -> MultiAcquireItem {
        MultiAcquireItem {
            rtype: rtype.into(),
            state: "free".into(),
            dest: "busy".into(),
            count,
        }
    }

    fn set(items: Vec<MultiAcquireItem>) -> MultiAcquireRequest {
        MultiAcquireRequest {
            owner: "me".into(),
            items,
            ..Default::default()
        }
    }

    #[test]
    fn bad_sets_are_refused_with_every_problem() {
        assert!(check(&set(vec![item("a", 1), item("b", 1000)])).is_ok());
        let err = check(&set(vec![item("a", 0), item("a", 1001)])).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(
            err.to_string(),
            "a: count 0 is not between 1 and 1000; a: count 1001 is not between 1 and 1000; a in state free is asked for twice"
        );
        assert!(check(&set(Vec::new())).is_err());
        let mut anonymous = set(vec![item("a", 1)]);
        anonymous.owner.clear();
        assert!(check(&anonymous).is_err());
        let mut other_state = item("a", 1);
        other_state.state = "dirty".into();
        assert!(
            check(&set(vec![item("a", 1), other_state])).is_ok(),
            "a type may repeat in another state"
        );
    }

    #[test]
    fn only_short_items_are_named_and_unknown_types_win() {
        let items = [item("a", 2), item("b", 1), item("c", 1)];
        let found = |picked, reserved| Found { picked, reserved };
        assert!(shortfalls(&items, &[found(2, 0), found(1, 0), found(1, 3)]).is_empty());
        let short = shortfalls(&items, &[found(1, 0), found(1, 0), found(0, 2)]);
        assert_eq!(
            short
                .iter()
                .map(|s| (s.rtype.as_str(), s.wanted, s.free, s.reserved))
                .collect::<Vec<_>>(),
            [("a", 2, 1, 0), ("c", 1, 0, 2)]
        );
        assert!(matches!(shortage(short.clone(), |_| true), Error::Shortage(s) if s.len() == 2));
        assert!(matches!(
            shortage(short, |t| t != "c"),
            Error::UnknownTypes(t) if t == ["c"]
        ));
    }

    #[test]
    fn growth_fills_the_shortfall_within_max_count() {
        let drlc = DynamicResourceLifeCycle {
            rtype: "a".into(),
            max_count: 4,
            ..Default::default()
        };
        let short = Shortfall {
            rtype: "a".into(),
            state: "free".into(),
            wanted: 3,
            free: 0,
            reserved: 0,
        };
        let now = from_micros(1);
        assert_eq!(growth(&drlc, 0, &short, now).len(), 3);
        assert_eq!(growth(&drlc, 2, &short, now).len(), 2, "max-count 4");
        assert!(growth(&drlc, 4, &short, now).is_empty());
        let mostly_free = Shortfall { free: 2, ..short };
        assert_eq!(growth(&drlc, 0, &mostly_free, now).len(), 1);
    }
}
