//! PostgreSQL's kept counts under statements that move many rows at once (migration 7):
//! grants of many names and batches of expiries, run concurrently by several replicas,
//! take their count rows in one order, so none deadlocks, and the counts stay exact.
//! With the row triggers of migrations 5 and 6, whose count locks followed the order of
//! the rows, these grants deadlocked one another until the retries ran out.

use std::sync::Arc;
use std::time::Duration;

use mason_store::open::StoreOptions;
use mason_store::testsuite::postgres as pg;
use mason_store::{open, AcquireByStateRequest, ExpireRequest, ManualClock, Store, StoreUrl};

/// Replicas, grants in flight at once, names per grant.
const REPLICAS: usize = 4;
const GRANTS: usize = 16;
const PER_GRANT: usize = 100;

/// (type, state, owner, n) from the kept counts, and the same counted from the rows.
const KEPT: &str = "SELECT type, state, owner, sum(n)::bigint FROM resource_counts \
    GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3";
const COUNTED: &str =
    "SELECT type, state, owner, count(*) FROM resources GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
/// (holder, type, n) from the holders' counts, and the same counted from the rows.
const HELD: &str = "SELECT holder, type, held FROM holder_counts WHERE held <> 0 ORDER BY 1, 2";
const HOLDING: &str = "SELECT holder, type, count(*) FROM resources \
    WHERE holder IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2";

/// Rows of a query as (text, text, text, n) or (text, text, n) tuples, printed.
async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .expect(sql)
        .iter()
        .map(|row| {
            let n = row.len();
            let mut cols: Vec<String> = (0..n - 1).map(|i| row.get::<_, String>(i)).collect();
            cols.push(row.get::<_, i64>(n - 1).to_string());
            cols.join("/")
        })
        .collect()
}

/// The kept counts and the holders' counts equal what the rows say.
async fn assert_counts_exact(client: &tokio_postgres::Client, when: &str) -> Vec<String> {
    let kept = rows(client, KEPT).await;
    assert_eq!(kept, rows(client, COUNTED).await, "kept counts {when}");
    assert_eq!(
        rows(client, HELD).await,
        rows(client, HOLDING).await,
        "holders' counts {when}"
    );
    kept
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_multi_row_grants_and_expiries_never_deadlock_and_keep_exact_counts() {
    let Some(url) = pg::fresh_database_or_skip("postgres kept counts").await else {
        return;
    };
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let conn = tokio::spawn(conn);
    let parsed: StoreUrl = url.parse().expect("postgres URL");
    let clock = Arc::new(ManualClock::at_upstream_epoch());
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..REPLICAS {
        let options = StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        };
        stores.push(open(&parsed, options).await.expect("open replica"));
    }
    let names: Vec<String> = (0..GRANTS * PER_GRANT)
        .map(|i| format!("r{i:05}"))
        .collect();
    let config = mason_types::BoskosConfig::parse_and_validate(&format!(
        "resources:\n- type: t\n  names: [{}]\n",
        names.join(", ")
    ))
    .expect("config");
    stores[0].sync_config(&config).await.expect("sync");

    // Every grant takes every GRANTS-th name, so each one's rows spread over all the
    // count shards of (t, free, '') and every pair of grants shares most of them.
    let grants: Vec<_> = (0..GRANTS)
        .map(|k| {
            let store = Arc::clone(&stores[k % REPLICAS]);
            let mine: Vec<String> = names.iter().skip(k).step_by(GRANTS).cloned().collect();
            tokio::spawn(async move {
                store
                    .acquire_by_state_leases(&AcquireByStateRequest {
                        state: "free".into(),
                        dest: "busy".into(),
                        owner: format!("o{k:02}"),
                        names: mine,
                        holder: Some(format!("user{}", k % 3)),
                        lease_ttl: Some(Duration::from_secs(10 + k as u64)),
                        ..AcquireByStateRequest::default()
                    })
                    .await
                    .map(|granted| granted.len())
            })
        })
        .collect();
    for (k, grant) in grants.into_iter().enumerate() {
        let granted = grant.await.expect("grant task");
        assert_eq!(
            granted.map_err(|e| e.to_string()),
            Ok(PER_GRANT),
            "grant {k} (a deadlock is retried a few times, then fails the call)"
        );
    }
    let kept = assert_counts_exact(&client, "after the grants").await;
    assert_eq!(kept.len(), GRANTS, "one busy group per owner: {kept:?}");

    // Every replica expires at once, in small batches that each span several owners and
    // holders, until nothing is due.
    clock.advance(Duration::from_secs(60));
    let now = clock.peek();
    let expiries: Vec<_> = stores
        .iter()
        .map(|store| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let mut ended = 0;
                loop {
                    let report = store
                        .expire_leases(&ExpireRequest { now, limit: 37 })
                        .await
                        .map_err(|e| e.to_string())?;
                    if report.expired.is_empty() {
                        return Ok::<usize, String>(ended);
                    }
                    ended += report.expired.len();
                }
            })
        })
        .collect();
    let mut ended = 0;
    for expiry in expiries {
        ended += expiry.await.expect("expiry task").expect("expire");
    }
    assert_eq!(ended, names.len(), "every lease ended once");
    let kept = assert_counts_exact(&client, "after the expiries").await;
    assert_eq!(kept, [format!("t/dirty//{}", names.len())]);
    drop(client);
    let _ = conn.await;
}
