//! Issue 17, with a real `mason serve` process: an acquire whose client disconnects
//! before the answer leaves no owned resource behind. The server's PostgreSQL sits
//! behind a [`PausableProxy`], paused while the acquire is in flight (the store is slow,
//! as under a stalled database); the client sends `/acquire` on a raw connection and
//! closes it without reading; the proxy resumes inside the store deadline, so the grant
//! goes through — and the server, whose client is gone, rolls it back.
//!
//! The same with `mason up --disconnect-grace 2s` (serve's flag, shared): the grant is
//! rolled back, and no earlier than the grace after the database answered again.

use std::time::{Duration, Instant};

use mason_testkit::postgres::fresh_database_or_skip;
use mason_testkit::scrape::{get_json, metric};
use mason_testkit::PausableProxy;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::serve_process::ServeProcess;

const LIMIT: Duration = Duration::from_secs(60);

/// The owners in `GET /metric?type=t` (upstream's key `owner`) and the free count.
async fn owners_and_free(http: &reqwest::Client, base: &str) -> (serde_json::Value, u64) {
    let metric = get_json(http, &format!("{base}/metric?type=t")).await;
    let free = metric["current"]["free"].as_u64().unwrap_or_default();
    (metric["owner"].clone(), free)
}

/// `mason_acquires_rolled_back_total{type="t"}`, 0 when absent.
async fn rolled_back(http: &reqwest::Client, base: &str) -> u64 {
    metric(http, base, "mason_acquires_rolled_back_total{type=\"t\"}").await as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acquire_whose_client_hung_up_leaves_nothing_owned() {
    let Some(url) = fresh_database_or_skip("disconnect::acquire rolled back").await else {
        return;
    };
    hung_up_acquire_is_rolled_back(&url, "serve", Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_rolls_back_after_its_disconnect_grace() {
    let Some(url) = fresh_database_or_skip("disconnect::up's grace").await else {
        return;
    };
    hung_up_acquire_is_rolled_back(&url, "up", Duration::from_secs(2)).await;
}

/// The scenario of the module docs on `mason COMMAND` (with `--disconnect-grace` when
/// `grace` is not 0), on the PostgreSQL database `url`.
async fn hung_up_acquire_is_rolled_back(url: &str, command: &str, grace: Duration) {
    let (proxy, via) = PausableProxy::in_front_of_url(url).await;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "resources:\n- type: t\n  names: [t-0, t-1]\n").unwrap();
    let log = dir.path().join("serve.log");
    let http = reqwest::Client::new();
    let grace_flag = format!("--disconnect-grace={}ms", grace.as_millis());
    let extra: Vec<&std::ffi::OsStr> = if grace.is_zero() {
        Vec::new()
    } else {
        vec![grace_flag.as_ref()]
    };
    let mut server = ServeProcess::spawn(command, &config, &via, &log, "warn", &extra, None);
    server.wait_ready().await;
    let addr = server.addr.clone();

    // The database stops answering; the acquire waits on it; its client hangs up.
    proxy.pause();
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.write_all(
        b"POST /acquire?type=t&state=free&dest=busy&owner=gone HTTP/1.1\r\nhost: mason\r\ncontent-length: 0\r\n\r\n",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(conn);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The database answers again, inside the 5 s store deadline: the grant commits.
    let resumed = Instant::now();
    proxy.resume();

    let started = Instant::now();
    loop {
        let (owners, free) = owners_and_free(&http, &server.url).await;
        let counted = rolled_back(&http, &server.url).await;
        let owned = owners
            .as_object()
            .is_some_and(|o| o.keys().any(|k| !k.is_empty()));
        if counted == 1 && free == 2 && !owned {
            break;
        }
        assert!(
            started.elapsed() < LIMIT,
            "still owned: {owners}, free {free}, rolled back {counted}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The grant committed after the resume; its rollback waited for the grace.
    assert!(
        resumed.elapsed() >= grace,
        "rolled back {:?} after the database answered again, before the {grace:?} grace",
        resumed.elapsed()
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("the grant was rolled back"),
        "the rollback is logged:\n{logged}"
    );

    // A client that reads its answer keeps its lease.
    let reply = http
        .post(format!(
            "{}/acquire?type=t&state=free&dest=busy&owner=stays",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let started = Instant::now();
    loop {
        let (owners, _) = owners_and_free(&http, &server.url).await;
        if owners["stays"] == 1 {
            break;
        }
        assert!(started.elapsed() < LIMIT, "not owned: {owners}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (owners, _) = owners_and_free(&http, &server.url).await;
    assert_eq!(owners["stays"], 1, "still owned: {owners}");
    assert_eq!(rolled_back(&http, &server.url).await, 1);
    drop(server);
    proxy.stop().await;
}
