//! PostgreSQL: the store vacuums `resources` and `events` itself once enough of their
//! rows died (`postgres/vacuum.rs`), rather than leaving the acquire to walk dead index
//! entries until autovacuum's next visit. Autovacuum is off for both tables, so any
//! vacuum seen here is the store's.

use std::sync::Arc;
use std::time::Duration;

use mason_store::open::StoreOptions;
use mason_store::testsuite::postgres as pg;
use mason_store::{open, AcquireRequest, ManualClock, ReleaseRequest, StoreUrl};

/// Acquire+release cycles: each leaves two dead row versions and two dead events'
/// entries in the unnumbered-events index, well over the keeper's threshold of 1,000.
const CYCLES: usize = 1_500;

/// How long the test waits for the keeper (it checks once a second).
const PATIENCE: Duration = Duration::from_secs(60);

/// (manual vacuums, dead rows) of `table` as PostgreSQL's statistics have them.
async fn vacuum_stats(client: &tokio_postgres::Client, table: &str) -> (i64, i64) {
    let row = client
        .query_one(
            "SELECT vacuum_count, n_dead_tup FROM pg_stat_user_tables WHERE relname = $1",
            &[&table],
        )
        .await
        .expect("table statistics");
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_vacuums_its_busiest_tables_after_many_transitions() {
    let Some(url) = pg::fresh_database_or_skip("postgres vacuum keeper").await else {
        return;
    };
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let conn = tokio::spawn(conn);
    let parsed: StoreUrl = url.parse().expect("postgres URL");
    let options = StoreOptions {
        clock: Arc::new(ManualClock::at_upstream_epoch()),
        ..StoreOptions::default()
    };
    let store = open(&parsed, options).await.expect("open");
    // Autovacuum off for these tables, so it cannot be the one that vacuums.
    for table in ["resources", "events"] {
        client
            .batch_execute(&format!(
                "ALTER TABLE {table} SET (autovacuum_enabled = false)"
            ))
            .await
            .expect("autovacuum off for the table");
    }
    let config = mason_types::BoskosConfig::parse_and_validate(
        "resources:\n- type: t\n  names: [a, b, c, d]\n",
    )
    .expect("config");
    store.sync_config(&config).await.expect("sync");
    let before = (
        vacuum_stats(&client, "resources").await.0,
        vacuum_stats(&client, "events").await.0,
    );

    for i in 0..CYCLES {
        let owner = format!("o{i}");
        let acquired = store
            .acquire(&AcquireRequest {
                rtype: "t".into(),
                state: "free".into(),
                dest: "busy".into(),
                owner: owner.clone(),
                ..AcquireRequest::default()
            })
            .await
            .expect("acquire");
        store
            .release(&ReleaseRequest {
                name: acquired.resource.name.clone(),
                dest: "free".into(),
                owner,
                ..ReleaseRequest::default()
            })
            .await
            .expect("release");
    }

    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let resources = vacuum_stats(&client, "resources").await;
        let events = vacuum_stats(&client, "events").await;
        if resources.0 > before.0 && events.0 > before.1 {
            assert!(
                resources.1 < 1_000,
                "resources vacuumed, yet {} dead rows are left",
                resources.1
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no vacuum by the store within {PATIENCE:?} of {CYCLES} cycles: \
             resources (vacuums, dead) {resources:?}, events {events:?}, before {before:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(store);
    conn.abort();
}
