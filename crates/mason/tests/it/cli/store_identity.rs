//! Issue 17: the SQLite store's identity, with the real binary on real files. The store
//! file deleted under a running `mason serve` (and the path then started on again):
//! the first server turns unready and refuses writes within 2 s, a second server cannot
//! start on the path while the first runs, and no resource is ever leased by both; a
//! missing store where one was created before needs `--create`; a deleted WAL loses no
//! acknowledged lease.

use std::path::Path;
use std::time::{Duration, Instant};

use super::daemon::{run_in, Daemon, LIMIT};

const CONFIG: &str = "resources:\n- type: t\n  state: free\n  names: [r-0, r-1, r-2, r-3]\n";

/// The most the first server may take to notice (the acceptance line).
const NOTICE: Duration = Duration::from_secs(2);

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), CONFIG).unwrap();
    dir
}

const SERVE: [&str; 4] = ["--config", "config.yaml", "--store", "sqlite://m.db"];

/// `POST|GET path` on `daemon`: status and body.
async fn call(http: &reqwest::Client, daemon: &Daemon, post: bool, path: &str) -> (u16, String) {
    let url = format!("{}{path}", daemon.url);
    let request = if post { http.post(url) } else { http.get(url) };
    let reply = request.send().await.expect("an answer");
    let status = reply.status().as_u16();
    (status, reply.text().await.unwrap())
}

fn acquire(owner: &str) -> String {
    format!("/acquire?type=t&state=free&dest=busy&owner={owner}")
}

/// A second `mason serve` on the same path, run to its end (it must not start).
async fn second_start(dir: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["serve", "--listen-address", "127.0.0.1", "--port", "0"];
    args.extend(SERVE);
    args.extend(extra);
    let run = tokio::time::timeout(LIMIT, run_in(dir, &args));
    let (code, _, stderr) = run.await.expect("the second server stops at start");
    (code, stderr)
}

#[tokio::test]
async fn a_deleted_store_is_noticed_and_its_path_cannot_be_taken_over() {
    let dir = workdir();
    let d = dir.path();
    let http = reqwest::Client::new();
    let first = Daemon::serve(d, &SERVE).await;
    assert_eq!(call(&http, &first, false, "/healthz/ready").await.0, 200);
    let (status, body) = call(&http, &first, true, &acquire("alice")).await;
    assert_eq!(status, 200, "{body}");

    // The operator's `rm`: the database and its WAL.
    std::fs::remove_file(d.join("m.db")).unwrap();
    let _ = std::fs::remove_file(d.join("m.db-wal"));
    let removed = Instant::now();
    let (ready, write) = loop {
        let ready = call(&http, &first, false, "/healthz/ready").await;
        let write = call(&http, &first, true, &acquire("bob")).await;
        if ready.0 == 503 && write.0 == 503 {
            break (ready, write);
        }
        // Until the watch looks (every 250 ms), writes go to the deleted file.
        assert!([200, 404].contains(&write.0), "{write:?}");
        assert!(
            removed.elapsed() < NOTICE,
            "not noticed within {NOTICE:?}: ready {ready:?}, write {write:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let path = d.canonicalize().unwrap().join("m.db");
    let deleted = format!("{} was deleted", path.display());
    assert!(ready.1.contains(&deleted), "{ready:?}");
    assert!(write.1.contains(&deleted), "{write:?}");
    assert!(write.1.starts_with("Acquire failed: "), "{write:?}");

    // A second server on the same path stops at start, with or without --create.
    for extra in [&[][..], &["--create"][..]] {
        let (code, stderr) = second_start(d, extra).await;
        assert_eq!(code, 1, "{extra:?}: {stderr}");
        assert!(
            stderr.contains("is in use by another process"),
            "{extra:?}: {stderr}"
        );
    }
    assert!(!path.exists(), "a refused start created the store file");

    // The first server keeps refusing every write; its log said so once.
    for owner in ["carol", "dave"] {
        assert_eq!(call(&http, &first, true, &acquire(owner)).await.0, 503);
    }
    first.signal(rustix::process::Signal::TERM);
    let (code, log) = first.wait().await;
    assert_eq!(code, 0, "{log}");
    let errors = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains(&deleted));
    assert_eq!(errors.count(), 1, "{log}");

    // With the first one gone, the lost store is still not replaced silently...
    let (code, stderr) = second_start(d, &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("{} is missing", path.display())) && stderr.contains("--create"),
        "{stderr}"
    );
    assert!(!path.exists());
    // ...unless asked for.
    let mut args = SERVE.to_vec();
    args.push("--create");
    let second = Daemon::serve(d, &args).await;
    assert!(second.stderr().contains("created a new empty store"));
    let (status, body) = call(&http, &second, true, &acquire("erin")).await;
    assert_eq!(status, 200, "{body}");
    second.signal(rustix::process::Signal::TERM);
    assert_eq!(second.wait().await.0, 0);
}

/// Even with the lock file deleted too (everything the path held), the two servers never
/// both grant: the first refuses its next write once the second takes the path.
#[tokio::test]
async fn with_every_file_deleted_only_the_new_server_grants() {
    let dir = workdir();
    let d = dir.path();
    let http = reqwest::Client::new();
    let first = Daemon::serve(d, &SERVE).await;
    for name in ["m.db", "m.db-wal", "m.db.lock"] {
        let _ = std::fs::remove_file(d.join(name));
    }
    let second = Daemon::serve(d, &SERVE).await;
    let mut granted: Vec<(String, String)> = Vec::new();
    for i in 0..8 {
        for (daemon, who) in [(&first, "first"), (&second, "second")] {
            let owner = format!("{who}-{i}");
            let (status, body) = call(&http, daemon, true, &acquire(&owner)).await;
            match (who, status) {
                ("first", 503) => assert!(body.contains("lost its lock file"), "{body}"),
                ("second", 200) | ("second", 404) => {}
                other => panic!("{other:?}: {body}"),
            }
            if status == 200 {
                let name = body.split("\"name\":\"").nth(1).unwrap();
                granted.push((name[..name.find('"').unwrap()].to_string(), owner));
            }
        }
    }
    // The second server holds all four, each once; the first granted nothing.
    granted.sort();
    let names: Vec<&str> = granted.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["r-0", "r-1", "r-2", "r-3"], "{granted:?}");
    assert!(granted.iter().all(|(_, o)| o.starts_with("second-")));
    for daemon in [first, second] {
        daemon.signal(rustix::process::Signal::TERM);
        assert_eq!(daemon.wait().await.0, 0);
    }
}

/// A WAL deleted under the server: it turns unready, and what the WAL held reaches the
/// database file, so a kill -9 and a restart keep every acknowledged lease.
#[tokio::test]
async fn a_deleted_wal_loses_no_acknowledged_lease() {
    let dir = workdir();
    let d = dir.path();
    let http = reqwest::Client::new();
    let mut first = Daemon::serve(d, &SERVE).await;
    for i in 0..4 {
        let (status, body) = call(&http, &first, true, &acquire(&format!("o-{i}"))).await;
        assert_eq!(status, 200, "{body}");
    }
    std::fs::remove_file(d.join("m.db-wal")).expect("the WAL exists while serving");
    let removed = Instant::now();
    loop {
        let (status, body) = call(&http, &first, false, "/healthz/ready").await;
        if status == 503 {
            assert!(body.contains("lost its WAL"), "{body}");
            break;
        }
        assert!(removed.elapsed() < NOTICE, "not noticed: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give the watch its checkpoint (it follows the notice at once), then kill -9.
    let deadline = Instant::now() + LIMIT;
    while !first.stderr().contains("copied the deleted WAL") {
        assert!(Instant::now() < deadline, "{}", first.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.child.kill().await.unwrap();

    let again = Daemon::serve(d, &SERVE).await;
    let (status, body) = call(&http, &again, false, "/metric?type=t").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"busy\":4"), "{body}");
    again.signal(rustix::process::Signal::TERM);
    assert_eq!(again.wait().await.0, 0);
}
