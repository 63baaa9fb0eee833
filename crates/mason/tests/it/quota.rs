//! Per-user lease quotas on real `mason serve` processes (issue 13's acceptance): 16
//! concurrent clients of one user (each its own owner name) against
//! `max-leases: {t: 5}` on a pool of 10 never hold more than 5 together, and every
//! refusal is a 429 saying `user prow holds 5 of 5 t leases`.
//!
//! - `quota_holds_with_16_clients_on_sqlite`: one server on a SQLite file.
//! - `quota_holds_with_16_clients_on_3_postgres_replicas`: three replicas on one
//!   PostgreSQL database, the clients spread over them (skips loudly without PostgreSQL,
//!   fails under `CI=true`).
//!
//! Each run starts with a burst (16 acquires at once: exactly 5 granted, 11 refused),
//! then every client loops acquire → hold → release. A client counts a lease once its
//! acquire answered 200 and uncounts it before it sends the release, so the shared count
//! never exceeds what the servers hold for the user: it must never pass 5.

use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mason_server::auth::secrets::hash_password_with_cost;
use mason_testkit::postgres::fresh_database_or_skip;
use reqwest::StatusCode;

use crate::serve_process::ServeProcess;

const CLIENTS: usize = 16;
const MAX: u32 = 5;
const POOL: usize = 10;
const ROUNDS: usize = 20;
const REFUSAL: &str = "user prow holds 5 of 5 t leases";

/// The config (a pool of [`POOL`]) and the auth file (`prow`, limited to [`MAX`] of `t`;
/// `boss`, an admin) in `dir`: their paths.
fn files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let config = dir.join("config.yaml");
    let names: Vec<String> = (0..POOL).map(|i| format!("t{i}")).collect();
    std::fs::write(
        &config,
        format!("resources:\n- type: t\n  names: [{}]\n", names.join(", ")),
    )
    .unwrap();
    let auth = dir.join("auth.yaml");
    let h = |pw: &str| hash_password_with_cost(pw.as_bytes(), 8, 1).unwrap();
    std::fs::write(
        &auth,
        format!(
            "users:\n- name: prow\n  password-hash: \"{}\"\n  role: lease\n  owners: [\"ci-*\"]\n  max-leases: {{t: {MAX}}}\n- name: boss\n  password-hash: \"{}\"\n  role: admin\n",
            h("prow-pw"),
            h("boss-pw")
        ),
    )
    .unwrap();
    (config, auth)
}

/// Start `count` servers on `store`, ready.
async fn servers(dir: &Path, store: &str, count: usize) -> Vec<ServeProcess> {
    let (config, auth) = files(dir);
    let mut started = Vec::new();
    for i in 0..count {
        let log = dir.join(format!("server{i}.log"));
        let mut server = ServeProcess::replica(
            &config,
            store,
            &log,
            &["--auth-file".as_ref(), auth.as_os_str()],
        );
        server.wait_ready().await;
        started.push(server);
    }
    started
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    granted: AtomicU64,
    refused: AtomicU64,
    holding: AtomicU32,
    most: AtomicU32,
    problems: Mutex<Vec<String>>,
}

impl Tally {
    fn problem(&self, text: String) {
        self.problems.lock().unwrap().push(text);
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn post(http: &reqwest::Client, url: String) -> (StatusCode, String) {
    let resp = http
        .post(&url)
        .basic_auth("prow", Some("prow-pw"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

/// One acquire for `owner` on `base`: the granted name, or `None` after a refusal (which
/// must be the quota's 429; anything else is a problem).
async fn acquire(http: &reqwest::Client, base: &str, owner: &str, tally: &Tally) -> Option<String> {
    let (status, body) = post(
        http,
        format!("{base}/acquire?type=t&state=free&dest=busy&owner={owner}"),
    )
    .await;
    match status {
        StatusCode::OK => {
            tally.granted.fetch_add(1, Ordering::SeqCst);
            let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            Some(v["name"].as_str().expect("name").to_string())
        }
        StatusCode::TOO_MANY_REQUESTS => {
            tally.refused.fetch_add(1, Ordering::SeqCst);
            if !body.contains(REFUSAL) {
                tally.problem(format!("429 without the quota message: {body:?}"));
            }
            None
        }
        other => {
            tally.problem(format!("acquire by {owner}: {other} {body:?}"));
            None
        }
    }
}

async fn release(http: &reqwest::Client, base: &str, owner: &str, name: &str, tally: &Tally) {
    let (status, body) = post(
        http,
        format!("{base}/release?name={name}&dest=free&owner={owner}"),
    )
    .await;
    if status != StatusCode::OK {
        tally.problem(format!("release of {name} by {owner}: {status} {body:?}"));
    }
}

/// The burst, then the loops, over `urls` (client `i` talks to `urls[i % len]`).
async fn sixteen_clients(urls: Vec<String>) {
    let urls = Arc::new(urls);
    let tally = Arc::new(Tally::default());

    // The burst: 16 acquires at once, exactly 5 granted.
    let burst: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (urls, tally) = (urls.clone(), tally.clone());
            tokio::spawn(async move {
                let base = &urls[i % urls.len()];
                let owner = format!("ci-{i}");
                let got = acquire(&client(), base, &owner, &tally).await;
                got.map(|name| (base.clone(), owner, name))
            })
        })
        .collect();
    let mut granted = Vec::new();
    for task in burst {
        granted.extend(task.await.unwrap());
    }
    assert_eq!(
        (granted.len(), tally.refused.load(Ordering::SeqCst)),
        (MAX as usize, (CLIENTS - MAX as usize) as u64),
        "16 acquires at once: granted {granted:?}; problems {:?}",
        tally.problems.lock().unwrap()
    );
    for (base, owner, name) in &granted {
        release(&client(), base, owner, name, &tally).await;
    }

    // The loops.
    let loops: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (urls, tally) = (urls.clone(), tally.clone());
            tokio::spawn(async move {
                let http = client();
                let base = &urls[i % urls.len()];
                let owner = format!("ci-{i}");
                for round in 0..ROUNDS {
                    match acquire(&http, base, &owner, &tally).await {
                        Some(name) => {
                            let now = tally.holding.fetch_add(1, Ordering::SeqCst) + 1;
                            tally.most.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(5 + (round % 4) as u64 * 5))
                                .await;
                            tally.holding.fetch_sub(1, Ordering::SeqCst);
                            release(&http, base, &owner, &name, &tally).await;
                        }
                        None => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    for task in loops {
        task.await.unwrap();
    }
    let (granted, refused, most) = (
        tally.granted.load(Ordering::SeqCst),
        tally.refused.load(Ordering::SeqCst),
        tally.most.load(Ordering::SeqCst),
    );
    eprintln!(
        "{} server(s): {granted} grants, {refused} quota refusals, at most {most} held at once ({:?})",
        urls.len(),
        started.elapsed()
    );
    let problems = tally.problems.lock().unwrap().clone();
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(most <= MAX, "the user held {most} leases at once");
    assert!(
        refused > (CLIENTS - MAX as usize) as u64,
        "the loops were refused too"
    );

    // Everything is free again, and the user's whole quota with it.
    let http = client();
    let base = &urls[0];
    let metric: serde_json::Value = http
        .get(format!("{base}/metric?type=t"))
        .basic_auth("boss", Some("boss-pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metric["current"]["free"], POOL, "{metric}");
    for i in 0..MAX {
        assert!(
            acquire(&http, base, &format!("ci-final-{i}"), &tally)
                .await
                .is_some(),
            "the whole quota is free again"
        );
    }
    assert!(acquire(&http, base, "ci-over", &tally).await.is_none());
    assert!(tally.problems.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_holds_with_16_clients_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("mason.db").display());
    let servers = servers(dir.path(), &store, 1).await;
    sixteen_clients(servers.iter().map(|s| s.url.clone()).collect()).await;
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_holds_with_16_clients_on_3_postgres_replicas() {
    let Some(db) =
        fresh_database_or_skip("quota_holds_with_16_clients_on_3_postgres_replicas").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let servers = servers(dir.path(), &db, 3).await;
    sixteen_clients(servers.iter().map(|s| s.url.clone()).collect()).await;
    drop(servers);
}
