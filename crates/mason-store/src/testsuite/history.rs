//! Conformance cases for the history (`crate::history`): every change is an event,
//! replaying the events reproduces the store, a heartbeat is no event, each kind appears
//! where it should, bad queries are refused, reads page and filter, pruning keeps ids.
//!
//! [`replay_matches_store`] is also used by the engine-specific tests (a reopened SQLite
//! file, two PostgreSQL stores on one database) and by the binary's kill -9 test.
//!
//! This file holds the replay helpers and the cases about what writes events; `kinds.rs`
//! checks each event kind, `reads.rs` the reads, bad queries and pruning.

mod kinds;
mod reads;

pub use kinds::every_kind_appears_where_it_should;
pub use reads::{
    bad_event_queries_are_refused, pruning_keeps_the_newest_and_ids, reads_filter_and_page,
};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mason_types::event::Event;
use mason_types::{state, BoskosConfig, UserData};

use super::{acquire_req, by_state_req, release_req, reset_req, update_req, Harness};
use crate::{EventQuery, ResourceFilter, Store, MAX_EVENT_LIMIT};

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
