//! HTTPS of `mason serve` as a real process (issue 13, item 1), with a CA generated in
//! the test: the API answers over TLS; replacing the certificate and key files reaches new
//! connections within 2 s while an open connection keeps working; a broken pair on disk
//! keeps the previous one; a bad pair at start is fatal with the reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::serve_process::{start_fails, ServeProcess};

/// A test CA that signs server certificates for 127.0.0.1 (the auth tests use it too).
pub(crate) struct Ca {
    key: rcgen::KeyPair,
    cert: rcgen::Certificate,
}

/// A signed server pair, as PEM, and its certificate's DER (to recognise it).
pub(crate) struct Leaf {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    der: Vec<u8>,
}

impl Ca {
    pub(crate) fn new() -> Self {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mason test CA");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self { key, cert }
    }

    pub(crate) fn leaf(&self, name: &str) -> Leaf {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// The CA certificate as PEM (what a client's CA file holds).
    pub(crate) fn pem(&self) -> String {
        self.cert.pem()
    }

    pub(crate) fn connector(&self) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.cert.der().to_vec()))
            .expect("root");
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// Write a pair the way an operator or cert-manager does: each file replaced atomically.
fn install(leaf: &Leaf, cert: &Path, key: &Path) {
    for (path, text) in [(key, &leaf.key_pem), (cert, &leaf.cert_pem)] {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, path).expect("rename");
    }
}

/// A TLS connection and the server certificate it was shown.
async fn connect(connector: &TlsConnector, addr: &str) -> (TlsStream<TcpStream>, Vec<u8>) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let shown = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("a certificate")
        .to_vec();
    (tls, shown)
}

/// One keep-alive request on an open TLS connection; the status.
async fn get(tls: &mut TlsStream<TcpStream>, path: &str) -> u16 {
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tls.read(&mut byte).await.expect("read");
        assert_eq!(n, 1, "connection closed mid-answer");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_lowercase();
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("length"));
    let mut body = vec![0u8; length];
    tls.read_exact(&mut body).await.expect("body");
    text[9..12].parse().expect("status")
}

fn files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("server.crt"), dir.join("server.key"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_certificate_that_follows_its_files() {
    let ca = Ca::new();
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = files(dir.path());
    let first = ca.leaf("first");
    install(&first, &cert, &key);
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let server = ServeProcess::start(&["--tls-cert", &c, "--tls-key", &k], None, false).await;
    let connector = ca.connector();

    let (mut open, shown) = connect(&connector, &server.addr).await;
    assert_eq!(shown, first.der);
    assert_eq!(get(&mut open, "/healthz").await, 200);
    assert_eq!(get(&mut open, "/metric?type=t").await, 200);

    // Rotate: new connections get the new certificate within 2 s.
    let second = ca.leaf("second");
    install(&second, &cert, &key);
    let rotated = Instant::now();
    loop {
        let (mut fresh, shown) = connect(&connector, &server.addr).await;
        if shown == second.der {
            assert_eq!(get(&mut fresh, "/healthz").await, 200);
            break;
        }
        assert_eq!(shown, first.der);
        assert!(
            rotated.elapsed() < Duration::from_secs(2),
            "new connections still get the old certificate after {:?}",
            rotated.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The connection opened before the rotation keeps working.
    assert_eq!(get(&mut open, "/healthz").await, 200);

    // A broken pair (a key that does not belong to the certificate) keeps the old one.
    // (The rotation above may already have logged a refusal, if a check fell between the
    // two renames: count the refusals before.)
    let refusals = |log: &str| log.matches("do not match").count();
    let before = refusals(&server.log_text());
    let stranger = ca.leaf("stranger");
    let tmp = key.with_extension("tmp");
    std::fs::write(&tmp, &stranger.key_pem).expect("write");
    std::fs::rename(&tmp, &key).expect("rename");
    let deadline = Instant::now() + Duration::from_secs(30);
    while refusals(&server.log_text()) == before {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        server.log_text().contains("not reloaded"),
        "{}",
        server.log_text()
    );
    let (mut fresh, shown) = connect(&connector, &server.addr).await;
    assert_eq!(shown, second.der, "the last good pair stays in use");
    assert_eq!(get(&mut fresh, "/healthz").await, 200);
    assert_eq!(get(&mut open, "/healthz").await, 200);

    // Plain HTTP on the TLS port gets no answer from the API.
    let mut plain = TcpStream::connect(&server.addr).await.expect("connect");
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), plain.read_to_end(&mut answer)).await;
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "plain HTTP was served"
    );
}

#[test]
fn a_bad_pair_at_start_is_fatal_with_the_reason() {
    let ca = Ca::new();
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = files(dir.path());
    let one = ca.leaf("one");
    let other = ca.leaf("other");
    std::fs::write(&cert, &one.cert_pem).expect("write");
    std::fs::write(&key, &other.key_pem).expect("write");
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let (code, stderr) = start_fails(&["--tls-cert", &c, "--tls-key", &k], dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("do not match"), "{stderr}");

    let missing = dir.path().join("missing.key").display().to_string();
    let (code, stderr) = start_fails(&["--tls-cert", &c, "--tls-key", &missing], dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("missing.key"), "{stderr}");
}
