//! The standalone controllers stop promptly on SIGTERM whatever their server does: as
//! real processes against a port nobody listens on (every call fails and sleeps in a
//! retry back-off, which the signal cuts short) and behind a paused proxy (a request
//! hangs in flight; it gets the shutdown grace, 1 s). Each must exit 0, well inside the
//! 8 s shutdown deadline (the bound here is a generous 3 s so a loaded machine does not
//! flake it), and must not have hit that deadline ("shutdown took too long").

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mason_testkit::{eventually, PausableProxy, TestServer};

/// How long a controller may take to exit after SIGTERM (the deadline it must not
/// reach is 8 s; with a back-off cut short it takes milliseconds, with a hung request
/// about the 1 s grace).
const EXIT_WITHIN: Duration = Duration::from_secs(3);
/// How long a controller may take to reach the state the test waits for.
const LIMIT: Duration = Duration::from_secs(30);

/// A controller process whose log goes to a file.
struct Controller {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Controller {
    /// Start `mason ARGS`, logging the client's retries too.
    fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("controller.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_mason"))
            .args(args)
            .env("MASON_LOG", "info,mason_client=debug")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn mason");
        Self {
            child,
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        read(&self.log)
    }

    /// Wait until the log has a line containing `text`.
    async fn wait_for(&self, text: &str) {
        let log = self.log.clone();
        eventually(&format!("the log says {text:?}"), LIMIT, || {
            let log = log.clone();
            async move { read(&log).contains(text).then_some(()) }
        })
        .await;
    }

    /// SIGTERM; expect exit 0 within [`EXIT_WITHIN`] and no deadline warning.
    /// Returns how long the exit took.
    fn stop_promptly(mut self, what: &str) -> Duration {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        let signalled = Instant::now();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if signalled.elapsed() > EXIT_WITHIN {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{what}: still running {EXIT_WITHIN:?} after SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = signalled.elapsed();
        let log = self.log();
        assert_eq!(status.code(), Some(0), "{what}: {status}; log:\n{log}");
        assert!(
            !log.contains("shutdown took too long"),
            "{what} hit the shutdown deadline; log:\n{log}"
        );
        took
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_stop_at_once_while_their_server_refuses_connections() {
    let url = format!("http://127.0.0.1:{}", mason_testkit::ports::free_port());
    let controllers: [(&str, Vec<&str>); 4] = [
        ("reaper", vec!["--resource-type=t"]),
        ("cleaner", vec![]),
        ("janitor", vec!["--resource-type=t", "--command=/bin/true"]),
        ("builder", vec![]),
    ];
    for (name, extra) in controllers {
        let mut args = vec![name, "--server-url", &url];
        args.extend(extra);
        let controller = Controller::start(&args);
        // The first call was refused; the client sleeps before trying again.
        controller.wait_for("retrying").await;
        let took = controller.stop_promptly(name);
        eprintln!("{name}: exited {took:?} after SIGTERM");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaper_whose_request_hangs_stops_after_the_grace() {
    let server = TestServer::start("resources:\n- type: t\n  names: [a]\n").await;
    let proxy = PausableProxy::start(server.addr).await;
    proxy.pause();
    let reaper = Controller::start(&[
        "reaper",
        "--server-url",
        &proxy.url(),
        "--resource-type=t",
        "--period=100ms",
    ]);
    reaper.wait_for("running").await;
    // Its first reset is under way now, waiting for an answer that does not come.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = reaper.stop_promptly("reaper behind a paused proxy");
    eprintln!("reaper behind a paused proxy: exited {took:?} after SIGTERM");
    proxy.stop().await;
    server.stop().await;
}
