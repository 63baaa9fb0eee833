//! `mason serve` (or `mason up`) as a real process, the one harness of the tests that run
//! the server as a child: on 127.0.0.1 on a free port
//! ([`mason_testkit::ports::free_port`]), its output appended to a log file, waited for
//! until `/healthz/ready` answers, killed with SIGKILL on drop or by [`ServeProcess::kill`].
//! [`ServeProcess::start`] makes everything up in a temp dir of its own (a small config,
//! a SQLite file, optionally under `ulimit -n N`); [`ServeProcess::spawn`] runs on a
//! given config, store and log (replicas of one database, a restart on the same file).
//! Also: a raw HTTP/1.1 exchange over a fresh connection, the server's memory and CPU
//! time from `/proc`, and a config naming a pool of resources.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The config every test server starts with.
pub(crate) const CONFIG: &str = "resources:\n- type: t\n  state: free\n  names: [t-0, t-1, t-2]\n";

/// How long a server may take to become ready (a safety net on a loaded machine).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A running `mason serve` (or `mason up`).
pub(crate) struct ServeProcess {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// The config file (rewrite it to test a reload).
    pub(crate) config: PathBuf,
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl ServeProcess {
    /// Start `mason serve` with `extra` arguments on [`CONFIG`] and a SQLite file in a
    /// temp dir of its own; `nofile` runs it under `ulimit -n`. Waits until it is ready
    /// (over plain HTTP unless `plain_http` is false: then until the port accepts
    /// connections).
    pub(crate) async fn start(extra: &[&str], nofile: Option<u32>, plain_http: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, CONFIG).expect("config");
        let store = format!("sqlite://{}", dir.path().join("m.db").display());
        let extra: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
        let mut server = Self::spawn(
            "serve",
            &config,
            &store,
            &dir.path().join("serve.log"),
            "info",
            &extra,
            nofile,
        );
        server._dir = Some(dir);
        server.wait_until(plain_http).await;
        server
    }

    /// `mason --log-level LEVEL COMMAND` (`serve`, or `up`: both take the same server
    /// flags) on `config` and `store` with `extra` arguments, appending its output to
    /// `log`; `nofile` runs it under `ulimit -n`. Not waited for: call
    /// [`ServeProcess::wait_ready`] next.
    pub(crate) fn spawn(
        command: &str,
        config: &Path,
        store: &str,
        log: &Path,
        level: &str,
        extra: &[&OsStr],
        nofile: Option<u32>,
    ) -> Self {
        let port = mason_testkit::ports::free_port();
        let port_text = port.to_string();
        let mut args: Vec<OsString> = ["--log-level", level, command, "--listen-address"]
            .into_iter()
            .chain([
                "127.0.0.1",
                "--port",
                &port_text,
                "--store",
                store,
                "--config",
            ])
            .map(OsString::from)
            .collect();
        args.push(config.into());
        args.extend(extra.iter().map(OsString::from));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("log {}: {e}", log.display()));
        let mut runner = match nofile {
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
        let child = runner
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn mason {command}: {e}"));
        let addr = format!("127.0.0.1:{port}");
        Self {
            child,
            url: format!("http://{addr}"),
            addr,
            config: config.to_path_buf(),
            log: log.to_path_buf(),
            _dir: None,
        }
    }

    /// [`ServeProcess::spawn`] of `mason serve` logging warnings and errors.
    pub(crate) fn replica(config: &Path, store: &str, log: &Path, extra: &[&OsStr]) -> Self {
        Self::spawn("serve", config, store, log, "warn", extra, None)
    }

    /// Wait until `/healthz/ready` answers 200; panics with the log if the process
    /// exits first or is not ready within a minute.
    pub(crate) async fn wait_ready(&mut self) {
        self.wait_until(true).await;
    }

    async fn wait_until(&mut self, plain_http: bool) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.exited() {
                panic!("mason exited ({status}) before ready:\n{}", self.log_text());
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
                "mason on {} not ready:\n{}",
                self.addr,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The exit status, once the process has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// SIGKILL, no goodbye; waits until it is gone.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        self.kill();
    }
}

/// A config file `config.yaml` in `dir` with one static pool: `count` resources of
/// `rtype` named `{prefix}0`, `{prefix}1`, …; its path.
pub(crate) fn pool_config(dir: &Path, rtype: &str, prefix: &str, count: usize) -> PathBuf {
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "resources:\n- type: {rtype}\n  names: [{}]\n",
            names.join(", ")
        ),
    )
    .expect("config");
    path
}

/// A tiny deterministic PRNG (xorshift), so the load tests need no extra crate.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next number below `n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
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
