//! The accept loop in process, with a router whose `/slow` answers after 300 ms: graceful
//! shutdown answers the request in flight, idle keep-alive connections are closed after
//! the idle timeout (and not after the header timeout), heads over the limit get 431, and
//! connections over the cap get an immediate 503. The close after an answer: a large
//! answer to a slow reader arrives whole, and a client that never stops sending gets its
//! 431 and is cut off within the lingering bound, which also bounds the shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

use super::{serve, Endpoint, TransportOptions};

/// Length of `/big`'s answer: more than a socket buffer holds.
const BIG: usize = 8 << 20;

struct Running {
    addr: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn start(options: TransportOptions, max_connections: usize) -> Running {
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow"
            }),
        )
        .route("/big", get(|| async { "b".repeat(BIG) }));
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

#[tokio::test]
async fn a_large_answer_before_a_close_arrives_whole_at_a_slow_reader() {
    let server = start(TransportOptions::default(), 100).await;
    // A small receive buffer (set before connecting, so the kernel does not grow it): the
    // kernel's buffers then hold far less than the answer, and the rest waits in hyper's.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut tcp = socket.connect(server.addr.parse().unwrap()).await.unwrap();
    tcp.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // Not reading yet: the answer fills the socket buffers and hyper's write buffer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut answer))
        .await
        .expect("the answer ends")
        .expect("read");
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    assert_eq!(
        answer.len() - head_end,
        BIG,
        "the whole body, then the close"
    );
    server.stop.cancel();
}

#[tokio::test]
async fn a_client_that_never_stops_sending_gets_431_and_is_cut_off_within_the_linger_bound_also_at_shutdown(
) {
    let server = start(TransportOptions::default(), 100).await;
    let tcp = TcpStream::connect(&server.addr).await.unwrap();
    let (mut read, mut write) = tcp.into_split();
    let writer = tokio::spawn(async move {
        write
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
            .await
            .unwrap();
        let line = format!("X-Big: {}\r\n", "x".repeat(1_000));
        // A head that never ends, at about 1 MB/s: under the byte bound for a while.
        while write.write_all(line.as_bytes()).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let mut answered = None;
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answered.is_none() {
                        // The server shuts down while this connection lingers.
                        answered = Some(Instant::now());
                        server.stop.cancel();
                    }
                }
            }
        }
    })
    .await;
    writer.abort();
    assert!(ended.is_ok(), "the connection was never closed");
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    let lingered = answered.expect("answered").elapsed();
    assert!(
        lingered < Duration::from_secs(5),
        "closed {lingered:?} after the answer"
    );
    // Shutdown waited for the lingering connection no longer than the linger.
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serving ended")
        .unwrap();
}
