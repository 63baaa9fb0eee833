//! Property test of the lease rules: random sequences of store calls (acquire with and
//! without `request_id`, acquire-by-state, release, update with user data, reset, clock
//! moves, queue GC) run against the SQLite store (in memory, manual clock) and against a
//! small in-memory model of SPEC §4 written here from the spec, independently of the
//! store's code. After every call the two must agree on the answer (value or exact error
//! text); every few calls, and at the end, on every resource and on the request queue.
//!
//! The model follows Mason's documented choices where they differ from upstream:
//! `acquirebystate` is all-or-nothing, and the queue lives in the store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use mason_store::sqlite::SqliteStore;
use mason_store::{
    AcquireByStateRequest, AcquireRequest, ManualClock, QueuedRequest, ReleaseRequest,
    ResetRequest, ResourceFilter, Store, UpdateRequest, DEFAULT_REQUEST_TTL,
};
use mason_types::{BoskosConfig, Resource, Timestamp, UserData};
use proptest::prelude::*;

const TYPES: &[&str] = &["a", "b", "zz"];
const STATES: &[&str] = &["free", "dirty", "busy", "cleaning"];
const OWNERS: &[&str] = &["alice", "bob", "carol"];
const NAMES: &[&str] = &["a0", "a1", "a2", "a3", "b0", "b1", "b2", "ghost"];
const CONFIG: &str = "resources:\n- type: a\n  names: [a0, a1, a2, a3]\n- type: b\n  state: dirty\n  names: [b0, b1, b2]\n";

/// One store call (or a clock move).
#[derive(Debug, Clone)]
enum Op {
    Acquire {
        rtype: &'static str,
        state: &'static str,
        dest: &'static str,
        owner: &'static str,
        rid: Option<&'static str>,
    },
    AcquireByState {
        state: &'static str,
        dest: &'static str,
        owner: &'static str,
        names: Vec<&'static str>,
    },
    Release {
        name: &'static str,
        dest: &'static str,
        owner: &'static str,
    },
    Update {
        name: &'static str,
        owner: &'static str,
        state: &'static str,
        userdata: Option<BTreeMap<String, String>>,
    },
    Reset {
        rtype: &'static str,
        state: &'static str,
        expire: Duration,
        dest: &'static str,
    },
    Advance(Duration),
    Gc,
}

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(list)
}

fn op() -> impl Strategy<Value = Op> {
    let rid = prop_oneof![
        3 => Just(None),
        1 => Just(Some("")),
        4 => pick(&["r1", "r2", "r3", "r4"]).prop_map(Some),
    ];
    let userdata = proptest::option::of(proptest::collection::btree_map(
        pick(&["k1", "k2", "k3"]).prop_map(str::to_string),
        pick(&["", "v1", "v2", "x y"]).prop_map(str::to_string),
        0..3,
    ));
    let secs = |list: &'static [u64]| proptest::sample::select(list).prop_map(Duration::from_secs);
    prop_oneof![
        6 => (pick(TYPES), pick(STATES), pick(STATES), pick(OWNERS), rid)
            .prop_map(|(rtype, state, dest, owner, rid)| Op::Acquire { rtype, state, dest, owner, rid }),
        2 => (pick(STATES), pick(STATES), pick(OWNERS), proptest::collection::vec(pick(NAMES), 0..4))
            .prop_map(|(state, dest, owner, names)| Op::AcquireByState { state, dest, owner, names }),
        5 => (pick(NAMES), pick(STATES), pick(OWNERS))
            .prop_map(|(name, dest, owner)| Op::Release { name, dest, owner }),
        3 => (pick(NAMES), pick(OWNERS), pick(STATES), userdata)
            .prop_map(|(name, owner, state, userdata)| Op::Update { name, owner, state, userdata }),
        1 => (pick(TYPES), pick(STATES), secs(&[0, 5, 30, 3600]), pick(STATES))
            .prop_map(|(rtype, state, expire, dest)| Op::Reset { rtype, state, expire, dest }),
        2 => secs(&[1, 10, 29, 31, 61]).prop_map(Op::Advance),
        1 => Just(Op::Gc),
    ]
}

/// A queued `request_id`.
#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    rtype: String,
    state: String,
    id: String,
    created: Timestamp,
    expires: Timestamp,
}

/// SPEC §4 over plain maps.
struct Model {
    resources: BTreeMap<String, Resource>,
    queue: Vec<Entry>,
    next_seq: u64,
    ttl: chrono::Duration,
}

/// What a call answered: a value rendered comparably, or the error text.
type Answer = Result<String, String>;

fn not_found(what: &str) -> String {
    format!("no available resource {what}, try again later.")
}

impl Model {
    fn new(resources: Vec<Resource>) -> Self {
        Self {
            resources: resources.into_iter().map(|r| (r.name.clone(), r)).collect(),
            queue: Vec::new(),
            next_seq: 0,
            ttl: chrono::Duration::from_std(DEFAULT_REQUEST_TTL).unwrap(),
        }
    }

    /// Unowned resources of `rtype` in `state`, least recently updated first.
    fn free(&self, rtype: &str, state: &str) -> Vec<String> {
        let mut v: Vec<&Resource> = self
            .resources
            .values()
            .filter(|r| r.rtype == rtype && r.state == state && r.owner.is_empty())
            .collect();
        v.sort_by(|a, b| (a.lastupdate, &a.name).cmp(&(b.lastupdate, &b.name)));
        v.into_iter().map(|r| r.name.clone()).collect()
    }

    fn acquire(
        &mut self,
        now: Timestamp,
        rtype: &str,
        state: &str,
        dest: &str,
        owner: &str,
        rid: Option<&str>,
    ) -> Answer {
        let rid = rid.filter(|id| !id.is_empty());
        let (my_seq, created) = match rid {
            Some(id) => {
                let found = self
                    .queue
                    .iter_mut()
                    .find(|e| e.rtype == rtype && e.state == state && e.id == id);
                match found {
                    // Known (even if lapsed but not yet collected): keeps its place.
                    Some(e) => {
                        e.expires = now + self.ttl;
                        (e.seq, e.created)
                    }
                    None => {
                        let seq = self.next_seq;
                        self.next_seq += 1;
                        self.queue.push(Entry {
                            seq,
                            rtype: rtype.into(),
                            state: state.into(),
                            id: id.into(),
                            created: now,
                            expires: now + self.ttl,
                        });
                        (seq, now)
                    }
                }
            }
            None => (u64::MAX, now),
        };
        let ahead = self
            .queue
            .iter()
            .filter(|e| e.rtype == rtype && e.state == state && e.seq < my_seq && e.expires >= now)
            .count();
        if let Some(name) = self.free(rtype, state).get(ahead) {
            let r = self.resources.get_mut(name).unwrap();
            r.owner = owner.into();
            r.state = dest.into();
            r.lastupdate = now;
            if let Some(id) = rid {
                self.queue
                    .retain(|e| !(e.rtype == rtype && e.state == state && e.id == id));
            }
            return Ok(format!("{r:?} requested_at={created}"));
        }
        if self.resources.values().any(|r| r.rtype == rtype) {
            Err(not_found(rtype))
        } else {
            Err(format!("resource type \"{rtype}\" does not exist"))
        }
    }

    fn acquire_by_state(
        &mut self,
        now: Timestamp,
        state: &str,
        dest: &str,
        owner: &str,
        names: &[&str],
    ) -> Answer {
        if names.is_empty() {
            return Err("must provide names of expected resources".into());
        }
        let wanted: BTreeSet<&str> = names.iter().copied().collect();
        let ok = wanted.iter().all(|n| {
            self.resources
                .get(*n)
                .is_some_and(|r| r.owner.is_empty() && r.state == state)
        });
        if !ok {
            return Err(not_found(state));
        }
        let mut picked: Vec<&Resource> = wanted.iter().map(|n| &self.resources[*n]).collect();
        picked.sort_by(|a, b| (a.lastupdate, &a.name).cmp(&(b.lastupdate, &b.name)));
        let order: Vec<String> = picked.iter().map(|r| r.name.clone()).collect();
        let mut out = Vec::new();
        for name in order {
            let r = self.resources.get_mut(&name).unwrap();
            r.owner = owner.into();
            r.state = dest.into();
            r.lastupdate = now;
            out.push(r.clone());
        }
        Ok(format!("{out:?}"))
    }

    fn release(&mut self, now: Timestamp, name: &str, dest: &str, owner: &str) -> Answer {
        let Some(r) = self.resources.get_mut(name) else {
            return Err(not_found(name));
        };
        if r.owner != owner {
            return Err(format!(
                "owner mismatch request by {owner}, currently owned by {}",
                r.owner
            ));
        }
        r.owner.clear();
        r.state = dest.into();
        r.lastupdate = now;
        // Static resources: no dynamic pool, so no expiration date.
        r.expiration_date = None;
        Ok(format!("{r:?}"))
    }

    fn update(
        &mut self,
        now: Timestamp,
        name: &str,
        owner: &str,
        state: &str,
        ud: Option<&BTreeMap<String, String>>,
    ) -> Answer {
        let Some(r) = self.resources.get_mut(name) else {
            return Err(not_found(name));
        };
        if r.owner != owner {
            return Err(format!(
                "owner mismatch request by {owner}, currently owned by {}",
                r.owner
            ));
        }
        if r.state != state {
            return Err(format!(
                "state mismatch - expected {}, current {state}",
                r.state
            ));
        }
        let mut map = r.userdata.clone().into_map();
        for (k, v) in ud.into_iter().flatten() {
            if v.is_empty() {
                map.remove(k);
            } else {
                map.insert(k.clone(), v.clone());
            }
        }
        r.userdata = UserData::from(map);
        r.lastupdate = now;
        Ok(format!("{r:?}"))
    }

    fn reset(
        &mut self,
        now: Timestamp,
        rtype: &str,
        state: &str,
        expire: Duration,
        dest: &str,
    ) -> Answer {
        let cutoff = now - chrono::Duration::from_std(expire).unwrap();
        let mut out = BTreeMap::new();
        for r in self.resources.values_mut() {
            if r.rtype == rtype && r.state == state && !r.owner.is_empty() && r.lastupdate <= cutoff
            {
                out.insert(r.name.clone(), std::mem::take(&mut r.owner));
                r.state = dest.into();
                r.lastupdate = now;
            }
        }
        Ok(format!("{out:?}"))
    }

    fn gc(&mut self, now: Timestamp) -> Answer {
        let before = self.queue.len();
        self.queue.retain(|e| e.expires >= now);
        Ok(format!("{}", before - self.queue.len()))
    }

    /// The live queue as the store lists it.
    fn live_queue(&self, now: Timestamp) -> Vec<QueuedRequest> {
        let mut live: Vec<&Entry> = self.queue.iter().filter(|e| e.expires >= now).collect();
        live.sort_by(|a, b| (&a.rtype, &a.state, a.seq).cmp(&(&b.rtype, &b.state, b.seq)));
        let mut out: Vec<QueuedRequest> = Vec::new();
        for e in live {
            let rank = match out.last() {
                Some(p) if p.rtype == e.rtype && p.state == e.state => p.rank + 1,
                _ => 1,
            };
            out.push(QueuedRequest {
                rtype: e.rtype.clone(),
                state: e.state.clone(),
                request_id: e.id.clone(),
                rank,
                created_at: e.created,
                expires_at: e.expires,
            });
        }
        out
    }
}

/// Run one call on the store, rendered like the model's answer.
async fn call(store: &dyn Store, op: &Op) -> Answer {
    let show = |e: mason_store::Error| e.to_string();
    match op {
        Op::Acquire {
            rtype,
            state,
            dest,
            owner,
            rid,
        } => {
            let req = AcquireRequest {
                rtype: (*rtype).into(),
                state: (*state).into(),
                dest: (*dest).into(),
                owner: (*owner).into(),
                request_id: rid.map(str::to_string),
            };
            store
                .acquire(&req)
                .await
                .map(|a| format!("{:?} requested_at={}", a.resource, a.requested_at))
                .map_err(show)
        }
        Op::AcquireByState {
            state,
            dest,
            owner,
            names,
        } => {
            let req = AcquireByStateRequest {
                state: (*state).into(),
                dest: (*dest).into(),
                owner: (*owner).into(),
                names: names.iter().map(|n| n.to_string()).collect(),
            };
            store
                .acquire_by_state(&req)
                .await
                .map(|v| format!("{v:?}"))
                .map_err(show)
        }
        Op::Release { name, dest, owner } => store
            .release(&ReleaseRequest {
                name: (*name).into(),
                dest: (*dest).into(),
                owner: (*owner).into(),
            })
            .await
            .map(|r| format!("{r:?}"))
            .map_err(show),
        Op::Update {
            name,
            owner,
            state,
            userdata,
        } => {
            let req = UpdateRequest {
                name: (*name).into(),
                owner: (*owner).into(),
                state: (*state).into(),
                userdata: userdata.clone().map(UserData::from),
            };
            store
                .update(&req)
                .await
                .map(|r| format!("{r:?}"))
                .map_err(show)
        }
        Op::Reset {
            rtype,
            state,
            expire,
            dest,
        } => store
            .reset(&ResetRequest {
                rtype: (*rtype).into(),
                state: (*state).into(),
                expire: *expire,
                dest: (*dest).into(),
            })
            .await
            .map(|m| format!("{m:?}"))
            .map_err(show),
        Op::Gc => store
            .gc_requests()
            .await
            .map(|n| n.to_string())
            .map_err(show),
        Op::Advance(_) => Ok(String::new()),
    }
}

fn apply(model: &mut Model, now: Timestamp, op: &Op) -> Answer {
    match op {
        Op::Acquire {
            rtype,
            state,
            dest,
            owner,
            rid,
        } => model.acquire(now, rtype, state, dest, owner, *rid),
        Op::AcquireByState {
            state,
            dest,
            owner,
            names,
        } => model.acquire_by_state(now, state, dest, owner, names),
        Op::Release { name, dest, owner } => model.release(now, name, dest, owner),
        Op::Update {
            name,
            owner,
            state,
            userdata,
        } => model.update(now, name, owner, state, userdata.as_ref()),
        Op::Reset {
            rtype,
            state,
            expire,
            dest,
        } => model.reset(now, rtype, state, *expire, dest),
        Op::Gc => model.gc(now),
        Op::Advance(_) => Ok(String::new()),
    }
}

/// Every resource and the live queue must match.
async fn compare_all(
    store: &dyn Store,
    clock: &ManualClock,
    model: &Model,
    step: usize,
) -> Result<(), TestCaseError> {
    let listed = store.list(&ResourceFilter::default()).await.expect("list");
    let stored: BTreeMap<String, Resource> =
        listed.into_iter().map(|r| (r.name.clone(), r)).collect();
    prop_assert_eq!(
        &stored,
        &model.resources,
        "resources differ after step {}",
        step
    );
    let now = clock.peek();
    let queue = store.queue().await.expect("queue");
    prop_assert_eq!(
        queue,
        model.live_queue(now),
        "queue differs after step {}",
        step
    );
    Ok(())
}

async fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = Arc::new(ManualClock::at_upstream_epoch());
    let store = SqliteStore::in_memory(clock.clone()).expect("open");
    let store: &dyn Store = &store;
    let config = BoskosConfig::parse_and_validate(CONFIG).expect("valid config");
    store.sync_config(&config).await.expect("sync");
    let mut model = Model::new(store.list(&ResourceFilter::default()).await.expect("list"));
    prop_assert_eq!(model.resources.len(), 7);
    for (i, op) in ops.iter().enumerate() {
        if let Op::Advance(d) = op {
            clock.advance(*d);
            continue;
        }
        // The store reads the clock once per call; that reading is the call's "now".
        let now = clock.peek();
        let got = call(store, op).await;
        let want = apply(&mut model, now, op);
        prop_assert_eq!(got, want, "step {}: {:?}", i, op);
        if i % 5 == 4 {
            compare_all(store, &clock, &model, i).await?;
        }
    }
    compare_all(store, &clock, &model, ops.len()).await
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn store_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..100)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(check(ops))?;
    }
}

/// The model itself on a hand-written sequence, so a wrong model cannot pass by
/// agreeing with a wrong store: the request_id queue reserves the first free resource.
#[test]
fn model_queue_reserves_for_older_requests() {
    let t0 = Timestamp::UNIX_EPOCH;
    let res =
        |n: &str, s: u32| Resource::new("a", n, "free", t0 + chrono::Duration::seconds(s.into()));
    let mut m = Model::new(vec![res("x", 1), res("y", 2)]);
    let now = t0 + chrono::Duration::seconds(10);
    // Both free: r1 takes x, the least recently updated.
    assert!(m
        .acquire(now, "a", "free", "busy", "o1", Some("r1"))
        .unwrap()
        .contains("\"x\""));
    // A queued r2 that polled before r3 keeps rank 1; r3 (rank 2) needs two free ones.
    m.release(now, "x", "dirty", "o1").unwrap();
    assert_eq!(m.free("a", "free"), vec!["y".to_string()]);
    m.queue.push(Entry {
        seq: 99,
        rtype: "a".into(),
        state: "free".into(),
        id: "r2".into(),
        created: now,
        expires: now + m.ttl,
    });
    m.next_seq = 100;
    assert_eq!(
        m.acquire(now, "a", "free", "busy", "o3", Some("r3")),
        Err(not_found("a"))
    );
    assert_eq!(
        m.acquire(now, "a", "free", "busy", "o4", None),
        Err(not_found("a"))
    );
    assert!(m
        .acquire(now, "a", "free", "busy", "o2", Some("r2"))
        .unwrap()
        .contains("\"y\""));
    assert_eq!(m.live_queue(now).len(), 1, "r3 still waits");
    assert_eq!(
        m.acquire(now, "zz", "free", "busy", "o", None),
        Err("resource type \"zz\" does not exist".into())
    );
}
