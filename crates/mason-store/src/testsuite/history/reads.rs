//! Conformance cases for reading and pruning the history: filters and pages, bad queries
//! refused, pruning that keeps the newest events and never reuses an id.

use std::sync::Arc;
use std::time::Duration;

use super::super::{acquire_req, release_req, Harness};
use super::all_events;
use crate::{
    Error, EventFilter, EventQuery, LatestEventsQuery, PruneEventsRequest, MAX_EVENT_LIMIT,
};

/// Filters, `latest_events` and `next` behave as documented.
pub async fn reads_filter_and_page(h: Harness) {
    h.with_config(super::super::POOL).await;
    let created = h.store.event_head().await.expect("head");
    assert_eq!(created, 5, "one creation per resource of the pool");
    for owner in ["x", "y", "x"] {
        let got = h
            .store
            .acquire(&acquire_req("t", "free", "busy", owner, None))
            .await
            .expect("acquire");
        h.store
            .release(&release_req(&got.resource.name, "free", owner))
            .await
            .expect("release");
    }
    let read = |filter: EventFilter, after: u64, limit: usize| {
        let store = Arc::clone(&h.store);
        async move {
            store
                .events(&EventQuery {
                    after,
                    filter,
                    limit,
                })
                .await
                .expect("events")
        }
    };
    let of_x = EventFilter {
        owner: Some("x".into()),
        ..Default::default()
    };
    let page = read(of_x.clone(), 0, 100).await;
    assert_eq!(page.events.len(), 4, "x acquired and released twice");
    assert_eq!(page.next, 11, "a short page covers up to the head");
    let first = read(of_x.clone(), 0, 1).await;
    assert_eq!(first.events.len(), 1);
    assert_eq!(
        first.next, first.events[0].id,
        "a full page ends at its last event"
    );
    let rest = read(of_x, first.next, 100).await;
    assert_eq!(rest.events.len(), 3);
    let releases = read(
        EventFilter {
            kind: Some("release".into()),
            rtype: Some("t".into()),
            ..Default::default()
        },
        0,
        100,
    )
    .await;
    assert_eq!(releases.events.len(), 3);
    assert!(releases.events.iter().all(|e| e.kind == "release"));

    let latest = h
        .store
        .latest_events(&LatestEventsQuery {
            before: Some(10),
            limit: 3,
            ..Default::default()
        })
        .await
        .expect("latest");
    let ids: Vec<u64> = latest.events.iter().map(|e| e.id).collect();
    assert_eq!(ids, [7, 8, 9], "the newest before 10, oldest first");
    assert_eq!(latest.next, 9);
}

/// Bad values are `InvalidArgument` and read nothing.
pub async fn bad_event_queries_are_refused(h: Harness) {
    let s = &h.store;
    for limit in [0, MAX_EVENT_LIMIT + 1] {
        let q = EventQuery {
            limit,
            ..Default::default()
        };
        assert!(matches!(s.events(&q).await, Err(Error::InvalidArgument(_))));
        let q = LatestEventsQuery {
            limit,
            ..Default::default()
        };
        assert!(matches!(
            s.latest_events(&q).await,
            Err(Error::InvalidArgument(_))
        ));
    }
    let bad_kind = EventQuery {
        limit: 1,
        filter: EventFilter {
            kind: Some("steal".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = s.events(&bad_kind).await.expect_err("unknown kind");
    assert!(err.to_string().contains("want one of acquire"), "{err}");
    assert_eq!(err.status(), 400);
    let before_zero = LatestEventsQuery {
        before: Some(0),
        limit: 1,
        ..Default::default()
    };
    assert!(matches!(
        s.latest_events(&before_zero).await,
        Err(Error::InvalidArgument(_))
    ));
    let bad_batch = PruneEventsRequest::default();
    assert!(matches!(
        s.prune_events(&bad_batch).await,
        Err(Error::InvalidArgument(_))
    ));
}

/// Pruning deletes the oldest events in bounded batches, keeps the newest (by count,
/// and always the very newest, whatever its age), and ids are never given out again.
pub async fn pruning_keeps_the_newest_and_ids(h: Harness) {
    h.with_config(super::super::POOL).await;
    for _ in 0..10 {
        let got = h
            .store
            .acquire(&acquire_req("t", "free", "busy", "me", None))
            .await
            .expect("acquire");
        h.store
            .release(&release_req(&got.resource.name, "free", "me"))
            .await
            .expect("release");
    }
    let head = h.store.event_head().await.expect("head");
    assert_eq!(head, 25);
    let by_count = PruneEventsRequest {
        max_events: Some(10),
        batch: 4,
        ..Default::default()
    };
    assert_eq!(h.store.prune_events(&by_count).await.expect("prune"), 4);
    let mut pruned = 4;
    loop {
        let n = h.store.prune_events(&by_count).await.expect("prune");
        assert!(n <= 4);
        if n == 0 {
            break;
        }
        pruned += n;
    }
    assert_eq!(pruned, 15);
    let left = all_events(h.store.as_ref()).await;
    let ids: Vec<u64> = left.iter().map(|e| e.id).collect();
    assert_eq!(ids, (16..=25).collect::<Vec<_>>());

    // The background round with a zero age deletes everything written before it but the
    // newest event (always kept).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let everything = crate::Retention {
        max_age: Some(Duration::ZERO),
        max_events: None,
    };
    let gone = crate::history::retention::prune_round(h.store.as_ref(), everything).await;
    assert_eq!(gone, 9);
    let kept: Vec<u64> = all_events(h.store.as_ref())
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(kept, [head], "the newest stays");
    assert_eq!(
        h.store.event_head().await.expect("head"),
        head,
        "the head stays"
    );
    h.store
        .acquire(&acquire_req("t", "free", "busy", "me", None))
        .await
        .expect("acquire");
    let fresh = all_events(h.store.as_ref()).await;
    assert_eq!(fresh.len(), 2);
    assert_eq!(fresh[1].id, head + 1, "ids are never reused");
}
