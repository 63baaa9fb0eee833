//! Issue 18 items 5, 6, 9 and 10: client messages say what happened (the server's text
//! kept at the end), retries show progress, the exit code of `mason run` follows its one
//! documented rule when the server is lost, wrong URLs get a helpful message, and a
//! waited-for state that no resource of the type is in gets a warning.

use std::time::Duration;

use mason_client::BoskosApi;
use mason_testkit::TestServer;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::common::{client, command, mason, parts, SOLO};
use super::daemon::{Daemon, LIMIT};

#[tokio::test]
async fn wire_errors_are_told_as_what_happened() {
    let server = TestServer::start(SOLO).await;
    // Release of a free resource: upstream says "currently owned by " (blank).
    let (code, stdout, stderr) =
        parts(&mason(&server.url, "me", &["release", "--name", "solo-1"]).await);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(
        stderr.starts_with(
            "failed to release resource \"solo-1\": \"solo-1\" is not leased by anyone, so \"me\" \
             cannot release it (server: Done failed: solo-1 - dirty (from me): owner mismatch"
        ),
        "{stderr}"
    );
    // Release of a name that does not exist: upstream says "no available resource".
    let (code, _, stderr) = parts(&mason(&server.url, "me", &["release", "--name", "zzz"]).await);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "failed to release resource \"zzz\": there is no resource named \"zzz\" (server: "
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("no available resource zzz"),
        "the wire text is kept: {stderr}"
    );
    // Metrics of a missing type: the same wire text, a different meaning.
    let (code, _, stderr) = parts(&mason(&server.url, "me", &["metrics", "--type", "ghost"]).await);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with("failed to get metrics for resource \"ghost\": the server has no resources of type \"ghost\" (server: no available resource ghost"),
        "{stderr}"
    );
    // A free resource that still has an owner is never handed out: say so.
    client(&server.url, "bob")
        .acquire("solo", "free", "free", None)
        .await
        .unwrap();
    let (code, _, stderr) = parts(&mason(&server.url, "me", &["acquire", "--type", "solo"]).await);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("1 \"solo\" resource(s) in state \"free\" still have an owner (bob)")
            && stderr.contains("mason release --name solo-1 --owner-name bob --target-state free"),
        "{stderr}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_retried_visibly_and_named_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let args = ["acquire", "--type", "solo", "--request-attempts", "2"];
    let (code, _, stderr) = parts(&mason(&url, "me", &args).await);
    assert_eq!(code, 4, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("mason acquire: server not reachable at {url}/ ("))
            && lines[0].ends_with("retrying 2/2 in 1s …"),
        "{stderr}"
    );
    assert_eq!(
        lines[1].matches("http://").count(),
        1,
        "the URL once: {stderr}"
    );
    assert!(lines[1].contains("(after 2 attempts)"), "{stderr}");
}

#[tokio::test]
async fn run_exits_by_its_rule_when_the_server_is_lost() {
    for (script, expected) in [("sleep 1", 4), ("sleep 1; exit 3", 3)] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), SOLO).unwrap();
        let serve = Daemon::serve(dir.path(), &["--config", "config.yaml"]).await;
        let full = format!("echo started; {script}");
        let args = [
            "run",
            "--type",
            "solo",
            "--request-attempts",
            "2",
            "--heartbeat-period",
            "300ms",
            "--",
            "sh",
            "-c",
            &full,
        ];
        let mut child = command(&serve.url, "ci", &args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(LIMIT, stdout.next_line())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.as_deref(), Some("started"));
        drop(serve); // killed: the server is lost while the command runs
        let out = tokio::time::timeout(LIMIT, child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(expected), "{script}: {stderr}");
        assert!(
            stderr.contains(
                "mason run: failed to release resource \"solo-1\": server not reachable at "
            ),
            "{stderr}"
        );
        for line in stderr.lines() {
            assert!(
                line.chars().count() <= 200,
                "a {}-character line: {line}",
                line.chars().count()
            );
        }
    }
}

#[tokio::test]
async fn urls_without_a_scheme_work_and_a_wrong_path_is_named() {
    let server = TestServer::start(SOLO).await;
    let bare = server.url.trim_start_matches("http://").to_string();
    let (code, stdout, stderr) = parts(&mason(&bare, "me", &["acquire", "--type", "solo"]).await);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"name\":\"solo-1\""), "{stdout}");

    let typo = format!("{}/typo", server.url);
    let (code, _, stderr) = parts(&mason(&typo, "me", &["acquire", "--type", "solo"]).await);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{typo}/acquire is not a Boskos API route")),
        "{stderr}"
    );
    // A release on the wrong path must not claim success (the catch-all answers 200).
    let args = ["release", "--name", "solo-1", "--leased", ""];
    let (code, stdout, stderr) = parts(&mason(&typo, "me", &args).await);
    assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
    assert!(stderr.contains("is not a Boskos API route"), "{stderr}");
    assert_eq!(server.store.get("solo-1").await.unwrap().owner, "me");

    let (code, _, stderr) = parts(&mason("ftp://h", "me", &["metrics", "--type", "solo"]).await);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the scheme must be http or https"),
        "{stderr}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_state_no_resource_is_in_is_warned_about() {
    let server = TestServer::start(SOLO).await;
    let args = [
        "run",
        "--type",
        "solo",
        "--state",
        "fre",
        "--timeout",
        "300ms",
        "--poll-interval",
        "100ms",
        "--",
        "true",
    ];
    let started = std::time::Instant::now();
    let (code, _, stderr) = parts(&mason(&server.url, "me", &args).await);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(
            "mason run: warning: no \"solo\" resource is in state \"fre\" (its states now: free 1); did you mean \"free\"?"
        ),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the timeout is kept"
    );
    let stored = server.store.get("solo-1").await.unwrap();
    assert_eq!(stored.owner, "", "nothing was taken");
    server.stop().await;
}
