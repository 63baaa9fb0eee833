//! Bad input on every HTTP surface of `mason serve`: query parameters (missing, empty,
//! huge, unicode, percent-encoded garbage, repeated keys), `/update` bodies (huge, deeply
//! nested, non-UTF-8, non-string values), names with odd characters, 10,000 names in one
//! `acquirebystate`, config files given to a running server, slow and lying clients.
//! (Config parsing itself is fuzzed in `mason-types`.)
//!
//! The rule checked everywhere: a bad input gets a 4xx (or a clear config error), never a
//! 5xx, a panic, a dropped connection, or a change of state — every HTTP case compares a
//! snapshot of the store (resources, queue, dynamic pools) before and after.
//!
//! Requests are written as raw bytes on a TCP socket so the test controls exactly what
//! reaches the server (invalid UTF-8, unencoded characters, lying lengths).
//!
//! The HTTP cases run on SQLite and on PostgreSQL (a throwaway server from
//! `mason_testkit::postgres`; skipped loudly when there is none, failed under `CI=true`).
//!
//! Layout: this file holds the harness (raw exchanges, store snapshots, the server per
//! backend); `query` (query parameters and 10,000 names), `bodies` (`/update` bodies and
//! misbehaving connections), `config_files` (a running server given bad config files).

mod bodies;
mod config_files;
mod query;

use std::time::Duration;

use mason_store::{AcquireByStateRequest, ResourceFilter, Store};
use mason_testkit::{TestServer, TestServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(super) const CONFIG: &str = "\
resources:
- type: t
  names: [r1, r2, r3]
- type: d
  state: dirty
  names: [d1]
- type: dyn
  min-count: 1
  max-count: 2
  lifespan: 1h
";

/// One HTTP/1.1 exchange on a fresh connection: `head` is the request line (without
/// CRLF), `body` is sent with a `Content-Length` unless `headers` set one. Returns the
/// status and the body bytes after the header block. The body is written from its own
/// task so a server that answers before reading everything cannot deadlock the test.
pub(super) async fn exchange(
    addr: std::net::SocketAddr,
    head: &[u8],
    headers: &[&str],
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let mut req = head.to_vec();
    req.extend_from_slice(b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for h in headers {
        req.extend_from_slice(h.as_bytes());
        req.extend_from_slice(b"\r\n");
    }
    let framed = |h: &&str| {
        let h = h.to_ascii_lowercase();
        h.starts_with("content-length") || h.starts_with("transfer-encoding")
    };
    if !headers.iter().any(framed) {
        req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let writer = tokio::spawn(async move {
        if wr.write_all(&req).await.is_err() {
            return;
        }
        for chunk in body.chunks(64 * 1024) {
            if wr.write_all(chunk).await.is_err() {
                return;
            }
        }
        let _ = wr.flush().await;
        // Keep the write half open until the server is done: dropping it would close
        // the socket and could lose the answer.
        std::future::pending::<()>().await;
    });
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => break, // a reset after the answer: keep what arrived
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no HTTP answer to {:?} (connection dropped: the server panicked or hung up?): {text:?}",
                String::from_utf8_lossy(head)
            )
        });
    let body = match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => raw[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

/// Everything a request could change.
pub(super) async fn snapshot(store: &dyn Store) -> String {
    let resources = store.list(&ResourceFilter::default()).await.expect("list");
    let queue = store.queue().await.expect("queue");
    let drlcs = store.drlcs().await.expect("drlcs");
    format!("{resources:#?}\n{queue:#?}\n{drlcs:#?}")
}

/// Which store the server under test runs on.
#[derive(Debug, Clone, Copy)]
pub(super) enum Backend {
    /// SQLite in memory.
    Sqlite,
    /// A fresh PostgreSQL database (from `mason_testkit::postgres`).
    Postgres,
}

/// Start a server on `backend` with `config`; `None` when PostgreSQL is wanted but there
/// is none (outside CI only: under `CI=true` the test fails instead).
pub(super) async fn start_on(backend: Backend, config: &str, test: &str) -> Option<TestServer> {
    start_on_with(backend, config, test, mason_store::DEFAULT_STORE_TIMEOUT).await
}

/// [`start_on`] with `store_timeout` as the deadline of every store call.
pub(super) async fn start_on_with(
    backend: Backend,
    config: &str,
    test: &str,
    store_timeout: Duration,
) -> Option<TestServer> {
    let opts = TestServerOptions::new(config).with_store_timeout(store_timeout);
    let opts = match backend {
        Backend::Sqlite => opts,
        Backend::Postgres => {
            let url = mason_testkit::postgres::fresh_database_or_skip(test).await?;
            opts.with_store(url.parse().expect("postgres URL"))
        }
    };
    Some(TestServer::start_with(opts).await)
}

/// The standard server with `r1` leased by `holder` in `busy`.
pub(super) async fn server(backend: Backend, test: &str) -> Option<TestServer> {
    let server = start_on(backend, CONFIG, test).await?;
    let lease = AcquireByStateRequest {
        actor: None,
        state: "free".into(),
        dest: "busy".into(),
        owner: "holder".into(),
        names: vec!["r1".to_string()],
        ..Default::default()
    };
    server
        .store
        .acquire_by_state(&lease)
        .await
        .expect("lease r1");
    Some(server)
}

/// Send a request that must change nothing, and check its status with `ok`.
pub(super) async fn unchanged(
    server: &TestServer,
    head: &[u8],
    headers: &[&str],
    body: Vec<u8>,
    ok: impl Fn(u16) -> bool,
) -> (u16, String) {
    let before = snapshot(&*server.store).await;
    let (status, body) = exchange(server.addr, head, headers, body).await;
    let shown = String::from_utf8_lossy(&head[..head.len().min(200)]).into_owned();
    assert!(
        ok(status),
        "{shown}: status {status}, body {:?}",
        String::from_utf8_lossy(&body)
    );
    let after = snapshot(&*server.store).await;
    assert!(before == after, "{shown} changed the store");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Send a request that must be refused with a 4xx and change nothing.
pub(super) async fn refused(
    server: &TestServer,
    head: &[u8],
    headers: &[&str],
    body: Vec<u8>,
) -> (u16, String) {
    unchanged(server, head, headers, body, |s| (400..500).contains(&s)).await
}

pub(super) fn post(target: &str) -> Vec<u8> {
    format!("POST {target} HTTP/1.1").into_bytes()
}
