//! Kept counts (issue 15): the metrics a store answers — `metric(type)` for every type
//! and `all_metrics()` — must equal a fold of a full listing of the resources after
//! every step of random sequences of the model test's lease calls, mixed with config
//! syncs that delete, mark, move and create resources (and a dynamic pool that grows and
//! shrinks), and restarts of the store on the same data.
//!
//! SQLite runs on a file, so a restart reopens it (the counts are rebuilt from the
//! table). PostgreSQL runs two replicas on one database: calls alternate between them,
//! both must answer the counts of the scan, and a restart replaces both.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use mason_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use mason_store::testsuite::postgres;
use mason_store::{Error, ManualClock, ResourceFilter, Store, DEFAULT_REQUEST_TTL};
use mason_types::{BoskosConfig, Metric};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::{call, op, runtime, Op, CONFIG, TYPES};

/// The configs a sequence switches between. The second drops `a2`, `a3` and type `b`
/// (deleted when unowned, deferred while leased) and makes `zz` a dynamic pool; the third
/// moves `a0` to type `b` and drops the pool (its resources are marked for deletion).
const CONFIGS: &[&str] = &[
    CONFIG,
    "resources:\n- type: a\n  names: [a0, a1]\n- type: zz\n  state: dirty\n  min-count: 1\n  max-count: 3\n",
    "resources:\n- type: b\n  names: [a0, b0, b1]\n- type: a\n  names: [a1, a2]\n",
];

/// One step of a sequence.
#[derive(Debug, Clone)]
enum Step {
    Call(Op),
    Sync(usize),
    Restart,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        12 => op().prop_map(Step::Call),
        2 => (0..CONFIGS.len()).prop_map(Step::Sync),
        1 => Just(Step::Restart),
    ];
    proptest::collection::vec(step, 1..60)
}

/// The metrics a full listing gives, by type.
async fn scanned(store: &dyn Store) -> BTreeMap<String, Metric> {
    let mut by_type: BTreeMap<String, Metric> = BTreeMap::new();
    for r in store.list(&ResourceFilter::default()).await.expect("list") {
        let m = by_type.entry(r.rtype.clone()).or_insert_with(|| Metric {
            rtype: r.rtype.clone(),
            ..Metric::default()
        });
        *m.current.entry(r.state).or_default() += 1;
        *m.owner.entry(r.owner).or_default() += 1;
    }
    by_type
}

/// Every metric `store` answers equals `want` (the scan).
async fn expect_counts(
    store: &dyn Store,
    want: &BTreeMap<String, Metric>,
    step: usize,
) -> Result<(), TestCaseError> {
    let all = store.all_metrics().await.expect("all_metrics");
    let want_all: Vec<Metric> = want.values().cloned().collect();
    prop_assert_eq!(all, want_all, "all_metrics after step {}", step);
    for rtype in TYPES.iter().copied().chain(["nope"]) {
        match (store.metric(rtype).await, want.get(rtype)) {
            (Ok(got), Some(want)) => prop_assert_eq!(&got, want, "step {}", step),
            (Err(Error::ResourceNotFound(t)), None) => prop_assert_eq!(t, rtype),
            (got, want) => prop_assert!(
                false,
                "step {}: metric({}) = {:?}, the scan says {:?}",
                step,
                rtype,
                got,
                want
            ),
        }
    }
    Ok(())
}

/// Opens the store (or replicas) under test on the same data, again after a restart.
trait Opener {
    async fn open(&self) -> Vec<Arc<dyn Store>>;
}

/// Run `steps`; after each, every replica's counts must equal the scan.
async fn check(
    opener: &impl Opener,
    clock: &ManualClock,
    steps: Vec<Step>,
) -> Result<(), TestCaseError> {
    let mut stores = opener.open().await;
    let config = |i: usize| BoskosConfig::parse_and_validate(CONFIGS[i]).expect("valid config");
    stores[0].sync_config(&config(0)).await.expect("sync");
    let generations = BTreeMap::new();
    for (i, step) in steps.into_iter().enumerate() {
        let store = Arc::clone(&stores[i % stores.len()]);
        match step {
            Step::Call(Op::Advance(d)) => clock.advance(d),
            // Answers are the model test's business; only the counts matter here.
            Step::Call(op) => drop(call(&*store, clock.peek(), &op, &generations).await),
            Step::Sync(n) => drop(store.sync_config(&config(n)).await.expect("sync")),
            Step::Restart => {
                drop(store);
                stores.clear();
                stores = opener.open().await;
            }
        }
        let want = scanned(&*stores[0]).await;
        for store in &stores {
            expect_counts(&**store, &want, i).await?;
        }
    }
    Ok(())
}

/// A SQLite file; each open is a restart of the server on it.
struct SqliteFile<'a> {
    path: &'a Path,
    clock: Arc<ManualClock>,
}

impl Opener for SqliteFile<'_> {
    async fn open(&self) -> Vec<Arc<dyn Store>> {
        let store = SqliteStore::open(SqliteOptions {
            path: Some(self.path.to_path_buf()),
            synchronous: Synchronous::Normal,
            request_ttl: DEFAULT_REQUEST_TTL,
            clock: self.clock.clone(),
            create: false,
            timeout: mason_store::DEFAULT_STORE_TIMEOUT,
        })
        .expect("open the SQLite file");
        vec![Arc::new(store)]
    }
}

/// Two replicas on one PostgreSQL database.
struct PostgresReplicas<'a> {
    url: &'a str,
    clock: Arc<ManualClock>,
}

impl Opener for PostgresReplicas<'_> {
    async fn open(&self) -> Vec<Arc<dyn Store>> {
        let url: mason_store::StoreUrl = self.url.parse().expect("a postgres URL");
        let mut replicas = Vec::new();
        for _ in 0..2 {
            let options = mason_store::open::StoreOptions {
                clock: self.clock.clone(),
                ..Default::default()
            };
            replicas.push(mason_store::open(&url, options).await.expect("open"));
        }
        replicas
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_kept_counts_equal_a_scan(steps in steps()) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("mason.db");
        let clock = Arc::new(ManualClock::at_upstream_epoch());
        let opener = SqliteFile { path: &path, clock: clock.clone() };
        runtime().block_on(check(&opener, &clock, steps))?;
    }
}

/// The same property on PostgreSQL, with two replicas. Without PostgreSQL it skips
/// (loudly, once) or, under `CI=true`, fails.
#[test]
fn postgres_kept_counts_equal_a_scan_on_every_replica() {
    const TEST: &str = "postgres_kept_counts_equal_a_scan_on_every_replica";
    let rt = runtime();
    let Some(url) = rt.block_on(postgres::fresh_database_or_skip(TEST)) else {
        return;
    };
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 16,
        ..ProptestConfig::default()
    });
    let outcome = runner.run(&steps(), |steps| {
        rt.block_on(async {
            let clock = Arc::new(ManualClock::at_upstream_epoch());
            let opener = PostgresReplicas {
                url: &url,
                clock: clock.clone(),
            };
            // Creates the schema on the first case, then empties the tables
            // (`TRUNCATE`, which the counts follow too).
            drop(opener.open().await);
            postgres::empty_store(&url)
                .await
                .expect("empty the database");
            check(&opener, &clock, steps).await
        })
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
