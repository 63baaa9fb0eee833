//! Issue 12's acceptance lines that need the store's schema v4 (deadlines, generations,
//! all-or-nothing sets), end to end with real `mason serve` processes. Written against
//! the agreed contract before the store landed: they FAIL until the store implements
//! `LeaseBackend` and `mason serve` hands it to the server (see the lease helper's
//! report). Not on `main` until then.
//!
//! - an unrenewed lease ends within 1 s after its deadline (the server's own lateness
//!   histogram says so), renewals keep it alive, a kill -9 and restart keeps deadlines;
//! - `mason run --lease-ttl 2s -- sleep 60` cut off by a paused proxy: the server expires
//!   the lease (counted once) and the run exits 5;
//! - 16 clients loop over {A:1, B:1} on A:3, B:3 for 10 s: no partial set, no double
//!   lease, no 5xx.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mason_testkit::{eventually, PausableProxy};

use super::common::{command, Running};
use super::daemon::{Daemon, LIMIT};

const ONE: &str = "resources:\n- type: solo\n  state: free\n  names: [solo-1]\n";
const SETS: &str =
    "resources:\n- type: A\n  names: [a-1, a-2, a-3]\n- type: B\n  names: [b-1, b-2, b-3]\n";

async fn serve(dir: &std::path::Path, config: &str) -> Daemon {
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    Daemon::serve(dir, &["--store", "sqlite://mason.db"]).await
}

/// `(owner, state)` of `name` through `/api/v2/resources/{name}`.
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

/// A metric line's value from `/metrics` (0 when absent).
async fn metric(url: &str, line_start: &str) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .map_or(0.0, |l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

async fn post(url: &str) -> reqwest::Response {
    reqwest::Client::new().post(url).send().await.unwrap()
}

#[tokio::test]
async fn an_unrenewed_lease_ends_within_a_second_of_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = serve(dir.path(), ONE).await;
    let url = daemon.url.clone();
    let r = post(&format!(
        "{url}/acquire?type=solo&state=free&dest=busy&owner=job&lease_ttl=1s"
    ))
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("mason-lease-generation"));
    eventually("the lease to expire", LIMIT, || async {
        (holder(&url, "solo-1").await == ("".into(), "dirty".into())).then_some(())
    })
    .await;
    assert_eq!(
        metric(&url, "mason_leases_expired_total{type=\"solo\"}").await,
        1.0
    );
    // The server measured its own lateness: at most 1 s (bucket le=1.024).
    assert_eq!(
        metric(
            &url,
            "mason_lease_expiry_lateness_seconds_bucket{le=\"1.024\"}"
        )
        .await,
        1.0
    );
    assert!(
        daemon.stderr().contains("lease expired"),
        "{}",
        daemon.stderr()
    );
    assert!(
        daemon.stderr().contains("previous_owner=job"),
        "{}",
        daemon.stderr()
    );
}

#[tokio::test]
async fn renewals_keep_a_lease_alive_and_a_restart_keeps_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = serve(dir.path(), ONE).await;
    let url = daemon.url.clone();
    let r = post(&format!(
        "{url}/acquire?type=solo&state=free&dest=busy&owner=job&lease_ttl=1s"
    ))
    .await;
    assert_eq!(r.status(), 200);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let u = post(&format!("{url}/update?name=solo-1&owner=job&state=busy")).await;
        assert_eq!(u.status(), 200, "renewal refused");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(holder(&url, "solo-1").await, ("job".into(), "busy".into()));
    // Renew once more with a longer TTL, then kill -9 before the deadline.
    post(&format!("{url}/release?name=solo-1&dest=free&owner=job")).await;
    let r = post(&format!(
        "{url}/acquire?type=solo&state=free&dest=busy&owner=job2&lease_ttl=3s"
    ))
    .await;
    assert_eq!(r.status(), 200);
    daemon.child.start_kill().unwrap();
    let _ = daemon.child.wait().await;
    let restarted = Daemon::serve(dir.path(), &["--store", "sqlite://mason.db"]).await;
    eventually("the deadline to fire after the restart", LIMIT, || async {
        (holder(&restarted.url, "solo-1").await == ("".into(), "dirty".into())).then_some(())
    })
    .await;
    assert_eq!(
        metric(&restarted.url, "mason_leases_expired_total{type=\"solo\"}").await,
        1.0
    );
}

#[tokio::test]
async fn a_run_cut_off_from_the_server_is_expired_by_it_and_exits_5() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = serve(dir.path(), ONE).await;
    let addr = daemon.url.trim_start_matches("http://").parse().unwrap();
    let proxy = PausableProxy::start(addr).await;
    let args = [
        "run",
        "--type",
        "solo",
        "--lease-ttl",
        "2s",
        "--",
        "sleep",
        "60",
    ];
    let run = Running::spawn(command(&proxy.url(), "ci", &args));
    eventually("the run to acquire", LIMIT, || async {
        (holder(&daemon.url, "solo-1").await.0 == "ci").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.pause();
    let cut = Instant::now();
    let (code, _, stderr) = tokio::time::timeout(LIMIT, run.finish()).await.unwrap();
    assert_eq!(code, 5, "{stderr}");
    let bound = Duration::from_secs(2) + Duration::from_secs(2) / 3 * 2 + Duration::from_secs(10);
    assert!(cut.elapsed() <= bound, "{:?}", cut.elapsed());
    eventually("the server to expire the lease", LIMIT, || async {
        (holder(&daemon.url, "solo-1").await == ("".into(), "dirty".into())).then_some(())
    })
    .await;
    assert_eq!(
        metric(&daemon.url, "mason_leases_expired_total{type=\"solo\"}").await,
        1.0
    );
    proxy.resume();
    proxy.stop().await;
}

#[tokio::test]
async fn sets_under_contention_are_whole_never_double_and_never_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = serve(dir.path(), SETS).await;
    let url = Arc::new(daemon.url.clone());
    let holders: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let granted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(10);
    let mut tasks = Vec::new();
    for c in 0..20 {
        let (url, holders, problems, granted) = (
            url.clone(),
            holders.clone(),
            problems.clone(),
            granted.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let owner = format!("c{c}");
            // 16 set clients, 4 single-type clients.
            let items = if c < 16 {
                r#"[{"type":"A","state":"free","dest":"busy"},{"type":"B","state":"free","dest":"busy"}]"#
            } else if c % 2 == 0 {
                r#"[{"type":"A","state":"free","dest":"busy"}]"#
            } else {
                r#"[{"type":"B","state":"free","dest":"busy"}]"#
            };
            let wanted = if c < 16 { 2 } else { 1 };
            while Instant::now() < end {
                let body = format!(r#"{{"owner":"{owner}","wait":"2s","resources":{items}}}"#);
                let r = http.post(format!("{url}/api/v2/acquire")).body(body).send().await.unwrap();
                let status = r.status().as_u16();
                if status >= 500 {
                    problems.lock().unwrap().push(format!("{owner}: {status}"));
                    return;
                }
                if status != 200 {
                    continue;
                }
                let v: serde_json::Value = r.json().await.unwrap();
                let names: Vec<String> = v["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["name"].as_str().unwrap().to_string())
                    .collect();
                if names.len() != wanted {
                    problems.lock().unwrap().push(format!("{owner}: partial set {names:?}"));
                }
                for n in &names {
                    if let Some(other) = holders.lock().unwrap().insert(n.clone(), owner.clone()) {
                        problems.lock().unwrap().push(format!("{n} held by {other} and {owner}"));
                    }
                }
                granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
                for n in &names {
                    holders.lock().unwrap().remove(n);
                    let r = http
                        .post(format!("{url}/release?name={n}&dest=free&owner={owner}"))
                        .send()
                        .await
                        .unwrap();
                    if r.status() != 200 {
                        problems.lock().unwrap().push(format!("release {n} by {owner}: {}", r.status()));
                    }
                }
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(LIMIT, t).await.unwrap().unwrap();
    }
    assert!(
        problems.lock().unwrap().is_empty(),
        "{:?}",
        problems.lock().unwrap()
    );
    assert!(granted.load(std::sync::atomic::Ordering::Relaxed) > 0);
    for n in ["a-1", "a-2", "a-3", "b-1", "b-2", "b-3"] {
        assert_eq!(
            holder(&daemon.url, n).await,
            ("".into(), "free".into()),
            "{n}"
        );
    }
}
