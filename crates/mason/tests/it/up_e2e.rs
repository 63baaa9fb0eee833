//! `mason up` as a real process, through the whole lifecycle of issue 5: virtual
//! resources are built, one is leased and released (recycled and rebuilt), a stale lease
//! is reaped and cleaned, lifespans expire (toBeDeleted → cleaner → tombstone → deleted
//! and replaced) and the expired resources' physical parts go back to dirty and through
//! the janitor to free. Then SIGTERM leaves nothing held. A second test runs the shipped
//! quick start (`examples/quickstart.yaml`) so it cannot rot.
//!
//! Periods are shortened with flags; every wait is a poll of the HTTP API with a
//! deadline that is a safety net, not a timing assertion.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use mason_client::{BoskosApi, HttpClient};
use mason_types::Resource;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const LIMIT: Duration = Duration::from_secs(60);

const CONFIG: &str = "\
resources:
- type: scratch-dir
  names: [s-1, s-2, s-3]
- type: token
  names: [t-1]
- type: sandbox
  state: dirty
  min-count: 2
  max-count: 2
  lifespan: 6s
  needs: {scratch-dir: 1}
  config:
    type: exec
    content: |
      command: [./build.sh]
      timeout: 30s
";

/// Records each build and returns the leased scratch dir as user data.
const BUILD_SH: &str = r#"#!/bin/sh
input="$(cat)"
scratch="$(printf '%s' "$input" | sed 's/.*"leased"://' | grep -o '"name":"[^"]*"' | head -n 1 | cut -d'"' -f4)"
echo "$MASON_RESOURCE_NAME" >> builds.log
printf '{"scratch":"%s"}' "$scratch"
"#;

/// Records each cleaning (`--dir=s-1`, `--token=t-1`) and succeeds.
const JANITOR_SH: &str = r#"#!/bin/sh
echo "$1" >> "$(dirname "$0")/janitor.log"
"#;

fn write_script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// A running `mason up` and its URL.
struct Up {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Up {
    /// Start `mason up` with `args`, stderr to `log`; read the URL from stdout.
    async fn start(args: &[String], envs: &[(&str, &Path)], log: &Path) -> Up {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mason"));
        command
            .arg("up")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .kill_on_drop(true);
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn mason up");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(LIMIT, stdout.next_line())
            .await
            .expect("mason up prints its URL")
            .unwrap()
            .unwrap_or_else(|| {
                panic!("mason up exited: {}", std::fs::read_to_string(log).unwrap())
            });
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_string();
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Up {
            child,
            url,
            http: reqwest::Client::new(),
        }
    }

    fn client(&self, owner: &str) -> HttpClient {
        HttpClient::builder(&self.url, owner).build().unwrap()
    }

    async fn resources(&self) -> Vec<Resource> {
        let url = format!("{}/api/v2/resources", self.url);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Poll the resources until `check` returns `Some`.
    async fn until<T>(&self, what: &str, mut check: impl FnMut(&[Resource]) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            if let Some(v) = check(&self.resources().await) {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}: {:#?}",
                    self.resources().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait for a clean exit.
    async fn stop(mut self) {
        let pid = self.child.id().expect("running") as i32;
        let pid = rustix::process::Pid::from_raw(pid).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "mason up exited with {status}");
    }
}

/// Free sandboxes whose scratch dir is parked under their name, once there are `n`.
fn built(all: &[Resource], n: usize) -> Option<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = all
        .iter()
        .filter(|r| r.rtype == "sandbox" && r.state == "free")
        .filter_map(|v| {
            let leased = v.userdata.leased_resources().ok()?;
            let scratch = v.userdata.get("scratch")?;
            let parked = all.iter().any(|p| p.name == scratch && p.state == v.name);
            (leased == [scratch] && parked).then(|| (v.name.clone(), scratch.to_string()))
        })
        .collect();
    (pairs.len() == n).then_some(pairs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_the_whole_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("config.yaml"), CONFIG).unwrap();
    write_script(d, "build.sh", BUILD_SH);
    write_script(d, "janitor.sh", JANITOR_SH);
    let args: Vec<String> = [
        "--config",
        &d.join("config.yaml").display().to_string(),
        "--port=0",
        &format!("--store=sqlite://{}", d.join("mason.db").display()),
        "--sync-period=300ms",
        "--reaper-expire=3s",
        "--reaper-period=300ms",
        "--cleaner-period=300ms",
        "--janitor-command",
        &d.join("janitor.sh").display().to_string(),
        "--janitor-idle-wait=300ms",
    ]
    .map(String::from)
    .to_vec();
    let log = d.join("up.log");
    let up = Up::start(&args, &[], &log).await;
    let janitor_log = d.join("janitor.log");

    // 1. Two sandboxes are built, each from a scratch dir parked under its name.
    let first = up.until("two sandboxes built", |all| built(all, 2)).await;
    let originals: BTreeSet<String> = first.iter().map(|(v, _)| v.clone()).collect();

    // 2. Lease one and release it dirty: it is recycled (its scratch dir goes through the
    //    janitor) and rebuilt under the same name.
    let alice = up.client("alice");
    let leased = alice
        .acquire("sandbox", "free", "busy", None)
        .await
        .unwrap();
    assert!(leased.userdata.get("scratch").is_some(), "{leased:?}");
    alice.release(&leased.name, "dirty").await.unwrap();
    let builds = d.join("builds.log");
    up.until("the released sandbox is rebuilt", |_| {
        (lines(&builds).iter().filter(|n| **n == leased.name).count() >= 2).then_some(())
    })
    .await;

    // 3. A lease nobody heartbeats is reaped (→ dirty) and the janitor cleans it (→ free).
    let held = alice.acquire("token", "free", "busy", None).await.unwrap();
    assert_eq!(held.name, "t-1");
    up.until("the stale token is reaped and cleaned", |all| {
        let t = all.iter().find(|r| r.name == "t-1")?;
        (t.state == "free"
            && t.owner.is_empty()
            && lines(&janitor_log).contains(&"--token=t-1".to_string()))
        .then_some(())
    })
    .await;
    assert!(alice
        .release("t-1", "free")
        .await
        .unwrap_err()
        .is_lease_lost());

    // 4. Lifespans expire: every original sandbox is tombstoned by the cleaner and deleted,
    //    the pool is topped up with new ones, and the scratch dirs of the expired ones come
    //    back through the janitor.
    let fresh = up
        .until("the pool is replaced after expiry", |all| {
            let gone = all.iter().all(|r| !originals.contains(&r.name));
            let pairs = built(all, 2)?;
            gone.then_some(pairs)
        })
        .await;
    assert!(fresh.iter().all(|(v, _)| !originals.contains(v)));
    let never_leased = first.iter().find(|(v, _)| *v != leased.name).unwrap();
    up.until("the expired sandbox's scratch dir is cleaned", |_| {
        lines(&janitor_log)
            .contains(&format!("--dir={}", never_leased.1))
            .then_some(())
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("tombstoned"),
        "no tombstone in the log:\n{text}"
    );
    assert!(
        text.contains("reaped a stale lease"),
        "no reaping in the log:\n{text}"
    );

    // 5. /api/v2/status shows every part's loop and the builder's pool.
    let status: mason_types::status::ProcessStatus = up
        .http
        .get(format!("{}/api/v2/status", up.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status.process, "up");
    let names: Vec<&str> = status.loops.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "config-sync",
            "request-gc",
            "builder",
            "reaper",
            "cleaner",
            "janitor"
        ]
    );
    for l in &status.loops {
        // The request GC sweeps once a minute: it has not run yet, but is scheduled.
        let ran = l.ticks > 0 && l.last_run.is_some() || l.name == "request-gc";
        assert!(l.running && ran, "{l:?}");
    }
    let sandbox = &status.builder.expect("builder status").pools["sandbox"];
    assert!(sandbox.built >= 4, "{sandbox:?}");
    assert_eq!(sandbox.failed, 0, "{sandbox:?}");

    // 6. SIGTERM: a clean exit, nothing left owned by any part.
    up.stop().await;
    let url: mason_store::StoreUrl = format!("sqlite://{}", d.join("mason.db").display())
        .parse()
        .unwrap();
    let store = mason_store::open(&url, Default::default()).await.unwrap();
    let all = store.list(&Default::default()).await.unwrap();
    let owned: Vec<_> = all.iter().filter(|r| !r.owner.is_empty()).collect();
    assert!(owned.is_empty(), "still owned after shutdown: {owned:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_builds_real_sandboxes() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let work = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "--config",
        &repo.join("examples/quickstart.yaml").display().to_string(),
        "--port=0",
        &format!(
            "--store=sqlite://{}",
            work.path().join("mason.db").display()
        ),
        "--janitor-command",
        &repo
            .join("examples/quickstart/janitor.sh")
            .display()
            .to_string(),
    ]
    .map(String::from)
    .to_vec();
    let log = work.path().join("up.log");
    let up = Up::start(&args, &[("MASON_QUICKSTART_DIR", work.path())], &log).await;
    let sandboxes = up
        .until("two sandboxes built", |all| {
            let free: Vec<Resource> = all
                .iter()
                .filter(|r| r.rtype == "sandbox" && r.state == "free")
                .cloned()
                .collect();
            (free.len() == 2).then_some(free)
        })
        .await;
    for s in &sandboxes {
        let path = s.userdata.get("path").expect("path in user data");
        assert!(
            path.starts_with(&work.path().display().to_string()),
            "{path}"
        );
        assert!(Path::new(path).exists(), "{path} was not created");
        if let Some(db) = s.userdata.get("database") {
            assert!(Path::new(db).is_file(), "{db} was not created");
        }
    }
    // Release one dirty: its scratch dir is wiped by the janitor and a new one is built.
    let me = up.client("me");
    let s = me.acquire("sandbox", "free", "busy", None).await.unwrap();
    me.release(&s.name, "dirty").await.unwrap();
    up.until("the released sandbox is rebuilt", |all| {
        all.iter()
            .find(|r| r.name == s.name && r.state == "free")
            .map(|_| ())
    })
    .await;
    let old = s
        .userdata
        .get("scratch")
        .expect("scratch in user data")
        .to_string();
    up.until("its old scratch dir goes through the janitor", |_| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains(&format!("--dir={old}")).then_some(())
    })
    .await;
    up.stop().await;
}
