//! The server under test of the cross-process benchmark: `BINARY serve` started as a child
//! process on 127.0.0.1, on a fresh SQLite file in its own temp directory, with a
//! generated config of one static pool, and stopped (SIGTERM, then SIGKILL) at the end.
//!
//! Its log goes to `server.log` in the temp directory; when it fails to start, the error
//! quotes the log's last lines.

use std::fs::File;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use crate::cross::wire::{Endpoint, Method, WireConn};
use crate::{Error, Result};

/// How long a server gets to sync its pool and turn ready (100,000 names take a few
/// seconds on a loaded machine).
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a SIGTERM gets before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// What to start.
#[derive(Debug, Clone)]
pub(crate) struct ServerSpec {
    /// The `mason` binary.
    pub(crate) binary: PathBuf,
    /// Static pool size.
    pub(crate) pool: usize,
    /// Resource type of the pool.
    pub(crate) rtype: String,
    /// Initial state of every resource.
    pub(crate) state: String,
    /// `(certificate, key)` PEM files for `--tls-cert`/`--tls-key`, when serving HTTPS.
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    /// `--auth-file`, when checking credentials.
    pub(crate) auth_file: Option<PathBuf>,
    /// Keep a history (off: the fresh file is prepared without one before the start).
    pub(crate) history: bool,
}

/// A running `mason serve`.
pub(crate) struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Keeps the store, config and log until the server is stopped.
    dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Start it and wait until `/healthz/ready` answers 200 (over `endpoint`'s transport,
    /// with `addr` filled in).
    pub(crate) fn start(spec: &ServerSpec, mut endpoint: Endpoint) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mason-bench-server-")
            .tempdir()
            .map_err(Error::io("cannot create a temp directory"))?;
        let config = dir.path().join("config.yaml");
        write_config(&config, spec)?;
        let db = dir.path().join("bench.db");
        if !spec.history {
            mason_store::sqlite::prepare_file_without_history(&db).map_err(|source| {
                Error::Store {
                    what: format!("cannot prepare {} without history", db.display()),
                    source,
                }
            })?;
        }
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = File::create(dir.path().join("server.log"))
            .map_err(Error::io("cannot create the server log"))?;
        let log_err = log
            .try_clone()
            .map_err(Error::io("cannot create the server log"))?;
        let mut command = Command::new(&spec.binary);
        command
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--store")
            .arg(format!("sqlite://{}", db.display()))
            .args(["--listen-address", "127.0.0.1", "--port", &port.to_string()])
            .args(["--sync-period", "1h"])
            .env_remove("MASON_STORE")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some((cert, key)) = &spec.tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
        }
        if let Some(file) = &spec.auth_file {
            command.arg("--auth-file").arg(file);
        }
        let child = command.spawn().map_err(Error::io(format!(
            "cannot start {} serve",
            spec.binary.display()
        )))?;
        tracing::debug!(pid = child.id(), binary = %spec.binary.display(), pool = spec.pool, %addr, "server under test started");
        let mut server = Self { child, addr, dir };
        endpoint.addr = addr;
        server.wait_ready(&endpoint)?;
        Ok(server)
    }

    /// The child's process id (for `perf record -p`).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    fn wait_ready(&mut self, endpoint: &Endpoint) -> Result<()> {
        let started = Instant::now();
        let mut body = Vec::new();
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(Error::io("cannot watch the server"))?
            {
                return Err(Error::Target(format!(
                    "the server exited during start-up ({status}); its log ends with:\n{}",
                    self.log_tail()
                )));
            }
            let ready = WireConn::connect(endpoint, Duration::from_secs(2))
                .and_then(|mut c| c.request(Method::Get, "/healthz/ready", &mut body));
            if matches!(ready, Ok(200)) {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::Target(format!(
                    "the server was not ready within {READY_TIMEOUT:?} (last: {ready:?}); its log ends with:\n{}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, wait, then SIGKILL if it lingers.
    pub(crate) fn stop(mut self) -> Result<()> {
        self.terminate();
        Ok(())
    }

    fn terminate(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        if let Some(pid) = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!(
            pid = self.child.id(),
            "server under test ignored SIGTERM; killing it"
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A port nobody listens on right now (the server binds it a moment later).
fn free_port() -> Result<u16> {
    let probe = TcpListener::bind("127.0.0.1:0").map_err(Error::io("cannot find a free port"))?;
    Ok(probe
        .local_addr()
        .map_err(Error::io("cannot find a free port"))?
        .port())
}

/// The Boskos config of one static pool, as `crate::pool::pool_config` names it.
fn write_config(path: &Path, spec: &ServerSpec) -> Result<()> {
    let config = crate::pool::pool_config(&spec.rtype, &spec.state, spec.pool);
    let yaml = serde_yaml_ng::to_string(&config)
        .map_err(|e| Error::Target(format!("cannot write the pool config: {e}")))?;
    let mut file = File::create(path).map_err(Error::io("cannot write the pool config"))?;
    file.write_all(yaml.as_bytes())
        .map_err(Error::io("cannot write the pool config"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_configs_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        let spec = ServerSpec {
            binary: PathBuf::from("mason"),
            pool: 25,
            rtype: "bench".into(),
            state: "free".into(),
            tls: None,
            auth_file: None,
            history: true,
        };
        write_config(&path, &spec).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: mason_types::BoskosConfig = serde_yaml_ng::from_str(&text).unwrap();
        mason_types::config::validate(&parsed).unwrap();
        assert_eq!(parsed.resources[0].names.len(), 25);
        assert_eq!(parsed.resources[0].names[3], "bench-03");
    }
}
