//! Issue 12's multi-acquire lines end to end, with real `mason serve` processes:
//!
//! - 16 clients loop over `{A:1, B:1}` sets on pools A:3, B:3, with four single-type
//!   clients (two plain `/acquire` pollers with a request id, two single-item sets held
//!   open), for 10 s: every answer is a whole set, nothing is ever held twice, no answer
//!   is a 5xx, nothing deadlocks, and everything is released at the end — on SQLite, and
//!   on PostgreSQL with the clients spread over two replicas;
//! - a set waiting with a request id is served before single requests that arrived
//!   after it, although the part of the set that frees up first would serve them;
//! - a priority-5 waiter that arrived last is served first, then the others in arrival
//!   order;
//! - on PostgreSQL, a waiter held open by one replica is woken by a release on another.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mason_testkit::eventually;
use mason_testkit::postgres::fresh_database_or_skip;

use super::daemon::{Daemon, LIMIT};

const SETS: &str =
    "resources:\n- type: A\n  names: [a-1, a-2, a-3]\n- type: B\n  names: [b-1, b-2, b-3]\n";
const PAIR: &str = "resources:\n- type: A\n  names: [a-1]\n- type: B\n  names: [b-1]\n";
const ONE: &str = "resources:\n- type: solo\n  names: [solo-1]\n";

/// Generous: the machine is shared with other builds.
const EVENTUALLY: Duration = Duration::from_secs(30);

async fn serve(dir: &Path, config: &str, store: &str) -> Daemon {
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    Daemon::serve(dir, &["--store", store]).await
}

/// `POST /api/v2/acquire` with `body`: status and body.
async fn acquire_set(http: &reqwest::Client, url: &str, body: &str) -> (u16, String) {
    let r = http
        .post(format!("{url}/api/v2/acquire"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The names of a 200 answer of `/api/v2/acquire`.
fn names(body: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

async fn post(http: &reqwest::Client, url: &str) -> (u16, String) {
    let r = http.post(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn release(http: &reqwest::Client, url: &str, name: &str, owner: &str) {
    let (status, body) = post(
        http,
        &format!("{url}/release?name={name}&dest=free&owner={owner}"),
    )
    .await;
    assert_eq!(status, 200, "release {name} by {owner}: {body}");
}

/// `(owner, state)` of `name`.
async fn holder(url: &str, name: &str) -> (String, String) {
    let r: serde_json::Value = reqwest::get(format!("{url}/api/v2/resources/{name}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        r["owner"].as_str().unwrap().to_string(),
        r["state"].as_str().unwrap().to_string(),
    )
}

/// The request ids queued for `rtype`, in rank order.
async fn queued(url: &str, rtype: &str) -> Vec<String> {
    let q: serde_json::Value = reqwest::get(format!("{url}/api/v2/queue"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut places: Vec<(u64, String)> = q
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == rtype)
        .map(|p| {
            (
                p["rank"].as_u64().unwrap(),
                p["request_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    places.sort();
    places.into_iter().map(|(_, id)| id).collect()
}

/// Wait until `request_id` holds a place in `rtype`'s queue.
async fn wait_queued(url: &str, rtype: &str, request_id: &str) {
    eventually(
        &format!("{request_id} queued for {rtype}"),
        EVENTUALLY,
        || async {
            queued(url, rtype)
                .await
                .iter()
                .any(|id| id == request_id)
                .then_some(())
        },
    )
    .await;
}

/// The contention load over `urls` (client `c` uses `urls[c % len]`).
async fn contention(urls: &[String]) {
    let holders: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let sets = Arc::new(AtomicU64::new(0));
    let singles = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(10);
    let mut tasks = Vec::new();
    for c in 0..20usize {
        let url = urls[c % urls.len()].clone();
        let (holders, problems, sets, singles) = (
            holders.clone(),
            problems.clone(),
            sets.clone(),
            singles.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let owner = format!("c{c}");
            // A client keeps its request id until it is served, as clients do.
            let mut served = 0;
            while Instant::now() < end {
                let (status, body, wanted) = match c {
                    // 16 set clients, each attempt held open up to 2 s.
                    0..=15 => {
                        let body = format!(
                            r#"{{"owner":"{owner}","request_id":"{owner}-{served}","wait":"2s","resources":[{{"type":"A","state":"free","dest":"busy"}},{{"type":"B","state":"free","dest":"busy"}}]}}"#
                        );
                        let (s, b) = acquire_set(&http, &url, &body).await;
                        (s, b, 2)
                    }
                    // Two plain Boskos pollers with a request id.
                    16 | 17 => {
                        let rtype = if c == 16 { "A" } else { "B" };
                        let (s, b) = post(
                            &http,
                            &format!("{url}/acquire?type={rtype}&state=free&dest=busy&owner={owner}&request_id={owner}"),
                        )
                        .await;
                        if s == 404 {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        (s, b, 1)
                    }
                    // Two single-item sets held open.
                    _ => {
                        let rtype = if c == 18 { "A" } else { "B" };
                        let body = format!(
                            r#"{{"owner":"{owner}","wait":"2s","resources":[{{"type":"{rtype}","state":"free","dest":"busy"}}]}}"#
                        );
                        let (s, b) = acquire_set(&http, &url, &body).await;
                        (s, b, 1)
                    }
                };
                if status >= 500 {
                    problems.lock().unwrap().push(format!("{owner}: {status} {body}"));
                    return;
                }
                if status != 200 {
                    continue;
                }
                served += 1;
                let got = if c == 16 || c == 17 {
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    vec![v["name"].as_str().unwrap().to_string()]
                } else {
                    names(&body)
                };
                if got.len() != wanted {
                    problems
                        .lock()
                        .unwrap()
                        .push(format!("{owner}: partial set {got:?}"));
                }
                if wanted == 2 {
                    let types: Vec<char> = got.iter().map(|n| n.chars().next().unwrap()).collect();
                    if types != ['a', 'b'] {
                        problems.lock().unwrap().push(format!("{owner}: not one A and one B: {got:?}"));
                    }
                    sets.fetch_add(1, Ordering::Relaxed);
                } else {
                    singles.fetch_add(1, Ordering::Relaxed);
                }
                for n in &got {
                    if let Some(other) = holders.lock().unwrap().insert(n.clone(), owner.clone()) {
                        problems
                            .lock()
                            .unwrap()
                            .push(format!("{n} held by {other} and {owner}"));
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                for n in &got {
                    holders.lock().unwrap().remove(n);
                    let (s, b) = post(
                        &http,
                        &format!("{url}/release?name={n}&dest=free&owner={owner}"),
                    )
                    .await;
                    if s != 200 {
                        problems
                            .lock()
                            .unwrap()
                            .push(format!("release {n} by {owner}: {s} {b}"));
                    }
                }
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(LIMIT, t)
            .await
            .expect("a client is stuck (deadlock?)")
            .unwrap();
    }
    let problems = problems.lock().unwrap().clone();
    assert!(problems.is_empty(), "{problems:?}");
    let (sets, singles) = (
        sets.load(Ordering::Relaxed),
        singles.load(Ordering::Relaxed),
    );
    eprintln!(
        "contention over {} server(s): {sets} sets, {singles} singles in 10 s",
        urls.len()
    );
    assert!(sets > 0, "sets were granted");
    assert!(singles > 0, "singles were granted");
    for n in ["a-1", "a-2", "a-3", "b-1", "b-2", "b-3"] {
        assert_eq!(
            holder(&urls[0], n).await,
            (String::new(), "free".to_string()),
            "{n} was released"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_under_contention_are_whole_never_double_and_never_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = serve(dir.path(), SETS, "sqlite://mason.db").await;
    contention(std::slice::from_ref(&daemon.url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_under_contention_on_two_postgres_replicas() {
    let Some(db) = fresh_database_or_skip("sets_under_contention_on_two_postgres_replicas").await
    else {
        return;
    };
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = serve(one.path(), SETS, &db).await;
    let b = serve(two.path(), SETS, &db).await;
    contention(&[a.url.clone(), b.url.clone()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_set_is_served_before_later_single_requests() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = serve(dir.path(), PAIR, "sqlite://mason.db").await;
    let url = daemon.url.clone();
    let http = reqwest::Client::new();
    for rtype in ["A", "B"] {
        let (s, b) = post(
            &http,
            &format!("{url}/acquire?type={rtype}&state=free&dest=busy&owner=blocker"),
        )
        .await;
        assert_eq!(s, 200, "{b}");
    }
    // The set queues first, held open by the server.
    let set = {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let body = r#"{"owner":"big","request_id":"big","wait":"60s","resources":[{"type":"A","state":"free","dest":"busy"},{"type":"B","state":"free","dest":"busy"}]}"#;
            acquire_set(&http, &url, body).await
        })
    };
    wait_queued(&url, "A", "big").await;
    // Then singles for A: a Boskos poller with a request id, and a one-item set held open.
    let single_set = {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let body = r#"{"owner":"small","request_id":"small","wait":"60s","resources":[{"type":"A","state":"free","dest":"busy"}]}"#;
            acquire_set(&http, &url, body).await
        })
    };
    wait_queued(&url, "A", "small").await;
    let poll = format!("{url}/acquire?type=A&state=free&dest=busy&owner=poller&request_id=poller");
    assert_eq!(post(&http, &poll).await.0, 404);
    assert_eq!(queued(&url, "A").await, ["big", "small", "poller"]);

    // A frees up first: it is the set's, so neither single gets it.
    release(&http, &url, "a-1", "blocker").await;
    for _ in 0..5 {
        let (s, b) = post(&http, &poll).await;
        assert_eq!(s, 404, "the poller took the set's A: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !single_set.is_finished(),
        "the later one-item set took the set's A"
    );
    assert_eq!(holder(&url, "a-1").await.0, "");

    // B frees up: the set gets both.
    release(&http, &url, "b-1", "blocker").await;
    let (s, b) = tokio::time::timeout(EVENTUALLY, set)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s, 200, "{b}");
    assert_eq!(names(&b), ["a-1", "b-1"]);
    // Then the singles, in their order: the one-item set queued before the poller.
    release(&http, &url, "a-1", "big").await;
    let (s, b) = tokio::time::timeout(EVENTUALLY, single_set)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s, names(&b)), (200, vec!["a-1".to_string()]), "{b}");
    assert_eq!(post(&http, &poll).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priority_5_waiter_that_arrived_last_is_served_first() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = serve(dir.path(), ONE, "sqlite://mason.db").await;
    let url = daemon.url.clone();
    let http = reqwest::Client::new();
    let take = format!("{url}/acquire?type=solo&state=free&dest=busy&owner=blocker");
    assert_eq!(post(&http, &take).await.0, 200);
    let mut waiters = Vec::new();
    for (id, priority) in [("first", 0), ("second", 0), ("urgent", 5)] {
        let (http, u) = (http.clone(), url.clone());
        waiters.push((
            id,
            tokio::spawn(async move {
                let body = format!(
                    r#"{{"owner":"{id}","request_id":"{id}","priority":{priority},"wait":"60s","resources":[{{"type":"solo","state":"free","dest":"busy"}}]}}"#
                );
                acquire_set(&http, &u, &body).await
            }),
        ));
        wait_queued(&url, "solo", id).await;
    }
    assert_eq!(queued(&url, "solo").await, ["urgent", "first", "second"]);
    let mut previous = "blocker".to_string();
    let mut served = Vec::new();
    for _ in 0..3 {
        release(&http, &url, "solo-1", &previous).await;
        let owner = eventually("the next waiter is served", EVENTUALLY, || async {
            let (owner, _) = holder(&url, "solo-1").await;
            (!owner.is_empty()).then_some(owner)
        })
        .await;
        served.push(owner.clone());
        previous = owner;
    }
    assert_eq!(served, ["urgent", "first", "second"]);
    for (id, waiter) in waiters {
        let (s, b) = tokio::time::timeout(EVENTUALLY, waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s, 200, "{id}: {b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_on_one_replica_is_woken_by_a_release_on_another() {
    let Some(db) = fresh_database_or_skip("a_waiter_on_one_replica_is_woken").await else {
        return;
    };
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = serve(one.path(), ONE, &db).await;
    let b = serve(two.path(), ONE, &db).await;
    let http = reqwest::Client::new();
    let take = format!(
        "{}/acquire?type=solo&state=free&dest=busy&owner=blocker",
        b.url
    );
    assert_eq!(post(&http, &take).await.0, 200);
    let waiter = {
        let (http, url) = (http.clone(), a.url.clone());
        tokio::spawn(async move {
            let body = r#"{"owner":"waiter","request_id":"waiter","wait":"60s","resources":[{"type":"solo","state":"free","dest":"busy"}]}"#;
            let started = Instant::now();
            let answer = acquire_set(&http, &url, body).await;
            (answer, started.elapsed())
        })
    };
    wait_queued(&a.url, "solo", "waiter").await;
    let released = Instant::now();
    release(&http, &b.url, "solo-1", "blocker").await;
    let ((s, body), _) = tokio::time::timeout(EVENTUALLY, waiter)
        .await
        .expect("woken long before its 60 s wait ends")
        .unwrap();
    assert_eq!(s, 200, "{body}");
    assert_eq!(names(&body), ["solo-1"]);
    assert!(
        released.elapsed() < Duration::from_secs(20),
        "woken by the release, not by the end of the wait: {:?}",
        released.elapsed()
    );
}
