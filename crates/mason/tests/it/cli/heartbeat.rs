//! heartbeat: keeps the lease fresh, stops at the timeout or a signal, fails when the
//! lease is gone or the input is bad.

use std::time::Duration;

use mason_client::BoskosApi;
use mason_testkit::{eventually, TestServer, TestServerOptions};

use super::common::{client, command, mason, parts, Running, SOLO};

async fn leased_json(url: &str, owner: &str) -> String {
    client(url, owner)
        .acquire("solo", "free", "busy", None)
        .await
        .unwrap()
        .to_wire_json()
}

#[tokio::test]
async fn heartbeats_until_the_timeout() {
    let server = TestServer::start(SOLO).await;
    let json = leased_json(&server.url, "alice").await;
    let args = [
        "heartbeat",
        "--resource",
        &json,
        "--period",
        "50ms",
        // Forty periods: the first heartbeat is due one period after start, so even a
        // process slowed down a lot by a loaded machine sends some before the timeout
        // (300 ms once let a slow start reach the timeout first).
        "--timeout",
        "2s",
    ];
    let (code, stdout, stderr) = parts(&mason(&server.url, "alice", &args).await);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<_> = stdout.lines().collect();
    assert!(lines.len() >= 2, "{stdout}");
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| *l == "heartbeat sent for resource \"solo-1\""),
        "{stdout}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &"reached timeout, stopping heartbeats for resource \"solo-1\""
    );
    server.stop().await;
}

#[tokio::test]
async fn heartbeats_move_lastupdate_and_stop_on_sigterm() {
    let server = TestServer::start_with(TestServerOptions::new(SOLO).with_manual_clock()).await;
    let clock = server.clock.clone().unwrap();
    let json = leased_json(&server.url, "alice").await;
    let args = ["heartbeat", "--resource", &json, "--period", "20ms"];
    let mut hb = Running::spawn(command(&server.url, "alice", &args));
    assert_eq!(hb.line().await, "heartbeat sent for resource \"solo-1\"");
    clock.advance(Duration::from_secs(3600));
    let now = clock.peek();
    eventually(
        "a heartbeat after the clock jump",
        Duration::from_secs(20),
        || async { (server.store.get("solo-1").await.unwrap().lastupdate >= now).then_some(()) },
    )
    .await;
    let reset = client(&server.url, "r")
        .reset("solo", "busy", Duration::from_secs(1800), "dirty")
        .await
        .unwrap();
    assert!(reset.is_empty(), "{reset:?}");
    hb.signal("TERM").await;
    let (code, rest, stderr) = hb.finish().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        rest.ends_with("received interrupt, stopping heartbeats for resource \"solo-1\"\n"),
        "{rest}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_lost_lease_fails_at_once() {
    let server = TestServer::start(SOLO).await;
    let json = leased_json(&server.url, "alice").await;
    let args = ["heartbeat", "--resource", &json, "--period", "20ms"];
    let (code, _, stderr) = parts(&mason(&server.url, "mallory", &args).await);
    assert_eq!(code, 5, "the documented lost-lease code: {stderr}");
    assert!(
        stderr.starts_with("failed to send heartbeat for resource \"solo-1\": "),
        "{stderr}"
    );
    assert!(
        stderr.contains("stopping heartbeats: the lease on \"solo-1\" is lost: the resource is owned by someone else (401)"),
        "{stderr}"
    );
    server.stop().await;
}

#[tokio::test]
async fn too_many_failures_give_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let json = r#"{"type":"solo","name":"solo-1","state":"busy","owner":"alice"}"#;
    let args = [
        "heartbeat",
        "--resource",
        json,
        "--period",
        "10ms",
        "--retries",
        "2",
        "--request-attempts",
        "1",
    ];
    let (code, _, stderr) = parts(&mason(&url, "alice", &args).await);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.matches("failed to send heartbeat").count(),
        3,
        "{stderr}"
    );
    assert!(stderr.contains("3 consecutive failures"), "{stderr}");
}

#[tokio::test]
async fn bad_resource_json_is_a_usage_error() {
    for json in ["not json", r#"{"type":"solo","state":"busy"}"#] {
        let (code, _, stderr) = parts(
            &mason(
                "http://127.0.0.1:9",
                "a",
                &["heartbeat", "--resource", json],
            )
            .await,
        );
        assert_eq!(code, 2, "{json}");
        assert!(stderr.contains("--resource"), "{stderr}");
    }
}
