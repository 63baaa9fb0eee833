//! Issue 17, "after a 503, a retry never makes things worse", over real HTTP on
//! 127.0.0.1:
//!
//! - A release whose answer was lost — a proxy throws the server's answer away, or the
//!   store answered 503 after its deadline and committed afterwards — retried with the
//!   same parameters gets 200 (SQLite and PostgreSQL); with `generation=` too; another
//!   owner's attempt still gets upstream's 401 and text.
//! - An acquire (`/acquire`, `/acquirebystate`, `POST /api/v2/acquire`) whose client
//!   disconnects before the answer (the SQLite store slowed by its test-only fault hook)
//!   leaves no owned resource behind: the grant is rolled back and counted; a client
//!   that waits for its answer keeps its lease.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mason_store::Store;
use mason_testkit::{TestServer, TestServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::served::{Served, CONFIG};

/// Generous bound for "eventually" (a loaded machine).
const LIMIT: Duration = Duration::from_secs(60);

/// A proxy in front of `target` that forwards each request whole and throws the
/// server's answer away: the client's connection is closed as soon as the first byte of
/// the answer arrives, so the server committed and answered, and the client never knows.
async fn answer_dropping_proxy(target: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut server_rd, mut server_wr) = server.split();
                let (mut client_rd, _client_wr) = client.split();
                let mut answer = [0u8; 1];
                tokio::select! {
                    _ = tokio::io::copy(&mut client_rd, &mut server_wr) => {}
                    _ = server_rd.read(&mut answer) => {}
                }
                // Dropping both sockets closes them: the answer is lost.
            });
        }
    });
    addr
}

/// `POST url`: status and body.
async fn post(http: &reqwest::Client, url: &str) -> (u16, String) {
    let reply = http
        .post(url)
        .timeout(LIMIT)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    (reply.status().as_u16(), reply.text().await.unwrap())
}

/// Acquire a resource of `t` for `owner`: its name and generation.
async fn acquire(http: &reqwest::Client, base: &str, owner: &str) -> (String, u64) {
    let reply = http
        .post(format!(
            "{base}/acquire?type=t&state=free&dest=busy&owner={owner}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let generation = reply.headers()["mason-lease-generation"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&reply.text().await.unwrap()).unwrap();
    (body["name"].as_str().unwrap().to_string(), generation)
}

async fn lost_release_answers_are_done_on_retry(server: TestServer) {
    let http = reqwest::Client::new();
    let proxy = answer_dropping_proxy(server.addr).await;
    for fenced in [false, true] {
        let (name, generation) = acquire(&http, &server.url, "alice").await;
        let mut release = format!("/release?name={name}&dest=dirty&owner=alice");
        if fenced {
            release.push_str(&format!("&generation={generation}"));
        }
        let lost = http
            .post(format!("http://{proxy}{release}"))
            .timeout(LIMIT)
            .send()
            .await;
        assert!(lost.is_err(), "the proxy drops the answer: {lost:?}");
        let now = server.store.get(&name).await.unwrap();
        assert_eq!(
            (now.owner.as_str(), now.state.as_str()),
            ("", "dirty"),
            "the release took effect"
        );
        // The retry: 200 with upstream's empty body, nothing changes.
        let before = server.store.get_v2(&name).await.unwrap();
        assert_eq!(
            post(&http, &server.url_for(&release)).await,
            (200, String::new())
        );
        assert_eq!(server.store.get_v2(&name).await.unwrap(), before);
        // Not a repeat: upstream's 401 and text.
        assert_eq!(
            post(
                &http,
                &server.url_for(&format!("/release?name={name}&dest=dirty&owner=bob"))
            )
            .await,
            (
                401,
                format!(
                    "Done failed: {name} - dirty (from bob): owner mismatch request by bob, currently owned by \n"
                )
            )
        );
        // Give it back for the next round.
        server
            .store
            .acquire_by_state(&mason_store::testsuite::by_state_req(
                "dirty",
                "free",
                "setup",
                std::slice::from_ref(&name),
            ))
            .await
            .unwrap();
        server
            .store
            .release(&mason_store::testsuite::release_req(&name, "free", "setup"))
            .await
            .unwrap();
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_whose_answer_was_lost_is_done_on_retry_sqlite() {
    lost_release_answers_are_done_on_retry(TestServer::start(CONFIG).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_whose_answer_was_lost_is_done_on_retry_postgres() {
    let Some(url) =
        mason_testkit::postgres::fresh_database_or_skip("retry_safety::lost release").await
    else {
        return;
    };
    let server =
        TestServer::start_with(TestServerOptions::new(CONFIG).with_store(url.parse().unwrap()))
            .await;
    lost_release_answers_are_done_on_retry(server).await;
}

/// A server on a SQLite file whose fault hook the test holds, with a 2 s store deadline
/// and the store's lease backend (as `mason serve` has it); `--disconnect-grace` set to
/// `grace`.
async fn served(grace: Duration) -> Served {
    Served::start(Duration::from_secs(2), |state| {
        state
            .lease()
            .set_backend(Arc::new(mason_server::lease::StoreBackend::new(
                state.store().clone(),
            )));
        state.lease().set_disconnect_grace(grace);
    })
    .await
}

impl Served {
    /// The owned resources, name → owner.
    async fn owned(&self) -> Vec<(String, String)> {
        self.store
            .list(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|r| !r.owner.is_empty())
            .map(|r| (r.name, r.owner))
            .collect()
    }

    /// `mason_acquires_rolled_back_total{type="t"}`, 0 when absent.
    async fn rolled_back(&self) -> u64 {
        let line = "mason_acquires_rolled_back_total{type=\"t\"}";
        mason_testkit::scrape::metric(&self.http, &self.url, line).await as u64
    }
}

/// Send `POST path` with `body` on a raw connection, wait `before_closing`, then close
/// it without reading the answer.
async fn send_and_hang_up(addr: SocketAddr, path: &str, body: &str, before_closing: Duration) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: mason\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(before_closing).await;
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acquire_whose_client_went_away_is_rolled_back() {
    let s = served(Duration::ZERO).await;
    let routes = [
        (
            "/acquire?type=t&state=free&dest=busy&owner=gone",
            String::new(),
        ),
        (
            "/acquirebystate?state=free&dest=busy&owner=gone&names=r-1,r-2",
            String::new(),
        ),
        (
            "/api/v2/acquire",
            r#"{"owner":"gone","resources":[{"type":"t","state":"free","dest":"busy","count":2}]}"#
                .to_string(),
        ),
    ];
    let mut expected = 0;
    for (path, body) in routes {
        // The grant's write waits 1.5 s on the store thread (inside the 2 s deadline, so
        // it is granted); the client hangs up after 300 ms.
        s.store
            .faults()
            .stall_next_write(Duration::from_millis(1500));
        let started = Instant::now();
        send_and_hang_up(s.addr, path, &body, Duration::from_millis(300)).await;
        // Granted once the stall ends, then rolled back: nothing stays owned.
        let granted = if path.starts_with("/acquire?") { 1 } else { 2 };
        expected += granted;
        loop {
            let rolled_back = s.rolled_back().await;
            if rolled_back == expected && s.owned().await.is_empty() {
                break;
            }
            assert!(
                started.elapsed() < LIMIT,
                "{path}: still owned {:?}, {rolled_back} rolled back",
                s.owned().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1400), "{path}: {took:?}");
        // Back in the state it was granted from, with a fresh generation.
        for r in s.store.list(&Default::default()).await.unwrap() {
            assert_eq!(r.state, "free", "{path}: {r:?}");
        }
    }

    // A client that waits for its answer keeps its lease, stall or not.
    s.store
        .faults()
        .stall_next_write(Duration::from_millis(500));
    let (status, body) = post(
        &s.http,
        &format!(
            "{}/acquire?type=t&state=free&dest=busy&owner=patient",
            s.url
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let owned = s.owned().await;
    assert_eq!(owned.len(), 1, "{owned:?}");
    assert_eq!(owned[0].1, "patient");
    assert_eq!(s.rolled_back().await, expected);
    s.shutdown.cancel();
}

/// With `--disconnect-grace 2s`: the unheard grant stays while the grace runs, and is
/// rolled back once it ran out, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unheard_grant_is_rolled_back_when_the_grace_runs_out() {
    const GRACE: Duration = Duration::from_secs(2);
    let s = served(GRACE).await;
    // The grant's write waits 1 s; the client hangs up after 100 ms.
    s.store.faults().stall_next_write(Duration::from_secs(1));
    let sent = Instant::now();
    send_and_hang_up(
        s.addr,
        "/acquire?type=t&state=free&dest=busy&owner=gone",
        "",
        Duration::from_millis(100),
    )
    .await;
    // Granted once the stall ends; its client is gone by then.
    loop {
        let owned = s.owned().await;
        if !owned.is_empty() {
            assert_eq!(owned.len(), 1, "{owned:?}");
            assert_eq!(owned[0].1, "gone");
            break;
        }
        assert!(sent.elapsed() < LIMIT, "never granted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Rolled back once the grace (which begins with the grant) ran out, within a bound.
    loop {
        let owned = s.owned().await;
        if owned.is_empty() {
            break;
        }
        assert!(
            sent.elapsed() < GRACE + Duration::from_secs(20),
            "still owned {owned:?} {:?} after the request",
            sent.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = sent.elapsed();
    assert!(
        took >= GRACE + Duration::from_secs(1),
        "rolled back {took:?} after the request: before the stall and the grace ended"
    );
    assert_eq!(s.rolled_back().await, 1);
    for r in s.store.list(&Default::default()).await.unwrap() {
        assert_eq!((r.state.as_str(), r.owner.as_str()), ("free", ""), "{r:?}");
    }
    s.shutdown.cancel();
}

/// A release answered 503 because the store missed its deadline, which then committed:
/// the retry with the same parameters is a 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_answered_503_after_it_committed_is_done_on_retry() {
    let s = served(Duration::ZERO).await;
    let (name, _) = acquire(&s.http, &s.url, "alice").await;
    s.store.faults().stall_next_write(Duration::from_secs(3));
    let release = format!("{}/release?name={name}&dest=dirty&owner=alice", s.url);
    let (status, body) = post(&s.http, &release).await;
    assert_eq!(status, 503, "{body}");
    // The stalled release goes through after the deadline.
    let started = Instant::now();
    while s.store.get(&name).await.map(|r| r.owner).ok().as_deref() != Some("") {
        assert!(started.elapsed() < LIMIT, "the release never went through");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(post(&s.http, &release).await, (200, String::new()));
    assert_eq!(s.store.get(&name).await.unwrap().state, "dirty");
    s.shutdown.cancel();
}
