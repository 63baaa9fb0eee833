//! Conformance cases for the all-or-nothing acquire of a set (`acquire_many`, issue 12)
//! and the queue it shares with `/acquire`: every item or nothing, refusals that name
//! each short type and change nothing, ranks by priority then arrival with counts
//! reserved, a set at the head of its queues blocking later requests, dynamic growth,
//! places held open by `queue_until`, no resource in two answers under concurrency, and
//! the availability signals.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_types::Resource;

use super::{acquire_req, assert_err_text, by_state_req, release_req, Harness, POOL};
use crate::{
    Availability, Error, MultiAcquireItem, MultiAcquireRequest, MultiAcquired, ResourceFilter,
    Shortfall,
};

/// One item: `count` of `rtype` from `state` to `busy`.
pub fn item(rtype: &str, state: &str, count: u32) -> MultiAcquireItem {
    MultiAcquireItem {
        rtype: rtype.into(),
        state: state.into(),
        dest: "busy".into(),
        count,
    }
}

/// A set for `owner`, queued under `request_id` when given.
pub fn set(
    owner: &str,
    request_id: Option<&str>,
    items: Vec<MultiAcquireItem>,
) -> MultiAcquireRequest {
    MultiAcquireRequest {
        owner: owner.into(),
        request_id: request_id.map(str::to_string),
        items,
        ..Default::default()
    }
}

async fn all(h: &Harness) -> Vec<Resource> {
    h.store.list(&ResourceFilter::default()).await.unwrap()
}

fn shortfalls(result: crate::Result<MultiAcquired>) -> Vec<(String, u32, u32)> {
    match result {
        Err(Error::Shortage(short)) => short
            .into_iter()
            .map(|s: Shortfall| (s.rtype, s.wanted, s.free))
            .collect(),
        other => panic!("expected a shortage, got {other:?}"),
    }
}

/// Every item is granted in one call, in item order, each resource with a fresh
/// generation; a set that cannot be filled grants nothing and names each short item.
pub async fn set_is_all_or_nothing(h: Harness) {
    h.with_config(POOL).await;
    let got = h
        .store
        .acquire_many(&set(
            "job",
            None,
            vec![item("t", "free", 2), item("other", "dirty", 1)],
        ))
        .await
        .unwrap();
    let view: Vec<(&str, &str, &str)> = got
        .resources
        .iter()
        .map(|r| {
            (
                r.resource.name.as_str(),
                r.resource.state.as_str(),
                r.resource.owner.as_str(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("r1", "busy", "job"),
            ("r2", "busy", "job"),
            ("o1", "busy", "job")
        ]
    );
    let generations: HashSet<u64> = got.resources.iter().map(|r| r.lease.generation).collect();
    assert_eq!(generations.len(), 3, "one fresh generation per grant");
    assert!(!generations.contains(&0));
    for r in &got.resources {
        assert_eq!(
            h.store
                .get_v2(&r.resource.name)
                .await
                .unwrap()
                .lease
                .generation,
            r.lease.generation
        );
    }

    let before = all(&h).await;
    let short = h
        .store
        .acquire_many(&set(
            "late",
            None,
            vec![item("t", "free", 3), item("other", "dirty", 1)],
        ))
        .await;
    assert_eq!(
        shortfalls(short),
        [("t".to_string(), 3, 2), ("other".to_string(), 1, 0)]
    );
    assert_eq!(all(&h).await, before, "a refused set changes nothing");
    let partial = h
        .store
        .acquire_many(&set(
            "late",
            None,
            vec![item("t", "free", 2), item("other", "dirty", 1)],
        ))
        .await;
    assert_eq!(shortfalls(partial), [("other".to_string(), 1, 0)]);
    assert_eq!(
        all(&h).await,
        before,
        "the items that could be filled were not"
    );
    assert!(
        h.store.queue().await.unwrap().is_empty(),
        "no request id, no place"
    );
}

/// Unknown types are a 409 naming each of them, and a bad set a 400; neither changes
/// anything, not even the queue.
pub async fn set_refusals_change_nothing(h: Harness) {
    h.with_config(POOL).await;
    let before = all(&h).await;
    let unknown = h
        .store
        .acquire_many(&set(
            "job",
            Some("q"),
            vec![
                item("t", "free", 1),
                item("nope", "free", 1),
                item("gone", "free", 1),
            ],
        ))
        .await;
    assert_err_text(unknown, "resource types \"nope\", \"gone\" do not exist");
    let one = h
        .store
        .acquire_many(&set("job", Some("q"), vec![item("nope", "free", 1)]))
        .await
        .unwrap_err();
    assert_eq!(one.status(), 409);
    assert!(matches!(one, Error::UnknownTypes(t) if t == ["nope"]));
    for bad in [
        set("job", Some("q"), Vec::new()),
        set("job", Some("q"), vec![item("t", "free", 0)]),
        set("job", Some("q"), vec![item("t", "free", 1001)]),
        set(
            "job",
            Some("q"),
            vec![item("t", "free", 1), item("t", "free", 1)],
        ),
        set("", Some("q"), vec![item("t", "free", 1)]),
    ] {
        let err = h.store.acquire_many(&bad).await.unwrap_err();
        assert_eq!(err.status(), 400, "{bad:?}: {err}");
    }
    assert_eq!(all(&h).await, before);
    assert!(
        h.store.queue().await.unwrap().is_empty(),
        "no place was kept"
    );
}

/// A set with a request id holds a place in the queue of every item, with its
/// priority and count; places rank by priority, then arrival; a granted set leaves
/// every queue.
pub async fn set_places_rank_by_priority_then_arrival(h: Harness) {
    h.with_config(POOL).await;
    let wants = || vec![item("t", "free", 9), item("other", "dirty", 1)];
    for (id, priority) in [("first", 0), ("second", 0), ("urgent", 5)] {
        let req = MultiAcquireRequest {
            priority,
            ..set(id, Some(id), wants())
        };
        assert!(matches!(
            h.store.acquire_many(&req).await,
            Err(Error::Shortage(_))
        ));
        h.clock.advance(Duration::from_millis(10));
    }
    let single = h
        .store
        .acquire(&acquire_req(
            "other",
            "dirty",
            "busy",
            "single",
            Some("single"),
        ))
        .await;
    assert!(single.is_err(), "three places ahead reserve the only other");
    let queue = h.store.queue().await.unwrap();
    let view: Vec<(&str, &str, u64, i32, u32)> = queue
        .iter()
        .map(|q| {
            (
                q.rtype.as_str(),
                q.request_id.as_str(),
                q.rank,
                q.priority,
                q.count,
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("other", "urgent", 1, 5, 1),
            ("other", "first", 2, 0, 1),
            ("other", "second", 3, 0, 1),
            ("other", "single", 4, 0, 1),
            ("t", "urgent", 1, 5, 9),
            ("t", "first", 2, 0, 9),
            ("t", "second", 3, 0, 9),
        ]
    );

    // A set that can be filled at the head of its queues is granted and leaves them.
    let small = MultiAcquireRequest {
        priority: 5,
        ..set(
            "urgent",
            Some("urgent"),
            vec![item("t", "free", 4), item("other", "dirty", 1)],
        )
    };
    let got = h.store.acquire_many(&small).await.unwrap();
    assert_eq!(got.resources.len(), 5);
    let left: Vec<String> = h
        .store
        .queue()
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.request_id)
        .collect();
    assert!(!left.iter().any(|id| id == "urgent"), "{left:?}");
    assert_eq!(left.len(), 5);
}

/// A set waiting at the head of its queues blocks later requests from what it needs
/// (a large set is not starved by a stream of small ones), and gets it once the rest of
/// the set frees up.
pub async fn head_of_line_set_blocks_later_singles(h: Harness) {
    h.with_config(POOL).await;
    for owner in ["a", "b", "c"] {
        h.store
            .acquire(&acquire_req("t", "free", "busy", owner, None))
            .await
            .unwrap();
    }
    // r4 is the last free t; the set also needs an `other` in state free (none yet).
    let waiting = set(
        "big",
        Some("big"),
        vec![item("t", "free", 1), item("other", "free", 1)],
    );
    assert_eq!(
        shortfalls(h.store.acquire_many(&waiting).await),
        [("other".to_string(), 1, 0)]
    );
    h.clock.advance(Duration::from_millis(10));
    for id in [Some("later"), None] {
        let single = h
            .store
            .acquire(&acquire_req("t", "free", "busy", "small", id))
            .await;
        assert!(
            matches!(single, Err(Error::ResourceNotFound(_))),
            "{single:?}"
        );
    }
    let later_set = set("small", Some("small-set"), vec![item("t", "free", 1)]);
    assert_eq!(
        shortfalls(h.store.acquire_many(&later_set).await),
        [("t".to_string(), 1, 0)],
        "free counts what this request could have had"
    );
    assert_eq!(h.get("r4").await.owner, "", "still reserved, not taken");

    // The other half frees up: o1 dirty -> held -> released free.
    let o1 = vec!["o1".to_string()];
    h.store
        .acquire_by_state(&by_state_req("dirty", "cleaning", "janitor", &o1))
        .await
        .unwrap();
    h.store
        .release(&release_req("o1", "free", "janitor"))
        .await
        .unwrap();
    let got = h.store.acquire_many(&waiting).await.unwrap();
    let names: Vec<&str> = got
        .resources
        .iter()
        .map(|r| r.resource.name.as_str())
        .collect();
    assert_eq!(names, ["r4", "o1"]);
    // With the set served, the later requests rank first again (and find nothing).
    let queue = h.store.queue().await.unwrap();
    assert!(queue.iter().all(|q| q.request_id != "big"), "{queue:?}");
    assert!(
        queue.iter().any(|q| q.request_id == "later" && q.rank == 1),
        "{queue:?}"
    );
}

/// A short set's first attempt grows short dynamic pools by what it is short of (within
/// max-count); it is granted on a later attempt.
pub async fn set_grows_dynamic_pools_on_first_attempt(h: Harness) {
    h.with_config(
        "resources:\n- type: t\n  names: [r1]\n- type: dyn\n  state: free\n  min-count: 0\n  max-count: 3\n",
    )
    .await;
    let req = set(
        "job",
        Some("grow"),
        vec![item("t", "free", 1), item("dyn", "free", 2)],
    );
    assert_eq!(
        shortfalls(h.store.acquire_many(&req).await),
        [("dyn".to_string(), 2, 0)],
        "a pool without resources is not unknown"
    );
    let dyn_filter = ResourceFilter {
        rtype: Some("dyn".into()),
        ..Default::default()
    };
    assert_eq!(h.store.list(&dyn_filter).await.unwrap().len(), 2);
    assert_eq!(h.get("r1").await.owner, "", "nothing granted on a shortage");
    let got = h.store.acquire_many(&req).await.unwrap();
    assert_eq!(got.resources.len(), 3);
    let again = set("other", Some("grow-2"), vec![item("dyn", "free", 2)]);
    assert_eq!(
        shortfalls(h.store.acquire_many(&again).await),
        [("dyn".to_string(), 2, 0)]
    );
    assert_eq!(
        h.store.list(&dyn_filter).await.unwrap().len(),
        3,
        "max-count 3"
    );
}

/// A place held open by the server (`queue_until`) outlives the request TTL without
/// attempts, and lapses one TTL after `queue_until`.
pub async fn held_places_outlive_the_request_ttl(h: Harness) {
    h.with_config(POOL).await;
    let until = crate::Clock::now(&*h.clock) + chrono::Duration::seconds(60);
    let req = MultiAcquireRequest {
        queue_until: Some(until),
        ..set("job", Some("held"), vec![item("other", "free", 1)])
    };
    assert!(h.store.acquire_many(&req).await.is_err());
    h.clock.advance(Duration::from_secs(80));
    assert_eq!(h.store.gc_requests().await.unwrap(), 0);
    assert_eq!(h.store.queue().await.unwrap().len(), 1);
    h.clock.advance(Duration::from_secs(11));
    assert_eq!(h.store.gc_requests().await.unwrap(), 1);
    assert!(h.store.queue().await.unwrap().is_empty());
}

/// Concurrent sets and singles: every answer is a whole set, no resource is ever held
/// by two callers at once, and everything is released at the end.
pub async fn racing_sets_never_share_a_resource(h: Harness) {
    h.with_config(
        "resources:\n- type: a\n  names: [a1, a2, a3]\n- type: b\n  names: [b1, b2, b3]\n",
    )
    .await;
    let held: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = Arc::clone(&h.store);
        let held = Arc::clone(&held);
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{worker}");
            let mut sets = 0;
            for round in 0..25 {
                let names: Vec<String> = if worker % 4 == 3 {
                    match store
                        .acquire(&acquire_req("a", "free", "busy", &owner, None))
                        .await
                    {
                        Ok(got) => vec![got.resource.name],
                        Err(e) => {
                            assert!(matches!(e, Error::ResourceNotFound(_)), "{e}");
                            continue;
                        }
                    }
                } else {
                    let id = format!("{owner}-{round}");
                    let req = set(
                        &owner,
                        Some(&id),
                        vec![item("a", "free", 1), item("b", "free", 1)],
                    );
                    match store.acquire_many(&req).await {
                        Ok(got) => {
                            let types: Vec<&str> = got
                                .resources
                                .iter()
                                .map(|r| r.resource.rtype.as_str())
                                .collect();
                            assert_eq!(types, ["a", "b"], "a whole set, in item order");
                            sets += 1;
                            got.resources.into_iter().map(|r| r.resource.name).collect()
                        }
                        Err(e) => {
                            assert!(matches!(e, Error::Shortage(_)), "{e}");
                            continue;
                        }
                    }
                };
                for name in &names {
                    assert!(
                        held.lock().unwrap().insert(name.clone()),
                        "{name} granted twice"
                    );
                }
                tokio::task::yield_now().await;
                for name in &names {
                    held.lock().unwrap().remove(name);
                    store
                        .release(&release_req(name, "free", &owner))
                        .await
                        .unwrap();
                }
            }
            sets
        }));
    }
    let mut sets = 0;
    for task in tasks {
        sets += tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("no deadlock")
            .expect("no panic");
    }
    assert!(sets > 0, "some sets were granted");
    assert!(
        all(&h).await.iter().all(|r| r.owner.is_empty()),
        "all released"
    );
    // Lapsed places of the refused attempts hold nothing back.
    h.clock.advance(Duration::from_secs(31));
    h.store.gc_requests().await.unwrap();
    assert!(h.store.queue().await.unwrap().is_empty());
}

/// Releases, new resources and lapsed places signal "resources may be available" for
/// their (type, state); grants do not.
pub async fn availability_is_signalled_after_commits(h: Harness) {
    h.with_config(POOL).await;
    let mut signals = h.store.availability();
    if h.store.backend() == "postgres" {
        // The listener says when it starts listening.
        wait_for(&mut signals, &Availability::Unknown).await;
    }
    let got = h
        .store
        .acquire(&acquire_req("t", "free", "busy", "job", None))
        .await
        .unwrap();
    h.store
        .release(&release_req(&got.resource.name, "dirty", "job"))
        .await
        .unwrap();
    wait_for(&mut signals, &changed("t", "dirty")).await;

    let req = set("job", Some("lapses"), vec![item("other", "free", 1)]);
    assert!(h.store.acquire_many(&req).await.is_err());
    h.clock.advance(Duration::from_secs(31));
    assert_eq!(h.store.gc_requests().await.unwrap(), 1);
    wait_for(&mut signals, &changed("other", "free")).await;
}

fn changed(rtype: &str, state: &str) -> Availability {
    Availability::Changed {
        rtype: rtype.into(),
        state: state.into(),
    }
}

/// Receive until `want` arrives (generous deadline; other signals are skipped).
async fn wait_for(
    signals: &mut tokio::sync::broadcast::Receiver<Availability>,
    want: &Availability,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, signals.recv()).await {
            Ok(Ok(got)) if &got == want => return,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("signals ended: {e}"),
            Err(_) => panic!("no {want:?} within 20 s"),
        }
    }
}
