//! Virtual resources through `mason acquire`, `release` and `run`: the physical resources
//! parked in a state named after the virtual one are handed out with it and returned with
//! it. The virtual resource is prepared by hand (no builder): a static `vm` whose user data
//! lists its physical `phys` resources, parked unowned in state `vm-1`.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode, Uri};
use mason_client::BoskosApi;
use mason_testkit::{eventually, TestServer, TestServerOptions};
use mason_types::{Resource, UserData};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::common::{client, command, mason, parts, Running};

const LIMIT: Duration = Duration::from_secs(20);

/// One virtual `vm-1`, three physical resources.
const POOLS: &str = "\
resources:
- type: vm
  state: free
  names: [vm-1]
- type: phys
  state: free
  names: [p-1, p-2, p-3]
";

/// Make `vm-1` a free virtual resource listing `listed`, and park `parked` (free
/// physical resources) unowned in state `vm-1`, as the builder leaves them.
async fn prepare(server: &TestServer, listed: &[&str], parked: &[&str]) {
    let builder = client(&server.url, "mason");
    for name in parked {
        builder
            .acquire_by_state("free", "leased", &[name.to_string()])
            .await
            .unwrap();
        builder.release(name, "vm-1").await.unwrap();
    }
    builder
        .acquire("vm", "free", "cleaning", None)
        .await
        .unwrap();
    let mut ud = UserData::new();
    let listed: Vec<String> = listed.iter().map(|n| n.to_string()).collect();
    ud.set_leased_resources(&listed);
    ud.insert("endpoint", "vm-1.example");
    builder.update("vm-1", "cleaning", Some(&ud)).await.unwrap();
    builder.release("vm-1", "free").await.unwrap();
}

/// `(state, owner)` of each named resource in the store.
async fn held(server: &TestServer, names: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in names {
        let r = server.store.get(name).await.unwrap();
        out.push((r.state, r.owner));
    }
    out
}

fn all(state: &str, owner: &str, n: usize) -> Vec<(String, String)> {
    vec![(state.to_string(), owner.to_string()); n]
}

fn args<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

const ACQUIRE: &[&str] = &[
    "acquire",
    "--type",
    "vm",
    "--state",
    "free",
    "--target-state",
    "busy",
];

#[tokio::test]
async fn acquire_takes_the_physical_resources_and_release_returns_them() {
    let server = TestServer::start(POOLS).await;
    prepare(&server, &["p-1", "p-2"], &["p-1", "p-2"]).await;

    let (code, stdout, stderr) = parts(&mason(&server.url, "ci", ACQUIRE).await);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let res: Resource = serde_json::from_str(stdout.trim_end()).unwrap();
    assert_eq!(
        (res.name.as_str(), res.state.as_str(), res.owner.as_str()),
        ("vm-1", "busy", "ci")
    );
    assert_eq!(
        held(&server, &["vm-1", "p-1", "p-2"]).await,
        all("busy", "ci", 3)
    );
    assert_eq!(
        held(&server, &["p-3"]).await,
        all("free", "", 1),
        "an unlisted physical resource is left alone"
    );

    // The release finds the physical resources through /api/v2/resources.
    let release = ["release", "--name", "vm-1", "--target-state", "dirty"];
    let out = mason(&server.url, "ci", &release).await;
    assert_eq!(
        parts(&out),
        (
            0,
            "released resource \"vm-1\"\nreleased resource \"p-1\"\nreleased resource \"p-2\"\n"
                .to_string(),
            String::new()
        )
    );
    assert_eq!(
        held(&server, &["vm-1", "p-1", "p-2"]).await,
        all("dirty", "", 3)
    );
    server.stop().await;
}

#[tokio::test]
async fn full_output_lists_the_physical_resources_and_leased_names_them_for_release() {
    let server = TestServer::start(POOLS).await;
    prepare(&server, &["p-1", "p-2"], &["p-1", "p-2"]).await;

    let out = mason(&server.url, "ci", &args(ACQUIRE, &["--output", "full"])).await;
    let (code, stdout, stderr) = parts(&out);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let full: serde_json::Value = serde_json::from_str(stdout.trim_end()).unwrap();
    let res: Resource = serde_json::from_value(full["resource"].clone()).unwrap();
    assert_eq!(res.name, "vm-1");
    assert_eq!(res.userdata.get("endpoint"), Some("vm-1.example"));
    let leased: Vec<Resource> = serde_json::from_value(full["leased"].clone()).unwrap();
    let leased: Vec<_> = leased
        .iter()
        .map(|r| (r.name.as_str(), r.state.as_str(), r.owner.as_str()))
        .collect();
    assert_eq!(leased, [("p-1", "busy", "ci"), ("p-2", "busy", "ci")]);

    // A plain resource: the same shape with nothing leased.
    let plain = [
        "acquire",
        "--type",
        "phys",
        "--state",
        "free",
        "--target-state",
        "busy",
        "--output",
        "full",
    ];
    let (code, stdout, stderr) = parts(&mason(&server.url, "ci", &plain).await);
    assert_eq!(code, 0, "{stderr}");
    let full: serde_json::Value = serde_json::from_str(stdout.trim_end()).unwrap();
    assert_eq!(full["resource"]["name"], "p-3");
    assert_eq!(full["leased"], serde_json::json!([]));

    // Named explicitly, with one unknown name: the others are still released, the
    // failure is reported and the exit code says so.
    let release = [
        "release",
        "--name",
        "vm-1",
        "--target-state",
        "dirty",
        "--leased",
        "p-1,p-9,p-2",
    ];
    let (code, stdout, stderr) = parts(&mason(&server.url, "ci", &release).await);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stdout,
        "released resource \"vm-1\"\nreleased resource \"p-1\"\nreleased resource \"p-2\"\n"
    );
    assert!(
        stderr.starts_with("failed to release resource \"p-9\": "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        held(&server, &["vm-1", "p-1", "p-2"]).await,
        all("dirty", "", 3)
    );
    server.stop().await;
}

#[tokio::test]
async fn a_missing_physical_resource_fails_acquire_and_run_without_leaking() {
    for run in [false, true] {
        let server = TestServer::start(POOLS).await;
        // p-3 is listed but not parked (it is still free): the acquirebystate fails.
        prepare(&server, &["p-1", "p-3"], &["p-1"]).await;
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let marker_arg = marker.to_str().unwrap();
        let cmd: Vec<&str> = if run {
            vec!["run", "--type", "vm", "--", "touch", marker_arg]
        } else {
            ACQUIRE.to_vec()
        };
        let (code, stdout, stderr) = parts(&mason(&server.url, "ci", &cmd).await);
        assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
        assert!(stderr.contains("failed to acquire a resource"), "{stderr}");
        assert!(stderr.contains("\"p-3\""), "{stderr}");
        assert!(stderr.contains("vm-1 was released to dirty"), "{stderr}");
        assert!(!marker.exists(), "the command ran");
        // Nothing is left with ci; the virtual one is dirty for the builder to recycle,
        // the physical ones are where they were.
        assert_eq!(held(&server, &["vm-1"]).await, all("dirty", "", 1));
        assert_eq!(held(&server, &["p-1"]).await, all("vm-1", "", 1));
        assert_eq!(held(&server, &["p-2", "p-3"]).await, all("free", "", 2));
        server.stop().await;
    }
}

#[tokio::test]
async fn run_exports_heartbeats_and_releases_every_resource() {
    let server = TestServer::start_with(TestServerOptions::new(POOLS).with_manual_clock()).await;
    let clock = server.clock.clone().unwrap();
    prepare(&server, &["p-1", "p-2"], &["p-1", "p-2"]).await;
    let reaper = client(&server.url, "reaper");
    // The command runs until the test writes a line to its stdin.
    let script = "echo \"$MASON_RESOURCE_NAME $MASON_USERDATA_ENDPOINT\"; \
                  echo \"$MASON_LEASED_NAMES\"; echo \"$MASON_LEASED_JSON\"; \
                  read line; echo finished";
    let cmd = [
        "run",
        "--type",
        "vm",
        "--heartbeat-period",
        "20ms",
        "--",
        "sh",
        "-c",
        script,
    ];
    let mut cmd = command(&server.url, "ci", &cmd);
    cmd.stdin(Stdio::piped());
    let mut run = Running::spawn(cmd);
    let mut stdin = run.child.stdin.take().unwrap();
    assert_eq!(run.line().await, "vm-1 vm-1.example");
    assert_eq!(run.line().await, "p-1,p-2");
    let leased: Vec<Resource> = serde_json::from_str(&run.line().await).unwrap();
    let leased: Vec<_> = leased
        .iter()
        .map(|r| (r.name.as_str(), r.rtype.as_str(), r.state.as_str()))
        .collect();
    assert_eq!(leased, [("p-1", "phys", "busy"), ("p-2", "phys", "busy")]);
    assert_eq!(
        held(&server, &["vm-1", "p-1", "p-2"]).await,
        all("busy", "ci", 3)
    );

    // An hour passes; once every held resource has had a heartbeat after the jump,
    // resets with a 30 minute expiry take none of them.
    clock.advance(Duration::from_secs(3600));
    let now = clock.peek();
    eventually("a heartbeat of every resource", LIMIT, || async {
        let mut fresh = true;
        for name in ["vm-1", "p-1", "p-2"] {
            fresh &= server.store.get(name).await.unwrap().lastupdate >= now;
        }
        fresh.then_some(())
    })
    .await;
    for rtype in ["vm", "phys"] {
        let reset = reaper
            .reset(rtype, "busy", Duration::from_secs(1800), "dirty")
            .await
            .unwrap();
        assert!(reset.is_empty(), "a held {rtype} was reset: {reset:?}");
    }

    stdin.write_all(b"go\n").await.unwrap();
    drop(stdin);
    let (code, rest, stderr) = run.finish().await;
    assert_eq!((code, rest.as_str()), (0, "finished\n"), "{stderr}");
    for name in ["vm-1", "p-1", "p-2"] {
        assert!(
            stderr.contains(&format!("released \"{name}\" to \"dirty\"")),
            "{stderr}"
        );
    }
    assert_eq!(
        held(&server, &["vm-1", "p-1", "p-2"]).await,
        all("dirty", "", 3)
    );
    server.stop().await;
}

/// A stand-in for upstream Boskos: `/release` succeeds, and every other path gets the
/// catch-all's answer (`listing`: upstream's `200` with an empty body, or a proxy's 404).
struct Upstream {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start(listing: (u16, &'static str)) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let handler = move |method: Method, uri: Uri| {
            let log = Arc::clone(&log);
            async move {
                let path = uri.path().to_string();
                let line = format!("{method} {path}?{}", uri.query().unwrap_or(""));
                log.lock().unwrap().push(line);
                let (status, body) = if path == "/release" {
                    (200, "")
                } else {
                    listing
                };
                (StatusCode::from_u16(status).unwrap(), body)
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .unwrap();
        });
        Self {
            url,
            seen,
            stop,
            task,
        }
    }

    /// The requests seen so far, and forget them.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

#[tokio::test]
async fn without_the_listing_route_only_the_named_resource_is_released_with_a_warning() {
    for listing in [(200, ""), (404, "404 page not found\n")] {
        let upstream = Upstream::start(listing).await;
        let release = ["release", "--name", "vm-1", "--target-state", "dirty"];
        let (code, stdout, stderr) = parts(&mason(&upstream.url, "ci", &release).await);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(stdout, "released resource \"vm-1\"\n");
        assert!(stderr.contains("warning"), "{stderr}");
        assert!(stderr.contains("--leased"), "{stderr}");
        assert_eq!(
            upstream.take(),
            [
                "GET /api/v2/resources?owner=ci",
                "POST /release?dest=dirty&name=vm-1&owner=ci",
            ]
        );

        // Named explicitly: no lookup, no warning, all released.
        let explicit = args(&release, &["--leased", "p-1,p-2"]);
        let (code, stdout, stderr) = parts(&mason(&upstream.url, "ci", &explicit).await);
        assert_eq!((code, stderr.as_str()), (0, ""));
        assert_eq!(stdout.lines().count(), 3, "{stdout}");
        assert_eq!(
            upstream.take(),
            [
                "POST /release?dest=dirty&name=vm-1&owner=ci",
                "POST /release?dest=dirty&name=p-1&owner=ci",
                "POST /release?dest=dirty&name=p-2&owner=ci",
            ]
        );

        // `--leased ''`: a plain resource, released without looking.
        let plain = args(&release, &["--leased", ""]);
        let (code, _, stderr) = parts(&mason(&upstream.url, "ci", &plain).await);
        assert_eq!((code, stderr.as_str()), (0, ""));
        assert_eq!(
            upstream.take(),
            ["POST /release?dest=dirty&name=vm-1&owner=ci"]
        );
        upstream.stop().await;
    }
}
