//! The multi-resource acquire against the fake lease server (the real route is tested
//! in mason-server): all or nothing, waiting through long polls, generations remembered,
//! unknown types, and an upstream server that has no such route.

use std::time::Duration;

use mason_client::{BoskosApi, Error, SetRequest, Wait};
use mason_types::multi_acquire::MultiAcquireItem;

use crate::common::{client, Scripted};
use crate::fake_lease::FakeLeaseServer;

fn item(rtype: &str, count: u32) -> MultiAcquireItem {
    MultiAcquireItem {
        rtype: rtype.into(),
        state: "free".into(),
        dest: "busy".into(),
        count,
    }
}

#[tokio::test]
async fn a_set_is_granted_whole_and_fenced() {
    let server = FakeLeaseServer::start(&[("a", 3), ("b", 1)]).await;
    let c = client(&server.url, "job");
    let set = SetRequest::new(vec![item("a", 2), item("b", 1)]).priority(5);
    let got = c.acquire_many(&set, Duration::ZERO).await.unwrap();
    let names: Vec<&str> = got.iter().map(|r| r.resource.name.as_str()).collect();
    assert_eq!(names, ["a-0", "a-1", "b-0"]);
    for r in &got {
        assert_eq!(r.resource.owner, "job");
        assert_eq!(c.generation(&r.resource.name), Some(r.generation()));
    }
    let body: serde_json::Value = serde_json::from_str(&server.seen()[0]).unwrap();
    assert_eq!(body["owner"], "job");
    assert_eq!(body["priority"], 5);
    assert_eq!(body["resources"][0]["count"], 2);
    assert!(body.get("wait").is_none(), "{body}");
    c.release("b-0", "dirty").await.unwrap();
    assert!(server.seen().last().unwrap().contains("generation="));

    // Nothing of b is free now: nothing at all is granted.
    let err = c.acquire_many(&set, Duration::ZERO).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert!(server.pool().resources["a-2"].0.owner.is_empty());
    server.stop();
}

#[tokio::test]
async fn a_waiting_set_is_handed_over_when_it_frees_up() {
    let server = FakeLeaseServer::start(&[("a", 1), ("b", 1)]).await;
    let holder = client(&server.url, "holder");
    let waiter = client(&server.url, "waiter");
    holder.acquire("b", "free", "busy", None).await.unwrap();
    let set = SetRequest::new(vec![item("a", 1), item("b", 1)]).request_id("set-1");
    let wait = Wait::new().timeout(Duration::from_secs(20));
    let task = tokio::spawn(async move { waiter.acquire_many_wait(&set, &wait).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!task.is_finished());
    holder.release("b-0", "free").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 2);
    let first: serde_json::Value = serde_json::from_str(&server.seen()[1]).unwrap();
    assert_eq!(first["request_id"], "set-1");
    let wait = mason_types::parse_go_duration(first["wait"].as_str().unwrap()).unwrap();
    assert!(
        wait <= Duration::from_secs(20) && wait > Duration::from_secs(19),
        "{wait:?}"
    );
    server.stop();
}

#[tokio::test]
async fn a_wait_ends_at_its_timeout_and_an_unknown_type_at_once() {
    let server = FakeLeaseServer::start(&[("a", 1)]).await;
    let c = client(&server.url, "job");
    c.acquire("a", "free", "busy", None).await.unwrap();
    let set = SetRequest::new(vec![item("a", 1)]);
    let wait = Wait::new().timeout(Duration::from_millis(300));
    let err = c.acquire_many_wait(&set, &wait).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let unknown = SetRequest::new(vec![item("a", 1), item("nope", 1)]);
    let err = c
        .acquire_many_wait(&unknown, &Wait::new().timeout(Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TypeNotFound(_)), "{err:?}");
    server.stop();
}

#[tokio::test]
async fn an_upstream_server_has_no_multi_acquire() {
    let server = Scripted::start(vec![(200, "")]).await;
    let c = client(&server.url, "job");
    let err = c
        .acquire_many(&SetRequest::new(vec![item("a", 1)]), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("mason serve extension"), "{err}");
    server.stop().await;
}
