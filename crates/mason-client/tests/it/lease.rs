//! LeaseGuard against a real server with a manual clock: heartbeats keep a lease fresh,
//! release stops them, a lost lease is noticed.

use std::sync::Arc;
use std::time::Duration;

use mason_client::{BoskosApi, Error, LeaseGuard};
use mason_testkit::{eventually, TestServer, TestServerOptions};

use crate::common::{client, SOLO};

const PERIOD: Duration = Duration::from_millis(20);
const LIMIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn heartbeats_keep_the_lease_out_of_a_reset() {
    let server = TestServer::start_with(TestServerOptions::new(SOLO).with_manual_clock()).await;
    let clock = server.clock.clone().unwrap();
    let c = client(&server.url, "job");
    let res = c.acquire("solo", "free", "busy", None).await.unwrap();
    let guard = LeaseGuard::start(Arc::new(c.clone()), res, PERIOD).unwrap();

    clock.advance(Duration::from_secs(3600));
    // Two heartbeats after the jump: the second surely read the new time.
    let before = guard.status().sent;
    eventually("two heartbeats", LIMIT, || async {
        (guard.status().sent >= before + 2).then_some(())
    })
    .await;
    let reset = c
        .reset("solo", "busy", Duration::from_secs(1800), "dirty")
        .await
        .unwrap();
    assert!(reset.is_empty(), "a heartbeated lease was reset: {reset:?}");
    assert_eq!(guard.status().failures, 0);

    guard.release("dirty").await.unwrap();
    let stored = server.store.get("solo-1").await.unwrap();
    assert_eq!(
        (stored.state.as_str(), stored.owner.as_str()),
        ("dirty", "")
    );
    server.stop().await;
}

#[tokio::test]
async fn without_heartbeats_the_same_lease_is_reset() {
    // The control for the test above: the guard is what kept the lease.
    let server = TestServer::start_with(TestServerOptions::new(SOLO).with_manual_clock()).await;
    let c = client(&server.url, "job");
    c.acquire("solo", "free", "busy", None).await.unwrap();
    server
        .clock
        .clone()
        .unwrap()
        .advance(Duration::from_secs(3600));
    let reset = c
        .reset("solo", "busy", Duration::from_secs(1800), "dirty")
        .await
        .unwrap();
    assert_eq!(reset.get("solo-1").map(String::as_str), Some("job"));
    server.stop().await;
}

#[tokio::test]
async fn a_lost_lease_stops_the_heartbeat_and_release_reports_it() {
    let server = TestServer::start(SOLO).await;
    let c = client(&server.url, "job");
    let res = c.acquire("solo", "free", "busy", None).await.unwrap();
    let guard = LeaseGuard::start(Arc::new(c.clone()), res, PERIOD).unwrap();
    // Someone releases it behind the guard's back (to another state than the guard's
    // release below asks for: the same release again would be a retry, answered 200).
    c.release("solo-1", "free").await.unwrap();
    eventually("the guard to notice", LIMIT, || async {
        guard.status().lost.then_some(())
    })
    .await;
    let status = guard.status();
    assert!(status.last_error.unwrap().contains("owner mismatch"));
    let err = guard.release("dirty").await.unwrap_err();
    assert!(matches!(err, Error::OwnerMismatch(_)), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn dropping_a_guard_leaves_the_lease_to_the_reaper() {
    let server = TestServer::start(SOLO).await;
    let c = client(&server.url, "job");
    let res = c.acquire("solo", "free", "busy", None).await.unwrap();
    let guard = LeaseGuard::start(Arc::new(c.clone()), res, PERIOD).unwrap();
    assert_eq!(guard.resource().name, "solo-1");
    drop(guard);
    let stored = server.store.get("solo-1").await.unwrap();
    assert_eq!(
        (stored.state.as_str(), stored.owner.as_str()),
        ("busy", "job")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_zero_period_is_refused() {
    let server = TestServer::start(SOLO).await;
    let c = client(&server.url, "job");
    let res = c.acquire("solo", "free", "busy", None).await.unwrap();
    let err = LeaseGuard::start(Arc::new(c.clone()), res, Duration::ZERO).unwrap_err();
    assert_eq!(err.to_string(), "heartbeat period must be positive");
    server.stop().await;
}
