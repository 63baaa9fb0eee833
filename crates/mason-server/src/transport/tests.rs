//! The accept loop in process, with a router whose `/slow` answers after 300 ms: graceful
//! shutdown answers the request in flight, idle keep-alive connections are closed after
//! the idle timeout (and not after the header timeout), heads over the limit get 431, and
//! connections over the cap get an immediate 503.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::{serve, Endpoint, TransportOptions};

struct Running {
    addr: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn start(options: TransportOptions, max_connections: usize) -> Running {
    let app = Router::new().route("/", get(|| async { "ok" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "slow"
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    let endpoint = Endpoint {
        app,
        max_connections,
        tls: None,
    };
    let task = tokio::spawn(serve(listener, endpoint, Arc::new(options), stop.clone()));
    Running { addr, stop, task }
}

/// Send one keep-alive request and read its whole answer (status line and body).
async fn request(tcp: &mut TcpStream, path: &str) -> String {
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed mid-answer: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .map_or(0, |v| v.parse().unwrap());
            if body.len() >= length {
                return format!("{} {body}", &head[9..12]);
            }
        }
    }
}

/// Wait until the server closes `tcp`; how long that took.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(limit, tcp.read(&mut buf)).await;
    match read {
        Ok(Ok(0) | Err(_)) => started.elapsed(),
        Ok(Ok(n)) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(_) => panic!("still open after {limit:?}"),
    }
}

#[tokio::test]
async fn shutdown_answers_the_request_in_flight_then_stops() {
    let server = start(TransportOptions::default(), 100).await;
    let mut tcp = TcpStream::connect(&server.addr).await.unwrap();
    let in_flight = tokio::spawn(async move { request(&mut tcp, "/slow").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop.cancel();
    assert_eq!(in_flight.await.unwrap(), "200 slow");
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("serve returns after its connections closed")
        .unwrap();
    assert!(
        TcpStream::connect(&server.addr).await.is_err(),
        "still accepting"
    );
}

#[tokio::test]
async fn idle_keep_alive_uses_the_idle_timeout_and_a_started_head_the_header_timeout() {
    let options = TransportOptions {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(4),
        ..TransportOptions::default()
    };
    let server = start(options, 100).await;
    let mut tcp = TcpStream::connect(&server.addr).await.unwrap();
    assert_eq!(request(&mut tcp, "/").await, "200 ok");
    // Idle after an answer: open past the header timeout, closed by the idle timeout.
    let idle_for = closed_within(&mut tcp, Duration::from_secs(20)).await;
    assert!(
        idle_for >= Duration::from_secs(3),
        "closed after {idle_for:?}"
    );

    // A head begun on a keep-alive connection must end within the header timeout.
    let mut tcp = TcpStream::connect(&server.addr).await.unwrap();
    assert_eq!(request(&mut tcp, "/").await, "200 ok");
    tcp.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let head_for = closed_within(&mut tcp, Duration::from_secs(20)).await;
    assert!(
        head_for < Duration::from_secs(3),
        "closed after {head_for:?}"
    );
    server.stop.cancel();
}

#[tokio::test]
async fn heads_over_the_limit_get_431() {
    let server = start(TransportOptions::default(), 100).await;
    let mut tcp = TcpStream::connect(&server.addr).await.unwrap();
    let big = format!("X-Big: {}\r\n", "x".repeat(70 * 1024));
    tcp.write_all(format!("GET / HTTP/1.1\r\nHost: t\r\n{big}\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    // Just under the limit is fine.
    let mut tcp = TcpStream::connect(&server.addr).await.unwrap();
    let fits = format!("X-Fits: {}\r\n", "x".repeat(60 * 1024));
    tcp.write_all(format!("GET / HTTP/1.1\r\nHost: t\r\n{fits}\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    tcp.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    server.stop.cancel();
}

#[tokio::test]
async fn connections_over_the_cap_get_503_at_once() {
    let server = start(TransportOptions::default(), 2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(&server.addr).await.unwrap();
        assert_eq!(request(&mut tcp, "/").await, "200 ok");
        held.push(tcp);
    }
    let mut extra = TcpStream::connect(&server.addr).await.unwrap();
    let answer = request(&mut extra, "/").await;
    assert!(answer.starts_with("503 too many connections"), "{answer}");
    assert!(answer.contains("at most 2"), "{answer}");
    closed_within(&mut extra, Duration::from_secs(10)).await;
    // A slot frees up: served again.
    held.pop();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut tcp = TcpStream::connect(&server.addr).await.unwrap();
        if request(&mut tcp, "/").await == "200 ok" {
            break;
        }
        assert!(Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop.cancel();
}
