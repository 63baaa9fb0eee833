//! Upstream's Go client with Basic auth, replayed: section [2] of the upstream wire log
//! (the Go client's driver run with `-username alice -password-file`, file `s3cret-pw\n`)
//! holds every request byte the client sent. Upstream's client cannot run here (no Go
//! toolchain), so its requests are sent again, byte for byte (headers in their order,
//! bodies), to the real `mason serve` binary:
//!
//! - with `--auth-file` granting alice: every answer has the status, content type and
//!   body (timestamps aside) the log recorded;
//! - without `--auth-file`: the same answers (the scenario passes as without auth);
//! - with `--auth-file` and the `Authorization` header taken out: every answer is a 401
//!   with the Basic challenge;
//! - both again over HTTPS (`--tls-cert`/`--tls-key`), the requests sent inside a TLS
//!   connection that trusts only the test's CA, as the Go client does with the CA in
//!   `SSL_CERT_FILE`.

use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::auth::Server;
use crate::tls::Ca;

const WIRE_LOG: &str = "../../../shared/upstream-testdata/upstream-client-wire-log.txt";

/// The pool the log's mock server was seeded with.
const SEEDED: &str = "resources:\n- type: t1\n  state: free\n  names: [t1-a, t1-b, t1-c]\n";

/// One logged exchange.
#[derive(Debug, Clone)]
struct Exchange {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    status: u16,
    content_type: Option<String>,
    response_body: String,
}

/// The requests and answers of section `[n]` of the wire log.
fn section(n: u32) -> Vec<Exchange> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(WIRE_LOG);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let start = text
        .find(&format!("section [{n}]  ("))
        .expect("section start");
    let end = text[start..]
        .find(&format!("section [{}]  (", n + 1))
        .map_or(text.len(), |e| start + e);
    text[start..end]
        .split("\n=== ")
        .skip(1)
        .map(parse_exchange)
        .collect()
}

fn parse_exchange(block: &str) -> Exchange {
    let mut lines = block.lines().skip(1);
    let request_line = lines.next().expect("request line").to_string();
    let mut headers = Vec::new();
    let mut body = Vec::new();
    let mut in_headers = false;
    for line in lines.by_ref() {
        if line == "headers:" {
            in_headers = true;
        } else if let Some(rest) = line.strip_prefix("body (") {
            let quoted = &rest[rest.find("): ").expect("body repr") + 3..];
            body = python_bytes(quoted);
            break;
        } else if in_headers {
            let (k, v) = line.trim().split_once(": ").expect("header line");
            headers.push((k.to_string(), v.to_string()));
        }
    }
    let response = lines
        .find(|l| l.starts_with("--> response "))
        .expect("response line");
    let rest = response.trim_start_matches("--> response ");
    let (status, rest) = rest.split_once(' ').unwrap();
    let (json, body_repr) = rest.split_once(" body=").unwrap();
    let response_headers: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).unwrap();
    Exchange {
        request_line,
        headers,
        body,
        status: status.parse().unwrap(),
        content_type: response_headers
            .get("Content-Type")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        response_body: String::from_utf8(python_bytes(body_repr)).unwrap(),
    }
}

/// The bytes of a Python string literal as `repr` writes it (`'…'` or `"…"`).
fn python_bytes(repr: &str) -> Vec<u8> {
    let quote = repr.chars().next().expect("a quote");
    let inner = &repr[1..repr.rfind(quote).expect("closing quote")];
    let mut out = Vec::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next().expect("escape") {
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap());
            }
            other => out.push(other as u8),
        }
    }
    out
}

/// What came back.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    challenge: Option<String>,
    body: String,
}

/// Send `exchange`'s request as logged (its `Host` pointed at `authority`), leaving out
/// the `Authorization` header when `strip_auth`, on a fresh connection.
async fn replay<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    authority: &str,
    exchange: &Exchange,
    strip_auth: bool,
) -> Answer {
    let mut head = format!("{}\r\n", exchange.request_line);
    for (k, v) in &exchange.headers {
        if strip_auth && k.eq_ignore_ascii_case("authorization") {
            continue;
        }
        let v = if k.eq_ignore_ascii_case("host") {
            authority
        } else {
            v
        };
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&exchange.body).await.unwrap();
    read_answer(&mut stream).await
}

/// One HTTP/1.1 answer with a `Content-Length`.
async fn read_answer<S: AsyncRead + Unpin>(stream: &mut S) -> Answer {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "connection closed before the answer's head");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let header = |name: &str| {
        head.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(": "))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
    };
    let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
    let (content_type, challenge) = (header("content-type"), header("www-authenticate"));
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; length - body.len()];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    Answer {
        status,
        content_type,
        challenge,
        body: String::from_utf8(body).unwrap(),
    }
}

/// `"lastupdate":"<time>"` → `"lastupdate":"*"`.
fn without_times(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(i) = rest.find("\"lastupdate\":\"") {
        let after = i + "\"lastupdate\":\"".len();
        out.push_str(&rest[..after]);
        out.push('*');
        let close = rest[after..].find('"').unwrap();
        rest = &rest[after + close..];
    }
    out.push_str(rest);
    out
}

/// Replay the whole section against `server` (through TLS with `tls`); returns the
/// answers.
async fn replay_all(
    server: &Server,
    strip_auth: bool,
    tls: Option<&TlsConnector>,
) -> Vec<(Exchange, Answer)> {
    let authority = server.url.split_once("://").unwrap().1.to_string();
    let mut answers = Vec::new();
    for exchange in section(2) {
        let tcp = TcpStream::connect(&authority).await.unwrap();
        let answer = match tls {
            None => replay(tcp, &authority, &exchange, strip_auth).await,
            Some(connector) => {
                let name = ServerName::try_from("127.0.0.1").unwrap();
                let stream = connector.connect(name, tcp).await.expect("TLS handshake");
                replay(stream, &authority, &exchange, strip_auth).await
            }
        };
        answers.push((exchange, answer));
    }
    answers
}

/// Every answer is a 401 with the Basic challenge.
fn assert_challenged(answers: &[(Exchange, Answer)]) {
    for (logged, got) in answers {
        assert_eq!(got.status, 401, "{}", logged.request_line);
        assert_eq!(
            got.challenge.as_deref(),
            Some("Basic realm=\"mason\""),
            "{}",
            logged.request_line
        );
    }
}

fn assert_as_logged(answers: &[(Exchange, Answer)], run: &str) {
    for (i, (logged, got)) in answers.iter().enumerate() {
        let what = format!("{run}, request {i}: {}", logged.request_line);
        assert_eq!(got.status, logged.status, "{what}: {}", got.body);
        assert_eq!(got.content_type, logged.content_type, "{what}");
        assert_eq!(
            without_times(&got.body),
            without_times(&logged.response_body),
            "{what}"
        );
    }
}

/// alice, whose password is the log's `s3cret-pw`: admin (the driver also resets), and
/// only as the owners the driver uses.
fn alice_file() -> String {
    let hash = mason_server::auth::secrets::hash_password_with_cost(b"s3cret-pw", 8, 1).unwrap();
    format!(
        "users:\n- name: alice\n  password-hash: \"{hash}\"\n  role: admin\n  owners: [auth-driver, \"upstream-go-*\"]\n"
    )
}

#[tokio::test]
async fn the_logged_basic_auth_run_passes_with_and_without_auth() {
    let exchanges = section(2);
    assert_eq!(exchanges.len(), 40, "section [2] as recorded");
    assert!(exchanges.iter().all(|e| e
        .headers
        .contains(&("Authorization".into(), "Basic YWxpY2U6czNjcmV0LXB3".into()))));

    let with_auth = Server::serve(SEEDED, Some(&alice_file())).await;
    assert_as_logged(
        &replay_all(&with_auth, false, None).await,
        "with --auth-file",
    );
    with_auth.stop().await;

    let open = Server::serve(SEEDED, None).await;
    assert_as_logged(&replay_all(&open, false, None).await, "without --auth-file");
    open.stop().await;
}

#[tokio::test]
async fn the_logged_run_without_credentials_gets_401s() {
    let server = Server::serve(SEEDED, Some(&alice_file())).await;
    assert_challenged(&replay_all(&server, true, None).await);
    server.stop().await;
}

#[tokio::test]
async fn the_logged_run_passes_over_https_with_auth_and_401s_without_credentials() {
    let ca = Ca::new();
    let leaf = ca.leaf("mason serve");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    let tls = Some((cert.as_path(), key.as_path(), ca.pem()));
    let connector = ca.connector();

    let tls_ref = tls.as_ref().map(|(c, k, p)| (*c, *k, p.as_str()));
    let server = Server::serve_with(SEEDED, Some(&alice_file()), tls_ref).await;
    assert!(server.url.starts_with("https://"), "{}", server.url);
    assert_as_logged(
        &replay_all(&server, false, Some(&connector)).await,
        "over HTTPS with --auth-file",
    );
    assert_challenged(&replay_all(&server, true, Some(&connector)).await);
    server.stop().await;
}
