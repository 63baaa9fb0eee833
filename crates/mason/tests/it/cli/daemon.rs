//! `mason serve` and `mason up` as real processes in a directory of their own, their
//! stderr collected as it comes (to wait for a line, and to inspect it afterwards).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Generous limit for anything a daemon should do "soon" (a safety net, not a timing
/// claim: the machine may be loaded).
pub(crate) const LIMIT: Duration = Duration::from_secs(60);

/// The binary under test.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mason")
}

/// A running `mason serve` or `mason up`.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
    /// The tasks reading stderr and stdout; they end at the end of the output.
    collectors: Vec<tokio::task::JoinHandle<()>>,
}

/// Collect `pipe` line by line into `into`, until its end.
fn collect(
    pipe: impl AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut text = into.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    })
}

/// The first `http://…` in `text`, up to a space or quote.
fn find_url(text: &str) -> Option<String> {
    let at = text.find("http://")?;
    let url: String = text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    Some(url)
}

impl Daemon {
    /// `mason serve ARGS --listen-address 127.0.0.1 --port 0` in `dir`, once it logged
    /// that the config is loaded.
    pub(crate) async fn serve(dir: &Path, args: &[&str]) -> Daemon {
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .args(args)
            .args(["--listen-address", "127.0.0.1", "--port", "0"]);
        let mut daemon = Self::spawn(cmd, dir);
        daemon.wait_for_stderr("config loaded and synced").await;
        daemon.url = find_url(&daemon.stderr()).expect("the API URL is logged");
        daemon
    }

    /// `mason up ARGS --port 0` in `dir`, once it printed its URL.
    pub(crate) async fn up(dir: &Path, args: &[&str]) -> Daemon {
        let mut cmd = Command::new(bin());
        cmd.arg("up").args(args).args(["--port", "0"]);
        let mut daemon = Self::spawn(cmd, dir);
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(url) = find_url(&daemon.stdout()) {
                daemon.url = url;
                return daemon;
            }
            daemon.check_alive(deadline, "its URL on stdout").await;
        }
    }

    fn spawn(mut cmd: Command, dir: &Path) -> Daemon {
        cmd.current_dir(dir)
            .env_remove("MASON_STORE")
            .env("MASON_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn mason");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let collectors = vec![
            collect(child.stderr.take().unwrap(), stderr.clone()),
            collect(child.stdout.take().unwrap(), stdout.clone()),
        ];
        Daemon {
            child,
            url: String::new(),
            stderr,
            stdout,
            collectors,
        }
    }

    /// `mason ARGS` in `dir` (any subcommand), started without waiting for anything.
    pub(crate) fn start(dir: &Path, args: &[&str]) -> Daemon {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        Self::spawn(cmd, dir)
    }

    /// Everything written to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Everything written to stdout so far.
    pub(crate) fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    async fn check_alive(&mut self, deadline: Instant, what: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            panic!("mason exited ({status}) before {what}:\n{}", self.stderr());
        }
        assert!(Instant::now() < deadline, "no {what}:\n{}", self.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    /// Wait until stderr contains `needle`.
    pub(crate) async fn wait_for_stderr(&mut self, needle: &str) {
        let deadline = Instant::now() + LIMIT;
        while !self.stderr().contains(needle) {
            self.check_alive(deadline, needle).await;
        }
    }

    /// Send `signal` (`rustix` signal) to the process.
    pub(crate) fn signal(&self, signal: rustix::process::Signal) {
        let pid = self.child.id().expect("running") as i32;
        let pid = rustix::process::Pid::from_raw(pid).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// Wait for the exit (bounded): its code and the whole stderr.
    pub(crate) async fn wait(mut self) -> (i32, String) {
        let status = tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .expect("mason exits in time")
            .unwrap();
        // The output ends with the process (bounded: a grandchild could hold a pipe).
        for collector in std::mem::take(&mut self.collectors) {
            let _ = tokio::time::timeout(LIMIT, collector).await;
        }
        (status.code().unwrap_or(-1), self.stderr())
    }
}

/// A `mason` command run to completion in `dir`: exit code, stdout, stderr.
pub(crate) async fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("MASON_SERVER_URL")
        .env_remove("MASON_STORE")
        .env("MASON_LOG", "info")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run mason");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The corpus of configs (`tests/fixtures/configs/<kind>`), sorted.
pub(crate) fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/configs")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The values of `# <key>: value` comment lines of a corpus file.
pub(crate) fn header(path: &Path, key: &str) -> Vec<String> {
    let prefix = format!("# {key}:");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
        .collect()
}
