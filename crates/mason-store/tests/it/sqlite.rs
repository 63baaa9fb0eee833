//! SQLite: the conformance suite in memory and on a file (the file-backed store adds the
//! exclusive file lock and the checkpoint thread), the lock itself, and upgrading an old
//! file.

use std::sync::Arc;

use mason_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use mason_store::testsuite::acquire_req;
use mason_store::{Error, ManualClock, Store, SystemClock, DEFAULT_REQUEST_TTL};
use mason_types::BoskosConfig;

mod in_memory {
    mason_store::store_conformance_suite!(async {
        mason_store::testsuite::Harness::sqlite_in_memory()
    });
}

mod on_file {
    mason_store::store_conformance_suite!(async {
        mason_store::testsuite::Harness::sqlite_on_file()
    });
}

fn open(path: &std::path::Path) -> Result<SqliteStore, Error> {
    SqliteStore::open(SqliteOptions {
        path: Some(path.to_path_buf()),
        synchronous: Synchronous::Normal,
        request_ttl: DEFAULT_REQUEST_TTL,
        clock: Arc::new(ManualClock::at_upstream_epoch()),
        create: false,
        timeout: mason_store::DEFAULT_STORE_TIMEOUT,
    })
}

/// A store file serves one store at a time: a second opener is refused with a message
/// naming the file, and gets in once the first store is gone.
#[tokio::test]
async fn a_second_store_on_the_same_file_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mason.db");
    let first = open(&path).unwrap();
    let config =
        BoskosConfig::parse_and_validate("resources:\n- type: t\n  names: [a, b]\n").unwrap();
    first.sync_config(&config).await.unwrap();
    let held = first
        .acquire(&acquire_req("t", "free", "busy", "me", None))
        .await
        .unwrap()
        .resource;

    let refused = open(&path).err().expect("second opener must be refused");
    let text = refused.to_string();
    assert!(matches!(refused, Error::Unavailable(_)), "{text}");
    assert!(text.contains("in use by another process"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");

    // The refusal changed nothing for the first store.
    assert_eq!(first.get(&held.name).await.unwrap().owner, "me");
    drop(first);

    let second = open(&path).unwrap();
    let again = second.get(&held.name).await.unwrap();
    assert_eq!((again.owner.as_str(), again.state.as_str()), ("me", "busy"));
}

/// Opening a version-1 file upgrades it in place (to version 4: the fencing generation
/// column, 0 for existing rows) and keeps its leases; the next grant gives a generation.
#[tokio::test]
async fn version_1_file_is_upgraded_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE resources (name TEXT PRIMARY KEY NOT NULL, type TEXT NOT NULL, \
             state TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '', lastupdate INTEGER NOT NULL, \
             userdata TEXT NOT NULL DEFAULT '{}', expiration INTEGER, is_static INTEGER NOT NULL DEFAULT 0);
             CREATE INDEX resources_type ON resources (type, owner, state);
             INSERT INTO resources (name, type, state, owner, lastupdate) VALUES ('r1', 't', 'busy', 'alice', 1);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(SqliteOptions {
        path: Some(path.clone()),
        synchronous: Synchronous::Normal,
        request_ttl: DEFAULT_REQUEST_TTL,
        clock: Arc::new(SystemClock),
        create: false,
        timeout: mason_store::DEFAULT_STORE_TIMEOUT,
    })
    .unwrap();
    let r1 = store.get_v2("r1").await.unwrap();
    assert_eq!(
        (r1.resource.owner.as_str(), r1.resource.state.as_str()),
        ("alice", "busy")
    );
    assert_eq!(r1.lease.generation, 0);
    store
        .release(&mason_store::testsuite::release_req("r1", "free", "alice"))
        .await
        .unwrap();
    assert!(store.get_v2("r1").await.unwrap().lease.generation > 0);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'resources' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Only the deadline index beyond the type index: it holds leases with a TTL alone.
    assert_eq!(
        indexes,
        ["resources_by_type", "resources_by_lease_deadline"]
    );
}

/// The history survives a reopen of the file: a random run, the store closed and opened
/// again, more of the run, and the events replayed from the start still reproduce every
/// resource (ids go on from where they were).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_replays_across_a_reopen() {
    use mason_store::testsuite::history::{replay_matches_store, run_random};
    use mason_store::testsuite::Harness;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mason.db");
    let harness = |store: SqliteStore| Harness {
        store: Arc::new(store),
        clock: Arc::new(ManualClock::at_upstream_epoch()),
        guard: None,
    };
    let first = harness(open(&path).unwrap());
    first
        .with_config("resources:\n- type: t\n  names: [a, b, c, d, e, f]\n")
        .await;
    run_random(&first, 7).await;
    let head = first.store.event_head().await.unwrap();
    drop(first);

    let second = harness(open(&path).unwrap());
    assert_eq!(second.store.event_head().await.unwrap(), head);
    run_random(&second, 8).await;
    let events = replay_matches_store(second.store.as_ref()).await;
    assert!(
        events.len() as u64 > head,
        "the second run wrote events too"
    );
}

/// A store reopened on its file at once after the previous one was dropped opens, even
/// while another thread of the process starts child processes (as the PostgreSQL test
/// servers beside the kept-counts property test do, or a janitor): a child holds copies
/// of the process's file descriptors — the lock file's among them, and with it the lock —
/// from its fork until its exec closes them. Without the wait for the lock, a reopen was
/// refused as "in use by another process" within the first 4 cycles in each of 8 runs
/// (3 beside two CPU burners, 5 without); with it, about half the reopens waited
/// (p99 37 ms, max 95 ms, beside the burners).
#[tokio::test]
async fn a_store_reopens_at_once_while_the_process_starts_children() {
    use std::sync::atomic::{AtomicBool, Ordering};

    const CYCLES: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mason.db");
    let config =
        BoskosConfig::parse_and_validate("resources:\n- type: t\n  names: [a, b]\n").unwrap();
    open(&path).unwrap().sync_config(&config).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let spawning = Arc::clone(&stop);
    let spawner = std::thread::spawn(move || {
        let mut started = 0u64;
        while !spawning.load(Ordering::Relaxed) {
            std::process::Command::new("true")
                .status()
                .expect("run `true`");
            started += 1;
        }
        started
    });
    let mut outcome = Ok(());
    for cycle in 0..CYCLES {
        let store = match open(&path) {
            Ok(store) => store,
            Err(e) => {
                outcome = Err(format!("reopen {cycle} of {CYCLES} failed: {e}"));
                break;
            }
        };
        let owner = format!("owner-{cycle}");
        let got = store
            .acquire(&acquire_req("t", "free", "busy", &owner, None))
            .await
            .unwrap()
            .resource;
        store
            .release(&mason_store::testsuite::release_req(
                &got.name, "free", &owner,
            ))
            .await
            .unwrap();
        drop(store);
    }
    stop.store(true, Ordering::Relaxed);
    let started = spawner.join().expect("the spawner thread");
    outcome.unwrap();
    assert!(started > 0, "no child process was started meanwhile");
}
