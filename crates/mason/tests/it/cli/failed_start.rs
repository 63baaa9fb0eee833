//! Issue 18 item 4: a failed start changes nothing anywhere. The config is read and
//! validated and every listener bound before the store is opened: a missing config
//! creates no `mason.db`, and an invalid config or a port in use leaves an existing store
//! byte for byte as it was (SQLite) or with the same rows (PostgreSQL) — even when the
//! new config would create and delete resources.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;

use mason_store::{ResourceFilter, StoreUrl};
use mason_testkit::postgres::fresh_database_or_skip;

use super::daemon::{run_in, Daemon};

const FIRST: &str = "resources:\n- type: a\n  names: [a-1, a-2]\n";
/// Would delete a-1, a-2 and create a-3 and b-1.
const SECOND: &str = "resources:\n- type: a\n  names: [a-3]\n- type: b\n  names: [b-1]\n";
const INVALID: &str = "resources:\n- type: a\n  names: [Not_A_Name]\n";

/// Every file of `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// A port that is in use for as long as the returned listener lives.
fn busy_port() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    (listener, port)
}

#[tokio::test]
async fn a_missing_config_creates_no_store() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["serve", "up"] {
        let (code, stdout, stderr) = run_in(
            dir.path(),
            &[command, "--config", "missing.yaml", "--port", "0"],
        )
        .await;
        assert_eq!((code, stdout.as_str()), (2, ""), "{command}: {stderr}");
        assert!(
            stderr.contains("cannot read config file missing.yaml: No such file or directory"),
            "{command}: {stderr}"
        );
        assert!(
            snapshot(dir.path()).is_empty(),
            "{command} left {:?}",
            snapshot(dir.path()).keys()
        );
    }
}

#[tokio::test]
async fn an_invalid_config_or_a_port_in_use_leaves_the_sqlite_store_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("first.yaml"), FIRST).unwrap();
    std::fs::write(d.join("second.yaml"), SECOND).unwrap();
    std::fs::write(d.join("invalid.yaml"), INVALID).unwrap();
    let serve = Daemon::serve(d, &["--config", "first.yaml"]).await;
    serve.signal(rustix::process::Signal::TERM);
    let (code, log) = serve.wait().await;
    assert_eq!(code, 0, "{log}");
    let before = snapshot(d);
    assert!(before.contains_key("mason.db"), "{:?}", before.keys());

    let (_held, port) = busy_port();
    let attempts: [(&str, &[&str], i32, &str); 4] = [
        (
            "serve",
            &[
                "--config",
                "second.yaml",
                "--listen-address",
                "127.0.0.1",
                "--port",
                &port,
            ],
            1,
            "cannot listen on 127.0.0.1:",
        ),
        (
            "up",
            &["--config", "second.yaml", "--port", &port],
            1,
            "cannot listen on 127.0.0.1:",
        ),
        (
            "serve",
            &["--config", "invalid.yaml", "--port", "0"],
            2,
            "invalid config invalid.yaml",
        ),
        (
            "up",
            &["--config", "invalid.yaml", "--port", "0"],
            2,
            "invalid config invalid.yaml",
        ),
    ];
    for (command, args, expected, message) in attempts {
        let mut all = vec![command];
        all.extend_from_slice(args);
        let (code, _, stderr) = run_in(d, &all).await;
        assert_eq!(code, expected, "{all:?}: {stderr}");
        assert!(stderr.contains(message), "{all:?}: {stderr}");
        assert!(
            snapshot(d) == before,
            "{all:?} changed the directory: {:?}",
            snapshot(d).keys()
        );
    }
}

#[tokio::test]
async fn a_port_in_use_leaves_the_postgres_rows_untouched() {
    let Some(db) = fresh_database_or_skip("a_port_in_use_leaves_the_postgres_rows_untouched").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("first.yaml"), FIRST).unwrap();
    std::fs::write(d.join("second.yaml"), SECOND).unwrap();
    let store_arg = format!("--store={db}");
    let serve = Daemon::serve(d, &["--config", "first.yaml", &store_arg]).await;
    serve.signal(rustix::process::Signal::TERM);
    assert_eq!(serve.wait().await.0, 0);

    let url: StoreUrl = db.parse().unwrap();
    let rows = || async {
        let store = mason_store::open(&url, Default::default()).await.unwrap();
        let mut names: Vec<String> = store
            .list(&ResourceFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        names.sort();
        names
    };
    let before = rows().await;
    assert_eq!(before, ["a-1", "a-2"]);

    let (_held, port) = busy_port();
    let (code, _, stderr) = run_in(
        d,
        &[
            "serve",
            "--config",
            "second.yaml",
            &store_arg,
            "--listen-address",
            "127.0.0.1",
            "--port",
            &port,
        ],
    )
    .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert_eq!(rows().await, before, "the failed start changed the rows");
}
