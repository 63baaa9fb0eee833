//! Every error kind, from a real server (and a dead port), each returned without retry.

use std::time::Duration;

use mason_client::{BoskosApi, Error, HttpClient, RetryPolicy};
use mason_testkit::TestServer;

use crate::common::{client, Scripted, POOL, SOLO};

#[tokio::test]
async fn not_found_and_type_not_found_are_told_apart() {
    let server = TestServer::start(SOLO).await;
    let c = client(&server.url, "alice");
    let err = c.acquire("nope", "free", "busy", None).await.unwrap_err();
    assert!(
        matches!(&err, Error::TypeNotFound(m) if m.contains(r#"resource type "nope" does not exist"#)),
        "{err:?}"
    );
    c.acquire("solo", "free", "busy", None).await.unwrap();
    let err = c.acquire("solo", "free", "busy", None).await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(m) if m.contains("no available resource solo")),
        "{err:?}"
    );
    assert!(err.is_not_found());
    let err = c.metric("nope").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let err = c.release("no-such-name", "dirty").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let err = c
        .acquire_by_state("free", "busy", &["no-such-name".to_string()])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn owner_state_and_bad_request_errors() {
    let server = TestServer::start(POOL).await;
    let alice = client(&server.url, "alice");
    let bob = client(&server.url, "bob");
    let res = alice.acquire("t1", "free", "busy", None).await.unwrap();

    let err = bob.release(&res.name, "dirty").await.unwrap_err();
    assert!(
        matches!(&err, Error::OwnerMismatch(m) if m.contains("owner mismatch")),
        "{err:?}"
    );
    assert!(err.is_lease_lost());
    let err = bob.update(&res.name, "busy", None).await.unwrap_err();
    assert!(matches!(err, Error::OwnerMismatch(_)), "{err:?}");
    let err = alice.update(&res.name, "free", None).await.unwrap_err();
    assert!(
        matches!(&err, Error::StateMismatch(m) if m.contains("state mismatch")),
        "{err:?}"
    );
    let err = alice.acquire("t1", "", "busy", None).await.unwrap_err();
    assert!(
        matches!(&err, Error::BadRequest(m) if m.contains("all of them must be set")),
        "{err:?}"
    );
    let err = alice.metric("").await.unwrap_err();
    assert!(matches!(err, Error::BadRequest(_)), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_dead_port_is_unreachable_after_the_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let c = client(&url, "alice");
    let err = c.acquire("t1", "free", "busy", None).await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
}

#[tokio::test]
async fn each_retry_is_announced_with_the_cause_and_no_url_twice() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let c = HttpClient::builder(&url, "alice")
        .retry(RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(5),
        })
        .on_retry(move |n| {
            let cause = n.error.transport_cause().unwrap_or_default().to_string();
            record.lock().unwrap().push((
                n.next_attempt,
                n.attempts,
                n.pause,
                n.base.to_string(),
                cause,
            ));
        })
        .build()
        .unwrap();
    let err = c.metric("t1").await.unwrap_err();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[0].0, seen[0].1, seen[0].2),
        (2, 3, Duration::from_millis(5))
    );
    assert_eq!((seen[1].0, seen[1].2), (3, Duration::from_millis(20)));
    assert_eq!(seen[0].3, format!("{url}/"));
    assert!(
        !seen[0].4.contains("http://"),
        "the cause alone: {}",
        seen[0].4
    );
    assert!(
        err.to_string().matches("http://").count() == 1,
        "the URL is named once: {err}"
    );
}

#[tokio::test]
async fn a_200_that_is_not_a_resource_is_a_protocol_error() {
    // An upstream server answers 200 with an empty body on unknown paths (wrong base URL).
    let server = Scripted::start(vec![(200, ""), (200, "{}")]).await;
    let c = HttpClient::builder(&server.url, "alice")
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = c.acquire("t1", "free", "busy", None).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownPath { url } if url == &format!("{}/acquire", server.url)),
        "{err:?}"
    );
    let err = c.acquire("t1", "free", "busy", None).await.unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert_eq!(
        server.requests().len(),
        2,
        "protocol errors are not retried"
    );
    server.stop().await;
}

#[tokio::test]
async fn mason_serves_catch_all_is_told_apart_from_an_empty_success() {
    let server = mason_testkit::TestServer::start("resources:\n- type: t1\n  names: [a]\n").await;
    let wrong = HttpClient::builder(format!("{}/typo", server.url), "alice")
        .build()
        .unwrap();
    // /release answers an empty 200 on success; the catch-all's says it is not a route.
    let err = wrong.release("a", "dirty").await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownPath { url } if url.ends_with("/typo/release")),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("check the path of the server URL"),
        "{err}"
    );
    let right = HttpClient::builder(&server.url, "alice").build().unwrap();
    right.acquire("t1", "free", "busy", None).await.unwrap();
    right.release("a", "dirty").await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_hung_server_hits_the_request_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accept connections but never answer.
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock);
        }
    });
    let c = HttpClient::builder(&url, "alice")
        .retry(RetryPolicy::none())
        .request_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = c.metric("t1").await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    hold.abort();
}
