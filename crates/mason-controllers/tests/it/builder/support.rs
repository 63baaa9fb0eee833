//! Fixtures: a real `mason serve` (in process, SQLite in memory) with a config file and
//! its scripts in a temporary directory, builders wired like `mason builder` does, and
//! wait-until helpers (deadlines are safety nets, never timing assertions).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mason_client::{BoskosApi, HttpClient};
use mason_controllers::builder::{
    exec_converter, Builder, BuilderOptions, FilePools, EXEC_CONVERTER,
};
use mason_store::ResourceFilter;
use mason_testkit::TestServer;
use mason_types::Resource;

/// How long any background effect may take before a test gives up.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

/// Builder timings for tests: quick reloads, short give-ups and backoffs.
pub(crate) fn quick_options() -> BuilderOptions {
    BuilderOptions {
        cleaner_count: 2,
        fulfil_timeout: Duration::from_secs(2),
        heartbeat_period: Duration::from_millis(500),
        pool_reload: Duration::from_millis(200),
        failure_backoff: Duration::from_millis(100),
        max_failure_backoff: Duration::from_millis(500),
        ..BuilderOptions::default()
    }
}

/// A server plus the config file (and scripts) the builder reads.
pub(crate) struct Fixture {
    pub(crate) server: TestServer,
    pub(crate) config_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// Start a server on `config`, with each `(name, body)` written as an executable
    /// shell script next to the config file.
    pub(crate) async fn start(config: &str, scripts: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("boskos.yaml");
        std::fs::write(&config_path, config).expect("write config");
        for (name, body) in scripts {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let server = TestServer::start(config).await;
        Self {
            server,
            config_path,
            _dir: dir,
        }
    }

    /// An HTTP client acting as `owner`.
    pub(crate) fn client(&self, owner: &str) -> Arc<dyn BoskosApi> {
        Arc::new(
            HttpClient::builder(&self.server.url, owner)
                .build()
                .expect("client"),
        )
    }

    /// A builder as `mason builder` wires it: owner `mason`, pools from the config file,
    /// the exec converter relative to it, leftovers found through `/api/v2/resources`.
    pub(crate) fn builder(&self, options: BuilderOptions) -> Builder {
        self.builder_with(self.client("mason"), options)
    }

    /// [`Fixture::builder`] acting through `client` (its owner must be `mason`).
    pub(crate) fn builder_with(
        &self,
        client: Arc<dyn BoskosApi>,
        options: BuilderOptions,
    ) -> Builder {
        let pools = FilePools::new(&self.config_path);
        let builder = Builder::new(client, options);
        builder
            .register_config_converter(EXEC_CONVERTER, exec_converter(pools.base_dir()))
            .expect("register exec");
        builder.with_pool_source(pools).with_inventory(
            HttpClient::builder(&self.server.url, "mason")
                .build()
                .expect("client"),
        )
    }

    /// Every resource, from the store.
    pub(crate) async fn all(&self) -> Vec<Resource> {
        self.server
            .store
            .list(&ResourceFilter::default())
            .await
            .expect("list")
    }

    /// Resources of one type.
    pub(crate) async fn of_type(&self, rtype: &str) -> Vec<Resource> {
        let filter = ResourceFilter {
            rtype: Some(rtype.to_string()),
            ..ResourceFilter::default()
        };
        self.server.store.list(&filter).await.expect("list")
    }

    /// One resource by name.
    pub(crate) async fn get(&self, name: &str) -> Resource {
        self.server.store.get(name).await.expect("get")
    }

    /// Wait until `check` over every resource returns `Some`.
    pub(crate) async fn wait_for<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&[Resource]) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let all = self.all().await;
            if let Some(v) = check(&all) {
                return v;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("timed out after {LIMIT:?} waiting for {what}; resources: {all:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Assert that nobody holds anything.
    pub(crate) async fn assert_nothing_owned(&self) {
        let owned: Vec<Resource> = self
            .all()
            .await
            .into_iter()
            .filter(|r| !r.owner.is_empty())
            .collect();
        assert!(owned.is_empty(), "resources still owned: {owned:#?}");
    }
}

/// Virtual resources of `vtype` that are built: free, unowned, with a leased list whose
/// physical resources are parked (unowned) in a state named after them.
pub(crate) fn built(all: &[Resource], vtype: &str) -> Vec<Resource> {
    all.iter()
        .filter(|v| v.rtype == vtype && v.state == "free" && v.owner.is_empty())
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

/// Wait until `cond` holds, polling every 20 ms.
pub(crate) async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {LIMIT:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
