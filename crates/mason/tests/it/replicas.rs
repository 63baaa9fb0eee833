//! Active-active replicas: several real `mason serve` processes on one PostgreSQL
//! database, loaded by concurrent HTTP clients.
//!
//! - `three_replicas_never_double_lease`: 16 clients spread over 3 replicas loop
//!   acquire/release on a pool smaller than the number of clients: no resource is ever
//!   granted while someone else holds it, no release of one's own fresh lease is refused,
//!   and no answer is a 5xx.
//! - `kill_one_replica_under_load`: the same load with clients that keep leases; one
//!   replica is killed with SIGKILL mid-run; clients move to another replica and finish,
//!   and every lease acknowledged with a 200 and not released since is still owned by its
//!   client in the database afterwards.
//!
//! - `replica_answers_503_while_the_database_is_down`: a replica whose database stops
//!   answers 503 with a clear message, and serves again by itself once it is back.
//!
//! PostgreSQL comes from `mason_testkit::postgres` (a throwaway server, or
//! `MASON_TEST_POSTGRES_URL`); without one the tests skip loudly, except under `CI=true`
//! where they fail.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mason_store::open::StoreOptions;
use mason_store::StoreUrl;
use mason_testkit::postgres::{fresh_database_or_skip, PgServer};

use crate::serve_process::{pool_config, ServeProcess};

const POOL: usize = 8;
const CLIENTS: usize = 16;

/// Three ready replicas on `store`, sharing one config of [`POOL`] resources.
async fn start_replicas(dir: &Path, store: &str) -> Vec<ServeProcess> {
    let config = pool_config(dir, "rep", "r", POOL);
    let mut replicas: Vec<ServeProcess> = (0..3)
        .map(|i| ServeProcess::replica(&config, store, &dir.join(format!("replica{i}.log")), &[]))
        .collect();
    for replica in &mut replicas {
        replica.wait_ready().await;
    }
    replicas
}

/// Counters shared by the client tasks.
#[derive(Default)]
struct Tally {
    cycles: AtomicU64,
    not_found: AtomicU64,
    server_errors: AtomicU64,
    double_leases: AtomicU64,
    failovers: AtomicU64,
    problems: Mutex<Vec<String>>,
}

impl Tally {
    fn problem(&self, text: String) {
        self.problems.lock().unwrap().push(text);
    }
}

/// What one request came back with.
enum Outcome {
    /// An HTTP answer.
    Status(reqwest::StatusCode, String),
    /// The replica could not be reached or dropped the connection.
    Transport,
}

async fn post(http: &reqwest::Client, url: &str) -> Outcome {
    match http.post(url).send().await {
        Ok(resp) => {
            let status = resp.status();
            match resp.text().await {
                Ok(body) => Outcome::Status(status, body),
                Err(_) => Outcome::Transport,
            }
        }
        Err(_) => Outcome::Transport,
    }
}

/// Send `path` to the client's current replica; on a transport failure move to the next
/// replica (for good) and send it again there, as a client with several server addresses
/// would. Returns the answer and whether any attempt failed in transit (its outcome is
/// then unknown).
async fn send(
    http: &reqwest::Client,
    urls: &[String],
    current: &mut usize,
    path: &str,
    tally: &Tally,
) -> (reqwest::StatusCode, String, bool) {
    let mut uncertain = false;
    for _ in 0..urls.len() * 20 {
        match post(http, &format!("{}{path}", urls[*current])).await {
            Outcome::Status(status, body) => {
                if status.is_server_error() {
                    tally.server_errors.fetch_add(1, Ordering::Relaxed);
                    tally.problem(format!("{} {path} -> {status}: {body}", urls[*current]));
                }
                return (status, body, uncertain);
            }
            Outcome::Transport => {
                uncertain = true;
                tally.failovers.fetch_add(1, Ordering::Relaxed);
                *current = (*current + 1) % urls.len();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    panic!("no replica answered {path}");
}

fn resource_name(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("acquire body is JSON");
    v["name"].as_str().expect("name").to_string()
}

/// One client: loop acquire → (hold up to `keep`) → release oldest, until `stop`.
/// Returns the leases it still holds (acknowledged with a 200, not released).
async fn client_loop(
    id: usize,
    urls: Arc<Vec<String>>,
    keep: usize,
    holders: Arc<Mutex<HashMap<String, String>>>,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let owner = format!("client{id}");
    let mut current = id % urls.len();
    let mut held: Vec<String> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let path = format!("/acquire?type=rep&state=free&dest=busy&owner={owner}");
        let (status, body, _) = send(&http, &urls, &mut current, &path, &tally).await;
        if status == reqwest::StatusCode::OK {
            let name = resource_name(&body);
            if let Some(other) = holders.lock().unwrap().insert(name.clone(), owner.clone()) {
                tally.double_leases.fetch_add(1, Ordering::Relaxed);
                tally.problem(format!("{name} granted to {owner} while held by {other}"));
            }
            held.push(name);
        } else if status == reqwest::StatusCode::NOT_FOUND {
            tally.not_found.fetch_add(1, Ordering::Relaxed);
            tokio::task::yield_now().await;
        } else if !status.is_server_error() {
            tally.problem(format!("acquire by {owner}: {status} {body}"));
        }
        if held.len() > keep || (status != reqwest::StatusCode::OK && !held.is_empty()) {
            let name = held.remove(0);
            holders.lock().unwrap().remove(&name);
            let path = format!("/release?name={name}&dest=free&owner={owner}");
            let (status, body, uncertain) = send(&http, &urls, &mut current, &path, &tally).await;
            if status == reqwest::StatusCode::OK {
                tally.cycles.fetch_add(1, Ordering::Relaxed);
            } else if !(uncertain && status == reqwest::StatusCode::UNAUTHORIZED) {
                // A refused release of one's own acknowledged lease is a double lease
                // (unless an earlier attempt of this very release may have gone through).
                tally.double_leases.fetch_add(1, Ordering::Relaxed);
                tally.problem(format!("release of {name} by {owner}: {status} {body}"));
            }
        }
    }
    // A client whose last acquire was refused gave its lease back, so a run can end with
    // every client empty-handed and nothing left to check. A client that keeps leases
    // ends holding one: it acquires again (the pool frees up as the others stop).
    let mut attempts = 0;
    while keep > 0 && held.is_empty() && attempts < 200 {
        attempts += 1;
        let path = format!("/acquire?type=rep&state=free&dest=busy&owner={owner}");
        let (status, body, _) = send(&http, &urls, &mut current, &path, &tally).await;
        if status == reqwest::StatusCode::OK {
            let name = resource_name(&body);
            if let Some(other) = holders.lock().unwrap().insert(name.clone(), owner.clone()) {
                tally.double_leases.fetch_add(1, Ordering::Relaxed);
                tally.problem(format!("{name} granted to {owner} while held by {other}"));
            }
            held.push(name);
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    held
}

/// Run [`CLIENTS`] clients for `run`, calling `midway` halfway through; returns what the
/// clients still hold, by owner.
async fn load(
    urls: Vec<String>,
    keep: usize,
    run: Duration,
    tally: Arc<Tally>,
    midway: impl FnOnce(),
) -> HashMap<String, Vec<String>> {
    let urls = Arc::new(urls);
    let holders: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|id| {
            tokio::spawn(client_loop(
                id,
                urls.clone(),
                keep,
                holders.clone(),
                tally.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(run / 2).await;
    midway();
    tokio::time::sleep(run / 2).await;
    stop.store(true, Ordering::Relaxed);
    let mut held = HashMap::new();
    for (id, task) in tasks.into_iter().enumerate() {
        let names = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("client finishes")
            .expect("client task");
        held.insert(format!("client{id}"), names);
    }
    held
}

fn report(what: &str, tally: &Tally, run: Duration) {
    let cycles = tally.cycles.load(Ordering::Relaxed);
    eprintln!(
        "{what}: {cycles} acquire+release cycles in {run:?} ({:.0}/s, debug build), \
         {} not-found answers, {} failovers",
        cycles as f64 / run.as_secs_f64(),
        tally.not_found.load(Ordering::Relaxed),
        tally.failovers.load(Ordering::Relaxed),
    );
}

fn assert_clean(tally: &Tally) {
    let problems = tally.problems.lock().unwrap();
    assert!(problems.is_empty(), "problems:\n{}", problems.join("\n"));
    assert_eq!(
        tally.double_leases.load(Ordering::Relaxed),
        0,
        "double leases"
    );
    assert_eq!(
        tally.server_errors.load(Ordering::Relaxed),
        0,
        "5xx answers"
    );
    assert!(
        tally.cycles.load(Ordering::Relaxed) > 0,
        "the load made progress"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_never_double_lease() {
    let Some(db) = fresh_database_or_skip("three_replicas_never_double_lease").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let replicas = start_replicas(dir.path(), &db).await;
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    let tally = Arc::new(Tally::default());
    let run = Duration::from_secs(4);
    let held = load(urls, 0, run, tally.clone(), || {}).await;
    report("3 replicas", &tally, run);
    assert_clean(&tally);
    assert_eq!(
        tally.failovers.load(Ordering::Relaxed),
        0,
        "no replica went away"
    );
    assert!(
        held.values().all(Vec::is_empty),
        "every client released what it took"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_one_replica_under_load() {
    let Some(db) = fresh_database_or_skip("kill_one_replica_under_load").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let replicas = start_replicas(dir.path(), &db).await;
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    let victim = Arc::new(Mutex::new(replicas));
    let tally = Arc::new(Tally::default());
    let run = Duration::from_secs(4);
    let killer = victim.clone();
    let held = load(urls, 1, run, tally.clone(), move || {
        killer.lock().unwrap()[0].kill()
    })
    .await;
    report("3 replicas, one killed", &tally, run);
    assert_clean(&tally);
    assert!(
        tally.failovers.load(Ordering::Relaxed) > 0,
        "clients of the killed replica moved"
    );

    // Every acknowledged, unreleased lease is still its client's, straight from the database.
    let url: StoreUrl = db.parse().expect("store url");
    let store = mason_store::open(&url, StoreOptions::default())
        .await
        .expect("open store");
    let mut checked = 0;
    for (owner, names) in &held {
        for name in names {
            let r = store.get(name).await.expect("resource exists");
            assert_eq!(&r.owner, owner, "{name} lost its acknowledged lease");
            assert_eq!(r.state, "busy");
            checked += 1;
        }
    }
    assert!(checked > 0, "clients ended holding leases");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_answers_503_while_the_database_is_down() {
    // A private server with durable settings, since this test stops it.
    let server = match PgServer::start_with(&[]) {
        Ok(server) => server,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL is required under CI=true: {e}")
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPING replica_answers_503_while_the_database_is_down: {e}\n");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = pool_config(dir.path(), "rep", "r", 1);
    let log = dir.path().join("replica.log");
    let http = reqwest::Client::new();
    let mut replica = ServeProcess::replica(&config, &server.url("postgres"), &log, &[]);
    replica.wait_ready().await;
    let acquire = format!(
        "{}/acquire?type=rep&state=free&dest=busy&owner=me",
        replica.url
    );
    let release = format!("{}/release?name=r0&dest=free&owner=me", replica.url);
    assert_eq!(http.post(&acquire).send().await.unwrap().status(), 200);
    assert_eq!(http.post(&release).send().await.unwrap().status(), 200);

    server.stop().expect("stop PostgreSQL");
    let resp = http
        .post(&acquire)
        .send()
        .await
        .expect("the replica still answers");
    assert_eq!(resp.status(), 503);
    let body = resp.text().await.unwrap();
    assert!(body.contains("temporarily unavailable"), "{body}");

    server.start_again().expect("restart PostgreSQL");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = http.post(&acquire).send().await.expect("answer").status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "only 503 while reconnecting");
        assert!(Instant::now() < deadline, "the replica never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(replica.exited().is_none(), "the replica kept running");
}
