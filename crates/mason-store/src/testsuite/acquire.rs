//! Conformance cases for acquire (SPEC §4.1, §4.2 and the ranch checklist of §4.11): the
//! two 404s, the pick order, the `request_id` queue and its visibility, and dynamic
//! creation on a new request.

use std::time::Duration;

use super::{acquire_req as req, assert_err_text, is_not_found, release_req, Harness, POOL};
use crate::ResourceFilter;

/// No resource of the type at all → type-not-found, with upstream's text.
pub async fn acquire_unknown_type(h: Harness) {
    assert_err_text(
        h.store
            .acquire(&req("nope", "free", "busy", "me", None))
            .await,
        "resource type \"nope\" does not exist",
    );
    h.with_config(POOL).await;
    assert_err_text(
        h.store
            .acquire(&req("nope", "free", "busy", "me", None))
            .await,
        "resource type \"nope\" does not exist",
    );
}

/// The type exists but nothing is free in that state → not-found naming the type, and no
/// resource is touched.
pub async fn acquire_no_free_resource(h: Harness) {
    h.with_config(POOL).await;
    let before = h.store.list(&ResourceFilter::default()).await.unwrap();
    assert_err_text(
        h.store
            .acquire(&req("other", "free", "busy", "me", None))
            .await,
        "no available resource other, try again later.",
    );
    h.store
        .acquire(&req("other", "dirty", "busy", "a", None))
        .await
        .unwrap();
    assert_err_text(
        h.store
            .acquire(&req("other", "dirty", "busy", "b", None))
            .await,
        "no available resource other, try again later.",
    );
    let after = h.get("r1").await;
    assert_eq!(before.iter().find(|r| r.name == "r1").unwrap(), &after);
}

/// Success moves state and owner, advances lastupdate, and returns what is stored.
pub async fn acquire_moves_and_stamps(h: Harness) {
    h.with_config(POOL).await;
    let before = h.get("o1").await;
    let got = h
        .store
        .acquire(&req("other", "dirty", "cleaning", "janitor", None))
        .await
        .unwrap();
    assert_eq!(got.resource.name, "o1");
    assert_eq!(got.resource.state, "cleaning");
    assert_eq!(got.resource.owner, "janitor");
    assert!(got.resource.lastupdate > before.lastupdate);
    assert_eq!(got.resource, h.get("o1").await);
    assert!(
        got.requested_at >= before.lastupdate,
        "no request id: requested_at is now"
    );
}

/// Least recently updated first: four acquire+release rounds visit four resources.
pub async fn acquire_round_robin(h: Harness) {
    h.with_config(POOL).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let got = h
            .store
            .acquire(&req("t", "free", "busy", "me", None))
            .await
            .unwrap();
        h.store
            .release(&release_req(&got.resource.name, "free", "me"))
            .await
            .unwrap();
        seen.push(got.resource.name);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "{seen:?}");
}

/// The request_id queue (SPEC §4.11 "Priority").
pub async fn acquire_request_id_priority(h: Harness) {
    h.with_config("resources:\n- type: x\n  names: [x1]\n")
        .await;
    let first_seen = h.clock.peek();
    assert!(h
        .store
        .acquire(&req("t", "free", "busy", "u1", Some("req1")))
        .await
        .is_err());
    h.clock.advance(Duration::from_secs(5));
    h.with_config("resources:\n- type: x\n  names: [x1]\n- type: t\n  names: [only]\n")
        .await;
    let err = h
        .store
        .acquire(&req("t", "free", "busy", "anon", None))
        .await
        .unwrap_err();
    assert!(is_not_found(&err), "reserved for req1: {err}");
    let err = h
        .store
        .acquire(&req("t", "free", "busy", "u2", Some("req2")))
        .await
        .unwrap_err();
    assert!(is_not_found(&err), "req2 is second: {err}");
    let got = h
        .store
        .acquire(&req("t", "free", "busy", "u1", Some("req1")))
        .await
        .unwrap();
    assert_eq!(got.resource.name, "only");
    assert_eq!(
        got.requested_at, first_seen,
        "duration counts from the first poll"
    );
    h.store
        .release(&release_req("only", "free", "u1"))
        .await
        .unwrap();
    assert!(h
        .store
        .acquire(&req("t", "free", "busy", "u1", Some("req1")))
        .await
        .is_err());
    assert!(h
        .store
        .acquire(&req("t", "free", "busy", "anon", None))
        .await
        .is_err());
    h.clock.advance(Duration::from_secs(61));
    assert!(h.store.gc_requests().await.unwrap() >= 2);
    let now = h.clock.peek();
    let got = h
        .store
        .acquire(&req("t", "free", "busy", "anon", None))
        .await
        .unwrap();
    assert!(got.requested_at >= now);
}

/// A new request id grows a dynamic pool by one, up to max-count; repeats never do.
pub async fn acquire_creates_dynamic_on_new_request(h: Harness) {
    h.with_config("resources:\n- type: dyn\n  state: dirty\n  min-count: 0\n  max-count: 2\n")
        .await;
    let count = |h: &Harness| {
        let store = h.store.clone();
        async move {
            store
                .list(&ResourceFilter {
                    rtype: Some("dyn".into()),
                    ..Default::default()
                })
                .await
                .unwrap()
        }
    };
    assert!(count(&h).await.is_empty());
    assert_err_text(
        h.store
            .acquire(&req("dyn", "free", "busy", "u", Some("req1")))
            .await,
        "resource type \"dyn\" does not exist",
    );
    let created = count(&h).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].state, "dirty");
    assert!(uuid::Uuid::parse_str(&created[0].name).is_ok(), "UUID name");
    assert!(h
        .store
        .acquire(&req("dyn", "free", "busy", "u", Some("req1")))
        .await
        .is_err());
    assert_eq!(
        count(&h).await.len(),
        1,
        "a repeated request id creates nothing"
    );
    assert_err_text(
        h.store
            .acquire(&req("dyn", "free", "busy", "u", Some("req2")))
            .await,
        "no available resource dyn, try again later.",
    );
    assert_eq!(count(&h).await.len(), 2);
    assert!(h
        .store
        .acquire(&req("dyn", "free", "busy", "u", Some("req3")))
        .await
        .is_err());
    assert_eq!(count(&h).await.len(), 2, "max-count reached");
    assert!(h
        .store
        .acquire(&req("dyn", "free", "busy", "u", None))
        .await
        .is_err());
    assert_eq!(count(&h).await.len(), 2, "no request id creates nothing");
}

/// The queue is listed with ranks and expired entries are garbage-collected.
pub async fn queue_is_visible_and_collected(h: Harness) {
    h.with_config(POOL).await;
    for id in ["q1", "q2"] {
        assert!(h
            .store
            .acquire(&req("other", "free", "busy", "u", Some(id)))
            .await
            .is_err());
    }
    let queue = h.store.queue().await.unwrap();
    let view: Vec<_> = queue
        .iter()
        .map(|q| (q.request_id.as_str(), q.rank))
        .collect();
    assert_eq!(view, [("q1", 1), ("q2", 2)]);
    assert_eq!(h.store.gc_requests().await.unwrap(), 0, "live entries stay");
    h.clock.advance(Duration::from_secs(31));
    assert!(
        h.store.queue().await.unwrap().is_empty(),
        "lapsed entries are not listed"
    );
    assert_eq!(h.store.gc_requests().await.unwrap(), 2);
}
