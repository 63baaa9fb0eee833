//! Authentication on the real binaries: `mason auth hash|token` and `mason check-auth`,
//! client commands with `--username/--password-file` and `--token-file`, a 1 MB header
//! answered with a 4xx, and the [`Server`] child the other auth tests share. The route ×
//! role matrix is in `auth_matrix.rs`, `mason bench` with credentials in `auth_bench.rs`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mason_server::auth::secrets::{hash_password_with_cost, token_hash};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::auth_matrix::{ask, Cred, Verdict};
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
    ///
    /// The port is free when probed and outside the kernel's ephemeral range
    /// ([`mason_testkit::ports`]); should it still be taken before `mason serve` binds
    /// it, the server exits at once and the start is tried again on a fresh port (three
    /// attempts in all).
    pub(crate) async fn serve_with(
        config: &str,
        auth: Option<&str>,
        tls: Option<(&Path, &Path, &str)>,
    ) -> Server {
        let mut failures = Vec::new();
        for attempt in 1..=3 {
            let dir = tempfile::tempdir().unwrap();
            let port = mason_testkit::ports::free_port();
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
            match server.ready(&http.build().unwrap()).await {
                Ok(server) => return server,
                Err(why) => failures.push(format!("attempt {attempt} on port {port}: {why}")),
            }
        }
        panic!("mason serve did not start:\n{}", failures.join("\n"));
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
        server
            .ready(&reqwest::Client::new())
            .await
            .unwrap_or_else(|why| panic!("mason up did not start: {why}"))
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
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = cmd
            .env_remove("MASON_AUTH_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn mason");
        Server { child, url, dir }
    }

    /// The server once `/healthz` answers 200, or why not: it exited (with what it
    /// printed on stderr) or did not answer within 60 s.
    async fn ready(mut self, http: &reqwest::Client) -> Result<Server, String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let health = format!("{}/healthz", self.url);
        loop {
            if let Ok(r) = http.get(&health).send().await {
                if r.status() == 200 {
                    return Ok(self);
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let stderr =
                    std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
                return Err(format!(
                    "the server exited early: {status}; stderr: {:?}",
                    stderr.trim()
                ));
            }
            if Instant::now() >= deadline {
                return Err("server not ready in time".into());
            }
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
