//! The model test's calls: the pool and names they draw from, the [`Op`]s, and the
//! strategies that generate them.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

pub(super) const TYPES: &[&str] = &["a", "b", "zz"];
pub(super) const STATES: &[&str] = &["free", "dirty", "busy", "cleaning"];
pub(super) const OWNERS: &[&str] = &["alice", "bob", "carol"];
pub(super) const NAMES: &[&str] = &["a0", "a1", "a2", "a3", "b0", "b1", "b2", "ghost"];
pub(super) const CONFIG: &str = "resources:\n- type: a\n  names: [a0, a1, a2, a3]\n  lease-ttl: 45s\n  lease-expired-state: cleaning\n- type: b\n  state: dirty\n  names: [b0, b1, b2]\n";

/// One store call (or a clock move).
#[derive(Debug, Clone)]
pub(super) enum Op {
    Acquire {
        rtype: &'static str,
        state: &'static str,
        dest: &'static str,
        owner: &'static str,
        rid: Option<&'static str>,
        ttl: Option<Duration>,
    },
    AcquireByState {
        state: &'static str,
        dest: &'static str,
        owner: &'static str,
        names: Vec<&'static str>,
        ttl: Option<Duration>,
    },
    Release {
        name: &'static str,
        dest: &'static str,
        owner: &'static str,
        fence: Fence,
    },
    Update {
        name: &'static str,
        owner: &'static str,
        state: &'static str,
        userdata: Option<BTreeMap<String, String>>,
        fence: Fence,
    },
    Reset {
        rtype: &'static str,
        state: &'static str,
        expire: Duration,
        dest: &'static str,
    },
    Advance(Duration),
    Gc,
    Expire {
        limit: u32,
    },
}

/// Which fencing generation a release or update sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fence {
    /// None (upstream's call).
    None,
    /// The resource's current generation.
    Current,
    /// One below it (a lease that has ended).
    Stale,
}

fn fence() -> impl Strategy<Value = Fence> {
    prop_oneof![2 => Just(Fence::None), 1 => Just(Fence::Current), 1 => Just(Fence::Stale)]
}

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(list)
}

pub(super) fn op() -> impl Strategy<Value = Op> {
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
    let ttl = || proptest::option::of(secs(&[20, 60]));
    prop_oneof![
        6 => (pick(TYPES), pick(STATES), pick(STATES), pick(OWNERS), rid, ttl())
            .prop_map(|(rtype, state, dest, owner, rid, ttl)| Op::Acquire { rtype, state, dest, owner, rid, ttl }),
        2 => (pick(STATES), pick(STATES), pick(OWNERS), proptest::collection::vec(pick(NAMES), 0..4), ttl())
            .prop_map(|(state, dest, owner, names, ttl)| Op::AcquireByState { state, dest, owner, names, ttl }),
        5 => (pick(NAMES), pick(STATES), pick(OWNERS), fence())
            .prop_map(|(name, dest, owner, fence)| Op::Release { name, dest, owner, fence }),
        3 => (pick(NAMES), pick(OWNERS), pick(STATES), userdata, fence())
            .prop_map(|(name, owner, state, userdata, fence)| Op::Update { name, owner, state, userdata, fence }),
        1 => (pick(TYPES), pick(STATES), secs(&[0, 5, 30, 3600]), pick(STATES))
            .prop_map(|(rtype, state, expire, dest)| Op::Reset { rtype, state, expire, dest }),
        2 => secs(&[1, 10, 29, 31, 61]).prop_map(Op::Advance),
        1 => Just(Op::Gc),
        2 => (1u32..4).prop_map(|limit| Op::Expire { limit }),
    ]
}

/// The generation a fenced call sends for `name`, from the generations last seen.
pub(super) fn sent_generation(
    generations: &BTreeMap<String, u64>,
    name: &str,
    fence: Fence,
) -> Option<u64> {
    let current = generations.get(name).copied().unwrap_or_default();
    match fence {
        Fence::None => None,
        Fence::Current => Some(current),
        Fence::Stale => Some(current.wrapping_sub(1)),
    }
}

/// Sequences of up to 100 calls.
pub(super) fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..100)
}
