//! Test helpers (dev only). [`TestServer`] runs a real `mason serve` in-process on
//! `127.0.0.1:0` — SQLite in memory by default, the real clock unless asked for a
//! [`ManualClock`] — so client, controller and CLI tests talk HTTP to the genuine article
//! and stop it when done. [`PausableProxy`] sits between a client and a server and cuts
//! them off (a paused network) when the test says so. [`browser::Browser`] drives a real
//! headless Chromium for the dashboard tests. [`fixtures`] holds test data shared by
//! several crates' tests. [`ports::free_port`] gives a port for a server a test starts as
//! another process. [`scrape`] reads a running server's JSON and metrics over HTTP.
//!
//! ```no_run
//! # async fn demo() {
//! let server = mason_testkit::TestServer::start("resources:\n- type: t\n  names: [a]\n").await;
//! // … point a client at server.url …
//! server.stop().await;
//! # }
//! ```

pub mod browser;
pub mod fixtures;
pub mod ports;
pub mod scrape;
/// A throwaway PostgreSQL for tests (a private server or `MASON_TEST_POSTGRES_URL`, a
/// fresh database per test). It lives in `mason-store`'s test suite, whose own tests need
/// it too; see `mason_store::testsuite`.
pub use mason_store::testsuite::postgres;
mod proxy;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mason_server::{AppState, ConfigSource, Listeners, ServerOptions};
use mason_store::open::StoreOptions;
use mason_store::{Clock, ManualClock, Store, StoreUrl, SystemClock};
use mason_types::BoskosConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use mason_server;
pub use mason_store;
pub use proxy::PausableProxy;

/// How to start a [`TestServer`]. Build with [`TestServerOptions::new`] and the `with_*`
/// methods.
#[derive(Clone, Default)]
pub struct TestServerOptions {
    /// Inline config (never reloaded). Ignored when [`Self::config_path`] is set. With
    /// neither, the server starts on an empty store and skips the initial sync.
    pub config_yaml: Option<String>,
    /// A config file to load and watch (reload tests).
    pub config_path: Option<PathBuf>,
    /// The store; default `sqlite::memory:`.
    pub store_url: Option<StoreUrl>,
    /// A manual clock for the store and the acquire-duration metric; default real time.
    pub clock: Option<Arc<ManualClock>>,
    /// Queue TTL of a `request_id`; default 30 s.
    pub request_ttl: Option<Duration>,
    /// The deadline of every store call; default [`mason_store::DEFAULT_STORE_TIMEOUT`].
    pub store_timeout: Option<Duration>,
    /// Background loop timings; default [`ServerOptions::default`] except a 200 ms config
    /// poll, so file changes are seen quickly.
    pub server: Option<ServerOptions>,
    /// Also serve `/metrics` on a separate listener.
    pub metrics_listener: bool,
    /// Also serve `/healthz` on a separate listener.
    pub health_listener: bool,
    /// Check credentials against this auth file (watched); default open.
    pub auth_path: Option<PathBuf>,
}

impl TestServerOptions {
    /// Options with an inline config.
    pub fn new(config_yaml: &str) -> Self {
        Self {
            config_yaml: Some(config_yaml.to_string()),
            ..Self::default()
        }
    }

    /// Options for an empty store and no config (no initial sync).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Load and watch this config file instead of an inline config.
    pub fn with_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_path = Some(path.into());
        self
    }

    /// Use this store instead of SQLite in memory.
    pub fn with_store(mut self, url: StoreUrl) -> Self {
        self.store_url = Some(url);
        self
    }

    /// Use a manual clock standing at upstream's test epoch, 2006-01-02T15:04:05Z.
    pub fn with_manual_clock(mut self) -> Self {
        self.clock = Some(Arc::new(ManualClock::at_upstream_epoch()));
        self
    }

    /// Queue TTL of a `request_id`.
    pub fn with_request_ttl(mut self, ttl: Duration) -> Self {
        self.request_ttl = Some(ttl);
        self
    }

    /// The deadline of every store call (`--store-timeout`), for a test whose calls are
    /// large enough that a busy machine can take longer than the default.
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = Some(timeout);
        self
    }

    /// Background loop timings.
    pub fn with_server_options(mut self, options: ServerOptions) -> Self {
        self.server = Some(options);
        self
    }

    /// Check credentials against the auth file at `path` (loaded now, then watched).
    pub fn with_auth_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.auth_path = Some(path.into());
        self
    }

    /// Serve `/metrics` and `/healthz` on their own listeners too.
    pub fn with_side_listeners(mut self) -> Self {
        self.metrics_listener = true;
        self.health_listener = true;
        self
    }
}

/// A running in-process server.
pub struct TestServer {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The API listener's address.
    pub addr: SocketAddr,
    /// Base URL of the separate metrics listener, when requested.
    pub metrics_url: Option<String>,
    /// Base URL of the separate health listener, when requested.
    pub health_url: Option<String>,
    /// The store behind the server (inspect or seed it directly).
    pub store: Arc<dyn Store>,
    /// The manual clock, when one was asked for.
    pub clock: Option<Arc<ManualClock>>,
    /// The server's shared state (config holder, metrics, reconcile).
    pub state: AppState,
    shutdown: CancellationToken,
    task: Option<JoinHandle<mason_server::Result<()>>>,
}

impl TestServer {
    /// SQLite in memory, real clock, the given config synced, serving on 127.0.0.1:0.
    pub async fn start(config_yaml: &str) -> TestServer {
        Self::start_with(TestServerOptions::new(config_yaml)).await
    }

    /// Start with explicit options. Panics with a clear message if anything fails (this
    /// is a test helper).
    pub async fn start_with(opts: TestServerOptions) -> TestServer {
        let clock: Arc<dyn Clock> = match &opts.clock {
            Some(c) => c.clone(),
            None => Arc::new(SystemClock),
        };
        let url = opts.store_url.clone().unwrap_or(StoreUrl::Sqlite {
            path: None,
            synchronous: Default::default(),
        });
        let store_options = StoreOptions {
            request_ttl: opts.request_ttl.unwrap_or(mason_store::DEFAULT_REQUEST_TTL),
            clock: clock.clone(),
            timeout: opts
                .store_timeout
                .unwrap_or(mason_store::DEFAULT_STORE_TIMEOUT),
            ..Default::default()
        };
        let store = mason_store::open(&url, store_options)
            .await
            .unwrap_or_else(|e| panic!("test server: cannot open store {url}: {e}"));
        let (source, sync) = match (&opts.config_path, &opts.config_yaml) {
            (Some(path), _) => (ConfigSource::File(path.clone()), true),
            (None, Some(yaml)) => {
                let config = BoskosConfig::parse_and_validate(yaml)
                    .unwrap_or_else(|e| panic!("test server: invalid config: {e}\n{yaml}"));
                (ConfigSource::Fixed(config), true)
            }
            (None, None) => (ConfigSource::Fixed(BoskosConfig::default()), false),
        };
        let mut state = AppState::new(store.clone(), clock, source);
        if let Some(path) = &opts.auth_path {
            let gate = mason_server::auth::AuthGate::load(path)
                .unwrap_or_else(|e| panic!("test server: {e}"));
            state = state.with_auth(gate);
        }
        state
            .lease()
            .set_backend(Arc::new(mason_server::lease::StoreBackend::new(
                store.clone(),
            )));
        if sync {
            state
                .initial_sync()
                .await
                .unwrap_or_else(|e| panic!("test server: initial config sync failed: {e}"));
        }
        let api = bind().await;
        let addr = api.local_addr().expect("bound address");
        let metrics = if opts.metrics_listener {
            Some(bind().await)
        } else {
            None
        };
        let health = if opts.health_listener {
            Some(bind().await)
        } else {
            None
        };
        let base = |l: &Option<TcpListener>| {
            l.as_ref()
                .map(|l| format!("http://{}", l.local_addr().expect("bound address")))
        };
        let (metrics_url, health_url) = (base(&metrics), base(&health));
        let server_options = opts.server.clone().unwrap_or(ServerOptions {
            config_poll_interval: Duration::from_millis(200),
            ..ServerOptions::default()
        });
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(mason_server::run(
            state.clone(),
            Listeners {
                api,
                metrics,
                health,
            },
            server_options,
            shutdown.clone(),
        ));
        TestServer {
            url: format!("http://{addr}"),
            addr,
            metrics_url,
            health_url,
            store,
            clock: opts.clock,
            state,
            shutdown,
            task: Some(task),
        }
    }

    /// `url` + `path_and_query` (which starts with `/`).
    pub fn url_for(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.url)
    }

    /// Shut down gracefully and wait until every listener and loop has stopped.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("test server failed: {e}"),
                Err(e) => panic!("test server task panicked: {e}"),
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A test that forgot `stop` (or panicked) still shuts the server down.
        self.shutdown.cancel();
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0")
}

/// Replace `path`'s content atomically (write a sibling file, then rename), the way
/// editors and ConfigMap updates do.
pub fn write_config(path: &Path, yaml: &str) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, yaml).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

/// Poll `check` every 20 ms until it returns `Some`, for at most `limit`; panics with
/// `what` on timeout. For effects of background loops (file watch) that a test cannot
/// drive directly; the limit is a safety net, not a timing assertion.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A config file in its own temporary directory (removed on drop), for servers that
/// watch their config.
pub struct TempConfig {
    /// The config file.
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TempConfig {
    /// A new file holding `yaml`.
    pub fn new(yaml: &str) -> Self {
        let dir = tempfile::tempdir().expect("create temp dir");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        Self { path, _dir: dir }
    }

    /// Replace the content atomically (see [`write_config`]).
    pub fn write(&self, yaml: &str) {
        write_config(&self.path, yaml);
    }
}
