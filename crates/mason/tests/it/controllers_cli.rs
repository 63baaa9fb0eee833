//! `mason reaper`, `mason cleaner` and `mason janitor` as real processes against a real
//! server (in process, 127.0.0.1:0): each does its job with upstream's owner name and
//! stops cleanly on SIGTERM. The controllers' logic is tested in `mason-controllers`;
//! this checks the command-line wiring (flags, `--` arguments, aliases, exit codes).

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mason_client::{BoskosApi, HttpClient};
use mason_testkit::{eventually, TestServer};

const LIMIT: Duration = Duration::from_secs(30);

fn mason(args: &[&str]) -> Controller {
    Controller(
        Command::new(env!("CARGO_BIN_EXE_mason"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mason"),
    )
}

/// A running controller; killed when dropped, so a test that fails before [`stop`] does
/// not leave it polling a server that is gone.
struct Controller(Child);

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGTERM and expect exit 0.
fn stop(mut child: Controller) {
    let pid = rustix::process::Pid::from_raw(child.0.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

async fn state_of(server: &TestServer, name: &str) -> (String, String) {
    let r = server.store.get(name).await.unwrap();
    (r.state, r.owner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaper_resets_a_stale_lease() {
    let server = TestServer::start("resources:\n- type: t\n  names: [a]\n").await;
    let alice = HttpClient::builder(&server.url, "alice").build().unwrap();
    alice.acquire("t", "free", "busy", None).await.unwrap();
    let child = mason(&[
        "reaper",
        "--boskos-url",
        &server.url,
        "--resource-type=t",
        "--expire=1s",
        "--period=100ms",
    ]);
    eventually("the lease is reaped", LIMIT, || async {
        (state_of(&server, "a").await == ("dirty".into(), String::new())).then_some(())
    })
    .await;
    stop(child);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleaner_tombstones_with_pools_from_the_server() {
    let server = TestServer::start("resources:\n- type: v\n  min-count: 1\n  max-count: 1\n").await;
    let mason_client = HttpClient::builder(&server.url, "mason").build().unwrap();
    let v = mason_client
        .acquire("v", "free", "cleaning", None)
        .await
        .unwrap();
    mason_client.release(&v.name, "toBeDeleted").await.unwrap();
    let child = mason(&["cleaner", "--server-url", &server.url, "--period=100ms"]);
    eventually(
        "the resource is tombstoned (or already deleted)",
        LIMIT,
        || async {
            match server.store.get(&v.name).await {
                Ok(r) => (r.state == "tombstone").then_some(()),
                Err(_) => Some(()),
            }
        },
    )
    .await;
    stop(child);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn janitor_runs_the_program_with_suffix_flag_and_extra_args() {
    let config = "resources:\n- type: gce-project\n  state: dirty\n  names: [p-1]\n";
    let server = TestServer::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    let script = dir.path().join("clean.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let child = mason(&[
        "janitor",
        "--server-url",
        &server.url,
        "--resource-type=gce-project",
        "--janitor-path",
        &script.display().to_string(),
        "--",
        "--hours=0",
    ]);
    eventually("the project is cleaned", LIMIT, || async {
        (state_of(&server, "p-1").await == ("free".into(), String::new())).then_some(())
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "--project=p-1 --hours=0\n"
    );
    stop(child);
    server.stop().await;
}

/// Start `mason ARGS --status-port=0`; return it and the status URL it prints.
async fn with_status(args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mason"))
        .args(args)
        .arg("--status-port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mason");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(LIMIT, lines.next_line())
        .await
        .expect("the status URL is printed")
        .unwrap()
        .expect("a line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

async fn status_at(url: &str) -> Option<mason_types::status::ProcessStatus> {
    reqwest::get(url).await.ok()?.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_controllers_serve_their_status() {
    let server = TestServer::start("resources:\n- type: t\n  names: [a]\n").await;
    let (reaper, url) = with_status(&[
        "reaper",
        "--server-url",
        &server.url,
        "--resource-type=t",
        "--period=100ms",
    ])
    .await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let status = eventually("the reaper has swept twice", LIMIT, || async {
        status_at(&url)
            .await
            .filter(|s| s.loops.first().is_some_and(|l| l.ticks >= 2))
    })
    .await;
    assert_eq!(status.process, "reaper");
    let l = &status.loops[0];
    assert_eq!((l.name.as_str(), l.running, l.errors), ("reaper", true, 0));
    assert!(l.next_run.unwrap() > l.last_run.unwrap(), "{l:?}");

    let (builder, url) = with_status(&["builder", "--server-url", &server.url]).await;
    let status = eventually("the builder loaded its pools", LIMIT, || async {
        status_at(&url)
            .await
            .filter(|s| s.builder.as_ref().is_some_and(|b| b.pool_loads > 0))
    })
    .await;
    assert_eq!(status.process, "builder");
    assert_eq!(status.loops[0].name, "builder");
    assert!(status.builder.unwrap().pools.is_empty());
    for mut child in [reaper, builder] {
        let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let exit = tokio::time::timeout(LIMIT, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(exit.success(), "{exit}");
    }
    server.stop().await;
}

#[test]
fn a_controller_without_types_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_mason"))
        .args(["reaper", "--server-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--resource-type"), "{stderr}");
}
