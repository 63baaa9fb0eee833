//! Property test of the lease rules: random sequences of store calls (acquire with and
//! without `request_id`, acquire-by-state, release, update with user data, reset, clock
//! moves, queue GC) run against each engine — SQLite in memory, and PostgreSQL on a fresh
//! database of the throwaway server — on a manual clock, and against a small in-memory
//! model of SPEC §4 written here from the spec, independently of the store's code. After
//! every call the two must agree on the answer (value or exact error text); every few
//! calls, and at the end, on every resource and on the request queue.
//!
//! The model follows Mason's documented choices where they differ from upstream:
//! `acquirebystate` is all-or-nothing, and the queue lives in the store.
//!
//! Fencing generations (`generations` below): after every call, each resource's
//! generation must be unchanged unless the call granted it or ended its lease, and then
//! it must be above every generation seen before (never reused). Releases and updates
//! may send the current generation (must behave as without one) or a stale one (must be
//! refused with upstream-style 409 text naming both, before the owner check, and change
//! nothing).
//!
//! Lease TTLs: type `a` has a `lease-ttl` (and a `lease-expired-state`), `b` none, and
//! acquires may ask for their own TTL. The model keeps each lease's TTL and deadline:
//! renewals move it, an update or release of a lease whose deadline passed is refused
//! with the store's 409 text (after the owner check, before the state check), and
//! `expire_leases` calls (with small limits, on the manual clock) must end exactly the
//! due leases, oldest deadline first, into the resolved state, and report the next
//! deadline. Every resource's TTL and deadline are compared with the model's.

mod calls;
mod counts;
mod ops;
mod spec;

use std::collections::BTreeMap;
use std::time::Duration;

use mason_store::testsuite::{postgres, Harness};
use mason_store::{ManualClock, ResourceFilter, Store};
use mason_types::{BoskosConfig, Resource, ResourceV2, Timestamp};

use self::calls::{apply, call};
use self::ops::{op, ops, Op, CONFIG, TYPES};
use self::spec::Model;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

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
    let leases: BTreeMap<String, (Option<Duration>, Option<Timestamp>)> = store
        .list_v2(&ResourceFilter::default())
        .await
        .expect("list")
        .into_iter()
        .map(|r| (r.resource.name, (r.lease.lease_ttl, r.lease.lease_deadline)))
        .collect();
    prop_assert_eq!(
        leases,
        model.lease_facts(),
        "lease TTLs or deadlines differ after step {}",
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

/// The generations after a call: unchanged where the call neither granted a resource nor
/// ended its lease (its owner went from none to someone or back), fresh — above every
/// generation seen before — where it did. Updates `seen` and `max_seen`.
fn check_generations(
    now: Vec<ResourceV2>,
    owners_before: &BTreeMap<String, String>,
    seen: &mut BTreeMap<String, u64>,
    max_seen: &mut u64,
    step: usize,
) -> Result<(), TestCaseError> {
    let mut fresh_max = *max_seen;
    for r in now {
        let name = &r.resource.name;
        let before_owner = owners_before.get(name).map(String::as_str).unwrap_or("");
        let moved = before_owner.is_empty() != r.resource.owner.is_empty();
        let before = seen.get(name).copied().unwrap_or_default();
        let generation = r.lease.generation;
        if moved {
            prop_assert!(
                generation > *max_seen,
                "step {}: {} was granted or released but got generation {} (seen up to {})",
                step,
                name,
                generation,
                max_seen
            );
            fresh_max = fresh_max.max(generation);
        } else {
            prop_assert_eq!(
                generation,
                before,
                "step {}: {} changed generation",
                step,
                name
            );
        }
        seen.insert(name.clone(), generation);
    }
    *max_seen = fresh_max;
    Ok(())
}

/// Run `ops` on the harness's store and on the model; they must agree throughout.
async fn check(h: Harness, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let (store, clock) = (&*h.store, &*h.clock);
    let config = BoskosConfig::parse_and_validate(CONFIG).expect("valid config");
    store.sync_config(&config).await.expect("sync");
    let mut model = Model::new(store.list(&ResourceFilter::default()).await.expect("list"));
    prop_assert_eq!(model.resources.len(), 7);
    let mut generations: BTreeMap<String, u64> = BTreeMap::new();
    let mut max_seen = 0;
    let all = ResourceFilter::default();
    check_generations(
        store.list_v2(&all).await.expect("list"),
        &BTreeMap::new(),
        &mut generations,
        &mut max_seen,
        0,
    )?;
    prop_assert_eq!(max_seen, 0, "new resources start at generation 0");
    for (i, op) in ops.iter().enumerate() {
        if let Op::Advance(d) = op {
            clock.advance(*d);
            continue;
        }
        // The store reads the clock once per call; that reading is the call's "now".
        let now = clock.peek();
        let owners_before: BTreeMap<String, String> = model
            .resources
            .values()
            .map(|r| (r.name.clone(), r.owner.clone()))
            .collect();
        let got = call(store, now, op, &generations).await;
        let want = apply(&mut model, now, op, &generations);
        prop_assert_eq!(got, want, "step {}: {:?}", i, op);
        check_generations(
            store.list_v2(&all).await.expect("list"),
            &owners_before,
            &mut generations,
            &mut max_seen,
            i,
        )?;
        if i % 5 == 4 {
            compare_all(store, clock, &model, i).await?;
        }
    }
    compare_all(store, clock, &model, ops.len()).await
}

/// Cases on PostgreSQL (each a network round trip per call, so fewer than on SQLite).
const POSTGRES_CASES: u32 = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_agrees_with_the_model(ops in ops()) {
        runtime().block_on(check(Harness::sqlite_in_memory(), ops))?;
    }
}

/// The same property on PostgreSQL. Without PostgreSQL it skips (loudly, once) or, under
/// `CI=true`, fails.
#[test]
fn postgres_agrees_with_the_model() {
    const TEST: &str = "postgres_agrees_with_the_model";
    let rt = runtime();
    let Some(db) = rt.block_on(postgres::fresh_database_or_skip(TEST)) else {
        return;
    };
    let mut runner = TestRunner::new(ProptestConfig {
        cases: POSTGRES_CASES,
        ..ProptestConfig::default()
    });
    // One database, emptied before each case.
    let outcome = runner.run(&ops(), |ops| {
        rt.block_on(async { check(Harness::postgres_emptied(&db).await, ops).await })
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
