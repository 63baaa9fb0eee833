//! Crash torture of `mason serve` on SQLite: the real binary, on a database file in a
//! temp directory, is killed with SIGKILL at a random moment while client tasks acquire,
//! heartbeat and release, then restarted on the same file — several rounds in a row.
//!
//! A history checker keeps, for every client, what the server acknowledged:
//! - **no double grant**: an acquire answered 200 must name a resource no other client
//!   holds (the holders map), and a release or heartbeat of one's own acknowledged lease
//!   is never refused while the server is up;
//! - **no lost lease**: after each restart, every acquire answered 200 and not released
//!   since is still owned by its client, in its `busy` state;
//! - **nothing else changed owner**: a resource owned by a client without an
//!   acknowledged acquire must be explained by one of that client's requests that was
//!   cut off by the kill (its outcome unknown to the client); a release cut off by the
//!   kill may have happened or not, but nothing else;
//! - no 5xx answer ever.
//!
//! - **the history is exact**: after the last kill, the events table replayed from the
//!   start reproduces every resource's state and owner (each event was committed with
//!   its change, or neither was).
//!
//! Bounded: ten rounds of 0.4–1.6 s of load each, a round lasting until it made at least
//! one grant (about 15 s in all).
//!
//! Also here, since it needs the same real-binary harness: one server per database file —
//! a second `mason serve` on a file in use exits with a clear error and disturbs nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mason_types::Resource;
use tokio::sync::{mpsc, watch};

use crate::serve_process::{pool_config, Rng, ServeProcess};

const POOL: usize = 12;
const CLIENTS: usize = 6;
const ROUNDS: u32 = 10;

/// Rounds to run: [`ROUNDS`], or `MASON_TORTURE_ROUNDS` for a longer soak by hand.
fn rounds() -> u32 {
    std::env::var("MASON_TORTURE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ROUNDS)
}
const RTYPE: &str = "tort";

/// One `mason serve` on the SQLite file `db`, appending to `log`; waited for by the
/// caller.
fn start_server(config: &Path, db: &Path, log: &Path) -> ServeProcess {
    ServeProcess::replica(config, &format!("sqlite://{}", db.display()), log, &[])
}

/// The checker's view: what each client was told.
#[derive(Default)]
struct History {
    /// Resource → client, for every acquire answered 200 and not released since.
    holders: HashMap<String, String>,
    /// Releases cut off by a kill: resource → client; may or may not have happened.
    doubtful_releases: HashMap<String, String>,
    /// Acquires cut off by a kill, per client: each may have granted one unknown resource.
    doubtful_acquires: HashMap<String, usize>,
    /// Every violation found.
    problems: Vec<String>,
    /// Acquires answered 200, over the whole run.
    acknowledged: u64,
    /// Requests cut off by kills, over the whole run.
    cut_off: u64,
    /// Every request and what came of it, in order, for the failure message.
    journal: Vec<String>,
}

impl History {
    /// Record one request of `owner` on `name` and its outcome.
    fn log(&mut self, round: u32, owner: &str, what: &str, name: &str, outcome: &str) {
        self.journal
            .push(format!("r{round} {owner} {what} {name}: {outcome}"));
    }
}

type Shared = Arc<Mutex<History>>;

/// What one request came back with.
enum Answer {
    Status(u16, String),
    /// No answer: the server died under it.
    Lost,
}

async fn post(http: &reqwest::Client, url: String) -> Answer {
    match http.post(url).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.text().await {
                Ok(body) => Answer::Status(status, body),
                Err(_) => Answer::Lost,
            }
        }
        Err(_) => Answer::Lost,
    }
}

/// One client: acquires (holding up to three), heartbeats with user data and releases,
/// until its request is cut off by a kill; then it reports and waits for the next round.
async fn client(
    id: usize,
    history: Shared,
    mut rounds: watch::Receiver<Option<(u32, String)>>,
    parked: mpsc::UnboundedSender<usize>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let owner = format!("client{id}");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0x1234_5678_9ABC_DEF1));
    loop {
        if rounds.changed().await.is_err() {
            return;
        }
        let Some((round, url)) = rounds.borrow_and_update().clone() else {
            return;
        };
        // What this client holds, as the checker settled it after the restart.
        let mut held: Vec<String> = history
            .lock()
            .unwrap()
            .holders
            .iter()
            .filter(|(_, o)| **o == owner)
            .map(|(n, _)| n.clone())
            .collect();
        held.sort();
        loop {
            let roll = rng.below(10);
            let answer = if held.len() < 3 && (held.is_empty() || roll < 5) {
                let url = format!("{url}/acquire?type={RTYPE}&state=free&dest=busy&owner={owner}");
                match post(&http, url).await {
                    Answer::Status(200, body) => {
                        let r: Resource =
                            serde_json::from_str(&body).expect("acquire body is a resource");
                        let mut h = history.lock().unwrap();
                        h.acknowledged += 1;
                        h.log(round, &owner, "acquire", &r.name, "200");
                        if let Some(other) = h.holders.insert(r.name.clone(), owner.clone()) {
                            h.problems.push(format!(
                                "{} granted to {owner} while {other} holds it",
                                r.name
                            ));
                        }
                        held.push(r.name);
                        Some(200)
                    }
                    Answer::Status(s, body) => {
                        history
                            .lock()
                            .unwrap()
                            .log(round, &owner, "acquire", "-", &s.to_string());
                        if s != 404 {
                            history
                                .lock()
                                .unwrap()
                                .problems
                                .push(format!("acquire by {owner}: {s} {body}"));
                        }
                        Some(s)
                    }
                    Answer::Lost => {
                        let mut h = history.lock().unwrap();
                        h.log(round, &owner, "acquire", "-", "lost");
                        *h.doubtful_acquires.entry(owner.clone()).or_default() += 1;
                        None
                    }
                }
            } else if roll < 7 {
                let name = held[rng.below(held.len() as u64) as usize].clone();
                let url = format!("{url}/update?name={name}&owner={owner}&state=busy");
                let body = format!("{{\"round\":\"{}\"}}", rng.below(1000));
                let sent = http.post(url).body(body).send().await;
                history.lock().unwrap().log(
                    round,
                    &owner,
                    "update",
                    &name,
                    &sent
                        .as_ref()
                        .map_or("lost".to_string(), |r| r.status().as_u16().to_string()),
                );
                match sent {
                    Ok(r) if r.status().as_u16() == 200 => Some(200),
                    Ok(r) => {
                        let s = r.status().as_u16();
                        history
                            .lock()
                            .unwrap()
                            .problems
                            .push(format!("heartbeat of {name} by {owner} refused: {s}"));
                        Some(s)
                    }
                    Err(_) => None,
                }
            } else {
                let name = held.remove(rng.below(held.len() as u64) as usize);
                // Out of the holders map before the request: once the server has
                // committed, another client may be granted it at once.
                history.lock().unwrap().holders.remove(&name);
                let url = format!("{url}/release?name={name}&dest=free&owner={owner}");
                let answer = post(&http, url).await;
                history.lock().unwrap().log(
                    round,
                    &owner,
                    "release",
                    &name,
                    &match &answer {
                        Answer::Status(s, _) => s.to_string(),
                        Answer::Lost => "lost".to_string(),
                    },
                );
                match answer {
                    Answer::Status(200, _) => Some(200),
                    Answer::Status(s, body) => {
                        history
                            .lock()
                            .unwrap()
                            .problems
                            .push(format!("release of {name} by {owner} refused: {s} {body}"));
                        Some(s)
                    }
                    Answer::Lost => {
                        history
                            .lock()
                            .unwrap()
                            .doubtful_releases
                            .insert(name, owner.clone());
                        None
                    }
                }
            };
            match answer {
                Some(s) if s >= 500 => {
                    history
                        .lock()
                        .unwrap()
                        .problems
                        .push(format!("{owner}: 5xx answer {s}"));
                }
                Some(_) => {}
                None => {
                    history.lock().unwrap().cut_off += 1;
                    break;
                }
            }
        }
        let _ = parked.send(id);
    }
}

/// After a restart: compare the store with the history, settle what the kill left in
/// doubt, and record every violation.
async fn check(http: &reqwest::Client, url: &str, history: &Shared, round: u32) {
    let list: Vec<Resource> = http
        .get(format!("{url}/api/v2/resources?type={RTYPE}"))
        .send()
        .await
        .expect("list resources")
        .json()
        .await
        .expect("resource list");
    let stored: BTreeMap<String, Resource> =
        list.into_iter().map(|r| (r.name.clone(), r)).collect();
    let mut h = history.lock().unwrap();
    let h = &mut *h;
    if stored.len() != POOL {
        h.problems.push(format!(
            "round {round}: {} resources, expected {POOL}",
            stored.len()
        ));
    }
    for (name, owner) in &h.holders {
        match stored.get(name) {
            Some(r) if &r.owner == owner && r.state == "busy" => {}
            Some(r) => h.problems.push(format!(
                "round {round}: acknowledged lease of {name} by {owner} lost: now owner {:?} state {:?}",
                r.owner, r.state
            )),
            None => h.problems.push(format!("round {round}: {name} vanished")),
        }
    }
    // Releases cut off: not done (still the client's: it keeps it), or done — and then the
    // resource may even have gone to another client before the kill; the next pass checks
    // that.
    for (name, owner) in std::mem::take(&mut h.doubtful_releases) {
        if stored.get(&name).is_some_and(|r| r.owner == owner) {
            h.holders.insert(name, owner);
        }
    }
    // Owned but never acknowledged: only a cut-off acquire of that very client explains it.
    for (name, r) in &stored {
        if r.owner.is_empty() || h.holders.get(name) == Some(&r.owner) {
            continue;
        }
        let doubt = h.doubtful_acquires.entry(r.owner.clone()).or_default();
        if *doubt > 0 && r.state == "busy" {
            *doubt -= 1;
            h.holders.insert(name.clone(), r.owner.clone());
        } else {
            h.problems.push(format!(
                "round {round}: {name} owned by {:?} (state {:?}) without an acknowledged or cut-off acquire",
                r.owner, r.state
            ));
        }
    }
    h.doubtful_acquires.clear();
    // Anything not owned is free: only releases to `free` ever happen here.
    for (name, r) in &stored {
        if r.owner.is_empty() && r.state != "free" {
            h.problems.push(format!(
                "round {round}: unowned {name} is in state {:?}",
                r.state
            ));
        }
    }
}

/// What a failure message needs besides the problems: the journal of every request that
/// named a resource or a client of a problem, the store's events for them, and the
/// server logs.
async fn explain(
    http: &reqwest::Client,
    url: &str,
    history: &Shared,
    problems: &[String],
    log: &Path,
) -> String {
    let words: Vec<&str> = problems
        .iter()
        .flat_map(|p| p.split(|c: char| !c.is_alphanumeric()))
        .collect();
    let names: Vec<String> = (0..POOL)
        .map(|i| format!("t{i}"))
        .filter(|n| words.contains(&n.as_str()))
        .collect();
    let owners: Vec<String> = (0..CLIENTS)
        .map(|i| format!("client{i}"))
        .filter(|o| words.contains(&o.as_str()))
        .collect();
    let mut out = String::from("journal:\n");
    for line in &history.lock().unwrap().journal {
        let about_owner = owners.iter().any(|o| line.contains(&format!(" {o} ")));
        let about_name = names.iter().any(|n| line.contains(&format!(" {n}:")));
        if about_owner || about_name {
            out.push_str(line);
            out.push('\n');
        }
    }
    let queries = names
        .iter()
        .map(|n| format!("name={n}&limit=40"))
        .chain(owners.iter().map(|o| format!("owner={o}&limit=80")));
    for query in queries {
        let events = match http
            .get(format!("{url}/api/v2/events?{query}&before="))
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => format!("cannot read events: {e}"),
        };
        out.push_str(&format!("events {query}: {events}\n"));
    }
    let serve_log = std::fs::read_to_string(log).unwrap_or_default();
    out.push_str(&format!("server logs:\n{serve_log}"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_under_load_loses_no_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = pool_config(dir.path(), RTYPE, "t", POOL);
    let db = dir.path().join("mason.db");
    let log = dir.path().join("serve.log");
    let http = reqwest::Client::new();
    let history: Shared = Arc::default();
    let (rounds_tx, rounds_rx) = watch::channel(None);
    let (parked_tx, mut parked_rx) = mpsc::unbounded_channel();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            tokio::spawn(client(
                id,
                history.clone(),
                rounds_rx.clone(),
                parked_tx.clone(),
            ))
        })
        .collect();
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);

    let mut server = start_server(&config, &db, &log);
    server.wait_ready().await;
    let rounds = rounds();
    for round in 1..=rounds {
        let acknowledged_before = history.lock().unwrap().acknowledged;
        rounds_tx
            .send(Some((round, server.url.clone())))
            .expect("clients alive");
        // Let the load run for a while, then kill at that arbitrary instant — but not
        // before the round made progress (on a loaded machine the first grants of a
        // fresh server can take longer than the shortest round).
        tokio::time::sleep(Duration::from_millis(400 + rng.below(1200))).await;
        let patience = Instant::now() + Duration::from_secs(30);
        while history.lock().unwrap().acknowledged == acknowledged_before
            && Instant::now() < patience
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.kill();
        for _ in 0..CLIENTS {
            tokio::time::timeout(Duration::from_secs(30), parked_rx.recv())
                .await
                .expect("every client notices the kill")
                .expect("client alive");
        }
        server = start_server(&config, &db, &log);
        server.wait_ready().await;
        check(&http, &server.url, &history, round).await;
        let problems = history.lock().unwrap().problems.clone();
        if !problems.is_empty() {
            let why = explain(&http, &server.url, &history, &problems, &log).await;
            panic!("after round {round}:\n{}\n{why}", problems.join("\n"));
        }
        let h = history.lock().unwrap();
        assert!(
            h.acknowledged > acknowledged_before,
            "round {round} made no progress in 30 s"
        );
    }

    // Finally every client hands back what it holds, on the last server: all accepted.
    let held: Vec<(String, String)> = history
        .lock()
        .unwrap()
        .holders
        .iter()
        .map(|(n, o)| (n.clone(), o.clone()))
        .collect();
    for (name, owner) in &held {
        let url = format!("{}/release?name={name}&dest=free&owner={owner}", server.url);
        let status = http.post(url).send().await.expect("release").status();
        assert_eq!(status, 200, "final release of {name} by {owner}");
    }
    let list: Vec<Resource> = http
        .get(format!("{}/api/v2/resources?type={RTYPE}", server.url))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert!(
        list.iter().all(|r| r.owner.is_empty() && r.state == "free"),
        "{list:?}"
    );
    let (acknowledged, cut_off) = {
        let h = history.lock().unwrap();
        (h.acknowledged, h.cut_off)
    };
    eprintln!(
        "{rounds} kill -9 rounds: {acknowledged} acquires acknowledged, {cut_off} requests cut off, {} leases checked at the end",
        held.len()
    );
    drop(rounds_tx);
    for c in clients {
        c.await.expect("client task");
    }
    server.kill();
    history_replays_after_the_kills(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_file_exits_and_disturbs_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = pool_config(dir.path(), RTYPE, "t", POOL);
    let db = dir.path().join("mason.db");
    let http = reqwest::Client::new();
    let mut first = start_server(&config, &db, &dir.path().join("first.log"));
    first.wait_ready().await;
    let acquire = format!(
        "{}/acquire?type={RTYPE}&state=free&dest=busy&owner=first",
        first.url
    );
    let held: Resource = http
        .post(&acquire)
        .send()
        .await
        .expect("acquire")
        .json()
        .await
        .expect("resource");

    let second_log = dir.path().join("second.log");
    let mut second = start_server(&config, &db, &second_log);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.exited() {
            break status;
        }
        assert!(Instant::now() < deadline, "the second server kept running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(&second_log).unwrap_or_default();
    assert!(!status.success(), "second server exited {status}: {log}");
    assert!(log.contains("is in use by another process"), "{log}");

    // The first server still serves, and still knows its lease.
    let release = format!(
        "{}/release?name={}&dest=free&owner=first",
        first.url, held.name
    );
    let answer = http.post(&release).send().await.expect("release");
    assert_eq!(answer.status(), 200);
}

/// Open the killed server's file directly and replay its history from the start.
async fn history_replays_after_the_kills(db: &Path) {
    use mason_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
    use mason_store::testsuite::history::replay_matches_store;

    let store = SqliteStore::open(SqliteOptions {
        path: Some(db.to_path_buf()),
        synchronous: Synchronous::Normal,
        request_ttl: mason_store::DEFAULT_REQUEST_TTL,
        clock: Arc::new(mason_store::SystemClock),
        create: false,
        timeout: mason_store::DEFAULT_STORE_TIMEOUT,
    })
    .expect("open the store the server left");
    let events = replay_matches_store(&store).await;
    let acquires = events.iter().filter(|e| e.kind == "acquire").count();
    assert!(
        acquires >= POOL,
        "the run's acquires are in the history: {acquires}"
    );
    eprintln!(
        "history replayed: {} events, {acquires} acquires",
        events.len()
    );
}
