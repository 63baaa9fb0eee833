//! PostgreSQL: the conformance suite (a fresh database per case on the throwaway server,
//! see `mason_store::testsuite::postgres`), plus what only a networked backend has:
//! replicas sharing one database, and losing the database and getting it back.

use std::time::Duration;

use mason_store::open::StoreOptions;
use mason_store::testsuite::postgres as pg;
use mason_store::testsuite::{acquire_req, Harness};
use mason_store::{open, Error, StoreUrl};

mason_store::store_conformance_suite!(optional Harness::postgres_or_skip("postgres conformance"));

/// A fresh database's URL, or `None` (skip, loudly; a failure under `CI=true`).
async fn database_or_skip() -> Option<StoreUrl> {
    let url = pg::fresh_database_or_skip("postgres replicas").await?;
    Some(url.parse().expect("postgres URL"))
}

/// Opening twice (a second replica) finds the schema in place and shares the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_replica_shares_the_database() {
    let Some(url) = database_or_skip().await else {
        return;
    };
    let (a, b) = tokio::join!(
        open(&url, StoreOptions::default()),
        open(&url, StoreOptions::default())
    );
    let (a, b) = (a.expect("replica a"), b.expect("replica b"));
    let config =
        mason_types::BoskosConfig::parse_and_validate("resources:\n- type: t\n  names: [r1]\n")
            .expect("config");
    a.sync_config(&config).await.expect("sync on a");
    let req = acquire_req("t", "free", "busy", "me", None);
    let got = b.acquire(&req).await.expect("acquire on b");
    assert!(matches!(
        a.acquire(&req).await,
        Err(Error::ResourceNotFound(_))
    ));
    assert_eq!(a.get("r1").await.expect("get on a"), got.resource);
}

/// With three replicas expiring at once, every due lease is ended, and reported, by
/// exactly one of them (`FOR UPDATE SKIP LOCKED` plus the compare-and-set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_expire_each_lease_once() {
    let Some(url) = database_or_skip().await else {
        return;
    };
    let clock = std::sync::Arc::new(mason_store::ManualClock::at_upstream_epoch());
    let mut stores = Vec::new();
    for _ in 0..3 {
        let options = StoreOptions {
            clock: clock.clone(),
            ..Default::default()
        };
        stores.push(open(&url, options).await.expect("open replica"));
    }
    let names: Vec<String> = (0..60).map(|i| format!("r{i:02}")).collect();
    let config = mason_types::BoskosConfig::parse_and_validate(&format!(
        "resources:\n- type: t\n  lease-ttl: 10s\n  names: [{}]\n",
        names.join(", ")
    ))
    .expect("config");
    stores[0].sync_config(&config).await.expect("sync");
    for (i, _) in names.iter().enumerate() {
        stores[i % 3]
            .acquire(&acquire_req("t", "free", "busy", &format!("o{i}"), None))
            .await
            .expect("acquire");
    }
    clock.advance(Duration::from_secs(11));
    let now = clock.peek();
    let mut tasks = Vec::new();
    for store in &stores {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let report = store
                    .expire_leases(&mason_store::ExpireRequest { now, limit: 7 })
                    .await
                    .expect("expire");
                if report.expired.is_empty() {
                    return mine;
                }
                mine.extend(report.expired.into_iter().map(|e| e.name));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("replica task"));
    }
    all.sort();
    assert_eq!(
        all, names,
        "every lease expired exactly once across the replicas"
    );
    let left = stores[1]
        .list(&mason_store::ResourceFilter::default())
        .await
        .expect("list");
    assert!(left
        .iter()
        .all(|r| r.owner.is_empty() && r.state == "dirty"));
}

/// `n` stores on one database (`n` replicas).
async fn replicas(n: usize) -> Option<Vec<std::sync::Arc<dyn mason_store::Store>>> {
    let url = database_or_skip().await?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            open(&url, StoreOptions::default())
                .await
                .expect("open replica"),
        );
    }
    Some(out)
}

/// The request_id queue is shared: a request first seen by one replica keeps its place
/// and its first-seen time when it polls another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_queue_is_shared_between_replicas() {
    let Some(r) = replicas(2).await else {
        return;
    };
    let req = |owner: &str, id: Option<&str>| acquire_req("t", "free", "busy", owner, id);
    assert!(r[0].acquire(&req("u1", Some("req1"))).await.is_err());
    let queued = r[1].queue().await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0].request_id.as_str(), queued[0].rank), ("req1", 1));
    let config =
        mason_types::BoskosConfig::parse_and_validate("resources:\n- type: t\n  names: [only]\n")
            .unwrap();
    r[1].sync_config(&config).await.unwrap();
    assert!(
        matches!(
            r[1].acquire(&req("anon", None)).await,
            Err(Error::ResourceNotFound(_))
        ),
        "the only resource is reserved for req1, whichever replica asks"
    );
    let got = r[1].acquire(&req("u1", Some("req1"))).await.unwrap();
    assert_eq!(got.resource.name, "only");
    assert_eq!(
        got.requested_at, queued[0].created_at,
        "first seen on the other replica"
    );
    assert!(
        r[0].queue().await.unwrap().is_empty(),
        "served requests leave the queue"
    );
}

/// Config sync run by several replicas at once (each at start-up, say) is serialised by
/// the advisory lock: a pool is topped up to min-count once, not once per replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_syncs_do_not_overshoot() {
    let Some(r) = replicas(3).await else {
        return;
    };
    let config = mason_types::BoskosConfig::parse_and_validate(
        "resources:\n- type: dyn\n  min-count: 5\n  max-count: 10\n- type: s\n  names: [s1, s2]\n",
    )
    .unwrap();
    let (a, b, c) = tokio::join!(
        r[0].sync_config(&config),
        r[1].sync_config(&config),
        r[2].sync_config(&config)
    );
    let created: usize = [a, b, c]
        .into_iter()
        .map(|x| x.expect("sync").created.len())
        .sum();
    assert_eq!(created, 7, "5 dynamic + 2 static, created once in total");
    let all = r[0].list(&Default::default()).await.unwrap();
    assert_eq!(all.iter().filter(|x| x.rtype == "dyn").count(), 5);
    let upkeep = tokio::join!(
        r[0].sync_dynamic(),
        r[1].sync_dynamic(),
        r[2].sync_dynamic()
    );
    for report in [upkeep.0, upkeep.1, upkeep.2] {
        assert!(report.expect("upkeep").is_empty(), "nothing left to do");
    }
}

/// A database that goes away makes calls fail with `Unavailable` (503 at the HTTP layer);
/// when it comes back, the same store works again without being reopened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_the_database_going_away() {
    // Durable settings: an immediate stop must not lose the committed schema.
    if pg::fresh_database_or_skip("survives_the_database_going_away")
        .await
        .is_none()
    {
        return;
    }
    let server = pg::PgServer::start_with(&[]).expect("private PostgreSQL");
    let url: StoreUrl = server.url("postgres").parse().unwrap();
    let store = open(&url, StoreOptions::default()).await.expect("open");
    store.ping().await.expect("ping");
    server.stop().expect("stop PostgreSQL");
    for _ in 0..3 {
        match store.ping().await {
            Err(Error::Unavailable(msg)) => assert!(msg.contains("PostgreSQL"), "{msg}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    server.start_again().expect("restart PostgreSQL");
    let mut recovered = false;
    for _ in 0..50 {
        if store.ping().await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the pool reconnects by itself");
    assert!(store
        .all_metrics()
        .await
        .expect("query after recovery")
        .is_empty());
}

/// A database at schema migration 1 (store schema v3) is migrated to the fencing
/// generation in place: existing rows keep everything and start at generation 0, grants
/// and ends then draw from the sequence. The kept counts begin with the rows there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_database_gains_generations_and_keeps_its_leases() {
    let Some(url) = pg::fresh_database_or_skip("postgres migration").await else {
        return;
    };
    {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        let task = tokio::spawn(conn);
        client
            .batch_execute(include_str!("../../src/postgres/migrations/0001_init.sql"))
            .await
            .expect("migration 1");
        client
            .batch_execute(
                "CREATE TABLE mason_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()); \
                 INSERT INTO mason_schema (version, name) VALUES (1, 'init'); \
                 INSERT INTO resources (name, type, state, owner, lastupdate) \
                 VALUES ('r1', 't', 'busy', 'alice', 1), ('r2', 't', 'free', '', 1);",
            )
            .await
            .expect("v3 rows");
        drop(client);
        let _ = task.await;
    }
    let url: StoreUrl = url.parse().expect("postgres URL");
    let store = open(&url, StoreOptions::default()).await.expect("open");
    // The kept counts (migration 5) start from the rows already there.
    let counts = |m: mason_types::Metric| {
        let [busy, free] = ["busy", "free"].map(|s| m.current.get(s).copied());
        (busy, free, m.owner)
    };
    let owners = |o: &[(&str, u64)]| o.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    assert_eq!(
        counts(store.metric("t").await.expect("metric")),
        (Some(1), Some(1), owners(&[("alice", 1), ("", 1)]))
    );
    let r1 = store.get_v2("r1").await.expect("r1");
    assert_eq!(
        (
            r1.resource.owner.as_str(),
            r1.resource.state.as_str(),
            r1.lease.generation
        ),
        ("alice", "busy", 0)
    );
    let got = store
        .acquire(&acquire_req("t", "free", "busy", "bob", None))
        .await
        .expect("acquire r2");
    assert_eq!(got.resource.name, "r2");
    assert!(got.lease.generation > 0);
    store
        .release(&mason_store::testsuite::release_req("r1", "free", "alice"))
        .await
        .expect("release r1");
    assert!(store.get_v2("r1").await.unwrap().lease.generation > got.lease.generation);
    assert_eq!(
        counts(store.metric("t").await.expect("metric")),
        (Some(1), Some(1), owners(&[("bob", 1), ("", 1)]))
    );
}

/// Events written concurrently through two stores on one database, followed live by a
/// reader on each store: every reader sees every id exactly once, in order, with no gap
/// (ids are given after commit, so none can appear behind a cursor), and each store's
/// watch announces the other store's events. The history then replays to the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_two_stores_are_followed_without_gap_or_duplicate() {
    use mason_store::testsuite::history::replay_matches_store;
    use mason_store::EventQuery;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let Some(r) = replicas(2).await else {
        return;
    };
    let config = mason_types::BoskosConfig::parse_and_validate(
        "resources:\n- type: t\n  names: [r1, r2, r3, r4, r5, r6, r7, r8]\n",
    )
    .unwrap();
    r[0].sync_config(&config).await.unwrap();
    let done = Arc::new(AtomicBool::new(false));

    // Followers: read after the cursor whenever the watch moves (or every 50 ms).
    let followers: Vec<_> = r
        .iter()
        .map(|store| {
            let (store, done) = (Arc::clone(store), Arc::clone(&done));
            tokio::spawn(async move {
                let mut changes = store.event_changes();
                let (mut cursor, mut seen) = (0u64, Vec::new());
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let page = store
                        .events(&EventQuery {
                            after: cursor,
                            limit: 50,
                            ..Default::default()
                        })
                        .await
                        .expect("follow");
                    seen.extend(page.events.iter().map(|e| e.id));
                    let moved = page.next > cursor;
                    cursor = page.next;
                    if finished && !moved {
                        return seen;
                    }
                    if !moved {
                        let _ = tokio::time::timeout(Duration::from_millis(50), changes.changed())
                            .await;
                    }
                }
            })
        })
        .collect();

    // Writers: four clients per store, acquiring and releasing at once.
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&r[i % 2]);
            tokio::spawn(async move {
                let owner = format!("w{i}");
                for _ in 0..40 {
                    let req = acquire_req("t", "free", "busy", &owner, None);
                    if let Ok(got) = store.acquire(&req).await {
                        let release = mason_store::ReleaseRequest {
                            name: got.resource.name,
                            dest: "free".into(),
                            owner: owner.clone(),
                            ..Default::default()
                        };
                        store.release(&release).await.expect("release");
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    // Each store's watch reaches the head, whichever store wrote the last events.
    let head = r[0].event_head().await.unwrap();
    for store in &r {
        let mut changes = store.event_changes();
        tokio::time::timeout(Duration::from_secs(30), async {
            while *changes.borrow_and_update() < head {
                changes.changed().await.expect("store alive");
            }
        })
        .await
        .expect("the watch reaches the head");
    }
    done.store(true, Ordering::SeqCst);
    for f in followers {
        let seen = f.await.expect("follower");
        assert_eq!(
            seen,
            (1..=head).collect::<Vec<_>>(),
            "a follower skipped, repeated or reordered ids"
        );
    }
    assert!(head > 8 + 100, "the run wrote events: {head}");
    replay_matches_store(r[1].as_ref()).await;
}
