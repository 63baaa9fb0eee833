//! Running the binary: `mason(&server, "alice", &[...])` and a spawned, line-read child.

use std::process::{Output, Stdio};
use std::time::Duration;

use mason_client::{HttpClient, RetryPolicy};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// One free `solo`.
pub(crate) const SOLO: &str = "\
resources:
- type: solo
  state: free
  names: [solo-1]
";

/// Three free `t1`.
pub(crate) const POOL: &str = "\
resources:
- type: t1
  state: free
  names: [t1-a, t1-b, t1-c]
";

/// `mason ARGS` with the server URL and owner in the environment.
pub(crate) fn command(url: &str, owner: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mason"));
    cmd.args(args)
        .env("MASON_SERVER_URL", url)
        .env("MASON_OWNER", owner)
        .env("MASON_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Run to completion.
pub(crate) async fn mason(url: &str, owner: &str, args: &[&str]) -> Output {
    command(url, owner, args).output().await.expect("run mason")
}

/// The output's exit code, stdout and stderr as text.
pub(crate) fn parts(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A spawned `mason` whose stdout is read line by line.
pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) lines: Lines<BufReader<ChildStdout>>,
}

impl Running {
    pub(crate) fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mason");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// The next stdout line (panics at end of output).
    pub(crate) async fn line(&mut self) -> String {
        self.lines
            .next_line()
            .await
            .unwrap()
            .expect("another line of output")
    }

    /// Send `signal` (`TERM`, `INT`) with the `kill` command.
    pub(crate) async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Wait for the exit: code, the rest of stdout, stderr.
    pub(crate) async fn finish(mut self) -> (i32, String, String) {
        let mut rest = String::new();
        while let Some(line) = self.lines.next_line().await.unwrap() {
            rest.push_str(&line);
            rest.push('\n');
        }
        let out = self.child.wait_with_output().await.unwrap();
        (
            out.status.code().unwrap_or(-1),
            rest,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// An in-test client for setting up and checking.
pub(crate) fn client(url: &str, owner: &str) -> HttpClient {
    HttpClient::builder(url, owner)
        .retry(RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(10),
        })
        .build()
        .unwrap()
}

/// Wait (bounded) until the server's queue for `rtype` holds at least `n` requests.
pub(crate) async fn wait_queued(url: &str, rtype: &str, n: usize) {
    let observer = client(url, "observer");
    mason_testkit::eventually("requests in the queue", Duration::from_secs(60), || async {
        let queue = observer
            .queue(Some(rtype))
            .await
            .unwrap()
            .unwrap_or_default();
        (queue.len() >= n).then_some(())
    })
    .await;
}
