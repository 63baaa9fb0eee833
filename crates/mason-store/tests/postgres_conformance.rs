//! The store conformance suite on PostgreSQL (a fresh database per case, see
//! `support/pg.rs`), plus what only a networked backend has: losing the database and
//! getting it back. Enabled by the `postgres` feature; once enabled it fails rather than
//! skips when no PostgreSQL can be found.
#![cfg(feature = "postgres")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use mason_store::conformance::Harness;
use mason_store::open::StoreOptions;
use mason_store::{open, AcquireRequest, Error, ManualClock, StoreUrl};

use support::pg;

/// Open a store on a fresh database with a manual clock.
async fn harness() -> Harness {
    let url = pg::fresh_database()
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL for tests: {e}"));
    let clock = Arc::new(ManualClock::at_upstream_epoch());
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let url: StoreUrl = url.parse().expect("postgres URL");
    let store = open(&url, options).await.expect("open postgres store");
    assert_eq!(store.backend(), "postgres");
    Harness { store, clock }
}

mason_store::store_conformance_suite!(harness());

/// Opening twice (a second replica) finds the schema in place and shares the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_replica_shares_the_database() {
    let url: StoreUrl = pg::fresh_database()
        .await
        .expect("PostgreSQL")
        .parse()
        .unwrap();
    let (a, b) = tokio::join!(
        open(&url, StoreOptions::default()),
        open(&url, StoreOptions::default())
    );
    let (a, b) = (a.expect("replica a"), b.expect("replica b"));
    let config =
        mason_types::BoskosConfig::parse_and_validate("resources:\n- type: t\n  names: [r1]\n")
            .expect("config");
    a.sync_config(&config).await.expect("sync on a");
    let req = AcquireRequest {
        rtype: "t".into(),
        state: "free".into(),
        dest: "busy".into(),
        owner: "me".into(),
        request_id: None,
    };
    let got = b.acquire(&req).await.expect("acquire on b");
    assert!(matches!(
        a.acquire(&req).await,
        Err(Error::ResourceNotFound(_))
    ));
    assert_eq!(a.get("r1").await.expect("get on a"), got.resource);
}

/// A database that goes away makes calls fail with `Unavailable` (503 at the HTTP layer);
/// when it comes back, the same store works again without being reopened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_the_database_going_away() {
    // Durable settings: an immediate stop must not lose the committed schema.
    let server = pg::PgServer::start_with(&[]).expect("private PostgreSQL");
    let url: StoreUrl = server.url("postgres").parse().unwrap();
    let store = open(&url, StoreOptions::default()).await.expect("open");
    store.ping().await.expect("ping");
    server.stop().expect("stop PostgreSQL");
    for _ in 0..3 {
        match store.ping().await {
            Err(Error::Unavailable(msg)) => assert!(msg.contains("PostgreSQL"), "{msg}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    server.start_again().expect("restart PostgreSQL");
    let mut recovered = false;
    for _ in 0..50 {
        if store.ping().await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the pool reconnects by itself");
    assert!(store
        .all_metrics()
        .await
        .expect("query after recovery")
        .is_empty());
}
