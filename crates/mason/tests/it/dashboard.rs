//! The dashboard (`/ui`) in a real headless Chromium, driven over WebDriver
//! ([`mason_testkit::browser`]), against `mason up` as a real process with static pools,
//! a dynamic pool the builder builds, and a few leases:
//!
//! 1. the overview shows, for every type, the counts by state that `/metric` reports;
//! 2. after an acquire through the API the overview shows it within 2 s, without a reload
//!    (the page follows `/api/v2/events/stream`);
//! 3. the resource page, reached with the keyboard, shows that acquire in its history;
//! 4. the resource table pages and filters on the server;
//! 5. at a phone's width nothing overflows sideways;
//! 6. the browser console holds no error from start to end.
//!
//! Screenshots are kept under `target/tmp/dashboard/` (`CARGO_TARGET_TMPDIR`); with
//! `MASON_UPDATE_SCREENSHOT=1` the overview's also replaces `docs/dashboard.png`, the
//! README's picture. Without Chromium the test is skipped with a message, except under
//! `CI=true`, where it fails (see [`mason_testkit::browser`]).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mason_client::{BoskosApi, HttpClient};
use mason_testkit::browser::{Browser, ENTER};
use mason_types::Metric;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Safety net for waits that are not timing assertions.
const LIMIT: Duration = Duration::from_secs(60);
/// How soon the page must show a change (the acceptance line).
const LIVE: Duration = Duration::from_secs(2);

const CONFIG: &str = "\
resources:
- type: gce-project
  names: [gce-project-01, gce-project-02, gce-project-03, gce-project-04, gce-project-05,
          gce-project-06, gce-project-07, gce-project-08, gce-project-09, gce-project-10]
- type: aws-account
  state: dirty
  names: [aws-account-1, aws-account-2, aws-account-3, aws-account-4]
- type: gke-cluster
  state: dirty
  min-count: 2
  max-count: 3
  lifespan: 2h
  needs: {gce-project: 1}
  config:
    type: exec
    content: |
      command: [./build.sh]
      timeout: 30s
";

/// A build that succeeds at once with a little user data.
const BUILD_SH: &str = "#!/bin/sh\ncat > /dev/null\nprintf '{\"endpoint\":\"https://%s.example\"}' \"$MASON_RESOURCE_NAME\"\n";

struct Up {
    child: Child,
    url: String,
}

impl Up {
    async fn start(dir: &Path) -> Up {
        std::fs::write(dir.join("config.yaml"), CONFIG).unwrap();
        let script = dir.join("build.sh");
        std::fs::write(&script, BUILD_SH).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mason"))
            .args(["up", "--port=0", "--store=sqlite::memory:", "--config"])
            .arg(dir.join("config.yaml"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("up.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn mason up");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(LIMIT, stdout.next_line())
            .await
            .expect("mason up prints its URL")
            .unwrap()
            .expect("a first line");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_string();
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Up { child, url }
    }

    async fn stop(mut self) {
        let pid = rustix::process::Pid::from_raw(self.child.id().unwrap() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "mason up exited with {status}");
    }
}

/// `/metric` of every type, as `type → state → count`.
async fn metrics(url: &str, types: &[&str]) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut all = BTreeMap::new();
    for t in types {
        let m: Metric = reqwest::get(format!("{url}/metric?type={t}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.insert(t.to_string(), m.current);
    }
    all
}

/// What the overview's legends show, as `type → state → count`.
const SHOWN_COUNTS: &str = "
  const rows = document.querySelectorAll('#types tbody tr');
  if (rows.length === 0) return null;
  const out = {};
  for (const row of rows) {
    const counts = {};
    for (const s of row.querySelectorAll('.legend [data-state]')) counts[s.dataset.state] = Number(s.dataset.count);
    out[row.dataset.type] = counts;
  }
  return out;";

/// Wait until the overview shows exactly what `/metric` reports (asked again each time:
/// the page is live, so it must catch up with any change).
async fn overview_matches_metric(browser: &Browser, url: &str, types: &[&str], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let expected = metrics(url, types).await;
        let shown = browser.execute(SHOWN_COUNTS, json!([])).await;
        let shown: Option<BTreeMap<String, BTreeMap<String, u64>>> =
            serde_json::from_value(shown).expect("counts");
        if shown.as_ref() == Some(&expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the overview shows {shown:?}, /metric reports {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_pools_live_in_a_real_browser() {
    let Some(browser) = Browser::launch(1280, 860).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(dir.path()).await;
    let types = ["aws-account", "gce-project", "gke-cluster"];

    // A scene worth a screenshot: both clusters built, a few leases held.
    mason_testkit::eventually("two clusters built", LIMIT, || async {
        let m = metrics(&up.url, &["gke-cluster"]).await;
        (m["gke-cluster"].get("free") == Some(&2)).then_some(())
    })
    .await;
    let ci = HttpClient::builder(&up.url, "ci-job-4711").build().unwrap();
    let other = HttpClient::builder(&up.url, "ci-job-4712").build().unwrap();
    ci.acquire("gce-project", "free", "busy", None)
        .await
        .unwrap();
    other
        .acquire("gke-cluster", "free", "busy", None)
        .await
        .unwrap();
    ci.acquire("aws-account", "dirty", "cleaning", None)
        .await
        .unwrap();

    // 1. The overview shows what /metric reports.
    browser.goto(&format!("{}/ui", up.url)).await;
    overview_matches_metric(&browser, &up.url, &types, LIMIT).await;
    browser
        .wait_for(
            "the stream to be live",
            LIMIT,
            "return document.querySelector('#live').textContent === 'live';",
        )
        .await;
    browser
        .save_screenshot(&artifacts().join("overview.png"))
        .await;
    if std::env::var("MASON_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/dashboard.png");
        browser.save_screenshot(&docs).await;
    }

    // 2. An acquire through the API shows within 2 s, without a reload.
    browser
        .execute("window.__notReloaded = true; return null;", json!([]))
        .await;
    let leased = ci
        .acquire("gce-project", "free", "busy", None)
        .await
        .unwrap();
    let acquired_at = Instant::now();
    overview_matches_metric(&browser, &up.url, &types, LIMIT).await;
    let seen_after = acquired_at.elapsed();
    assert!(
        seen_after <= LIVE,
        "the acquire showed after {seen_after:?}"
    );
    let same_page = browser
        .execute("return window.__notReloaded === true;", json!([]))
        .await;
    assert_eq!(same_page, json!(true), "the page was reloaded");

    // 3. The resource page, reached with the keyboard, shows the acquire in its history.
    browser
        .goto(&format!("{}/ui#/resources?q={}", up.url, leased.name))
        .await;
    let link = format!("#resources a[href=\"#/resource/{}\"]", leased.name);
    browser
        .wait_for(
            "the resource in the table",
            LIMIT,
            &format!("return document.querySelector('{link}') !== null;"),
        )
        .await;
    browser
        .execute(
            &format!("document.querySelector('{link}').focus(); return null;"),
            json!([]),
        )
        .await;
    browser.press(ENTER).await;
    let history = browser
        .wait_for(
            "the acquire in the resource's history",
            LIMIT,
            "const rows = [...document.querySelectorAll('#history tbody tr')].map((r) => r.textContent);
             return rows.some((t) => t.includes('acquire') && t.includes('ci-job-4711')) ? rows : null;",
        )
        .await;
    assert!(browser
        .url()
        .await
        .ends_with(&format!("#/resource/{}", leased.name)));
    assert!(!history.as_array().unwrap().is_empty());
    browser
        .save_screenshot(&artifacts().join("resource.png"))
        .await;

    // 4. The resource table: server-side filter and pages.
    browser
        .goto(&format!(
            "{}/ui#/resources?type=gce-project&state=free",
            up.url
        ))
        .await;
    // The table shows exactly the free gce-projects /metric counts, each free (waiting
    // until the filtered page replaced the previous view's rows).
    let free = metrics(&up.url, &["gce-project"]).await["gce-project"]["free"];
    let names = browser
        .wait_for(
            "the filtered table",
            LIMIT,
            &format!(
                "const rows = [...document.querySelectorAll('#resources tbody tr')]
                   .map((r) => [r.dataset.name, r.children[1].textContent, r.children[2].textContent]);
                 const ok = rows.length === {free}
                   && rows.every(([, type, state]) => type === 'gce-project' && state === 'free');
                 return ok ? rows : null;"
            ),
        )
        .await;
    assert_eq!(names.as_array().unwrap().len() as u64, free, "{names}");

    // 5. A phone's width: no sideways scrolling.
    browser.set_window_size(390, 844).await;
    browser.goto(&format!("{}/ui", up.url)).await;
    browser
        .wait_for("the overview on a phone", LIMIT, SHOWN_COUNTS)
        .await;
    let overflow = browser
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            json!([]),
        )
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page overflows by {overflow} px"
    );
    browser
        .save_screenshot(&artifacts().join("phone.png"))
        .await;

    // 6. No console errors at any point.
    let errors: Vec<_> = browser
        .console()
        .await
        .into_iter()
        .filter(|e| e.level == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    drop(browser);
    up.stop().await;
}
