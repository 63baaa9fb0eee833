//! The decisions of `acquire` (SPEC §4.1, §4.2) and `acquirebystate` (SPEC §4.3).
//!
//! Acquire, as every backend runs it:
//! 1. A request id (an empty one counts as none) takes a place in the `(type, state)`
//!    queue on its first poll; every poll keeps it alive until [`queue_expiry`].
//! 2. The caller gets the `(k+1)`-th unowned resource of the type in the state, least
//!    recently updated first (then by name), where `k` counts the live entries queued
//!    ahead of it — earlier resources are reserved for older requests. The move is a
//!    [`Grant`](super::Grant); a request served leaves the queue.
//! 3. Nothing for the caller: a request id seen for the first time may grow the type's
//!    dynamic pool by one ([`dynamic_growth`]), and the answer is one of two 404s
//!    ([`miss`]), decided before that growth, as upstream does.

use std::collections::HashSet;

use mason_types::{DynamicResourceLifeCycle, Resource, ResourceV2, Timestamp};

use crate::{rows, rules, AcquireByStateRequest, AcquireRequest, Acquired, Error, Result};

/// The caller's queue identity: `None` without one (an empty id counts as none).
pub(crate) fn request_id(req: &AcquireRequest) -> Option<&str> {
    req.request_id.as_deref().filter(|id| !id.is_empty())
}

/// A request's place in the queue, as the backend found or made it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueEntry {
    /// The place's row (PostgreSQL removes a served place by it).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) seq: i64,
    /// First poll (stored microseconds): the acquire's `requested_at`.
    pub(crate) created_at: i64,
    /// Whether this poll was the first (only a first poll may grow a dynamic pool).
    pub(crate) is_new: bool,
    /// Its rank in the queue (an `/acquire` place has priority 0).
    pub(crate) rank: super::queue::RankKey,
}

impl QueueEntry {
    /// The entry of a set's places: they share one arrival number, which also stands for
    /// the entry's row, and rank by the set's `priority`.
    pub(crate) fn of_set(arrival: i64, created_at: i64, is_new: bool, priority: i32) -> Self {
        QueueEntry {
            seq: arrival,
            created_at,
            is_new,
            rank: super::queue::RankKey { priority, arrival },
        }
    }
}

/// When a queue entry polled at `now` lapses (stored microseconds).
pub(crate) fn queue_expiry(now: Timestamp, ttl: std::time::Duration) -> i64 {
    rows::to_micros(&now).saturating_add(rows::duration_micros(ttl))
}

/// What a pick found.
#[derive(Debug)]
pub(crate) enum Pick {
    /// Leased (the row as it is after the grant).
    Got(ResourceV2),
    /// Nothing for this caller; whether the type has any resource at all decides which
    /// 404 it is.
    Miss {
        /// Whether any resource of the type exists, in any state.
        type_exists: bool,
    },
}

/// The caller's answer for a pick. `requested_at` is the request's first poll (now
/// without a request id).
pub(crate) fn answer(
    req: &AcquireRequest,
    pick: Pick,
    requested_at: Timestamp,
) -> Result<Acquired> {
    match pick {
        Pick::Got(granted) => Ok(Acquired {
            resource: granted.resource,
            requested_at,
            lease: granted.lease,
        }),
        Pick::Miss { type_exists } => Err(miss(&req.rtype, type_exists)),
    }
}

/// The 404 of an acquire that found nothing: `ResourceNotFound(type)` when the type has
/// resources (just none for this caller), `ResourceTypeNotFound(type)` when it has none.
pub(crate) fn miss(rtype: &str, type_exists: bool) -> Error {
    if type_exists {
        Error::ResourceNotFound(rtype.to_string())
    } else {
        Error::ResourceTypeNotFound(rtype.to_string())
    }
}

/// The resource a new request id creates when it finds nothing: one more member of the
/// type's dynamic pool, if the type has `count` resources (of any state, static ones
/// included, as upstream counts) and that is below the pool's max-count. It is unowned,
/// in the pool's initial state, with a fresh UUID name. A backend counts at most
/// `drlc.max_count` rows, which is all this needs.
pub(crate) fn dynamic_growth(
    drlc: &DynamicResourceLifeCycle,
    count: i64,
    now: Timestamp,
) -> Option<Resource> {
    if count >= i64::from(drlc.max_count) {
        return None;
    }
    let name = rules::uuid_name();
    tracing::info!(rtype = %drlc.rtype, %name, "creating a dynamic resource for a new request");
    Some(Resource::new(
        &drlc.rtype,
        name,
        rules::initial_state(drlc),
        now,
    ))
}

/// The distinct names an `acquirebystate` wants, in the caller's order; refuses an empty
/// list (SPEC §4.3).
pub(crate) fn wanted_names(req: &AcquireByStateRequest) -> Result<Vec<&str>> {
    if req.names.is_empty() {
        return Err(Error::InvalidArgument(
            "must provide names of expected resources".into(),
        ));
    }
    let mut seen = HashSet::new();
    Ok(req
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| seen.insert(*n))
        .collect())
}

/// The answer when one of the wanted resources is missing, owned or in another state:
/// `ResourceNotFound(state)`, and nothing was taken.
pub(crate) fn by_state_miss(req: &AcquireByStateRequest) -> Error {
    Error::ResourceNotFound(req.state.clone())
}

/// Put an `acquirebystate` answer in its order: least recently updated first, as the
/// rows were before the move, then by name. `before` gives an item's `lastupdate` before
/// the move (stored microseconds) and its name.
pub(crate) fn order_by_state_answer<T>(items: &mut [T], before: impl Fn(&T) -> (i64, &str)) {
    items.sort_by(|a, b| before(a).cmp(&before(b)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::from_micros;

    fn pool(max_count: u32, initial_state: &str) -> DynamicResourceLifeCycle {
        DynamicResourceLifeCycle {
            rtype: "dyn".into(),
            initial_state: initial_state.into(),
            max_count,
            ..Default::default()
        }
    }

    #[test]
    fn an_empty_request_id_is_none() {
        let mut req = AcquireRequest::default();
        assert_eq!(request_id(&req), None);
        req.request_id = Some(String::new());
        assert_eq!(request_id(&req), None);
        req.request_id = Some("r1".into());
        assert_eq!(request_id(&req), Some("r1"));
    }

    #[test]
    fn a_miss_is_one_of_two_404s() {
        let req = AcquireRequest {
            rtype: "t".into(),
            ..Default::default()
        };
        let miss = |type_exists| {
            answer(&req, Pick::Miss { type_exists }, from_micros(0))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(miss(true), "no available resource t, try again later.");
        assert_eq!(miss(false), "resource type \"t\" does not exist");
    }

    #[test]
    fn growth_stops_at_max_count_and_uses_the_initial_state_and_a_uuid() {
        let now = from_micros(5_000_000);
        assert!(dynamic_growth(&pool(2, ""), 2, now).is_none());
        assert!(dynamic_growth(&pool(0, ""), 0, now).is_none());
        let grown = dynamic_growth(&pool(2, ""), 1, now).expect("room for one");
        assert_eq!(
            (grown.rtype.as_str(), grown.state.as_str()),
            ("dyn", "free")
        );
        assert!(grown.owner.is_empty());
        assert_eq!(grown.lastupdate, now);
        assert!(uuid::Uuid::parse_str(&grown.name).is_ok(), "{}", grown.name);
        let dirty = dynamic_growth(&pool(2, "dirty"), 0, now).expect("room");
        assert_eq!(dirty.state, "dirty");
    }

    #[test]
    fn by_state_wants_distinct_names_and_answers_least_recently_updated_first() {
        let req = AcquireByStateRequest {
            state: "free".into(),
            names: vec!["b".into(), "a".into(), "b".into()],
            ..Default::default()
        };
        assert_eq!(wanted_names(&req).unwrap(), ["b", "a"]);
        let empty = AcquireByStateRequest::default();
        assert_eq!(
            wanted_names(&empty).unwrap_err().to_string(),
            "must provide names of expected resources"
        );
        assert_eq!(
            by_state_miss(&req).to_string(),
            "no available resource free, try again later."
        );
        let mut items = vec![(2, "a"), (1, "z"), (1, "b")];
        order_by_state_answer(&mut items, |&(at, name)| (at, name));
        assert_eq!(items, [(1, "b"), (1, "z"), (2, "a")]);
    }
}
