//! `mason run`: the command gets the resource, the lease is heartbeated while it runs and
//! released however it ends, and its exit code comes back.

use std::process::Stdio;
use std::time::Duration;

use mason_client::BoskosApi;
use mason_testkit::{eventually, TestServer, TestServerOptions};
use mason_types::UserData;
use tokio::io::AsyncWriteExt;

use super::common::{client, command, mason, parts, Running, SOLO};

const LIMIT: Duration = Duration::from_secs(20);

fn run_args<'a>(cmd: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--type", "solo", "--poll-interval", "50ms", "--"];
    args.extend_from_slice(cmd);
    args
}

async fn assert_released(server: &TestServer, to: &str) {
    let stored = server.store.get("solo-1").await.unwrap();
    assert_eq!((stored.state.as_str(), stored.owner.as_str()), (to, ""));
}

#[tokio::test]
async fn success_exports_the_resource_and_releases_it() {
    let server = TestServer::start(SOLO).await;
    // Give the resource some user data first.
    let setup = client(&server.url, "setup");
    setup.acquire("solo", "free", "busy", None).await.unwrap();
    let mut ud = UserData::new();
    ud.insert("access-key-id", "AK");
    setup.update("solo-1", "busy", Some(&ud)).await.unwrap();
    setup.release("solo-1", "free").await.unwrap();

    let script = r#"echo "$MASON_RESOURCE_NAME $MASON_RESOURCE_TYPE $MASON_RESOURCE_STATE $MASON_USERDATA_ACCESS_KEY_ID $MASON_OWNER"; echo "$MASON_RESOURCE_JSON""#;
    let (code, stdout, stderr) =
        parts(&mason(&server.url, "ci", &run_args(&["sh", "-c", script])).await);
    assert_eq!(code, 0, "{stderr}");
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("solo-1 solo busy AK ci"));
    let json: mason_types::Resource = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!((json.name.as_str(), json.owner.as_str()), ("solo-1", "ci"));
    assert!(
        stderr.contains("released \"solo-1\" to \"dirty\""),
        "{stderr}"
    );
    assert_released(&server, "dirty").await;
    server.stop().await;
}

#[tokio::test]
async fn failure_passes_the_exit_code_through_and_releases() {
    let server = TestServer::start(SOLO).await;
    let mut args = vec!["run", "--type", "solo", "--release-to", "broken", "--"];
    args.extend_from_slice(&["sh", "-c", "exit 7"]);
    let (code, _, stderr) = parts(&mason(&server.url, "ci", &args).await);
    assert_eq!(code, 7, "{stderr}");
    assert_released(&server, "broken").await;

    // A command that cannot start: the shell's 127; nothing ran, so the resource goes
    // back to the state it was acquired from, and mason run says so.
    let server2 = TestServer::start(SOLO).await;
    let (code, _, stderr) =
        parts(&mason(&server2.url, "ci", &run_args(&["/nonexistent/cmd"])).await);
    assert_eq!(code, 127, "{stderr}");
    assert!(
        stderr.contains("cannot run \"/nonexistent/cmd\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("released \"solo-1\" back to \"free\"; nothing ran"),
        "{stderr}"
    );
    assert_released(&server2, "free").await;
    server2.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn sigterm_is_forwarded_and_the_lease_released() {
    let server = TestServer::start(SOLO).await;
    let script = "echo started; exec sleep 30";
    let mut run = Running::spawn(command(&server.url, "ci", &run_args(&["sh", "-c", script])));
    assert_eq!(run.line().await, "started");
    run.signal("TERM").await;
    let (code, _, stderr) = run.finish().await;
    assert_eq!(code, 128 + 15, "{stderr}");
    assert_released(&server, "dirty").await;
    server.stop().await;
}

#[tokio::test]
async fn sigint_reaches_the_command_which_decides_the_exit_code() {
    let server = TestServer::start(SOLO).await;
    let script = r#"trap 'echo got-int; exit 5' INT; echo started; while :; do sleep 0.05; done"#;
    let mut run = Running::spawn(command(&server.url, "ci", &run_args(&["sh", "-c", script])));
    assert_eq!(run.line().await, "started");
    run.signal("INT").await;
    let (code, rest, stderr) = run.finish().await;
    assert_eq!(code, 5, "{stderr}");
    assert!(rest.starts_with("got-int"), "{rest}");
    assert_released(&server, "dirty").await;
    server.stop().await;
}

#[tokio::test]
async fn no_resource_within_the_timeout_exits_3_without_running() {
    let server = TestServer::start(SOLO).await;
    client(&server.url, "holder")
        .acquire("solo", "free", "busy", None)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let mut args = vec![
        "run",
        "--type",
        "solo",
        "--timeout",
        "200ms",
        "--poll-interval",
        "50ms",
        "--",
    ];
    let marker_arg = marker.to_str().unwrap();
    args.extend_from_slice(&["touch", marker_arg]);
    let (code, _, stderr) = parts(&mason(&server.url, "ci", &args).await);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no resource became available"), "{stderr}");
    assert!(!marker.exists(), "the command must not run");
    // Without `--` and a command: a usage error.
    assert_eq!(
        parts(&mason(&server.url, "ci", &["run", "--type", "solo"]).await).0,
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn the_heartbeat_keeps_the_lease_out_of_resets_while_the_command_runs() {
    let server = TestServer::start_with(TestServerOptions::new(SOLO).with_manual_clock()).await;
    let clock = server.clock.clone().unwrap();
    let reaper = client(&server.url, "reaper");
    // The command runs until the test writes a line to its stdin.
    let script = "echo started; read line; echo finished";
    let mut args = vec!["run", "--type", "solo", "--heartbeat-period", "20ms", "--"];
    args.extend_from_slice(&["sh", "-c", script]);
    let mut cmd = command(&server.url, "ci", &args);
    cmd.stdin(Stdio::piped());
    let mut run = Running::spawn(cmd);
    let mut stdin = run.child.stdin.take().unwrap();
    assert_eq!(run.line().await, "started");

    for _ in 0..3 {
        // An hour passes; resets with a 30 minute expiry find the lease fresh once a
        // heartbeat has landed after the jump.
        clock.advance(Duration::from_secs(3600));
        let now = clock.peek();
        eventually("a heartbeat after the clock jump", LIMIT, || async {
            (server.store.get("solo-1").await.unwrap().lastupdate >= now).then_some(())
        })
        .await;
        let reset = reaper
            .reset("solo", "busy", Duration::from_secs(1800), "dirty")
            .await
            .unwrap();
        assert!(
            reset.is_empty(),
            "the running command's lease was reset: {reset:?}"
        );
    }
    stdin.write_all(b"go\n").await.unwrap();
    drop(stdin);
    let (code, rest, stderr) = run.finish().await;
    assert_eq!((code, rest.as_str()), (0, "finished\n"), "{stderr}");
    assert_released(&server, "dirty").await;
    server.stop().await;
}

#[tokio::test]
async fn a_signal_while_waiting_exits_without_running_the_command() {
    let server = TestServer::start(SOLO).await;
    let holder = client(&server.url, "holder");
    holder.acquire("solo", "free", "busy", None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let marker_arg = marker.to_str().unwrap();
    let run = Running::spawn(command(
        &server.url,
        "ci",
        &run_args(&["touch", marker_arg]),
    ));
    eventually("mason run to queue", LIMIT, || async {
        let queue = holder
            .queue(Some("solo"))
            .await
            .unwrap()
            .unwrap_or_default();
        (!queue.is_empty()).then_some(())
    })
    .await;
    run.signal("TERM").await;
    let (code, _, stderr) = run.finish().await;
    assert_eq!(code, 128 + 15, "{stderr}");
    assert!(stderr.contains("interrupted while waiting"), "{stderr}");
    assert!(!marker.exists(), "the command must not run");
    let stored = server.store.get("solo-1").await.unwrap();
    assert_eq!(stored.owner, "holder");
    server.stop().await;
}
