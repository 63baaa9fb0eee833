//! Bad `/update` bodies (on SQLite and PostgreSQL), and clients that lie about their
//! length, hang up mid-request or do not speak HTTP at all.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{exchange, post, refused, server, snapshot, Backend};

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
