//! Bad input on every surface of `mason serve`: config YAML (fuzzed, and given to a
//! running server), query parameters (missing, empty, huge, unicode, percent-encoded
//! garbage, repeated keys), `/update` bodies (huge, deeply nested, non-UTF-8, non-string
//! values), names with odd characters, 10,000 names in one `acquirebystate`.
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

use std::sync::Arc;

use mason_server::config::Reload;
use mason_server::{AppState, ConfigSource};
use mason_store::open::StoreOptions;
use mason_store::{AcquireByStateRequest, ResourceFilter, Store, StoreUrl, SystemClock};
use mason_testkit::{TempConfig, TestServer, TestServerOptions};
use mason_types::BoskosConfig;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONFIG: &str = "\
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
async fn exchange(
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
async fn snapshot(store: &dyn Store) -> String {
    let resources = store.list(&ResourceFilter::default()).await.expect("list");
    let queue = store.queue().await.expect("queue");
    let drlcs = store.drlcs().await.expect("drlcs");
    format!("{resources:#?}\n{queue:#?}\n{drlcs:#?}")
}

/// Which store the server under test runs on.
#[derive(Debug, Clone, Copy)]
enum Backend {
    /// SQLite in memory.
    Sqlite,
    /// A fresh PostgreSQL database (from `mason_testkit::postgres`).
    Postgres,
}

/// Start a server on `backend` with `config`; `None` when PostgreSQL is wanted but there
/// is none (outside CI only: under `CI=true` the test fails instead).
async fn start_on(backend: Backend, config: &str, test: &str) -> Option<TestServer> {
    let opts = TestServerOptions::new(config);
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
async fn server(backend: Backend, test: &str) -> Option<TestServer> {
    let server = start_on(backend, CONFIG, test).await?;
    let lease = AcquireByStateRequest {
        state: "free".into(),
        dest: "busy".into(),
        owner: "holder".into(),
        names: vec!["r1".to_string()],
    };
    server
        .store
        .acquire_by_state(&lease)
        .await
        .expect("lease r1");
    Some(server)
}

/// Send a request that must change nothing, and check its status with `ok`.
async fn unchanged(
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
async fn refused(
    server: &TestServer,
    head: &[u8],
    headers: &[&str],
    body: Vec<u8>,
) -> (u16, String) {
    unchanged(server, head, headers, body, |s| (400..500).contains(&s)).await
}

fn post(target: &str) -> Vec<u8> {
    format!("POST {target} HTTP/1.1").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_sqlite() {
    bad_query_parameters(Backend::Sqlite, "bad_query_parameters_sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_postgres() {
    bad_query_parameters(Backend::Postgres, "bad_query_parameters_postgres").await;
}

/// Every bad query gets a 4xx and changes nothing; extreme but valid ones succeed and
/// change nothing either.
async fn bad_query_parameters(backend: Backend, test: &str) {
    let Some(server) = server(backend, test).await else {
        return;
    };
    // Within the 64 KiB a URI may have (the `http` crate's limit; longer ones get 414 below).
    let huge = "x".repeat(60_000);
    let cases: Vec<(String, u16)> = vec![
        // Missing and empty parameters.
        ("/acquire".into(), 400),
        ("/acquire?type=&state=&dest=&owner=".into(), 400),
        ("/acquire?type=t&state=free&dest=busy".into(), 400),
        ("/acquire?type=t&state=free&dest=busy&owner".into(), 400),
        ("/acquirebystate?state=free&dest=busy&owner=o".into(), 400),
        (
            "/acquirebystate?state=free&dest=busy&owner=o&names=".into(),
            400,
        ),
        ("/release?name=r1&owner=holder".into(), 400),
        ("/release?name=r1&dest=&owner=holder".into(), 400),
        ("/update?name=r1&owner=holder".into(), 400),
        ("/reset?type=t&state=busy&dest=free".into(), 400),
        // Bad values.
        (
            "/reset?type=t&state=busy&expire=woooo&dest=free".into(),
            400,
        ),
        ("/reset?type=t&state=busy&expire=-5s&dest=free".into(), 400),
        (
            "/reset?type=t&state=busy&expire=99999999999999999999h&dest=free".into(),
            400,
        ),
        (
            "/reset?type=t&state=busy&expire=1.5.5s&dest=free".into(),
            400,
        ),
        // Huge values: nothing by that name or type.
        (
            format!("/acquire?type={huge}&state=free&dest=busy&owner=o"),
            404,
        ),
        (
            format!("/acquire?type=t&state={huge}&dest=busy&owner=o"),
            404,
        ),
        (format!("/release?name={huge}&dest=free&owner=holder"), 404),
        (format!("/update?name={huge}&owner=holder&state=busy"), 404),
        (format!("/release?name=r1&dest=free&owner={huge}"), 401),
        // Unicode and percent-encoded garbage (kept as text, never decoded into a crash).
        (
            "/acquire?type=%F0%9F%91%80&state=free&dest=busy&owner=%E2%98%83".into(),
            404,
        ),
        (
            "/acquire?type=%FF%FE%FD&state=free&dest=busy&owner=o".into(),
            404,
        ),
        ("/acquire?type=%zz%&state=%&dest=%%&owner=%G0".into(), 404),
        (
            "/acquire?type=t%00&state=free&dest=busy&owner=o".into(),
            400,
        ),
        ("/release?name=%00&dest=free&owner=holder".into(), 400),
        (
            "/release?name=r1%0D%0ASet-Cookie:%20x=1&dest=free&owner=holder".into(),
            404,
        ),
        (
            "/release?name=..%2F..%2Fetc%2Fpasswd&dest=free&owner=holder".into(),
            404,
        ),
        (
            "/release?name=r1&dest=free&owner=%E2%80%AEredloh".into(),
            401,
        ),
        (
            "/update?name=r1&owner=holder&state=%F0%9F%92%A5".into(),
            409,
        ),
        ("/metric?type=%FF".into(), 404),
        // Repeated keys: the first value wins, as in Go.
        (
            "/release?name=r2&name=r1&dest=free&owner=holder".into(),
            401,
        ),
        (
            "/acquire?type=zz&type=t&state=free&dest=busy&owner=o".into(),
            404,
        ),
        // Names that can never match.
        (
            "/acquirebystate?state=free&dest=busy&owner=o&names=,,,".into(),
            404,
        ),
        (
            "/acquirebystate?state=free&dest=busy&owner=o&names=r2,,r3".into(),
            404,
        ),
        (
            "/acquirebystate?state=free&dest=busy&owner=o&names=r2,r1".into(),
            404,
        ),
        (
            "/acquirebystate?state=free&dest=busy&owner=o&names=r2,%F0%9F%91%80".into(),
            404,
        ),
    ];
    for (target, want) in &cases {
        let method = if target.starts_with("/metric") {
            "GET"
        } else {
            "POST"
        };
        let (status, body) = refused(
            &server,
            format!("{method} {target} HTTP/1.1").as_bytes(),
            &[],
            Vec::new(),
        )
        .await;
        assert_eq!(
            status,
            *want,
            "{}: {body}",
            &target[..target.len().min(120)]
        );
        assert!(
            body.ends_with('\n') && body.len() > 1,
            "{status} without a message: {body:?}"
        );
    }
    // Raw bytes that are not valid in a URL at all, and invalid UTF-8 unescaped.
    let mut head = b"POST /acquire?type=\xff\xfe&state=free&dest=busy&owner=o HTTP/1.1".to_vec();
    refused(&server, &head, &[], Vec::new()).await;
    head = b"POST /acquire?type=a b&state=free HTTP/1.1".to_vec();
    refused(&server, &head, &[], Vec::new()).await;
    // Wrong methods.
    for target in [
        "/acquire",
        "/acquirebystate",
        "/release",
        "/update",
        "/reset",
    ] {
        let (status, _) = refused(
            &server,
            format!("GET {target}?name=r1&owner=holder HTTP/1.1").as_bytes(),
            &[],
            Vec::new(),
        )
        .await;
        assert_eq!(status, 405, "GET {target}");
    }
    let (status, _) = refused(&server, b"DELETE /metric?type=t HTTP/1.1", &[], Vec::new()).await;
    assert_eq!(status, 405);
    // A URL far beyond any sane size.
    let endless = format!(
        "POST /acquire?type=t&state=free&dest=busy&owner={} HTTP/1.1",
        "o".repeat(2_000_000)
    );
    let (status, _) = refused(&server, endless.as_bytes(), &[], Vec::new()).await;
    assert!(status == 414 || status == 431, "{status}");
    // Extreme but valid: answered 200, and (nothing old enough, nothing to take) no change.
    for target in [
        "/reset?type=t&state=busy&expire=2562047h47m16.854775807s&dest=free",
        "/reset?type=nope&state=busy&expire=0s&dest=free",
        "/metric?type=t",
    ] {
        let method = if target.starts_with("/metric") {
            "GET"
        } else {
            "POST"
        };
        let head = format!("{method} {target} HTTP/1.1");
        unchanged(&server, head.as_bytes(), &[], Vec::new(), |s| s == 200).await;
    }
    // The server is still fine.
    let (status, _) = exchange(server.addr, b"GET /healthz HTTP/1.1", &[], Vec::new()).await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_update_bodies_sqlite() {
    bad_update_bodies(Backend::Sqlite, "bad_update_bodies_sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_update_bodies_postgres() {
    bad_update_bodies(Backend::Postgres, "bad_update_bodies_postgres").await;
}

/// Every bad `/update` body gets a 4xx (413 when too big) and changes nothing.
async fn bad_update_bodies(backend: Backend, test: &str) {
    let Some(server) = server(backend, test).await else {
        return;
    };
    let target = post("/update?name=r1&owner=holder&state=busy");
    let json = &["Content-Type: application/json"];
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!("{}\"v\"{}", "{\"k\":".repeat(5_000), "}".repeat(5_000));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("number value", br#"{"k": 1}"#.to_vec()),
        ("bool value", br#"{"k": true}"#.to_vec()),
        ("object value", br#"{"k": {"a": "b"}}"#.to_vec()),
        ("array value", br#"{"k": ["a"]}"#.to_vec()),
        ("top-level array", br#"["a", "b"]"#.to_vec()),
        ("top-level number", b"42".to_vec()),
        ("top-level string", br#""text""#.to_vec()),
        ("truncated", br#"{"k": "v""#.to_vec()),
        ("not json", b"key=value".to_vec()),
        ("non-UTF-8 bytes", b"{\"k\": \"\xff\xfe\"}".to_vec()),
        (
            "non-UTF-8 garbage",
            vec![0xff, 0x00, 0xc3, 0x28, 0xa0, 0xa1],
        ),
        ("deeply nested arrays", deep.into_bytes()),
        ("deeply nested objects", deep_obj.into_bytes()),
        ("lone surrogate escape", br#"{"k": "\udc00"}"#.to_vec()),
    ];
    for (what, body) in bodies {
        let (status, text) = refused(&server, &target, json, body).await;
        assert_eq!(status, 400, "{what}: {text}");
    }
    // Bigger than the limit: 413, whether announced by Content-Length or not.
    let huge = format!("{{\"k\": \"{}\"}}", "v".repeat(2 * 1024 * 1024)).into_bytes();
    let (status, _) = refused(&server, &target, json, huge.clone()).await;
    assert_eq!(status, 413);
    let mut chunked = Vec::new();
    for piece in huge.chunks(100_000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let chunked_headers = &[
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
    ];
    let (status, _) = refused(&server, &target, chunked_headers, chunked).await;
    assert_eq!(status, 413, "chunked body over the limit");
    // A body on a lease that is not the caller's is refused before it is looked at.
    let (status, _) = refused(
        &server,
        &post("/update?name=r1&owner=intruder&state=busy"),
        json,
        br#"{"k":"v"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 401);
    // A good body still works afterwards, and only it changes the resource.
    let (status, _) = exchange(server.addr, &target, json, br#"{"k":"v"}"#.to_vec()).await;
    assert_eq!(status, 200);
    assert_eq!(
        server.store.get("r1").await.unwrap().userdata.get("k"),
        Some("v")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_names_sqlite() {
    ten_thousand_names(Backend::Sqlite, "ten_thousand_names_sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_names_postgres() {
    ten_thousand_names(Backend::Postgres, "ten_thousand_names_postgres").await;
}

/// 10,000 names in one `acquirebystate`: all or nothing, and a clear 414 past the URI limit.
async fn ten_thousand_names(backend: Backend, test: &str) {
    // Short names (`n` + base 36), so 10,000 of them fit in the 64 KiB a URI may have.
    let base36 = |mut i: u32| {
        let mut s = Vec::new();
        loop {
            s.push(char::from_digit(i % 36, 36).expect("digit"));
            i /= 36;
            if i == 0 {
                break;
            }
        }
        s.iter().rev().collect::<String>()
    };
    let names: Vec<String> = (0..10_000).map(|i| format!("n{}", base36(i))).collect();
    let config = format!(
        "resources:\n- type: many\n  names: [{}]\n",
        names.join(", ")
    );
    let Some(server) = start_on(backend, &config, test).await else {
        return;
    };
    // 9,999 real names and one missing: 404, and (atomic) nothing taken.
    let mut some = names[..9_999].to_vec();
    some.push("missing".into());
    let head = post(&format!(
        "/acquirebystate?state=free&dest=busy&owner=o&names={}",
        some.join(",")
    ));
    let (status, _) = refused(&server, &head, &[], Vec::new()).await;
    assert_eq!(status, 404);
    // All 10,000: granted at once.
    let head = post(&format!(
        "/acquirebystate?state=free&dest=busy&owner=o&names={}",
        names.join(",")
    ));
    let (status, body) = exchange(server.addr, &head, &[], Vec::new()).await;
    assert_eq!(status, 200);
    let got: Vec<mason_types::Resource> = serde_json::from_slice(&body).expect("JSON array");
    assert_eq!(got.len(), 10_000);
    assert!(got.iter().all(|r| r.owner == "o" && r.state == "busy"));
    // Asking again: all owned now, 404, nothing changes.
    let (status, _) = refused(&server, &head, &[], Vec::new()).await;
    assert_eq!(status, 404);
    // 10,000 names of realistic length make a URI over 64 KiB: refused with 414 (upstream
    // Go accepts up to 1 MiB of request head), and nothing changes.
    let long: Vec<String> = (0..10_000).map(|i| format!("gce-project-{i:05}")).collect();
    let head = post(&format!(
        "/acquirebystate?state=free&dest=busy&owner=o&names={}",
        long.join(",")
    ));
    let (status, _) = refused(&server, &head, &[], Vec::new()).await;
    assert_eq!(status, 414);
    server.stop().await;
}

/// Configs a running server must refuse, keeping the one in force.
fn bad_configs() -> Vec<(&'static str, String)> {
    let bomb = {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            s.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        s.push_str("resources: *a9\n");
        s
    };
    vec![
        ("empty file", String::new()),
        ("empty resources", "resources: []\n".into()),
        ("not yaml", "resources: [\n  - {type: t, names: [a\n".into()),
        (
            "binary",
            String::from_utf8_lossy(&[0xff, 0xfe, 0x00, 0x01, b'\n', 0x80]).into_owned(),
        ),
        ("resources is a string", "resources: hello\n".into()),
        ("resources is a map", "resources: {type: t}\n".into()),
        ("entry is a list", "resources:\n- [t, names]\n".into()),
        (
            "names is a number",
            "resources:\n- type: t\n  names: 5\n".into(),
        ),
        (
            "negative max-count",
            "resources:\n- type: t\n  max-count: -1\n".into(),
        ),
        (
            "max-count float",
            "resources:\n- type: t\n  max-count: 1.5\n".into(),
        ),
        (
            "max-count overflow",
            "resources:\n- type: t\n  max-count: 99999999999999999999\n".into(),
        ),
        (
            "zero max-count",
            "resources:\n- type: t\n  min-count: 0\n".into(),
        ),
        (
            "min above max",
            "resources:\n- type: t\n  min-count: 3\n  max-count: 2\n".into(),
        ),
        ("missing type", "resources:\n- names: [a]\n".into()),
        (
            "bad names",
            "resources:\n- type: t\n  names: [UPPER, 'with space', -dash, '', 'ü']\n".into(),
        ),
        (
            "duplicate names",
            "resources:\n- type: t\n  names: [a, a]\n- type: u\n  names: [a]\n".into(),
        ),
        (
            "static with counts",
            "resources:\n- type: t\n  names: [a]\n  max-count: 3\n".into(),
        ),
        (
            "needs missing type",
            "resources:\n- type: t\n  max-count: 1\n  needs: {nope: 1}\n".into(),
        ),
        (
            "needs too many",
            "resources:\n- type: p\n  names: [p1]\n- type: t\n  max-count: 2\n  needs: {p: 1}\n"
                .into(),
        ),
        (
            "bad lifespan",
            "resources:\n- type: t\n  max-count: 1\n  lifespan: 2d\n".into(),
        ),
        (
            "negative lifespan",
            "resources:\n- type: t\n  max-count: 1\n  lifespan: -5\n".into(),
        ),
        (
            "lifespan overflow",
            "resources:\n- type: t\n  max-count: 1\n  lifespan: 9999999999h\n".into(),
        ),
        ("alias bomb", bomb),
        // Kept at 2,000 levels: the YAML parser's time grows with the square of the depth
        // (40,000 levels take seconds), so a config file is trusted input.
        (
            "deep nesting",
            format!("resources: {}{}\n", "[".repeat(2_000), "]".repeat(2_000)),
        ),
        ("tabs", "resources:\n\t- type: t\n".into()),
    ]
}

#[test]
fn bad_configs_are_clear_errors() {
    for (what, text) in bad_configs() {
        match BoskosConfig::parse_and_validate(&text) {
            Ok(c) => panic!("{what}: accepted {c:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    !msg.is_empty() && msg.len() < 10_000,
                    "{what}: unclear error {msg:?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_rejects_bad_config_files_and_keeps_the_old_one() {
    let file = TempConfig::new(CONFIG);
    // The server state without its background loops: the config watcher would otherwise
    // race this test's own reloads (it may see a change first, so the test's reload finds
    // the file unchanged).
    let memory: StoreUrl = "sqlite::memory:".parse().expect("store URL");
    let store = mason_store::open(&memory, StoreOptions::default())
        .await
        .expect("in-memory store");
    let state = AppState::new(
        store.clone(),
        Arc::new(SystemClock),
        ConfigSource::File(file.path.clone()),
    );
    state.initial_sync().await.expect("initial sync");
    let in_force = state.config().current().expect("config loaded");
    let before = snapshot(&*store).await;
    for (what, text) in bad_configs() {
        file.write(&text);
        match state.reconcile(false).await {
            Ok(r) => assert!(
                matches!(r.reload, Reload::Rejected(_)),
                "{what}: {:?}",
                r.reload
            ),
            Err(e) => panic!("{what}: reconcile failed: {e}"),
        }
        assert_eq!(
            state.config().current().as_deref(),
            Some(&*in_force),
            "{what}"
        );
        assert!(
            before == snapshot(&*store).await,
            "{what} changed the store"
        );
    }
    // The reload path still works: a valid change is applied.
    file.write("resources:\n- type: t\n  names: [r1, r2, r3, r4]\n");
    let r = state.reconcile(false).await.expect("reconcile");
    assert!(matches!(r.reload, Reload::Changed(_)), "{:?}", r.reload);
    assert!(store.get("r4").await.is_ok());
}

/// Config texts: mutations of a valid file (characters and YAML tokens inserted, ranges
/// deleted, lines duplicated) and free-form text over a YAML-ish alphabet.
fn config_text() -> impl Strategy<Value = String> {
    const TOKENS: &[&str] = &[
        ":",
        "-",
        "- ",
        "\n",
        "  ",
        "\t",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "!!str ",
        "!!binary ",
        "'",
        "\"",
        "null",
        "~",
        "-1",
        "1e999",
        "0x10",
        "4294967296",
        "names",
        "type",
        "max-count",
        "min-count",
        "lifespan",
        "needs",
        "? ",
        "|",
        ">",
        "#",
        "%YAML 1.2\n",
        "---\n",
        "...\n",
        "ü",
        "\u{0}",
        "\u{feff}",
        "<<: *a\n",
    ];
    let seed = "resources:\n- type: t\n  state: dirty\n  names: [a, b.c, d-e]\n- type: v\n  min-count: 1\n  max-count: 3\n  lifespan: 48h\n  needs: {t: 1}\n  config: {type: exec, content: x}\n";
    let edit = (
        any::<prop::sample::Index>(),
        0..4u8,
        prop::sample::select(TOKENS),
        0..40usize,
    );
    let mutated = proptest::collection::vec(edit, 1..8).prop_map(move |edits| {
        let mut s: Vec<char> = seed.chars().collect();
        for (at, kind, token, len) in edits {
            let i = at.index(s.len() + 1);
            match kind {
                0 | 1 => {
                    s.splice(i..i, token.chars());
                }
                2 => {
                    let end = (i + len).min(s.len());
                    s.drain(i..end);
                }
                _ => {
                    let end = (i + len).min(s.len());
                    let copy: Vec<char> = s[i..end].to_vec();
                    s.splice(i..i, copy);
                }
            }
        }
        s.into_iter().collect::<String>()
    });
    let free = proptest::string::string_regex("[a-z0-9 :\\-\\[\\]{}&*!|>'\"#,.~\n\t]{0,200}")
        .expect("regex");
    prop_oneof![3 => mutated, 1 => free]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Parsing never panics; an accepted config survives a round trip through its own
    /// serialized form (so what the server keeps is what the file said).
    #[test]
    fn config_parsing_never_panics(text in config_text()) {
        if let Ok(config) = BoskosConfig::parse_and_validate(&text) {
            let json = serde_json::to_string(&config).expect("serialize");
            let again = BoskosConfig::parse_and_validate(&json);
            prop_assert_eq!(again.as_ref().ok(), Some(&config), "round trip of {:?} via {}", text, json);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_survives_a_slow_and_a_lying_client() {
    let server = server(Backend::Sqlite, "slow_client")
        .await
        .expect("sqlite");
    // Content-Length larger than what is sent, then the client hangs up: no state change,
    // and the server keeps serving others.
    let before = snapshot(&*server.store).await;
    {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"POST /update?name=r1&owner=holder&state=busy HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"k\":")
            .await
            .unwrap();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
    }
    // Garbage instead of a request line.
    let (status, _) = exchange(
        server.addr,
        b"\x16\x03\x01\x02\x00 not http",
        &[],
        Vec::new(),
    )
    .await;
    assert!((400..500).contains(&status), "{status}");
    assert!(before == snapshot(&*server.store).await);
    let (status, _) = exchange(server.addr, b"GET /healthz HTTP/1.1", &[], Vec::new()).await;
    assert_eq!(status, 200);
    server.stop().await;
}
