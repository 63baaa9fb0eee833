//! Every operation against a real server, happy paths.

use std::time::Duration;

use mason_client::BoskosApi;
use mason_testkit::{TestServer, TestServerOptions};
use mason_types::UserData;

use crate::common::{client, POOL};

fn ud(pairs: &[(&str, &str)]) -> UserData {
    let mut ud = UserData::new();
    for (k, v) in pairs {
        ud.insert(*k, *v);
    }
    ud
}

#[tokio::test]
async fn acquire_update_release_and_acquire_by_state() {
    let server = TestServer::start(POOL).await;
    let alice = client(&server.url, "alice");
    assert_eq!(alice.owner(), "alice");

    let res = alice.acquire("t1", "free", "busy", None).await.unwrap();
    assert_eq!(
        (res.rtype.as_str(), res.state.as_str(), res.owner.as_str()),
        ("t1", "busy", "alice")
    );
    assert!(res.name.starts_with("t1-"));

    alice
        .update(&res.name, "busy", Some(&ud(&[("k", "v"), ("x", "1")])))
        .await
        .unwrap();
    alice.update(&res.name, "busy", None).await.unwrap();
    alice
        .update(&res.name, "busy", Some(&ud(&[("x", "")])))
        .await
        .unwrap();
    let stored = server.store.get(&res.name).await.unwrap();
    assert_eq!(stored.userdata, ud(&[("k", "v")]));

    alice.release(&res.name, "dirty").await.unwrap();
    let stored = server.store.get(&res.name).await.unwrap();
    assert_eq!(
        (stored.state.as_str(), stored.owner.as_str()),
        ("dirty", "")
    );

    let names = vec![res.name.clone(), "t2-a".to_string()];
    let mut got = alice
        .acquire_by_state("dirty", "cleaning", &names)
        .await
        .unwrap();
    got.sort_by(|a, b| a.name.cmp(&b.name));
    let got_names: Vec<_> = got.iter().map(|r| r.name.as_str()).collect();
    let mut want: Vec<_> = names.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(got_names, want);
    assert!(got
        .iter()
        .all(|r| r.owner == "alice" && r.state == "cleaning"));
    let kept = got.iter().find(|r| r.name == res.name).unwrap();
    assert_eq!(kept.userdata, ud(&[("k", "v")]));
    server.stop().await;
}

#[tokio::test]
async fn acquire_with_a_request_id_and_metric() {
    let server = TestServer::start(POOL).await;
    let alice = client(&server.url, "alice");
    alice
        .acquire("t1", "free", "busy", Some("req-1"))
        .await
        .unwrap();
    alice.acquire("t1", "free", "busy", None).await.unwrap();
    let metric = alice.metric("t1").await.unwrap();
    assert_eq!(metric.rtype, "t1");
    assert_eq!(metric.current.get("busy"), Some(&2));
    assert_eq!(metric.current.get("free"), Some(&1));
    assert_eq!(metric.owner.get("alice"), Some(&2));
    assert_eq!(metric.owner.get(""), Some(&1));
    server.stop().await;
}

#[tokio::test]
async fn reset_returns_the_stale_leases_with_their_owners() {
    let server = TestServer::start_with(TestServerOptions::new(POOL).with_manual_clock()).await;
    let clock = server.clock.clone().unwrap();
    let alice = client(&server.url, "alice");
    let res = alice.acquire("t1", "free", "busy", None).await.unwrap();

    let none = alice
        .reset("t1", "busy", Duration::from_secs(600), "dirty")
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    clock.advance(Duration::from_secs(601));
    let reset = alice
        .reset("t1", "busy", Duration::from_secs(600), "dirty")
        .await
        .unwrap();
    assert_eq!(
        reset.into_iter().collect::<Vec<_>>(),
        vec![(res.name.clone(), "alice".to_string())]
    );
    let stored = server.store.get(&res.name).await.unwrap();
    assert_eq!(
        (stored.state.as_str(), stored.owner.as_str()),
        ("dirty", "")
    );
    // An unknown type is simply an empty result.
    assert!(alice
        .reset("nope", "busy", Duration::ZERO, "dirty")
        .await
        .unwrap()
        .is_empty());
    server.stop().await;
}

#[tokio::test]
async fn release_and_update_need_no_local_state() {
    // A second client of the same owner (a restarted process) can update and release.
    let server = TestServer::start(POOL).await;
    let first = client(&server.url, "job-7");
    let res = first.acquire("t1", "free", "busy", None).await.unwrap();
    drop(first);
    let restarted = client(&server.url, "job-7");
    restarted.update(&res.name, "busy", None).await.unwrap();
    restarted.release(&res.name, "free").await.unwrap();
    assert_eq!(server.store.get(&res.name).await.unwrap().owner, "");
    server.stop().await;
}
