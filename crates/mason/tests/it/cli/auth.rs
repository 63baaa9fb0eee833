//! Authentication on the real binaries: `mason auth hash|token` and `mason check-auth`,
//! the route × role matrix against `mason serve --auth-file` and `mason up --auth-file`
//! (every route with no credentials, a wrong password, an unknown token, a malformed
//! header, and each role as a user and as a token; owner patterns on acquire, release and
//! update), client commands with `--username/--password-file` and `--token-file`, and a
//! 1 MB header answered with a 4xx.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mason_server::auth::secrets::{hash_password_with_cost, token_hash};
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::common::{mason, parts, POOL};

/// Users and tokens of every role; `lease` ones may act as `ci-*` (users) or `bot-*`
/// (tokens) only.
pub(crate) fn auth_file_text() -> String {
    let h = |pw: &str| hash_password_with_cost(pw.as_bytes(), 8, 1).unwrap();
    format!(
        "users:
- {{name: reader, password-hash: \"{}\", role: read}}
- {{name: ci, password-hash: \"{}\", role: lease, owners: [\"ci-*\"]}}
- {{name: boss, password-hash: \"{}\", role: admin}}
tokens:
- {{name: dash, token-hash: \"{}\", role: read}}
- {{name: bot, token-hash: \"{}\", role: lease, owners: [\"bot-*\"]}}
- {{name: root, token-hash: \"{}\", role: admin}}
",
        h("reader-pw"),
        h("ci-pw"),
        h("boss-pw"),
        token_hash("dash-token"),
        token_hash("bot-token"),
        token_hash("root-token"),
    )
}

/// A `mason serve` or `mason up` child with an auth file, killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    pub(crate) dir: tempfile::TempDir,
}

impl Server {
    /// `mason serve --auth-file` (when `auth`) on a free port, ready.
    pub(crate) async fn serve(config: &str, auth: Option<&str>) -> Server {
        Self::serve_with(config, auth, None).await
    }

    /// [`Server::serve`] over HTTPS with the certificate and key of `tls` (PEM files
    /// signed by the CA whose PEM is given, which the readiness check trusts).
    pub(crate) async fn serve_with(
        config: &str,
        auth: Option<&str>,
        tls: Option<(&Path, &Path, &str)>,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mason"));
        cmd.args([
            "--log-level",
            "warn",
            "serve",
            "--listen-address",
            "127.0.0.1",
        ])
        .args(["--port", &port.to_string(), "--store", "sqlite::memory:"]);
        let mut http = reqwest::Client::builder();
        let scheme = match tls {
            Some((cert, key, ca_pem)) => {
                cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
                let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
                http = http.add_root_certificate(ca);
                "https"
            }
            None => "http",
        };
        let url = format!("{scheme}://127.0.0.1:{port}");
        let server = Self::spawn(cmd, dir, config, auth, url);
        server.ready(&http.build().unwrap()).await
    }

    /// `mason up --auth-file` (when `auth`) on port 0, its URL read from stdout.
    pub(crate) async fn up(config: &str, auth: Option<&str>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = format!("sqlite://{}", dir.path().join("up.db").display());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mason"));
        cmd.args([
            "--log-level",
            "warn",
            "up",
            "--port",
            "0",
            "--store",
            &store,
        ]);
        let mut server = Self::spawn(cmd, dir, config, auth, String::new());
        let stdout = server.child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("mason up prints its URL")
            .unwrap()
            .expect("a first line");
        server.url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_string();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        server.ready(&reqwest::Client::new()).await
    }

    fn spawn(
        mut cmd: Command,
        dir: tempfile::TempDir,
        config: &str,
        auth: Option<&str>,
        url: String,
    ) -> Server {
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config).unwrap();
        cmd.arg("--config").arg(&config_path);
        if let Some(text) = auth {
            let path = dir.path().join("auth.yaml");
            std::fs::write(&path, text).unwrap();
            cmd.arg("--auth-file").arg(&path);
        }
        let child = cmd
            .env_remove("MASON_AUTH_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn mason");
        Server { child, url, dir }
    }

    async fn ready(mut self, http: &reqwest::Client) -> Server {
        let deadline = Instant::now() + Duration::from_secs(60);
        let health = format!("{}/healthz", self.url);
        loop {
            if let Ok(r) = http.get(&health).send().await {
                if r.status() == 200 {
                    return self;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the server exited early: {status}");
            }
            assert!(Instant::now() < deadline, "server not ready in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A file in the server's directory.
    pub(crate) fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// What a request presents.
#[derive(Debug, Clone, Copy)]
enum Cred {
    Nothing,
    WrongPassword,
    UnknownToken,
    Malformed,
    User(&'static str, &'static str),
    Token(&'static str),
}

/// What the gate should do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Unauthenticated,
    Forbidden,
    Passed,
}

/// The level a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Open,
    Read,
    Lease,
    Admin,
}

/// The identities of [`auth_file_text`]: credentials, role, and the owner it may use.
const IDENTITIES: &[(Cred, Need, &str)] = &[
    (Cred::User("reader", "reader-pw"), Need::Read, ""),
    (Cred::User("ci", "ci-pw"), Need::Lease, "ci-1"),
    (Cred::User("boss", "boss-pw"), Need::Admin, "anyone"),
    (Cred::Token("dash-token"), Need::Read, ""),
    (Cred::Token("bot-token"), Need::Lease, "bot-1"),
    (Cred::Token("root-token"), Need::Admin, "anyone"),
];

/// Every route: method, path and query (`{owner}` is replaced), and what it needs.
const ROUTES: &[(&str, &str, Need)] = &[
    ("GET", "/healthz", Need::Open),
    ("GET", "/healthz/ready", Need::Open),
    ("GET", "/metric?type=t1", Need::Read),
    ("GET", "/metrics", Need::Read),
    ("GET", "/api/v2/resources", Need::Read),
    ("GET", "/api/v2/drlcs", Need::Read),
    ("GET", "/api/v2/queue", Need::Read),
    (
        "POST",
        "/acquire?type=t1&state=free&dest=busy&owner={owner}",
        Need::Lease,
    ),
    (
        "POST",
        "/acquirebystate?state=busy&dest=busy&names=t1-a&owner={owner}",
        Need::Lease,
    ),
    (
        "POST",
        "/update?name=t1-a&state=busy&owner={owner}",
        Need::Lease,
    ),
    (
        "POST",
        "/release?name=t1-a&dest=free&owner={owner}",
        Need::Lease,
    ),
    (
        "POST",
        "/reset?type=t1&state=busy&dest=free&expire=1h",
        Need::Admin,
    ),
    ("GET", "/", Need::Admin),
    ("POST", "/no-such-route", Need::Admin),
];

fn expected(cred: Cred, need: Need, owner_ok: bool) -> Verdict {
    if need == Need::Open {
        return Verdict::Passed;
    }
    let role = match cred {
        Cred::Nothing | Cred::WrongPassword | Cred::UnknownToken | Cred::Malformed => {
            return Verdict::Unauthenticated
        }
        _ => IDENTITIES.iter().find(|(c, ..)| same(*c, cred)).unwrap().1,
    };
    if role < need || (need == Need::Lease && !owner_ok) {
        Verdict::Forbidden
    } else {
        Verdict::Passed
    }
}

fn same(a: Cred, b: Cred) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

async fn ask(http: &reqwest::Client, method: &str, url: &str, cred: Cred) -> Verdict {
    let mut request = http.request(method.parse().unwrap(), url);
    request = match cred {
        Cred::Nothing => request,
        Cred::WrongPassword => request.basic_auth("ci", Some("not-the-password")),
        Cred::UnknownToken => request.bearer_auth("no-such-token"),
        Cred::Malformed => request.header(AUTHORIZATION, "Basic not*base64"),
        Cred::User(u, p) => request.basic_auth(u, Some(p)),
        Cred::Token(t) => request.bearer_auth(t),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenged = response.headers().contains_key(WWW_AUTHENTICATE);
    let body = response.text().await.unwrap();
    match status {
        401 if challenged => Verdict::Unauthenticated,
        403 => Verdict::Forbidden,
        429 => panic!("rate-limited during the matrix: {body}"),
        _ => Verdict::Passed,
    }
}

/// A client whose requests come from `127.0.1.<n>`: every failed attempt of the matrix
/// from its own address, so the per-address failure limit (tested on its own) stays out
/// of the way.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, n)))
        .build()
        .unwrap()
}

/// Every route × every credential against `server`; also owners outside the patterns.
async fn matrix(server: &Server) -> usize {
    let http = reqwest::Client::new();
    let mut checked = 0;
    let strangers = [
        Cred::Nothing,
        Cred::WrongPassword,
        Cred::UnknownToken,
        Cred::Malformed,
    ];
    let mut source = 0u8;
    for (method, route, need) in ROUTES {
        for cred in strangers {
            let url = format!("{}{}", server.url, route.replace("{owner}", "ci-1"));
            source += 1;
            let got = ask(&client_from(source), method, &url, cred).await;
            assert_eq!(
                got,
                expected(cred, *need, false),
                "{cred:?} {method} {route}"
            );
            checked += 1;
        }
        for (cred, _, own) in IDENTITIES {
            // Its own kind of owner, then one outside every pattern.
            for (owner, owner_ok) in [(*own, true), ("mallory", own == &"anyone")] {
                let url = format!("{}{}", server.url, route.replace("{owner}", owner));
                let got = ask(&http, method, &url, *cred).await;
                assert_eq!(
                    got,
                    expected(*cred, *need, owner_ok),
                    "{cred:?} {method} {route} as {owner}"
                );
                checked += 1;
            }
        }
    }
    checked
}

#[tokio::test]
async fn route_role_matrix_on_mason_serve() {
    let server = Server::serve(POOL, Some(&auth_file_text())).await;
    let checked = matrix(&server).await;
    assert_eq!(checked, ROUTES.len() * (4 + 2 * IDENTITIES.len()));
    server.stop().await;
}

#[tokio::test]
async fn route_role_matrix_on_mason_up() {
    let server = Server::up(POOL, Some(&auth_file_text())).await;
    matrix(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn hash_and_token_commands_make_a_working_auth_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mason"))
        .args(["auth", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret-pw\n")
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_mason"))
        .args(["auth", "token"])
        .output()
        .await
        .unwrap();
    let (code, stdout, _) = parts(&out);
    assert_eq!(code, 0);
    let token = stdout
        .lines()
        .next()
        .unwrap()
        .strip_prefix("token: ")
        .unwrap()
        .to_string();
    let token_line = stdout.lines().nth(1).unwrap().to_string();
    assert_eq!(
        token_line,
        format!("token-hash: \"{}\"", token_hash(&token))
    );

    let auth = format!(
        "users:\n- name: alice\n  password-hash: \"{hash}\"\n  role: lease\ntokens:\n- name: ci-bot\n  {token_line}\n  role: read\n"
    );
    let path = dir.path().join("auth.yaml");
    std::fs::write(&path, &auth).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mason"))
        .arg("check-auth")
        .arg(&path)
        .output()
        .await
        .unwrap();
    assert_eq!(parts(&out), (0, String::new(), String::new()));

    // The same file in force: the client commands authenticate with both kinds.
    let server = Server::serve(POOL, Some(&auth)).await;
    let password = server.file("password.txt", "s3cret-pw\n");
    let token_file = server.file("token.txt", &format!("{token}\n"));
    let out = mason(
        &server.url,
        "auth-driver",
        &[
            "acquire",
            "--type",
            "t1",
            "--state",
            "free",
            "--target-state",
            "busy",
            "--username",
            "alice",
            "--password-file",
            password.to_str().unwrap(),
        ],
    )
    .await;
    let (code, stdout, stderr) = parts(&out);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"owner\":\"auth-driver\""), "{stdout}");
    let mut with_env = super::common::command(&server.url, "x", &["metrics", "--type", "t1"]);
    with_env.env("MASON_TOKEN_FILE", &token_file);
    let (code, stdout, stderr) = parts(&with_env.output().await.unwrap());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"busy\":1"), "{stdout}");
    // Without credentials: a clear refusal.
    let out = mason(&server.url, "x", &["metrics", "--type", "t1"]).await;
    let (code, _, stderr) = parts(&out);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("not authenticated: unauthorized: this server needs credentials"),
        "{stderr}"
    );
    // Read-only token, lease route: forbidden, naming what is missing.
    let mut with_env = super::common::command(
        &server.url,
        "x",
        &["release", "--name", "t1-a", "--target-state", "free"],
    );
    with_env.env("MASON_TOKEN_FILE", &token_file);
    let (code, _, stderr) = parts(&with_env.output().await.unwrap());
    assert_eq!(code, 1);
    assert!(stderr.contains("forbidden: token ci-bot (role read) may not POST /release: it needs role lease or above"), "{stderr}");
    server.stop().await;
}

#[tokio::test]
async fn check_auth_lists_every_problem_and_serve_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.yaml");
    std::fs::write(&path, "users:\n- name: a\n  password-hash: \"$2y$10$abc\"\n  role: root\ntokens:\n- name: a\n  token-hash: \"md5:00\"\n  role: read\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mason"))
        .arg("check-auth")
        .arg(&path)
        .output()
        .await
        .unwrap();
    let (code, _, stderr) = parts(&out);
    assert_eq!(code, 2);
    for expected in [
        "users[0].role: unknown role \"root\"",
        "users[0].password-hash: unsupported hash scheme \"2y\"",
        "tokens[0].name: \"a\" is defined twice",
        "tokens[0].token-hash: unsupported hash scheme \"md5\"",
    ] {
        assert!(stderr.contains(expected), "{expected} in {stderr}");
    }
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, POOL).unwrap();
    let db = dir.path().join("never.db");
    let out = Command::new(env!("CARGO_BIN_EXE_mason"))
        .args(["serve", "--port", "0", "--listen-address", "127.0.0.1"])
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(format!("sqlite://{}", db.display()))
        .arg("--auth-file")
        .arg(&path)
        .output()
        .await
        .unwrap();
    let (code, _, stderr) = parts(&out);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("mason serve: invalid auth file"),
        "{stderr}"
    );
    assert!(!db.exists(), "a refused start creates no store");
}

#[tokio::test]
async fn a_one_megabyte_header_gets_a_4xx_and_the_server_lives_on() {
    let server = Server::serve(POOL, Some(&auth_file_text())).await;
    let addr = server.url.trim_start_matches("http://").to_string();
    for (name, value) in [
        ("Authorization", format!("Basic {}", "A".repeat(1 << 20))),
        ("X-Padding", "p".repeat(1 << 20)),
    ] {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head =
            format!("GET /metric?type=t1 HTTP/1.1\r\nHost: {addr}\r\n{name}: {value}\r\n\r\n");
        // The server may answer and close before it read everything.
        let _ = tcp.write_all(head.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer);
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert!(
            (400..500).contains(&status),
            "{name}: {:?}",
            &text[..text.len().min(80)]
        );
    }
    let http = reqwest::Client::new();
    assert_eq!(
        ask(
            &http,
            "GET",
            &format!("{}/metric?type=t1", server.url),
            Cred::User("reader", "reader-pw")
        )
        .await,
        Verdict::Passed
    );
    server.stop().await;
}

/// `mason bench` with `args`; its JSON lines.
async fn bench(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_mason"))
        .args(["--log-level", "warn", "bench", "--format", "json"])
        .args(args)
        .env_remove("MASON_SERVER_URL")
        .output()
        .await
        .unwrap();
    let (code, stdout, stderr) = parts(&out);
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn bench_sends_credentials_to_a_server_with_an_auth_file() {
    let server = Server::serve(POOL, Some(&auth_file_text())).await;
    let password = server.file("boss.txt", "boss-pw\n");
    let lines = bench(&[
        "--server-url",
        &server.url,
        "--type",
        "t1",
        "--warmup",
        "0s",
        "--duration",
        "300ms",
        "--username",
        "boss",
        "--password-file",
        password.to_str().unwrap(),
    ])
    .await;
    assert_eq!(lines.len(), 1);
    assert!(lines[0]["ops"].as_u64().unwrap() > 0, "{}", lines[0]);
    assert_eq!(lines[0]["errors"], serde_json::json!({}), "{}", lines[0]);
    server.stop().await;
}

#[tokio::test]
async fn bench_cross_process_runs_with_and_without_auth() {
    let lines = bench(&[
        "--layer",
        "cross-process",
        "--auth",
        "both",
        "--pools",
        "10",
        "--connections",
        "1",
        "--warmup",
        "0s",
        "--duration",
        "300ms",
        "--no-reads",
    ])
    .await;
    let runs: Vec<_> = lines
        .iter()
        .filter(|l| l["layer"] == "cross-process")
        .collect();
    for auth in [false, true] {
        for work in ["floor", "cycle"] {
            let run = runs
                .iter()
                .find(|l| l["auth"] == auth && l["work"] == work)
                .unwrap_or_else(|| panic!("no {work} run with auth {auth} in {lines:?}"));
            assert!(run["ops"].as_u64().unwrap() > 0, "{run}");
            assert_eq!(run["errors"], serde_json::json!({}), "{run}");
        }
    }
}
