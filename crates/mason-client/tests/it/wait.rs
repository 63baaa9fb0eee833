//! Waiting acquires against a real server: one request ID, queue rank, timeout, cancel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_client::{BoskosApi, Error, Wait, WaitProgress};
use mason_testkit::TestServer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::common::{client, SOLO};

#[tokio::test]
async fn waits_in_the_queue_with_one_request_id_until_a_resource_is_released() {
    let server = TestServer::start(SOLO).await;
    let holder = client(&server.url, "holder");
    let held = holder.acquire("solo", "free", "busy", None).await.unwrap();

    let seen: Arc<Mutex<Vec<WaitProgress>>> = Arc::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let log = Arc::clone(&seen);
    let wait = Wait::new()
        .timeout(Duration::from_secs(60))
        .on_progress(move |p| {
            log.lock().unwrap().push(p.clone());
            let _ = tx.send(p.attempts);
        });
    let waiter = client(&server.url, "waiter");
    let task =
        tokio::spawn(async move { waiter.acquire_wait("solo", "free", "busy", &wait).await });
    // Let it poll three times, then free the resource.
    while rx.recv().await.unwrap() < 3 {}
    holder.release(&held.name, "free").await.unwrap();
    let got = task.await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_str(), got.owner.as_str()),
        ("solo-1", "waiter")
    );

    let seen = seen.lock().unwrap().clone();
    let id = seen[0].request_id.clone().expect("a request id");
    assert!(uuid_like(&id), "{id}");
    assert!(seen
        .iter()
        .all(|p| p.request_id.as_deref() == Some(id.as_str())));
    assert!(seen.iter().all(|p| p.rank == Some(1)), "{seen:?}");
    assert!(seen[0].last_error.contains("no available resource solo"));
    server.stop().await;
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn gives_up_at_the_timeout_with_the_last_error() {
    let server = TestServer::start(SOLO).await;
    let c = client(&server.url, "a");
    c.acquire("solo", "free", "busy", None).await.unwrap();
    let wait = Wait::new().timeout(Duration::from_millis(100));
    let err = c
        .acquire_wait("solo", "free", "busy", &wait)
        .await
        .unwrap_err();
    match err {
        Error::Timeout { waited, last } => {
            assert!(waited >= Duration::from_millis(100));
            assert!(last.is_not_found(), "{last:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // A zero timeout is a single attempt.
    let err = c
        .acquire_wait("solo", "free", "busy", &Wait::new().timeout(Duration::ZERO))
        .await;
    assert!(matches!(err, Err(Error::Timeout { .. })), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_type_is_not_waited_for() {
    let server = TestServer::start(SOLO).await;
    let c = client(&server.url, "a");
    let err = c
        .acquire_wait("nope", "free", "busy", &Wait::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TypeNotFound(_)), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn cancelling_stops_the_wait() {
    let server = TestServer::start(SOLO).await;
    let c = client(&server.url, "a");
    c.acquire("solo", "free", "busy", None).await.unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let wait = Wait::new()
        .cancel(cancel)
        .on_progress(move |_| trigger.cancel());
    let err = c
        .acquire_wait("solo", "free", "busy", &wait)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn acquire_by_state_waits_for_every_name() {
    let server = TestServer::start(SOLO).await;
    let holder = client(&server.url, "holder");
    let held = holder.acquire("solo", "free", "busy", None).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let wait = Wait::new().on_progress(move |p| {
        assert_eq!((p.request_id.as_deref(), p.rank), (None, None));
        let _ = tx.send(());
    });
    let c = client(&server.url, "cleaner");
    let names = vec![held.name.clone()];
    let task = tokio::spawn(async move {
        c.acquire_by_state_wait("dirty", "cleaning", &names, &wait)
            .await
    });
    rx.recv().await.unwrap();
    holder.release(&held.name, "dirty").await.unwrap();
    let got = task.await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].state.as_str(), got[0].owner.as_str()),
        ("cleaning", "cleaner")
    );
    server.stop().await;
}

#[tokio::test]
async fn queue_lists_the_waiting_request() {
    let server = TestServer::start(SOLO).await;
    let c = client(&server.url, "a");
    c.acquire("solo", "free", "busy", None).await.unwrap();
    assert_eq!(c.queue(None).await.unwrap(), Some(vec![]));
    let _ = c
        .acquire("solo", "free", "busy", Some("req-42"))
        .await
        .unwrap_err();
    let queue = c.queue(Some("solo")).await.unwrap().unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(
        (
            queue[0].request_id.as_str(),
            queue[0].rank,
            queue[0].state.as_str()
        ),
        ("req-42", 1, "free")
    );
    assert!(queue[0].created_at.is_some() && queue[0].expires_at.is_some());
    assert_eq!(c.rank_of("solo", "req-42").await.unwrap(), Some(1));
    assert_eq!(c.queue(Some("other")).await.unwrap(), Some(vec![]));
    server.stop().await;
}
