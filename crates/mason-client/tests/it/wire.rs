//! The bytes on the wire match what the upstream Go client sends (see the upstream wire
//! log): sorted query keys, bodies, content types, basic auth; and the base path is kept.

use std::time::{Duration, SystemTime};

use axum::http::header;
use mason_client::{BoskosApi, HttpClient, RetryPolicy};
use mason_types::UserData;

use crate::common::Scripted;

#[tokio::test]
async fn requests_look_like_upstream_client_requests() {
    let server = Scripted::start(vec![(200, "")]).await;
    let c = HttpClient::builder(&server.url, "upstream-go-driver")
        .build()
        .unwrap();
    let mut ud = UserData::new();
    ud.insert("driver-key", "v1");
    ud.insert("other", "x y/z");
    c.update("t1-a", "busy", Some(&ud)).await.unwrap();
    c.update("t1-b", "busy", None).await.unwrap();
    c.release("t1-a", "dirty").await.unwrap();
    let _ = c
        .acquire_by_state(
            "dirty",
            "busy",
            &["t1-a".into(), "t1-b".into(), "t1-c".into()],
        )
        .await;
    let _ = c.metric("t1").await;
    let _ = c
        .reset("t1", "busy", Duration::from_secs(1800), "dirty")
        .await;

    let seen = server.requests();
    let line = |i: usize| format!("{} {}?{}", seen[i].method, seen[i].path, seen[i].query);
    assert_eq!(
        line(0),
        "POST /update?name=t1-a&owner=upstream-go-driver&state=busy"
    );
    assert_eq!(
        seen[0].body,
        b"{\"driver-key\":\"v1\",\"other\":\"x y/z\"}\n"
    );
    assert_eq!(seen[0].headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        line(1),
        "POST /update?name=t1-b&owner=upstream-go-driver&state=busy"
    );
    assert!(seen[1].body.is_empty());
    assert_eq!(seen[1].headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(seen[1].headers[header::CONTENT_LENGTH], "0");
    assert_eq!(
        line(2),
        "POST /release?dest=dirty&name=t1-a&owner=upstream-go-driver"
    );
    assert_eq!(seen[2].headers[header::CONTENT_LENGTH], "0");
    assert!(seen[2].headers.get(header::CONTENT_TYPE).is_none());
    assert!(seen[2].headers.get(header::AUTHORIZATION).is_none());
    assert_eq!(
        line(3),
        "POST /acquirebystate?dest=busy&names=t1-a%2Ct1-b%2Ct1-c&owner=upstream-go-driver&state=dirty"
    );
    assert_eq!(line(4), "GET /metric?type=t1");
    assert!(seen[4].headers.get(header::CONTENT_LENGTH).is_none());
    assert_eq!(
        line(5),
        "POST /reset?dest=dirty&expire=30m0s&state=busy&type=t1"
    );
    server.stop().await;
}

#[tokio::test]
async fn basic_auth_from_a_trimmed_password_file_that_is_reread() {
    let server = Scripted::start(vec![(200, "")]).await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("password.txt");
    std::fs::write(&pw, "s3cret-pw\n").unwrap();
    let c = HttpClient::builder(&server.url, "auth-driver")
        .basic_auth("alice", &pw)
        .build()
        .unwrap();
    c.release("t1-a", "dirty").await.unwrap();
    std::fs::write(&pw, "rotated\n").unwrap();
    let file = std::fs::File::options().write(true).open(&pw).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    c.release("t1-a", "dirty").await.unwrap();

    let seen = server.requests();
    // base64("alice:s3cret-pw") and base64("alice:rotated")
    assert_eq!(
        seen[0].headers[header::AUTHORIZATION],
        "Basic YWxpY2U6czNjcmV0LXB3"
    );
    assert_eq!(
        seen[1].headers[header::AUTHORIZATION],
        "Basic YWxpY2U6cm90YXRlZA=="
    );
    server.stop().await;
}

#[tokio::test]
async fn the_base_path_prefix_is_kept() {
    let server = Scripted::start(vec![(200, "{}")]).await;
    let c = HttpClient::builder(format!("{}/boskos/", server.url), "me")
        .build()
        .unwrap();
    c.reset("t", "busy", Duration::from_millis(1500), "dirty")
        .await
        .unwrap();
    let seen = server.requests();
    assert_eq!(seen[0].path, "/boskos/reset");
    assert_eq!(seen[0].query, "dest=dirty&expire=1.5s&state=busy&type=t");
    server.stop().await;
}

#[tokio::test]
async fn queue_is_unknown_on_servers_without_it() {
    // Upstream's catch-all (200, empty body) and a proxy's 404 both mean "cannot tell".
    for answer in [(200, ""), (404, "404 page not found\n")] {
        let server = Scripted::start(vec![answer]).await;
        let c = HttpClient::builder(&server.url, "me")
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        assert_eq!(c.queue(Some("t1")).await.unwrap(), None);
        assert_eq!(c.rank_of("t1", "id").await.unwrap(), None);
        assert_eq!(server.requests()[0].path, "/api/v2/queue");
        server.stop().await;
    }
}
