//! The history is exact on PostgreSQL across `kill -9`: a real `mason serve` on a
//! PostgreSQL database is killed with SIGKILL at a random moment while clients acquire,
//! update and release, then restarted on the same database, several rounds in a row.
//! Each restart first resets the leases a kill left behind. Afterwards the events replayed
//! from the start reproduce every resource's state and owner: each event was committed with its change, or neither was — also the events a
//! killed server wrote but had not numbered yet (they are numbered by the next store
//! that reads the history, see `mason-store/src/postgres/events.rs`).
//!
//! The SQLite counterpart is in `torture.rs`. PostgreSQL comes from
//! `mason_testkit::postgres`; without one the test skips loudly, except under `CI=true`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mason_store::open::StoreOptions;
use mason_store::StoreUrl;
use mason_testkit::postgres::fresh_database_or_skip;
use mason_types::Resource;
use tokio::sync::watch;

use crate::serve_process::{pool_config, Rng, ServeProcess};

const POOL: usize = 10;
const CLIENTS: usize = 4;
const ROUNDS: u64 = 5;
const RTYPE: &str = "hist";

/// One client: acquire, heartbeat, release (now and then to `dirty`, which some client
/// later takes back by state and frees) — against
/// whichever server is up (until the sender goes). Answers do not matter here, only
/// that the history keeps up with what changed; a lease whose release was cut off is
/// released again on the next server.
async fn client(id: usize, mut server: watch::Receiver<Option<String>>, acks: Arc<AtomicU64>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let owner = format!("c{id}");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1));
    let mut held: Option<String> = None;
    loop {
        let current = server.borrow_and_update().clone();
        let Some(url) = current else {
            // No server yet: wait for the first one (or the end).
            if server.changed().await.is_err() {
                return;
            }
            continue;
        };
        let post = |path: String| http.post(format!("{url}{path}")).send();
        let mut down = false;
        match held.take() {
            None => {
                let path = format!("/acquire?type={RTYPE}&state=free&dest=busy&owner={owner}");
                match post(path).await {
                    Ok(r) if r.status() == 200 => {
                        if let Ok(res) = r.json::<Resource>().await {
                            acks.fetch_add(1, Ordering::Relaxed);
                            held = Some(res.name);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => down = true,
                }
            }
            Some(name) => {
                if rng.below(3) == 0 {
                    // A heartbeat: no event.
                    let path = format!("/update?name={name}&state=busy&owner={owner}");
                    let _ = post(path).await;
                }
                let dest = if rng.below(4) == 0 { "dirty" } else { "free" };
                let path = format!("/release?name={name}&dest={dest}&owner={owner}");
                match post(path).await {
                    // Released, or not (any longer) ours: done with it.
                    Ok(r) if !r.status().is_server_error() => {}
                    Ok(_) => held = Some(name),
                    Err(_) => {
                        down = true;
                        held = Some(name);
                    }
                }
            }
        }
        if held.is_none() && !down && rng.below(6) == 0 {
            // Clean up what was left dirty: take it by state, give it back free.
            let names: Vec<String> = (0..POOL).map(|i| format!("h{i}")).collect();
            let path = format!(
                "/acquirebystate?state=dirty&dest=cleaning&owner={owner}&names={}",
                names.join(",")
            );
            if let Ok(r) = post(path).await {
                if let Ok(taken) = r.json::<Vec<Resource>>().await {
                    for res in taken {
                        let path = format!("/release?name={}&dest=free&owner={owner}", res.name);
                        let _ = post(path).await;
                    }
                }
            }
        }
        if down {
            // Killed: wait for the next server rather than spin.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::task::yield_now().await;
        if server.has_changed().is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_replays_after_kill_9_on_postgres() {
    let Some(db_url) = fresh_database_or_skip("history_replays_after_kill_9_on_postgres").await
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = pool_config(dir.path(), RTYPE, "h", POOL);
    let http = reqwest::Client::new();
    let acks = Arc::new(AtomicU64::new(0));
    let (server_tx, server_rx) = watch::channel(None);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(id, server_rx.clone(), Arc::clone(&acks))))
        .collect();
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    for round in 1..=ROUNDS {
        let log = dir.path().join(format!("serve{round}.log"));
        let mut server = ServeProcess::replica(&config, &db_url, &log, &[]);
        server.wait_ready().await;
        // Leases whose answers the last kill cut off are nobody's now: reset them (the
        // resets are events too).
        for state in ["busy", "cleaning"] {
            let reset = format!(
                "{}/reset?type={RTYPE}&state={state}&dest=free&expire=1ns",
                server.url
            );
            let status = http.post(reset).send().await.expect("reset").status();
            assert_eq!(status, 200, "reset {state}");
        }
        let before = acks.load(Ordering::Relaxed);
        server_tx
            .send(Some(server.url.clone()))
            .expect("clients alive");
        tokio::time::sleep(Duration::from_millis(400 + rng.below(1200))).await;
        // A loaded machine may have granted nothing yet: wait for a grant (at most 30 s).
        for _ in 0..300 {
            if acks.load(Ordering::Relaxed) > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            acks.load(Ordering::Relaxed) > before,
            "round {round} made progress"
        );
        // SIGKILL at that arbitrary instant (ServeProcess's drop).
        drop(server);
    }
    drop(server_tx);
    for c in clients {
        c.await.expect("client task");
    }
    let store = mason_store::open(
        &db_url.parse::<StoreUrl>().expect("store url"),
        StoreOptions::default(),
    )
    .await
    .expect("open the database the servers left");
    let events = mason_store::testsuite::history::replay_matches_store(store.as_ref()).await;
    let acquires = events.iter().filter(|e| e.kind == "acquire").count() as u64;
    let acknowledged = acks.load(Ordering::Relaxed);
    assert!(
        acquires >= acknowledged,
        "every acknowledged acquire is in the history: {acquires} events for {acknowledged} acknowledged"
    );
    eprintln!(
        "{ROUNDS} kill -9 rounds on PostgreSQL: {acknowledged} acquires acknowledged, {} events replayed",
        events.len()
    );
}
