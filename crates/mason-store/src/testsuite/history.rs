//! Conformance cases for the history (`crate::history`): every change is an event,
//! replaying the events reproduces the store, a heartbeat is no event, each kind appears
//! where it should, bad queries are refused, reads page and filter, pruning keeps ids.
//!
//! [`replay_matches_store`] is also used by the engine-specific tests (a reopened SQLite
//! file, two PostgreSQL stores on one database) and by the binary's kill -9 test.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mason_types::event::Event;
use mason_types::{state, BoskosConfig, UserData};

use super::{acquire_req, by_state_req, release_req, reset_req, update_req, Harness};
use crate::{
    Error, EventFilter, EventQuery, LatestEventsQuery, PruneEventsRequest, ResourceFilter, Store,
    MAX_EVENT_LIMIT,
};

/// Every event from the start, oldest first, paging as a follower does; checks that ids
/// strictly increase and that each page's `next` moves on.
pub async fn all_events(store: &dyn Store) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .events(&EventQuery {
                after,
                limit: MAX_EVENT_LIMIT,
                ..Default::default()
            })
            .await
            .expect("read events");
        for e in &page.events {
            assert!(
                e.id > after,
                "event {} at or before the cursor {after}",
                e.id
            );
            if let Some(last) = out.last() {
                assert!(e.id > last.id, "ids go back: {} after {}", e.id, last.id);
            }
        }
        let full = page.events.len() == MAX_EVENT_LIMIT;
        out.extend(page.events);
        assert!(page.next >= after);
        after = page.next;
        if !full {
            return out;
        }
    }
}

/// Replay `events` from nothing: name → (type, state, owner). Panics when an event does
/// not start from what the replay holds (a lost, duplicated or misordered event).
pub fn replay(events: &[Event]) -> BTreeMap<String, (String, String, String)> {
    let mut now: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for e in events {
        let before = now.get(&e.name).map(|(_, s, o)| (s.clone(), o.clone()));
        let expected = e.old_state.clone().zip(e.old_owner.clone());
        assert_eq!(
            before, expected,
            "event {} ({} of {}) starts from {expected:?}, the replay holds {before:?}",
            e.id, e.kind, e.name
        );
        match (&e.new_state, &e.new_owner) {
            (Some(s), Some(o)) => {
                now.insert(e.name.clone(), (e.rtype.clone(), s.clone(), o.clone()));
            }
            (None, None) => {
                now.remove(&e.name);
            }
            _ => panic!("event {} has half a new value", e.id),
        }
    }
    now
}

/// The events replayed from the start reproduce every resource's current type, state
/// and owner; returns the events.
pub async fn replay_matches_store(store: &dyn Store) -> Vec<Event> {
    let events = all_events(store).await;
    let replayed = replay(&events);
    let stored: BTreeMap<String, (String, String, String)> = store
        .list(&ResourceFilter::default())
        .await
        .expect("list")
        .into_iter()
        .map(|r| (r.name, (r.rtype, r.state, r.owner)))
        .collect();
    assert_eq!(replayed, stored, "the history does not replay to the store");
    events
}

/// A small deterministic generator (the cases must not flake).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const RANDOM_POOL: &str = "resources:\n- type: t\n  names: [a, b, c, d, e, f]\n- type: dyn\n  state: free\n  min-count: 2\n  max-count: 4\n  lifespan: 1h\n";
const RANDOM_POOL_SHRUNK: &str = "resources:\n- type: t\n  names: [a, b, c, g]\n- type: dyn\n  state: free\n  min-count: 1\n  max-count: 2\n  lifespan: 1h\n";

/// One random operation by `owner` (its outcome does not matter, only that the history
/// keeps up with whatever it changed).
async fn random_op(store: &dyn Store, dice: &mut Dice, owner: &str) {
    let names = ["a", "b", "c", "d", "e", "f", "g"];
    let states = ["free", "dirty", "busy", state::TOMBSTONE];
    let name = names[dice.roll(names.len())];
    let dest = states[dice.roll(states.len())];
    let _ = match dice.roll(7) {
        0 | 1 => {
            let rtype = if dice.roll(3) == 0 { "dyn" } else { "t" };
            let id = format!("{owner}-{}", dice.roll(3));
            let req = acquire_req(rtype, "free", "busy", owner, Some(&id));
            store.acquire(&req).await.map(|_| ())
        }
        2 => store
            .acquire_by_state(&by_state_req("dirty", "busy", owner, &[name.into()]))
            .await
            .map(|_| ()),
        3 => {
            let mine = ResourceFilter {
                owner: Some(owner.into()),
                ..Default::default()
            };
            let held = store.list(&mine).await;
            match held.ok().and_then(|v| v.into_iter().next()) {
                Some(r) => store
                    .release(&release_req(&r.name, dest, owner))
                    .await
                    .map(|_| ()),
                None => Ok(()),
            }
        }
        4 => {
            let mut ud = UserData::new();
            ud.insert("k", owner);
            let with = (dice.roll(2) == 0).then_some(&ud);
            store
                .update(&update_req(name, owner, "busy", with))
                .await
                .map(|_| ())
        }
        5 => store
            .reset(&reset_req("t", "busy", Duration::ZERO, "dirty"))
            .await
            .map(|_| ()),
        _ => store.sync_dynamic().await.map(|_| ()),
    };
}

/// After a random run with concurrent clients, config changes and dynamic upkeep, the
/// events replayed from the start reproduce the store.
pub async fn history_replays_a_random_run(h: Harness) {
    h.with_config(RANDOM_POOL).await;
    run_random(&h, 1).await;
    h.with_config(RANDOM_POOL_SHRUNK).await;
    h.clock.advance(Duration::from_secs(2 * 3600));
    run_random(&h, 2).await;
    h.with_config(RANDOM_POOL).await;
    let events = replay_matches_store(h.store.as_ref()).await;
    let kinds: std::collections::BTreeSet<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    for kind in ["create", "acquire", "release", "delete"] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
}

/// Four clients at once, 60 operations each, then dynamic upkeep.
pub async fn run_random(h: &Harness, seed: u64) {
    let clients: Vec<_> = (0..4u64)
        .map(|i| {
            let store = Arc::clone(&h.store);
            tokio::spawn(async move {
                let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ (seed * 31 + i + 1));
                let owner = format!("client{i}");
                for _ in 0..60 {
                    random_op(store.as_ref(), &mut dice, &owner).await;
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("client task");
    }
    h.store.sync_dynamic().await.expect("sync_dynamic");
}

/// A heartbeat (with or without user data) and a refused call write no event.
pub async fn heartbeats_add_no_events(h: Harness) {
    h.with_config(super::POOL).await;
    let got = h
        .store
        .acquire(&acquire_req("t", "free", "busy", "me", None))
        .await
        .expect("acquire")
        .resource;
    let head = h.store.event_head().await.expect("head");
    let mut ud = UserData::new();
    ud.insert("progress", "50%");
    for with in [None, Some(&ud), None] {
        h.store
            .update(&update_req(&got.name, "me", "busy", with))
            .await
            .expect("heartbeat");
    }
    let refused = h
        .store
        .release(&release_req(&got.name, "free", "someone-else"))
        .await;
    assert!(refused.is_err());
    assert_eq!(h.store.event_head().await.expect("head"), head);
    let page = h
        .store
        .events(&EventQuery {
            after: head,
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("events");
    assert!(page.events.is_empty(), "{:?}", page.events);
    assert_eq!(page.next, head);
}

/// The newest event of `name` (kind, old/new state, old/new owner, actor, request id).
async fn last_of(h: &Harness, name: &str) -> Event {
    let page = h
        .store
        .latest_events(&LatestEventsQuery {
            filter: EventFilter {
                name: Some(name.into()),
                ..Default::default()
            },
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("latest events");
    page.events.into_iter().next().expect("an event")
}

fn moved(e: &Event) -> (&str, Option<&str>, Option<&str>, Option<&str>, Option<&str>) {
    (
        e.kind.as_str(),
        e.old_state.as_deref(),
        e.new_state.as_deref(),
        e.old_owner.as_deref(),
        e.new_owner.as_deref(),
    )
}

/// Each transition writes its kind, with the actor and request id the caller gave and
/// the generation where there is one.
pub async fn every_kind_appears_where_it_should(h: Harness) {
    h.with_config("resources:\n- type: t\n  names: [a, b, c]\n")
        .await;
    let created = last_of(&h, "a").await;
    assert_eq!(
        moved(&created),
        ("create", None, Some("free"), None, Some(""))
    );
    assert_eq!(created.actor, "server");

    let mut acquire = acquire_req("t", "free", "busy", "alice", Some("req-7"));
    acquire.actor = Some("prow".into());
    let got = h.store.acquire(&acquire).await.expect("acquire");
    let e = last_of(&h, &got.resource.name).await;
    assert_eq!(
        moved(&e),
        (
            "acquire",
            Some("free"),
            Some("busy"),
            Some(""),
            Some("alice")
        )
    );
    assert_eq!(
        (e.actor.as_str(), e.request_id.as_deref()),
        ("prow", Some("req-7"))
    );
    assert_eq!(e.generation, Some(got.lease.generation));

    let mut release = release_req(&got.resource.name, "dirty", "alice");
    release.actor = Some("alice".into());
    h.store.release(&release).await.expect("release");
    let e = last_of(&h, &got.resource.name).await;
    assert_eq!(
        moved(&e),
        (
            "release",
            Some("busy"),
            Some("dirty"),
            Some("alice"),
            Some("")
        )
    );
    assert_eq!((e.actor.as_str(), e.request_id), ("alice", None));

    let mut by_state = by_state_req(
        "dirty",
        "cleaning",
        "janitor",
        std::slice::from_ref(&got.resource.name),
    );
    by_state.actor = Some("janitor".into());
    h.store
        .acquire_by_state(&by_state)
        .await
        .expect("acquirebystate");
    let e = last_of(&h, &got.resource.name).await;
    assert_eq!(e.kind, "acquirebystate");
    assert_eq!(e.actor, "janitor");

    let mut reset = reset_req("t", "cleaning", Duration::ZERO, "dirty");
    reset.actor = Some("reaper".into());
    h.store.reset(&reset).await.expect("reset");
    let e = last_of(&h, &got.resource.name).await;
    assert_eq!(
        moved(&e),
        (
            "reset",
            Some("cleaning"),
            Some("dirty"),
            Some("janitor"),
            Some("")
        )
    );
    assert_eq!(e.actor, "reaper");

    h.store
        .acquire_by_state(&by_state_req("dirty", "busy", "cleaner", &["a".into()]))
        .await
        .expect("take a");
    h.store
        .release(&release_req("a", state::TOMBSTONE, "cleaner"))
        .await
        .expect("to tombstone");
    assert_eq!(last_of(&h, "a").await.kind, "tombstone");

    // Removed from the config while unowned: deleted.
    h.with_config("resources:\n- type: t\n  names: [a, b]\n")
        .await;
    let e = last_of(&h, "c").await;
    assert_eq!(moved(&e), ("delete", Some("free"), None, Some(""), None));

    // Dynamic upkeep: created, marked toBeDeleted past the lifespan, replaced.
    h.with_config("resources:\n- type: d\n  min-count: 1\n  max-count: 1\n  lifespan: 1h\n")
        .await;
    let d = h
        .store
        .list(&ResourceFilter {
            rtype: Some("d".into()),
            ..Default::default()
        })
        .await
        .expect("list d")
        .remove(0);
    assert_eq!(last_of(&h, &d.name).await.kind, "create");
    let got = h
        .store
        .acquire(&acquire_req("d", "free", "busy", "u", None))
        .await
        .expect("acquire d");
    h.store
        .release(&release_req(&got.resource.name, "free", "u"))
        .await
        .expect("release d");
    h.clock.advance(Duration::from_secs(2 * 3600));
    h.store.sync_dynamic().await.expect("upkeep");
    let e = last_of(&h, &d.name).await;
    assert_eq!(
        moved(&e),
        (
            "to-be-deleted",
            Some("free"),
            Some(state::TO_BE_DELETED),
            Some(""),
            Some("")
        )
    );
    assert_eq!(e.actor, "server");
    replay_matches_store(h.store.as_ref()).await;
}

/// Filters, `latest_events` and `next` behave as documented.
pub async fn reads_filter_and_page(h: Harness) {
    h.with_config(super::POOL).await;
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

/// Pruning deletes the oldest events in bounded batches, keeps the newest, and ids are
/// never given out again.
pub async fn pruning_keeps_the_newest_and_ids(h: Harness) {
    h.with_config(super::POOL).await;
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

    // The background round with a zero age deletes everything written before it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let everything = crate::Retention {
        max_age: Some(Duration::ZERO),
        max_events: None,
    };
    let gone = crate::history::retention::prune_round(h.store.as_ref(), everything).await;
    assert_eq!(gone, 10);
    assert!(all_events(h.store.as_ref()).await.is_empty());
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
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].id, head + 1, "ids are never reused");
}

/// A follower's watch moves after a commit that wrote events.
pub async fn changes_are_announced(h: Harness) {
    h.with_config(super::POOL).await;
    let mut changes = h.store.event_changes();
    let seen = *changes.borrow_and_update();
    h.store
        .acquire(&acquire_req("t", "free", "busy", "me", None))
        .await
        .expect("acquire");
    let head = 6;
    tokio::time::timeout(Duration::from_secs(20), async {
        while *changes.borrow_and_update() < head {
            changes.changed().await.expect("the store is alive");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no announcement after {seen}: {}", *changes.borrow()));
    assert_eq!(h.store.event_head().await.expect("head"), head);
}

/// Config reload of the same config writes nothing.
pub async fn an_idempotent_sync_writes_no_event(h: Harness) {
    let config = BoskosConfig::parse_and_validate(super::POOL).expect("config");
    h.store.sync_config(&config).await.expect("sync");
    let head = h.store.event_head().await.expect("head");
    h.store.sync_config(&config).await.expect("sync again");
    h.store.sync_dynamic().await.expect("upkeep");
    assert_eq!(h.store.event_head().await.expect("head"), head);
}
