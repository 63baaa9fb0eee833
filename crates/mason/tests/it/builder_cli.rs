//! `mason builder` as a real process against a real server: builds the pool, survives a
//! `kill -9` in the middle of a construct (the next run releases the leftovers and the
//! pool recovers to min-count), and stops cleanly on SIGTERM leaving nothing leased.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mason_client::{BoskosApi, HttpClient, VirtualClient};
use mason_store::ResourceFilter;
use mason_testkit::TestServer;
use mason_types::{Resource, LEASED_RESOURCES};

const CONFIG: &str = "\
resources:
- type: phys
  names: [p-1, p-2, p-3, p-4]
- type: virt
  state: dirty
  min-count: 2
  max-count: 4
  needs: {phys: 1}
  config:
    type: exec
    content: |
      command: [./build.sh]
      timeout: 1m
";

/// Instant, unless a `slow` file exists: then it records its process group and hangs.
const BUILD_SH: &str = r#"#!/bin/sh
cat > /dev/null
if [ -e slow ]; then
  echo $$ > hanging.pid
  sleep 60
fi
printf '{"endpoint":"virt://%s"}' "$MASON_RESOURCE_NAME"
"#;

const LIMIT: Duration = Duration::from_secs(30);

struct Setup {
    server: TestServer,
    dir: tempfile::TempDir,
}

impl Setup {
    fn config(&self) -> PathBuf {
        self.dir.path().join("boskos.yaml")
    }

    fn spawn_builder(&self, run: u32) -> Running {
        let log =
            std::fs::File::create(self.dir.path().join(format!("builder-{run}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mason"))
            .args(["builder", "--server-url", &self.server.url, "--config"])
            .arg(self.config())
            .args([
                "--sync-period",
                "1s",
                "--fulfil-timeout",
                "5s",
                "--log-level",
                "debug",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn mason builder");
        Running(child)
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for run in 1..=3 {
            if let Ok(text) =
                std::fs::read_to_string(self.dir.path().join(format!("builder-{run}.log")))
            {
                out.push_str(&format!("--- builder run {run} ---\n{text}"));
            }
        }
        out
    }

    async fn all(&self) -> Vec<Resource> {
        self.server
            .store
            .list(&ResourceFilter::default())
            .await
            .unwrap()
    }

    async fn wait_for<T>(&self, what: &str, mut check: impl FnMut(&[Resource]) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let all = self.all().await;
            if let Some(v) = check(&all) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; resources: {all:#?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Free, unowned virtual resources whose physical ones are parked under their name.
fn built(all: &[Resource]) -> Vec<Resource> {
    all.iter()
        .filter(|v| v.rtype == "virt" && v.state == "free" && v.owner.is_empty())
        .filter(|v| v.userdata.get("endpoint") == Some(format!("virt://{}", v.name).as_str()))
        .filter(|v| {
            let names = v.userdata.leased_resources().unwrap_or_default();
            !names.is_empty()
                && names.iter().all(|n| {
                    all.iter()
                        .any(|p| &p.name == n && p.state == v.name && p.owner.is_empty())
                })
        })
        .cloned()
        .collect()
}

/// A `mason builder` process, killed when dropped: a test that fails half-way must not
/// leave it running against a server that is gone.
struct Running(Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_script(dir: &Path) {
    let path = dir.join("build.sh");
    std::fs::write(&path, BUILD_SH).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "builder did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builder_survives_kill_9_mid_construct() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("boskos.yaml"), CONFIG).unwrap();
    write_script(dir.path());
    let setup = Setup {
        server: TestServer::start(CONFIG).await,
        dir,
    };

    // First run builds the pool to min-count.
    let mut first = setup.spawn_builder(1);
    setup
        .wait_for("two built virtual resources", |all| {
            (built(all).len() == 2).then_some(())
        })
        .await;

    // Make the next construct hang, and dirty one virtual resource through the Mason client.
    std::fs::write(setup.dir.path().join("slow"), "").unwrap();
    let user: std::sync::Arc<dyn BoskosApi> = std::sync::Arc::new(
        HttpClient::builder(&setup.server.url, "ci-job")
            .build()
            .unwrap(),
    );
    let mason = VirtualClient::new(user);
    let lease = mason.acquire("virt", "free", "busy", None).await.unwrap();
    mason.release_lease(&lease, "dirty").await.unwrap();
    let pid_file = setup.dir.path().join("hanging.pid");
    let victim = setup
        .wait_for("a construct under way", |all| {
            all.iter()
                .find(|v| {
                    v.rtype == "virt"
                        && v.state == "cleaning"
                        && v.owner == "mason"
                        && v.userdata.get(LEASED_RESOURCES).is_some()
                })
                .filter(|_| pid_file.exists())
                .cloned()
        })
        .await;

    // kill -9 mid-construct: the virtual resource and its physical one stay owned.
    first.kill().unwrap();
    first.wait().unwrap();
    let hanging = std::fs::read_to_string(&pid_file).unwrap();
    // The orphaned construct program is not ours to keep: end its process group.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", hanging.trim())])
        .status();
    let owned: Vec<Resource> = setup
        .all()
        .await
        .into_iter()
        .filter(|r| r.owner == "mason")
        .collect();
    assert_eq!(owned.len(), 2, "{owned:#?}");
    assert!(owned
        .iter()
        .any(|r| r.name == victim.name && r.state == "cleaning"));
    assert!(owned
        .iter()
        .any(|r| r.rtype == "phys" && r.state == "leased"));

    // Restart with the same owner name: leftovers released, pool back at min-count.
    std::fs::remove_file(setup.dir.path().join("slow")).unwrap();
    let mut second = setup.spawn_builder(2);
    setup
        .wait_for("the pool back at min-count", |all| {
            (built(all).len() == 2).then_some(())
        })
        .await;
    let logs = setup.logs();
    assert!(
        logs.contains("released a leftover of a previous run to dirty"),
        "{logs}"
    );

    // SIGTERM: clean exit, nothing left leased.
    sigterm(&second);
    let status = wait_exit(&mut second).await;
    assert!(status.success(), "exit status {status}\n{}", setup.logs());
    let owned: Vec<Resource> = setup
        .all()
        .await
        .into_iter()
        .filter(|r| !r.owner.is_empty())
        .collect();
    assert!(owned.is_empty(), "{owned:#?}");
    setup.server.stop().await;
}

#[tokio::test]
async fn invalid_config_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "resources:\n- type: v\n  max-count: 0\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mason"))
        .args(["builder", "--server-url", "http://127.0.0.1:9", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid config") && stderr.contains("max-count: must be >0"),
        "{stderr}"
    );
}
