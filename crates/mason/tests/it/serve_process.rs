//! A `mason serve` process for the transport and TLS tests: started on 127.0.0.1 with a
//! small config (optionally under `ulimit -n N`), its log in a file, killed on drop; plus
//! a raw HTTP/1.1 exchange over a fresh connection and the server's memory and CPU time
//! from `/proc`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The config every test server starts with.
pub(crate) const CONFIG: &str = "resources:\n- type: t\n  state: free\n  names: [t-0, t-1, t-2]\n";

/// A running `mason serve`.
pub(crate) struct ServeProcess {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
    /// The config file (rewrite it to test a reload).
    pub(crate) config: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ServeProcess {
    /// Start `mason serve` with `extra` arguments; `nofile` runs it under `ulimit -n`.
    /// Waits until it is ready (over plain HTTP unless `tls_ready` is false: then until
    /// the port accepts connections).
    pub(crate) async fn start(extra: &[&str], nofile: Option<u32>, plain_http: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, CONFIG).expect("config");
        let log = dir.path().join("serve.log");
        let port = mason_testkit::ports::free_port();
        let mut args: Vec<String> = vec![
            "--log-level".into(),
            "info".into(),
            "serve".into(),
            "--listen-address".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--config".into(),
            config.display().to_string(),
            "--store".into(),
            format!("sqlite://{}", dir.path().join("m.db").display()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let log_file = std::fs::File::create(&log).expect("log");
        let mut command = match nofile {
            None => Command::new(env!("CARGO_BIN_EXE_mason")),
            Some(n) => {
                // `ulimit -n` in sh sets the soft and the hard limit; exec keeps the pid.
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_mason"));
                c
            }
        };
        let child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .spawn()
            .expect("spawn mason serve");
        let mut server = Self {
            child,
            addr: format!("127.0.0.1:{port}"),
            config,
            log,
            _dir: dir,
        };
        server.wait_ready(plain_http).await;
        server
    }

    async fn wait_ready(&mut self, plain_http: bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("mason serve exited ({status}):\n{}", self.log_text());
            }
            let ready = if plain_http {
                matches!(
                    exchange(&self.addr, "GET /healthz/ready").await,
                    Ok((200, _))
                )
            } else {
                TcpStream::connect(&self.addr).await.is_ok()
            };
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mason serve not ready:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the server logged so far, without terminal colour codes.
    pub(crate) fn log_text(&self) -> String {
        let raw = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // CSI: ESC '[' parameters, ended by a letter.
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory, in KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// User plus system CPU time so far, in clock ticks.
    pub(crate) fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("/proc stat");
        // Fields after the command name (which ends with the last ')'): state is field 3,
        // utime field 14, stime field 15.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
    }

    /// Rewrite the config file.
    pub(crate) fn write_config(&self, yaml: &str) {
        let tmp = self.config.with_extension("new");
        std::fs::write(&tmp, yaml).expect("config");
        std::fs::rename(&tmp, &self.config).expect("config");
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `mason serve` with `args` expecting it to fail at start: exit code and log.
pub(crate) fn start_fails(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let config = dir.join("config.yaml");
    std::fs::write(&config, CONFIG).expect("config");
    let output = Command::new(env!("CARGO_BIN_EXE_mason"))
        .args(["serve", "--listen-address", "127.0.0.1", "--port", "0"])
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(format!("sqlite://{}", dir.join("m.db").display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mason serve");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// One request (`"GET /path"`) on a fresh connection with `Connection: close`; the
/// status and the body (everything after the head).
/// Gives up (an error) after 30 s.
pub(crate) async fn exchange(addr: &str, request_line: &str) -> std::io::Result<(u16, String)> {
    let talk = async {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(
            format!("{request_line} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await?;
        parse_answer(&answer)
    };
    tokio::time::timeout(Duration::from_secs(30), talk)
        .await
        .map_err(|_| std::io::Error::other("no answer within 30 s"))?
}

/// The status and body of a raw HTTP/1.1 answer.
pub(crate) fn parse_answer(answer: &[u8]) -> std::io::Result<(u16, String)> {
    let text = String::from_utf8_lossy(answer);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Let this test process hold `n` more descriptors (raise the soft limit to the hard
/// one); panics with a clear message when even the hard limit is too low.
pub(crate) fn need_fds(n: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    assert!(
        soft >= n + 256,
        "this test needs {n} file descriptors; the hard limit allows {soft}"
    );
}
