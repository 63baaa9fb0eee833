//! `mason import` and `mason export` as the built binary, on the acceptance fixture
//! `tests/fixtures/boskos-state.yaml` (55 resources of an upstream installation, 17 of
//! them leased, plus 2 dynamic pools; written from SPEC §7.7) and its config
//! `boskos-resources.yaml`, on a SQLite file and on a throwaway PostgreSQL database:
//!
//! - the import writes every resource; a server started on that store (with that config)
//!   shows each one with its fields on `/api/v2/resources`, and an owner can release its
//!   lease while another owner cannot;
//! - import → export → import gives the same store (compared through `mason export`,
//!   which prints every stored field of every resource and pool, sorted);
//! - every invalid input is refused with the object and field named, exit code 2, and
//!   the store unchanged — even with `--replace`; a store that is not empty, and a merge
//!   that conflicts, are refused with exit code 1 and the store unchanged.

use std::path::{Path, PathBuf};
use std::process::Output;

use mason_testkit::postgres::fresh_database_or_skip;
use mason_testkit::{TestServer, TestServerOptions};
use mason_types::k8s::Reader;
use mason_types::Resource;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_text() -> String {
    std::fs::read_to_string(fixture("boskos-state.yaml")).expect("fixture")
}

/// The fixture's resources, as `mason import` must store them.
fn expected_resources() -> Vec<Resource> {
    let mut reader = Reader::new();
    reader.read("fixture", &fixture_text());
    let set = reader.finish().expect("the fixture is valid");
    assert_eq!(set.resources.len(), 55);
    assert_eq!(
        set.resources.iter().filter(|r| !r.owner.is_empty()).count(),
        17
    );
    set.resources
}

/// `mason ARGS`, with `stdin` piped in when given.
async fn mason(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mason"));
    cmd.args(args)
        .env("MASON_LOG", "warn")
        .env_remove("MASON_STORE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("run mason");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
    }
    drop(pipe);
    child.wait_with_output().await.expect("mason finishes")
}

fn text(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `mason import --store URL ARGS… FILE` that must succeed (FILE `-` reads `stdin`);
/// its stdout.
async fn import_ok(store: &str, args: &[&str], file: &str, stdin: Option<&str>) -> String {
    let mut all = vec!["import", "--store", store];
    all.extend_from_slice(args);
    all.push(file);
    let (code, out, err) = text(&mason(&all, stdin).await);
    assert_eq!(code, 0, "import failed: {err}\n{out}");
    out
}

/// Everything the store holds, as `mason export` prints it.
async fn export(store: &str, format: &str) -> String {
    let (code, out, err) =
        text(&mason(&["export", "--store", store, "--format", format], None).await);
    assert_eq!(code, 0, "export failed: {err}");
    out
}

/// The acceptance lines, on one store URL (which must be empty).
async fn acceptance(store: &str) {
    let state = fixture("boskos-state.yaml");
    let config = fixture("boskos-resources.yaml");
    let state = state.to_str().unwrap();
    let config = config.to_str().unwrap();

    // A dry run writes nothing.
    let out = import_ok(
        store,
        &["--dry-run", "--config", config, "--with-drlcs"],
        state,
        None,
    )
    .await;
    assert!(out.starts_with("would write 55 resources"), "{out}");
    assert!(out.contains("  gce-project  busy"), "{out}");
    assert!(
        out.contains("would write dynamic pools: gke-cluster, vm"),
        "{out}"
    );

    let out = import_ok(store, &["--config", config, "--with-drlcs"], state, None).await;
    assert!(out.starts_with("wrote 55 resources"), "{out}");

    invalid_inputs_change_nothing(store).await;
    server_shows_everything_and_owners_release(store, &config.into()).await;
}

/// A server on the imported store and the same config: `/api/v2/resources` shows every
/// resource with its fields, owners can release their leases and nobody else can.
async fn server_shows_everything_and_owners_release(store: &str, config: &PathBuf) {
    let expected = expected_resources();
    let server = TestServer::start_with(
        TestServerOptions::empty()
            .with_store(store.parse().expect("store URL"))
            .with_config_file(config),
    )
    .await;
    let body = reqwest::get(server.url_for("/api/v2/resources"))
        .await
        .expect("GET /api/v2/resources")
        .text()
        .await
        .expect("body");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&body).expect("JSON list");
    assert_eq!(listed.len(), expected.len(), "{body}");
    for want in &expected {
        let got = listed
            .iter()
            .find(|v| v["name"] == want.name.as_str())
            .unwrap_or_else(|| panic!("{} missing from /api/v2/resources", want.name));
        assert_eq!(got["type"], want.rtype.as_str(), "{got}");
        assert_eq!(got["state"], want.state.as_str(), "{got}");
        assert_eq!(got["owner"], want.owner.as_str(), "{got}");
        let shown = got["lastupdate"].as_str().expect("lastupdate");
        let shown = mason_types::resource::parse_wire_time(shown).expect("RFC 3339");
        assert_eq!(shown.timestamp(), want.lastupdate.timestamp(), "{got}");
        let userdata: std::collections::BTreeMap<String, String> =
            serde_json::from_value(got["userdata"].clone()).expect("userdata");
        assert_eq!(&userdata, want.userdata.as_map(), "{got}");
        let expiration = got["expiration-date"].as_str().map(|t| {
            mason_types::resource::parse_wire_time(t)
                .unwrap()
                .timestamp()
        });
        assert_eq!(
            expiration,
            want.expiration_date.map(|t| t.timestamp()),
            "{got}"
        );
    }

    let release = |name: &str, owner: &str| {
        let url = server.url.clone();
        let (name, owner) = (name.to_string(), owner.to_string());
        async move {
            let args = [
                "release",
                "--server-url",
                &url,
                "--owner-name",
                &owner,
                "--name",
                &name,
                "--target-state",
                "dirty",
            ];
            text(&mason(&args, None).await)
        }
    };
    let leased = expected
        .iter()
        .find(|r| r.rtype == "gce-project" && r.state == "busy")
        .expect("a leased project");
    let (code, _, err) = release(&leased.name, "someone-else").await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("owner mismatch"), "{err}");
    let (code, out, err) = release(&leased.name, &leased.owner).await;
    assert_eq!(code, 0, "{out}{err}");
    let after = server.store.get(&leased.name).await.expect("get");
    assert_eq!((after.state.as_str(), after.owner.as_str()), ("dirty", ""));
    server.stop().await;
}

/// Each invalid input: exit 2, the object and field named, the store unchanged (also
/// with `--replace`). Then the refusals of a non-empty store and of a conflicting merge.
async fn invalid_inputs_change_nothing(store: &str) {
    let before = export(store, "yaml").await;
    let good = fixture_text();
    let object = |name: &str, spec: &str, status: &str| {
        format!(
            "---\napiVersion: boskos.k8s.io/v1\nkind: ResourceObject\nmetadata: {{name: {name}, namespace: test-pods}}\n\
             spec: {spec}\nstatus: {status}\n"
        )
    };
    let ok_status = "{state: free, owner: '', lastUpdate: '2024-03-01T10:00:00Z'}";
    let cases: Vec<(String, &str)> = vec![
        (
            object("extra-1", "{}", ok_status),
            "ResourceObject \"extra-1\": spec.type: must be set",
        ),
        (
            object("extra-2", "{type: t}", "{state: free, lastUpdate: 'yesterday'}"),
            "ResourceObject \"extra-2\": status.lastUpdate: \"yesterday\" is not an RFC 3339 timestamp",
        ),
        (
            object("project-07", "{type: gce-project}", ok_status),
            "ResourceObject \"project-07\": metadata.name: duplicate name, first at",
        ),
        (
            object("extra-3", "{type: t}", "{state: free, lastUpdate: '2024-03-01T10:00:00Z', userData: {n: 5}}"),
            "ResourceObject \"extra-3\": status.userData.n: must be a string",
        ),
        (
            "---\napiVersion: boskos.k8s.io/v1\nkind: DRLCObject\nmetadata: {name: extra-pool}\n\
             spec: {min-count: 3, max-count: 1}\n"
                .to_string(),
            "DRLCObject \"extra-pool\": spec.min-count: 3 is more than spec.max-count (1)",
        ),
        (
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n".to_string(),
            "kind: unsupported kind \"ConfigMap\"",
        ),
        (
            "---\nkind: [broken\n".to_string(),
            "document 2: not valid YAML",
        ),
    ];
    for (extra, want) in &cases {
        let input = format!("{good}{extra}");
        for mode in ["--merge", "--replace"] {
            let (code, out, err) = text(
                &mason(
                    &["import", "--store", store, "--with-drlcs", mode, "-"],
                    Some(&input),
                )
                .await,
            );
            assert_eq!(code, 2, "{mode} {want}: {out}{err}");
            assert!(err.contains("nothing was imported"), "{err}");
            assert!(err.contains(want), "{mode}: want {want:?} in:\n{err}");
            assert!(err.contains("<stdin>, document"), "{err}");
        }
        assert_eq!(export(store, "yaml").await, before, "{want}: store changed");
    }

    // A store that is not empty, without --merge or --replace.
    let (code, _, err) = text(&mason(&["import", "--store", store, "-"], Some(&good)).await);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the store is not empty: it holds 55 resources and 2 dynamic pools"),
        "{err}"
    );
    // A merge that meets a different version of a stored resource.
    let changed = good.replacen("owner: \"ci-job-10\"", "owner: \"ci-job-99\"", 1);
    assert_ne!(changed, good);
    let (code, _, err) = text(
        &mason(
            &["import", "--store", store, "--merge", "-"],
            Some(&changed),
        )
        .await,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("resource \"project-11\" is in the store with another owner"),
        "{err}"
    );
    assert_eq!(
        export(store, "yaml").await,
        before,
        "refusals changed the store"
    );
    // An identical merge writes nothing and says so.
    let out = import_ok(store, &["--merge", "--with-drlcs"], "-", Some(&good)).await;
    assert!(out.starts_with("wrote 0 resources"), "{out}");
    assert!(
        out.contains("55 resources already in the store, identical"),
        "{out}"
    );
    assert_eq!(export(store, "yaml").await, before);
}

/// import → export → import → export, in YAML and in JSON: the exports (every stored
/// field of every resource and pool, sorted) are equal, so the stores are.
async fn round_trip(first: &str, second: &str, third: &str) {
    let state = fixture("boskos-state.yaml");
    import_ok(first, &["--with-drlcs"], state.to_str().unwrap(), None).await;
    let yaml = export(first, "yaml").await;
    assert_eq!(yaml.matches("kind: \"ResourceObject\"").count(), 55);
    assert_eq!(yaml.matches("kind: \"DRLCObject\"").count(), 2);
    let out = import_ok(second, &["--with-drlcs"], "-", Some(&yaml)).await;
    assert!(out.starts_with("wrote 55 resources"), "{out}");
    assert_eq!(export(second, "yaml").await, yaml);

    let json = export(first, "json").await;
    import_ok(third, &["--with-drlcs"], "-", Some(&json)).await;
    assert_eq!(export(third, "json").await, json);
    assert_eq!(export(third, "yaml").await, yaml);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}/mason.db", dir.path().display());
    acceptance(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_on_postgres() {
    let Some(url) = fresh_database_or_skip("migrate::fixture_on_postgres").await else {
        return;
    };
    acceptance(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = |n: &str| format!("sqlite://{}/{n}.db", dir.path().display());
    round_trip(&url("a"), &url("b"), &url("c")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_across_backends() {
    let Some(pg) = fresh_database_or_skip("migrate::round_trip_across_backends").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = |n: &str| format!("sqlite://{}/{n}.db", dir.path().display());
    // SQLite → PostgreSQL → SQLite.
    round_trip(&sqlite("a"), &pg, &sqlite("c")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_creates_no_store_file_and_a_missing_one_is_not_exported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}/never.db", dir.path().display());
    let state = fixture("boskos-state.yaml");
    let out = import_ok(&store, &["--dry-run"], state.to_str().unwrap(), None).await;
    assert!(
        out.contains("dynamic pools not imported (no --with-drlcs"),
        "{out}"
    );
    assert!(!dir.path().join("never.db").exists());
    let (code, _, err) = text(&mason(&["export", "--store", &store], None).await);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(!dir.path().join("never.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_differences_with_the_config_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("resources.yaml");
    let text_of = std::fs::read_to_string(fixture("boskos-resources.yaml")).unwrap();
    std::fs::write(&config, text_of.replace("max-count: 12", "max-count: 20")).unwrap();
    let store = format!("sqlite://{}/m.db", dir.path().display());
    let state = fixture("boskos-state.yaml");
    let (code, _, err) = text(
        &mason(
            &[
                "import",
                "--dry-run",
                "--store",
                &store,
                "--config",
                config.to_str().unwrap(),
                state.to_str().unwrap(),
            ],
            None,
        )
        .await,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err.trim(),
        "mason import: note: pool \"gke-cluster\": spec.max-count is 12 in the input, 20 in the config"
    );
}
