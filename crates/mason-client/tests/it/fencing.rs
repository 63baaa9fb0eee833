//! Fencing and lost leases, against the fake lease server: the generation granted goes
//! back on every update and release, a lease that moved on is a lost lease (not a
//! failing heartbeat), and a lease TTL with unanswered heartbeats ends the lease locally.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mason_client::lease::LeaseOutcome;
use mason_client::{BoskosApi, Error, LeaseGuard, LostReason};

use crate::common::client;
use crate::fake_lease::FakeLeaseServer;

const LIMIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn the_granted_generation_goes_back_on_update_and_release() {
    let server = FakeLeaseServer::start(&[("t", 1)]).await;
    let c = client(&server.url, "job");
    let r = c.acquire("t", "free", "busy", None).await.unwrap();
    assert_eq!(c.generation(&r.name), Some(101));
    c.update(&r.name, "busy", None).await.unwrap();
    c.release(&r.name, "dirty").await.unwrap();
    assert_eq!(c.generation(&r.name), None, "forgotten once released");
    let seen = server.seen();
    assert_eq!(seen[0], "/acquire?dest=busy&owner=job&state=free&type=t");
    assert_eq!(
        seen[1],
        "/update?generation=101&name=t-0&owner=job&state=busy"
    );
    assert_eq!(
        seen[2],
        "/release?dest=dirty&generation=101&name=t-0&owner=job"
    );
    server.stop();
}

#[tokio::test]
async fn a_lease_ttl_set_on_the_client_goes_out_on_every_acquire() {
    let server = FakeLeaseServer::start(&[("t", 1)]).await;
    let c = mason_client::HttpClient::builder(&server.url, "job")
        .lease_ttl(Duration::from_secs(90))
        .build()
        .unwrap();
    c.acquire("t", "free", "busy", Some("req-1")).await.unwrap();
    assert_eq!(
        server.seen()[0],
        "/acquire?dest=busy&lease_ttl=1m30s&owner=job&request_id=req-1&state=free&type=t"
    );
    server.stop();
}

#[tokio::test]
async fn a_stale_generation_is_a_409_and_forgets_the_fence() {
    let server = FakeLeaseServer::start(&[("t", 1)]).await;
    let c = client(&server.url, "job");
    let r = c.acquire("t", "free", "busy", None).await.unwrap();
    server.expire(&r.name);
    let err = c.update(&r.name, "busy", None).await.unwrap_err();
    assert!(matches!(err, Error::StateMismatch(_)), "{err:?}");
    assert!(err.to_string().contains("generation 101 is stale"), "{err}");
    assert!(err.is_lease_lost());
    assert_eq!(c.generation(&r.name), None);
    server.stop();
}

#[tokio::test]
async fn a_guard_reports_a_lease_that_moved_on_as_lost_and_releases_nothing() {
    let server = FakeLeaseServer::start(&[("t", 1)]).await;
    let c = client(&server.url, "job");
    let r = c.acquire("t", "free", "busy", None).await.unwrap();
    let guard = LeaseGuard::start(Arc::new(c.clone()), r, Duration::from_millis(20)).unwrap();
    server.expire("t-0");
    let lost = tokio::time::timeout(LIMIT, guard.lost()).await.unwrap();
    assert_eq!(lost.reason, LostReason::Conflict);
    assert_eq!(lost.name, "t-0");
    let status = guard.status();
    assert!(status.lost && status.lost_lease == Some(lost.clone()));
    let releases_before = server
        .seen()
        .iter()
        .filter(|s| s.starts_with("/release"))
        .count();
    match guard.finish("dirty").await {
        LeaseOutcome::Lost(l) => assert_eq!(l, lost),
        other => panic!("{other:?}"),
    }
    let releases = server
        .seen()
        .iter()
        .filter(|s| s.starts_with("/release"))
        .count();
    assert_eq!(releases, releases_before, "a lost lease is not released");
    server.stop();
}

#[tokio::test]
async fn unanswered_heartbeats_lose_a_lease_with_a_ttl_within_the_ttl() {
    let server = FakeLeaseServer::start(&[("t", 1)]).await;
    let c = client(&server.url, "job");
    let r = c.acquire("t", "free", "busy", None).await.unwrap();
    let ttl = Duration::from_millis(900);
    let guard = LeaseGuard::start_with_ttl(Arc::new(c.clone()), r, ttl / 3, Some(ttl)).unwrap();
    // Let a few heartbeats through, then cut them off.
    let t0 = Instant::now();
    tokio::time::timeout(LIMIT, async {
        while guard.status().sent < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    server.pool().hang_updates = true;
    let cut = Instant::now();
    let lost = tokio::time::timeout(LIMIT, guard.lost()).await.unwrap();
    assert_eq!(lost.reason, LostReason::Expired);
    assert!(
        lost.message.contains("lease TTL of 900ms"),
        "{}",
        lost.message
    );
    // Lost no later than one TTL after the last accepted heartbeat was sent, which was
    // before the cut; never before the cut (heartbeats were getting through).
    assert!(
        cut.elapsed() <= ttl + Duration::from_secs(2),
        "{:?}",
        cut.elapsed()
    );
    assert!(t0.elapsed() >= ttl / 3 * 2);
    assert!(matches!(guard.finish("dirty").await, LeaseOutcome::Lost(_)));
    server.stop();
}

#[tokio::test]
async fn a_failing_heartbeat_is_not_a_lost_lease() {
    // A server that is gone: heartbeats fail with transport errors, the lease (without a
    // TTL) is not declared lost, and release fails as a failure, not as a lost lease.
    let server = FakeLeaseServer::start(&[("t", 1)]).await;
    let c = client(&server.url, "job");
    let r = c.acquire("t", "free", "busy", None).await.unwrap();
    server.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let guard = LeaseGuard::start(Arc::new(c.clone()), r, Duration::from_millis(10)).unwrap();
    tokio::time::timeout(LIMIT, async {
        while guard.status().failures < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert!(!guard.status().lost);
    match guard.finish("dirty").await {
        LeaseOutcome::Failed(e) => assert!(e.is_unreachable(), "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_heartbeat_period_must_be_shorter_than_the_ttl() {
    let server = FakeLeaseServer::start(&[("t", 1)]).await;
    let c = client(&server.url, "job");
    let r = c.acquire("t", "free", "busy", None).await.unwrap();
    let err = LeaseGuard::start_with_ttl(
        Arc::new(c.clone()),
        r,
        Duration::from_secs(2),
        Some(Duration::from_secs(2)),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "heartbeat period must be shorter than the lease TTL"
    );
    server.stop();
}
