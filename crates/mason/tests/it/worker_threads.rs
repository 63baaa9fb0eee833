//! `mason serve --worker-threads`: the count the runtime really runs with (as the server
//! logs it from the runtime itself), one per CPU without the flag, and a count of 0
//! refused at start.

use crate::serve_process::{start_fails, ServeProcess};

/// The `worker_threads` field of the server's "store opened" line.
fn logged_workers(server: &ServeProcess) -> usize {
    let log = server.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("store opened"))
        .unwrap_or_else(|| panic!("no \"store opened\" line in the log:\n{log}"));
    let value = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("worker_threads="))
        .unwrap_or_else(|| panic!("no worker_threads field in {line:?}"));
    value
        .parse()
        .unwrap_or_else(|e| panic!("worker_threads={value:?} in {line:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flag_sets_the_runtimes_worker_count() {
    let mut server = ServeProcess::start(&["--worker-threads", "3"], None, true).await;
    assert_eq!(logged_workers(&server), 3);
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_there_is_one_worker_per_cpu() {
    if ["TOKIO_WORKER_THREADS", "MASON_WORKER_THREADS"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
    {
        eprintln!("skipped: a worker-count variable is set in this environment");
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mut server = ServeProcess::start(&[], None, true).await;
    assert_eq!(logged_workers(&server), cpus);
    server.kill();
}

#[test]
fn zero_workers_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, stderr) = start_fails(&["--worker-threads", "0"], dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--worker-threads"), "{stderr}");
}
