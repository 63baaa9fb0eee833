//! Lost leases, end to end with real processes (issue 12): `mason run` stops its command
//! and exits 5 when the server takes the lease away, or when its heartbeats are cut off
//! (a paused proxy) for a whole `--lease-ttl`; SIGKILL follows `--kill-grace` for a
//! command that ignores SIGTERM; `mason heartbeat` stops with exit 5 instead of retrying;
//! `mason serve --max-lease-ttl` caps the `lease_ttl=` a request may ask for.

use std::time::{Duration, Instant};

use mason_client::BoskosApi;
use mason_testkit::{eventually, PausableProxy, TestServer};

use super::common::{client, command, mason, parts, Running, SOLO};
use super::daemon::{run_in, Daemon};

const LIMIT: Duration = Duration::from_secs(60);

/// Wait until `owner` holds `solo-1` (the run has acquired it).
async fn wait_leased(server: &TestServer, owner: &str) {
    eventually("the run to acquire solo-1", LIMIT, || async {
        let r = server.store.get("solo-1").await.unwrap();
        (r.owner == owner).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_lease_taken_away_stops_the_command_with_exit_5() {
    let server = TestServer::start(SOLO).await;
    let args = [
        "run",
        "--type",
        "solo",
        "--heartbeat-period",
        "100ms",
        "--",
        "sleep",
        "60",
    ];
    let run = Running::spawn(command(&server.url, "ci", &args));
    wait_leased(&server, "ci").await;
    // Someone else ends the lease behind the run's back.
    let started = Instant::now();
    client(&server.url, "ci")
        .release("solo-1", "dirty")
        .await
        .unwrap();
    let (code, _, stderr) = tokio::time::timeout(LIMIT, run.finish()).await.unwrap();
    assert_eq!(code, 5, "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // The run sends the generation /acquire told it (Mason-Lease-Generation): the
    // release behind its back made that generation stale.
    assert!(
        stderr.contains("the lease on \"solo-1\" is lost: the lease moved on (409)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stopping the command (SIGTERM)"),
        "{stderr}"
    );
    assert!(stderr.contains("not released"), "{stderr}");
    // Nothing was released by the run: the resource stays where the other party put it.
    let r = server.store.get("solo-1").await.unwrap();
    assert_eq!((r.state.as_str(), r.owner.as_str()), ("dirty", ""));
    server.stop().await;
}

#[tokio::test]
async fn a_command_ignoring_sigterm_is_killed_after_the_grace() {
    let server = TestServer::start(SOLO).await;
    let args = [
        "run",
        "--type",
        "solo",
        "--heartbeat-period",
        "100ms",
        "--kill-grace",
        "500ms",
        "--",
        "sh",
        "-c",
        "trap '' TERM; exec sleep 60",
    ];
    let run = Running::spawn(command(&server.url, "ci", &args));
    wait_leased(&server, "ci").await;
    let started = Instant::now();
    client(&server.url, "ci")
        .release("solo-1", "dirty")
        .await
        .unwrap();
    let (code, _, stderr) = tokio::time::timeout(LIMIT, run.finish()).await.unwrap();
    assert_eq!(code, 5, "{stderr}");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(stderr.contains("sending SIGKILL"), "{stderr}");
    server.stop().await;
}

#[tokio::test]
async fn heartbeats_cut_off_for_a_whole_ttl_stop_the_command_in_time() {
    let server = TestServer::start(SOLO).await;
    let proxy = PausableProxy::start(server.addr).await;
    let ttl = Duration::from_secs(2);
    let grace = Duration::from_secs(10);
    let args = [
        "run",
        "--type",
        "solo",
        "--lease-ttl",
        "2s",
        "--request-timeout",
        "30s",
        "--",
        "sleep",
        "60",
    ];
    let run = Running::spawn(command(&proxy.url(), "ci", &args));
    wait_leased(&server, "ci").await;
    // Let a heartbeat or two through (every 2s/3), then cut the network.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.pause();
    let cut = Instant::now();
    let (code, _, stderr) = tokio::time::timeout(LIMIT, run.finish()).await.unwrap();
    let took = cut.elapsed();
    assert_eq!(code, 5, "{stderr}");
    // The acceptance bound: TTL + 2 heartbeat periods + grace.
    let bound = ttl + ttl / 3 * 2 + grace;
    assert!(
        took <= bound,
        "stopped {took:?} after the cut (bound {bound:?})"
    );
    assert!(
        stderr.contains("no heartbeat was accepted within the lease TTL of 2s"),
        "{stderr}"
    );
    proxy.resume();
    proxy.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn heartbeat_stops_at_once_with_exit_5_when_the_ttl_runs_out_unheard() {
    let server = TestServer::start(SOLO).await;
    let setup = client(&server.url, "alice");
    let r = setup.acquire("solo", "free", "busy", None).await.unwrap();
    // The /api/v2 object of the lease, as `mason acquire --type solo=1` prints it.
    let mut json: serde_json::Value = serde_json::from_str(&r.to_wire_json()).unwrap();
    json["lease_ttl"] = "1s".into();
    let json = json.to_string();
    let proxy = PausableProxy::start(server.addr).await;
    proxy.pause();
    let args = ["heartbeat", "--resource", &json, "--period", "300ms"];
    let started = Instant::now();
    let (code, _, stderr) = parts(&mason(&proxy.url(), "alice", &args).await);
    assert_eq!(code, 5, "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        stderr.contains("no heartbeat was accepted within the lease TTL of 1s"),
        "{stderr}"
    );
    proxy.resume();
    proxy.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn bad_lease_flags_are_usage_errors() {
    let server = TestServer::start(SOLO).await;
    for (args, text) in [
        (
            vec![
                "run",
                "--type",
                "solo",
                "--lease-ttl",
                "2s",
                "--heartbeat-period",
                "2s",
                "--",
                "true",
            ],
            "--heartbeat-period (2s) must be shorter than --lease-ttl (2s)",
        ),
        (
            vec!["run", "--type", "solo", "--lease-ttl", "0s", "--", "true"],
            "--lease-ttl must be positive",
        ),
        (
            vec!["run", "--type", "solo=0", "--", "true"],
            "from 1 to 1000",
        ),
        (
            vec!["acquire", "--type", "solo", "--type", "solo=2"],
            "--type solo is given twice",
        ),
    ] {
        let (code, _, stderr) = parts(&mason(&server.url, "ci", &args).await);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(text), "{args:?}: {stderr}");
    }
    // Nothing was acquired.
    let r = server.store.get("solo-1").await.unwrap();
    assert_eq!(r.owner, "");
    server.stop().await;
}

#[tokio::test]
async fn serve_caps_requested_lease_ttls_with_max_lease_ttl() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), SOLO).unwrap();
    let (code, _, stderr) = run_in(dir.path(), &["serve", "--max-lease-ttl", "0s"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--sync-period and --max-lease-ttl must be more than 0"),
        "{stderr}"
    );
    let daemon = Daemon::serve(
        dir.path(),
        &["--max-lease-ttl", "1m", "--store", "sqlite://mason.db"],
    )
    .await;
    let http = reqwest::Client::new();
    let acquire = |ttl: &str| {
        http.post(format!(
            "{}/acquire?type=solo&state=free&dest=busy&owner=ci&lease_ttl={ttl}",
            daemon.url
        ))
        .send()
    };
    let refused = acquire("61s").await.unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    assert_eq!(
        refused.text().await.unwrap(),
        "lease_ttl 1m1s is over the server's maximum 1m0s (--max-lease-ttl)\n"
    );
    let granted = acquire("1m").await.unwrap();
    assert_eq!(granted.status().as_u16(), 200);
    assert!(granted.text().await.unwrap().contains("\"owner\":\"ci\""));
    daemon.signal(rustix::process::Signal::TERM);
    let (code, stderr) = daemon.wait().await;
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test]
async fn a_set_is_acquired_whole_and_a_short_one_fails_at_once_without_retries() {
    let server = TestServer::start(SOLO).await;
    let args = ["acquire", "--type", "solo=1"];
    let (code, stdout, stderr) = parts(&mason(&server.url, "ci", &args).await);
    assert_eq!(code, 0, "{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON array");
    let names: Vec<&str> = printed
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["solo-1"]);
    assert_eq!(server.store.get("solo-1").await.unwrap().owner, "ci");

    // Nothing is left: the server's 404 is a verdict, not trouble worth retrying.
    let (code, stdout, stderr) = parts(&mason(&server.url, "other", &args).await);
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("not enough free resources: solo in state free: 1 wanted, 0 free"),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert_eq!(server.store.get("solo-1").await.unwrap().owner, "ci");
    server.stop().await;
}
