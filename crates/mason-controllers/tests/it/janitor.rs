//! The janitor against a real server, running real shell scripts: exit 0 frees, anything
//! else dirties; types are served fairly; resources are heartbeated while cleaning; a lost
//! lease or shutdown kills the script (and its children).

use std::path::Path;
use std::time::Duration;

use mason_controllers::janitor::{Janitor, JanitorOptions};
use mason_controllers::types_source::TypeSource;
use mason_controllers::{Driver, Next};
use mason_testkit::{eventually, TestServer, TestServerOptions};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::support::{client, get, lines, script, state_of, LIMIT};

fn janitor(
    server: &TestServer,
    types: &[&str],
    options: JanitorOptions,
) -> (Driver<Janitor>, TaskTracker, CancellationToken) {
    let tracker = TaskTracker::new();
    let token = CancellationToken::new();
    let types = TypeSource::fixed(types.iter().map(|t| t.to_string()).collect()).unwrap();
    let janitor = Janitor::new(
        client(server, "Janitor"),
        types,
        options,
        tracker.clone(),
        token.clone(),
    )
    .unwrap();
    (Driver::new(janitor), tracker, token)
}

fn options(command: &Path, args: &[&str]) -> JanitorOptions {
    JanitorOptions {
        args: args.iter().map(|a| a.to_string()).collect(),
        idle_wait: Duration::from_secs(60),
        ..JanitorOptions::new(command)
    }
}

#[tokio::test]
async fn exit_zero_frees_failure_dirties_and_is_not_retried_at_once() {
    let config = "\
resources:
- type: db-ok
  state: dirty
  names: [ok-1, ok-2]
- type: db-bad
  state: dirty
  names: [bad-1]
";
    let server = TestServer::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    let cmd = script(
        dir.path(),
        "janitor.sh",
        &format!(
            "echo \"$*\" >> {log}\ncase \"$1\" in --ok=*) exit 0;; *) echo 'cannot wipe' >&2; exit 3;; esac",
            log = log.display()
        ),
    );
    let (mut driver, tracker, token) = janitor(
        &server,
        &["db-bad", "db-ok"],
        options(&cmd, &["--dry-run=false", "x"]),
    );

    assert_eq!(
        driver.tick().await.unwrap(),
        Next::After(Duration::from_secs(60))
    );
    driver.inner().wait_idle().await;
    for name in ["ok-1", "ok-2"] {
        assert_eq!(
            state_of(&server, name).await,
            ("free".into(), String::new()),
            "{name}"
        );
    }
    assert_eq!(
        state_of(&server, "bad-1").await,
        ("dirty".into(), String::new())
    );
    let mut calls = lines(&log);
    calls.sort();
    assert_eq!(
        calls,
        [
            "--bad=bad-1 --dry-run=false x",
            "--ok=ok-1 --dry-run=false x",
            "--ok=ok-2 --dry-run=false x"
        ]
    );
    let stats = driver.inner().stats();
    assert_eq!((stats.cleaned, stats.failed, stats.interrupted), (2, 1, 0));
    assert!(stats.in_flight.is_empty());

    // The failed resource is left alone for a while: handed out again, it goes straight
    // back to dirty without running the program.
    driver.tick().await.unwrap();
    driver.inner().wait_idle().await;
    assert_eq!(lines(&log).len(), 3);
    assert_eq!(
        state_of(&server, "bad-1").await,
        ("dirty".into(), String::new())
    );
    token.cancel();
    tracker.close();
    tracker.wait().await;
    server.stop().await;
}

/// Upstream boskos#17: with one worker, a type with many dirty resources must not keep a
/// small type waiting until it is drained.
#[tokio::test]
async fn one_busy_type_does_not_starve_another() {
    let config = "\
resources:
- type: big-a
  state: dirty
  names: [a-1, a-2, a-3, a-4, a-5, a-6]
- type: small-b
  state: dirty
  names: [b-1]
";
    let server = TestServer::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("order.log");
    let cmd = script(
        dir.path(),
        "janitor.sh",
        &format!("echo \"$1\" >> {}", log.display()),
    );
    let opts = JanitorOptions {
        pool_size: 1,
        ..options(&cmd, &[])
    };
    let (mut driver, tracker, _token) = janitor(&server, &["big-a", "small-b"], opts);

    // Drive turn by turn: each tick hands the single worker to the next type in turn.
    for _ in 0..10 {
        let next = driver.tick().await.unwrap();
        driver.inner().wait_idle().await;
        if next != Next::OnWake {
            break;
        }
    }
    let order = lines(&log);
    assert_eq!(order.len(), 7, "{order:?}");
    let b = order
        .iter()
        .position(|l| l == "--b=b-1")
        .expect("b-1 cleaned");
    assert!(b <= 1, "small-b waited behind big-a: {order:?}");
    tracker.close();
    tracker.wait().await;
    server.stop().await;
}

#[tokio::test]
async fn resources_are_heartbeated_while_the_program_runs() {
    let config = "resources:\n- type: slow\n  state: dirty\n  names: [s-1]\n";
    let server = TestServer::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let cmd = script(
        dir.path(),
        "janitor.sh",
        &format!("while [ ! -e {} ]; do sleep 0.05; done", go.display()),
    );
    let opts = JanitorOptions {
        update_frequency: Duration::from_millis(50),
        ..options(&cmd, &[])
    };
    let (mut driver, tracker, _token) = janitor(&server, &["slow"], opts);
    driver.tick().await.unwrap();
    let taken = get(&server, "s-1").await;
    assert_eq!(
        (taken.state.as_str(), taken.owner.as_str()),
        ("cleaning", "Janitor")
    );
    eventually("a heartbeat moves lastupdate", LIMIT, || async {
        let now = get(&server, "s-1").await;
        (now.lastupdate > taken.lastupdate && now.state == "cleaning").then_some(())
    })
    .await;
    std::fs::write(&go, "").unwrap();
    driver.inner().wait_idle().await;
    assert_eq!(
        state_of(&server, "s-1").await,
        ("free".into(), String::new())
    );
    tracker.close();
    tracker.wait().await;
    server.stop().await;
}

/// The pid in `file`, once the script has written it.
async fn pid_in(file: &Path) -> u32 {
    eventually("the script writes its child's pid", LIMIT, || async {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
    })
    .await
}

/// Whether a process is gone (or a zombie nobody reaped yet).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// A script that starts a long-running child and waits for it.
fn sleeper(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let pid = dir.join("child.pid");
    let cmd = script(
        dir,
        "janitor.sh",
        &format!("sleep 1000 &\necho $! > {}\nwait", pid.display()),
    );
    (cmd, pid)
}

#[tokio::test]
async fn shutdown_kills_the_program_group_and_releases_to_dirty() {
    let config = "resources:\n- type: slow\n  state: dirty\n  names: [s-1]\n";
    let server = TestServer::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let (cmd, pid_file) = sleeper(dir.path());
    let (mut driver, tracker, token) = janitor(&server, &["slow"], options(&cmd, &[]));
    driver.tick().await.unwrap();
    let child = pid_in(&pid_file).await;
    assert_eq!(
        state_of(&server, "s-1").await,
        ("cleaning".into(), "Janitor".into())
    );

    token.cancel();
    tracker.close();
    tracker.wait().await;
    assert_eq!(
        state_of(&server, "s-1").await,
        ("dirty".into(), String::new())
    );
    assert_eq!(driver.inner().stats().interrupted, 1);
    eventually("the script's child is killed", LIMIT, || async {
        gone(child).then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_lost_lease_kills_the_program_and_leaves_the_resource_to_its_new_holder() {
    let config = "resources:\n- type: slow\n  state: dirty\n  names: [s-1]\n";
    let server = TestServer::start_with(TestServerOptions::new(config).with_manual_clock()).await;
    let dir = tempfile::tempdir().unwrap();
    let (cmd, pid_file) = sleeper(dir.path());
    let opts = JanitorOptions {
        update_frequency: Duration::from_millis(300),
        ..options(&cmd, &[])
    };
    let (mut driver, tracker, _token) = janitor(&server, &["slow"], opts);
    driver.tick().await.unwrap();
    let child = pid_in(&pid_file).await;

    // An operator's reaper takes the lease, as if heartbeats had stopped for an hour (a
    // heartbeat may land between moving the clock and the reset: then try again).
    let clock = server.clock.clone().unwrap();
    let reaper = client(&server, "Reaper");
    eventually("the reaper takes the lease", LIMIT, || async {
        clock.advance(Duration::from_secs(3600));
        let reaped = reaper
            .reset("slow", "cleaning", Duration::from_secs(1800), "dirty")
            .await
            .unwrap();
        reaped.get("s-1").map(|owner| assert_eq!(owner, "Janitor"))
    })
    .await;

    driver.inner().wait_idle().await;
    assert_eq!(driver.inner().stats().interrupted, 1);
    assert_eq!(
        state_of(&server, "s-1").await,
        ("dirty".into(), String::new())
    );
    eventually("the script's child is killed", LIMIT, || async {
        gone(child).then_some(())
    })
    .await;
    tracker.close();
    tracker.wait().await;
    server.stop().await;
}
