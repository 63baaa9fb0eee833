//! A real server over HTTP on `127.0.0.1:0`, on a SQLite file whose test-only fault hook
//! the test holds (`SqliteStore::faults`: stall the next write, fill or break the disk),
//! with a short store deadline: the harness of `store_faults` and `retry_safety`
//! (issue 17). Each test adds what it reads through an `impl Served` of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mason_server::{AppState, ConfigSource, Listeners, ServerOptions};
use mason_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use mason_store::{Store, SystemClock};
use mason_types::BoskosConfig;
use tokio_util::sync::CancellationToken;

/// The pool every such server serves: four free resources of type `t`.
pub(crate) const CONFIG: &str =
    "resources:\n- type: t\n  state: free\n  names: [r-0, r-1, r-2, r-3]\n";

/// A running server; stopped by cancelling `shutdown`.
pub(crate) struct Served {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// The API listener's address.
    pub(crate) addr: SocketAddr,
    /// The store, with its fault hook.
    pub(crate) store: Arc<SqliteStore>,
    /// A client for the test's requests.
    pub(crate) http: reqwest::Client,
    /// Cancel to stop the server.
    pub(crate) shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Serve [`CONFIG`] from a new SQLite file in a temp dir, every store call with the
    /// deadline `timeout`. `prepare` sees the state before the initial sync (to hand it a
    /// lease backend, say, or a disconnect grace).
    pub(crate) async fn start(timeout: Duration, prepare: impl FnOnce(&AppState)) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(SqliteOptions {
                path: Some(dir.path().join("m.db")),
                synchronous: Synchronous::Normal,
                request_ttl: mason_store::DEFAULT_REQUEST_TTL,
                clock: Arc::new(SystemClock),
                create: false,
                timeout,
            })
            .unwrap(),
        );
        let config = BoskosConfig::parse_and_validate(CONFIG).unwrap();
        let dyn_store: Arc<dyn Store> = store.clone();
        let state = AppState::new(
            dyn_store,
            Arc::new(SystemClock),
            ConfigSource::Fixed(config),
        );
        prepare(&state);
        state.initial_sync().await.unwrap();
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = api.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let listeners = Listeners {
            api,
            metrics: None,
            health: None,
        };
        tokio::spawn(mason_server::run(
            state,
            listeners,
            ServerOptions::default(),
            shutdown.clone(),
        ));
        Served {
            url: format!("http://{addr}"),
            addr,
            store,
            http: reqwest::Client::new(),
            shutdown,
            _dir: dir,
        }
    }
}
