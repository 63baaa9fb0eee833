//! Issue 18 item 11: the README's quick start, run again in the same directory, is ready
//! at once. Two runs as the README gives them (plus `--port 0`), then a third on an old
//! store whose sandboxes have all expired, with the periodic sync pushed out to an hour:
//! their replacements can then only come from the start-up follow-up syncs, so a
//! regression fails the test instead of being hidden by the timer.
//!
//! The README's "within a second" is a speed claim: each run's time from "server ready"
//! (the URL on stdout) to "two sandboxes free" is measured and printed; the assertion
//! allows [`READY_BOUND`], generous for a loaded 2-core machine, and still far below the
//! 10 s sync period the replacements used to wait for.

use std::path::Path;
use std::time::{Duration, Instant};

use super::daemon::Daemon;

/// What the test allows between "server ready" and "two sandboxes free".
const READY_BOUND: Duration = Duration::from_secs(5);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Start `mason up` in `dir` with `args`; the time from its URL to two free sandboxes.
async fn start_and_time(dir: &Path, args: &[&str]) -> (Daemon, Duration) {
    let up = Daemon::up(dir, args).await;
    let ready = Instant::now();
    let metric = format!("{}/metric?type=sandbox", up.url);
    loop {
        let text = reqwest::get(&metric).await.unwrap().text().await.unwrap();
        if text.contains("\"free\":2") {
            return (up, ready.elapsed());
        }
        assert!(
            ready.elapsed() < READY_BOUND,
            "two sandboxes not free {READY_BOUND:?} after start ({text}):\n{}",
            up.stderr()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn stop(up: Daemon) {
    up.signal(rustix::process::Signal::TERM);
    let (code, log) = up.wait().await;
    assert_eq!(code, 0, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_run_twice_is_ready_at_once() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    copy_dir(&repo.join("examples"), &dir.join("examples"));
    let readme = [
        "--config",
        "examples/quickstart.yaml",
        "--janitor-command",
        "examples/quickstart/janitor.sh",
    ];
    let mut times = Vec::new();
    for _ in 0..2 {
        let (up, took) = start_and_time(dir, &readme).await;
        times.push(took);
        stop(up).await;
    }
    // An old store: the same pools in another directory, built with a 1 s lifespan, so
    // every sandbox has expired when it starts again.
    let dir = &dir.join("old");
    copy_dir(&repo.join("examples"), &dir.join("examples"));
    let quick = std::fs::read_to_string(dir.join("examples/quickstart.yaml")).unwrap();
    assert!(
        quick.contains("lifespan: 2m"),
        "the quick start changed: {quick}"
    );
    std::fs::write(
        dir.join("examples/old-store.yaml"),
        quick.replace("lifespan: 2m", "lifespan: 1s"),
    )
    .unwrap();
    let old = [
        "--config",
        "examples/old-store.yaml",
        "--janitor-command",
        "examples/quickstart/janitor.sh",
        "--sync-period",
        "1h",
    ];
    let (up, _) = start_and_time(dir, &old).await;
    stop(up).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (up, took) = start_and_time(dir, &old).await;
    times.push(took);
    let log = up.stderr();
    stop(up).await;
    assert!(
        log.contains("marked_for_deletion=2"),
        "the old sandboxes were expired at start: {log}"
    );
    eprintln!("quick start: server ready -> two sandboxes free: first run {:?}, second run {:?}, old store {:?}", times[0], times[1], times[2]);
}
