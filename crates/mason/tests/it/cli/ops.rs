//! acquire, release, metrics, reset, update: output, messages and exit codes.

use std::time::Duration;

use mason_client::BoskosApi;
use mason_testkit::TestServer;
use mason_types::Resource;

use super::common::{client, command, mason, parts, Running, POOL, SOLO};

#[tokio::test]
async fn acquire_prints_the_resource_and_release_confirms() {
    let server = TestServer::start(SOLO).await;
    let out = mason(
        &server.url,
        "alice",
        &[
            "acquire",
            "--type",
            "solo",
            "--state",
            "free",
            "--target-state",
            "busy",
        ],
    )
    .await;
    let (code, stdout, stderr) = parts(&out);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.ends_with("}\n"), "{stdout:?}");
    let res: Resource = serde_json::from_str(stdout.trim_end()).unwrap();
    assert_eq!(
        (res.name.as_str(), res.state.as_str(), res.owner.as_str()),
        ("solo-1", "busy", "alice")
    );

    // Someone else cannot release it.
    let out = mason(
        &server.url,
        "bob",
        &["release", "--name", "solo-1", "--target-state", "dirty"],
    )
    .await;
    let (code, _, stderr) = parts(&out);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("failed to release resource \"solo-1\": "),
        "{stderr}"
    );
    assert!(stderr.contains("owner mismatch"), "{stderr}");

    let out = mason(
        &server.url,
        "alice",
        &["release", "--name", "solo-1", "--target-state", "dirty"],
    )
    .await;
    assert_eq!(
        parts(&out),
        (
            0,
            "released resource \"solo-1\"\n".to_string(),
            String::new()
        )
    );
    let stored = server.store.get("solo-1").await.unwrap();
    assert_eq!(
        (stored.state.as_str(), stored.owner.as_str()),
        ("dirty", "")
    );
    server.stop().await;
}

#[tokio::test]
async fn acquire_exit_codes_tell_failures_apart() {
    let server = TestServer::start(SOLO).await;
    client(&server.url, "holder")
        .acquire("solo", "free", "busy", None)
        .await
        .unwrap();
    let acquire = |rtype: &'static str, extra: &'static [&'static str]| {
        let mut args = vec![
            "acquire",
            "--type",
            rtype,
            "--state",
            "free",
            "--target-state",
            "busy",
        ];
        args.extend_from_slice(extra);
        args
    };

    // None free: 3.
    let (code, stdout, stderr) = parts(&mason(&server.url, "a", &acquire("solo", &[])).await);
    assert_eq!((code, stdout.as_str()), (3, ""), "{stderr}");
    assert!(
        stderr.starts_with(
            "failed to acquire a resource: no \"solo\" resource is unowned in state \"free\" \
             right now (server: Acquire failed: no available resource solo"
        ),
        "{stderr}"
    );
    // None free within a timeout: 3.
    let args = acquire("solo", &["--timeout", "200ms", "--poll-interval", "50ms"]);
    let (code, _, stderr) = parts(&mason(&server.url, "a", &args).await);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("no resource became available within"),
        "{stderr}"
    );
    // Unknown type: waiting cannot help, a plain failure.
    let (code, _, stderr) =
        parts(&mason(&server.url, "a", &acquire("nope", &["--timeout", "1m"])).await);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the server has no resource type \"nope\" (server: "),
        "{stderr}"
    );
    // Refused parameters: 2.
    let args = [
        "acquire",
        "--type",
        "solo",
        "--state",
        "",
        "--target-state",
        "busy",
    ];
    assert_eq!(parts(&mason(&server.url, "a", &args).await).0, 2);
    // Bad flags: 2.
    let (code, _, stderr) =
        parts(&mason(&server.url, "a", &acquire("solo", &["--timeout", "5d"])).await);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown unit"), "{stderr}");
    let (code, _, stderr) =
        parts(&mason(&server.url, "a", &acquire("solo", &["--username", "u"])).await);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("username and passwordFile must be specified together"),
        "{stderr}"
    );
    let out = command(&server.url, "a", &acquire("solo", &[]))
        .env_remove("MASON_SERVER_URL")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    server.stop().await;

    // Unreachable: 4.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, stderr) =
        parts(&mason(&url, "a", &acquire("solo", &["--request-attempts", "1"])).await);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains(&format!("server not reachable at {url}/acquire: ")),
        "{stderr}"
    );
}

#[tokio::test]
async fn acquire_with_a_timeout_waits_for_a_release() {
    let server = TestServer::start(SOLO).await;
    let holder = client(&server.url, "holder");
    holder.acquire("solo", "free", "busy", None).await.unwrap();
    let args = [
        "acquire",
        "--type",
        "solo",
        "--state",
        "free",
        "--target-state",
        "busy",
        "--timeout",
        "1m",
        "--poll-interval",
        "50ms",
    ];
    let waiter = Running::spawn(command(&server.url, "waiter", &args));
    // Once the waiter is queued, free the resource.
    mason_testkit::eventually("the waiter to queue", Duration::from_secs(20), || async {
        let queue = holder
            .queue(Some("solo"))
            .await
            .unwrap()
            .unwrap_or_default();
        (!queue.is_empty()).then_some(())
    })
    .await;
    holder.release("solo-1", "free").await.unwrap();
    let (code, stdout, stderr) = waiter.finish().await;
    assert_eq!(code, 0, "{stderr}");
    let res: Resource = serde_json::from_str(stdout.trim_end()).unwrap();
    assert_eq!(res.owner, "waiter");
    server.stop().await;
}

#[tokio::test]
async fn metrics_prints_the_metric_json() {
    let server = TestServer::start(POOL).await;
    let out = mason(&server.url, "a", &["metrics", "--type", "t1"]).await;
    assert_eq!(
        parts(&out),
        (
            0,
            "{\"type\":\"t1\",\"current\":{\"free\":3},\"owner\":{\"\":3}}\n".to_string(),
            String::new()
        )
    );
    let (code, _, stderr) = parts(&mason(&server.url, "a", &["metrics", "--type", "nope"]).await);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("failed to get metrics for resource \"nope\": "),
        "{stderr}"
    );
    server.stop().await;
}

#[tokio::test]
async fn reset_prints_the_reset_map() {
    let server = TestServer::start(SOLO).await;
    client(&server.url, "alice")
        .acquire("solo", "free", "busy", None)
        .await
        .unwrap();
    let args = [
        "reset",
        "--type",
        "solo",
        "--state",
        "busy",
        "--expire",
        "1h",
        "--target-state",
        "dirty",
    ];
    assert_eq!(
        parts(&mason(&server.url, "x", &args).await),
        (0, "{}\n".to_string(), String::new())
    );
    let args = [
        "reset",
        "--type",
        "solo",
        "--state",
        "busy",
        "--expire",
        "0s",
        "--target-state",
        "dirty",
    ];
    assert_eq!(
        parts(&mason(&server.url, "x", &args).await),
        (0, "{\"solo-1\":\"alice\"}\n".to_string(), String::new())
    );
    assert_eq!(server.store.get("solo-1").await.unwrap().state, "dirty");
    let args = [
        "reset",
        "--type",
        "solo",
        "--state",
        "busy",
        "--expire",
        "banana",
        "--target-state",
        "dirty",
    ];
    assert_eq!(parts(&mason(&server.url, "x", &args).await).0, 2);
    server.stop().await;
}

#[tokio::test]
async fn update_merges_user_data_and_checks_the_state() {
    let server = TestServer::start(SOLO).await;
    client(&server.url, "alice")
        .acquire("solo", "free", "busy", None)
        .await
        .unwrap();
    let set = [
        "update",
        "--name",
        "solo-1",
        "--state",
        "busy",
        "--userdata",
        "zone=eu-1",
        "--userdata",
        "tmp=x",
    ];
    assert_eq!(
        parts(&mason(&server.url, "alice", &set).await),
        (
            0,
            "updated resource \"solo-1\"\n".to_string(),
            String::new()
        )
    );
    let delete = [
        "update",
        "--name",
        "solo-1",
        "--state",
        "busy",
        "--userdata",
        "tmp=",
    ];
    assert_eq!(parts(&mason(&server.url, "alice", &delete).await).0, 0);
    let stored = server.store.get("solo-1").await.unwrap();
    let pairs: Vec<_> = stored.userdata.iter().collect();
    assert_eq!(pairs, vec![("zone", "eu-1")]);

    let wrong = ["update", "--name", "solo-1", "--state", "free"];
    let (code, _, stderr) = parts(&mason(&server.url, "alice", &wrong).await);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(
            "failed to update resource \"solo-1\": \"solo-1\" is in state \"busy\", not \"free\" \
             (server: Update failed: "
        ) && stderr.contains("state mismatch - expected busy, current free"),
        "{stderr}"
    );
    let bad = [
        "update",
        "--name",
        "solo-1",
        "--state",
        "busy",
        "--userdata",
        "novalue",
    ];
    assert_eq!(parts(&mason(&server.url, "alice", &bad).await).0, 2);
    server.stop().await;
}

#[tokio::test]
async fn basic_auth_flags_are_accepted() {
    let server = TestServer::start(POOL).await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "secret\n").unwrap();
    let pw = pw.to_str().unwrap();
    let args = [
        "metrics",
        "--type",
        "t1",
        "--username",
        "alice",
        "--password-file",
        pw,
    ];
    assert_eq!(parts(&mason(&server.url, "a", &args).await).0, 0);
    let args = [
        "metrics",
        "--type",
        "t1",
        "--username",
        "alice",
        "--password-file",
        "/nonexistent/pw",
    ];
    let (code, _, stderr) = parts(&mason(&server.url, "a", &args).await);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read password file"), "{stderr}");
    server.stop().await;
}
