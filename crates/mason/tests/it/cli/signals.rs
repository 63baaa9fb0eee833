//! Issue 18 item 8: two SIGTERMs within a second (a supervisor signalling the process and
//! its group, as `timeout` does) are one request to stop: a clean shutdown, exit 0, the
//! SQLite WAL checkpointed away. A second signal later than that cuts a shutdown short
//! with 143 for SIGTERM (130 for SIGINT); a wait interrupted by a signal exits with the
//! code of that signal.

use std::time::Duration;

use mason_client::BoskosApi;
use mason_testkit::TestServer;
use rustix::process::Signal;

use super::common::{client, command, Running, SOLO};
use super::daemon::Daemon;

#[tokio::test]
async fn two_sigterms_at_once_are_one_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), SOLO).unwrap();
    let up = Daemon::up(dir.path(), &["--config", "config.yaml"]).await;
    assert!(
        dir.path().join("mason.db-wal").exists(),
        "WAL mode while running"
    );
    up.signal(Signal::TERM);
    up.signal(Signal::TERM);
    let (code, log) = up.wait().await;
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("second signal"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(
        !dir.path().join("mason.db-wal").exists(),
        "the WAL is checkpointed and removed on a clean stop"
    );
}

/// The next connection `listener` (non-blocking) gets, held open by the caller; panics
/// after 30 s.
async fn accepted(listener: &std::net::TcpListener) -> std::net::TcpStream {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match listener.accept() {
            Ok((stream, _)) => return stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no request within 30 s"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[tokio::test]
async fn a_later_second_signal_cuts_the_shutdown_short_with_its_code() {
    // A server that accepts connections and never answers: the cleaner's first tick
    // hangs in a request, which a long shutdown grace lets run, so its graceful
    // shutdown would wait out the deadline.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    blackhole.set_nonblocking(true).unwrap();
    let url = format!("http://{}", blackhole.local_addr().unwrap());
    for (signal, code) in [(Signal::TERM, 143), (Signal::INT, 130)] {
        let dir = tempfile::tempdir().unwrap();
        let args = [
            "cleaner",
            "--server-url",
            &url,
            "--request-timeout=50s",
            "--shutdown-grace=50s",
        ];
        let mut cleaner = Daemon::start(dir.path(), &args);
        // The handlers are in place before the loop says it is running (a signal sent
        // earlier would kill the process the default way).
        cleaner.wait_for_stderr("running").await;
        // And its first request is in flight (on a loaded machine the tick may not have
        // sent it yet, and a cleaner with nothing in flight stops at once, with 0).
        let _held = accepted(&blackhole).await;
        cleaner.signal(signal);
        // Once the first signal is logged as taken, one sent more than the repeat window
        // later is a second request, however slowly the machine runs.
        cleaner.wait_for_stderr("shutting down").await;
        tokio::time::sleep(Duration::from_millis(1300)).await;
        cleaner.signal(signal);
        let started = std::time::Instant::now();
        let (got, log) = cleaner.wait().await;
        assert_eq!(got, code, "{signal:?}: {log}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "at once, not after the deadline: {log}"
        );
    }
}

#[tokio::test]
async fn an_interrupted_wait_exits_with_the_signals_code() {
    let server = TestServer::start(SOLO).await;
    client(&server.url, "holder")
        .acquire("solo", "free", "busy", None)
        .await
        .unwrap();
    for (i, (signal, code)) in [("TERM", 143), ("INT", 130)].into_iter().enumerate() {
        let args = [
            "acquire",
            "--type",
            "solo",
            "--timeout",
            "5m",
            "--poll-interval",
            "50ms",
        ];
        let run = Running::spawn(command(&server.url, "ci", &args));
        super::common::wait_queued(&server.url, "solo", i + 1).await;
        run.signal(signal).await;
        let (exit, stdout, stderr) = run.finish().await;
        assert_eq!((exit, stdout.as_str()), (code, ""), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted while waiting"), "{stderr}");
    }
    server.stop().await;
}
