//! Self-hosted runs of `mason bench --pool-size N`: a generated static pool of N resources
//! in a store (a temp SQLite file unless `--store` says otherwise), served by an
//! in-process `mason serve` on 127.0.0.1 (through `mason_server`'s library API) or used
//! directly for `--layer store`.
//!
//! The server's periodic full sync is pushed out to an hour so a 100,000-name sync does
//! not land in the middle of a ten-second measurement; everything else is as `mason
//! serve` runs it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mason_server::lease::StoreBackend;
use mason_server::{AppState, ConfigSource, Listeners, ServerOptions};
use mason_store::open::StoreOptions;
use mason_store::{Store, StoreUrl, SystemClock};
use mason_types::{BoskosConfig, ResourceEntry};
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// A static pool of `size` resources of `rtype` named `<rtype>-<i>`, all in `state`.
pub(crate) fn pool_config(rtype: &str, state: &str, size: usize) -> BoskosConfig {
    let width = size.saturating_sub(1).to_string().len();
    BoskosConfig {
        resources: vec![ResourceEntry {
            rtype: rtype.to_string(),
            state: state.to_string(),
            names: (0..size).map(|i| format!("{rtype}-{i:0width$}")).collect(),
            ..ResourceEntry::default()
        }],
    }
}

/// A store for the run and where it lives; a temp directory is removed on drop.
pub(crate) struct BenchStore {
    /// The open store.
    pub(crate) store: Arc<dyn Store>,
    /// Its URL, for the report.
    pub(crate) url: String,
    /// Keeps the temp directory (default store) alive for the run.
    _dir: Option<tempfile::TempDir>,
}

/// Open `url`, or a fresh SQLite file in a temp directory (without history when
/// `history` is false; only for the temp file).
pub(crate) async fn open_store(url: Option<&str>, history: bool) -> Result<BenchStore> {
    let (parsed, dir) = match url {
        Some(u) => (
            u.parse::<StoreUrl>()
                .map_err(|e| Error::Usage(format!("--store {u}: {e}")))?,
            None,
        ),
        None => {
            let dir = tempfile::tempdir().map_err(Error::io("cannot create a temp directory"))?;
            let path: PathBuf = dir.path().join("bench.db");
            if !history {
                mason_store::sqlite::prepare_file_without_history(&path).map_err(|source| {
                    Error::Store {
                        what: format!("cannot prepare {} without history", path.display()),
                        source,
                    }
                })?;
            }
            let parsed = StoreUrl::Sqlite {
                path: Some(path),
                synchronous: Default::default(),
            };
            (parsed, Some(dir))
        }
    };
    let store = mason_store::open(&parsed, StoreOptions::default())
        .await
        .map_err(|source| Error::Store {
            what: format!("cannot open store {parsed}"),
            source,
        })?;
    let off = if history { "" } else { " (history off)" };
    Ok(BenchStore {
        store,
        url: format!("{parsed}{off}"),
        _dir: dir,
    })
}

impl BenchStore {
    /// Sync the store with `config` (the server does this itself at start-up).
    pub(crate) async fn load(&self, config: &BoskosConfig) -> Result<()> {
        let started = Instant::now();
        self.store
            .sync_config(config)
            .await
            .map_err(|source| Error::Store {
                what: "cannot load the bench pool into the store".into(),
                source,
            })?;
        tracing::info!(
            resources = config
                .resources
                .iter()
                .map(|e| e.names.len())
                .sum::<usize>(),
            took_ms = started.elapsed().as_millis() as u64,
            "bench pool loaded"
        );
        Ok(())
    }
}

/// An in-process `mason serve` on 127.0.0.1.
pub(crate) struct BenchServer {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<mason_server::Result<()>>,
}

impl BenchServer {
    /// Serve `store` (already loaded) with `config` in force.
    pub(crate) async fn start(store: Arc<dyn Store>, config: BoskosConfig) -> Result<Self> {
        let state = AppState::new(
            Arc::clone(&store),
            Arc::new(SystemClock),
            ConfigSource::Fixed(config),
        );
        state
            .lease()
            .set_backend(Arc::new(StoreBackend::new(store)));
        state.initial_sync().await.map_err(|source| Error::Server {
            what: "initial sync".into(),
            source,
        })?;
        let api = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::io("cannot listen on 127.0.0.1"))?;
        let url = format!(
            "http://{}",
            api.local_addr().map_err(Error::io("listener address"))?
        );
        let options = ServerOptions {
            sync_period: Duration::from_secs(3600),
            ..ServerOptions::default()
        };
        let stop = CancellationToken::new();
        let listeners = Listeners {
            api,
            metrics: None,
            health: None,
        };
        let task = tokio::spawn(mason_server::run(state, listeners, options, stop.clone()));
        Ok(Self { url, stop, task })
    }

    /// Shut it down and wait.
    pub(crate) async fn stop(self) -> Result<()> {
        self.stop.cancel();
        self.task
            .await
            .map_err(Error::task)?
            .map_err(|source| Error::Server {
                what: "the in-process server failed".into(),
                source,
            })
    }
}

/// Where a raw SQLite baseline keeps its file: next to `--store` when it is a SQLite file,
/// else in `dir`.
pub(crate) fn raw_db_path(store: Option<&str>, dir: &Path) -> PathBuf {
    match store.and_then(|s| s.parse::<StoreUrl>().ok()) {
        Some(StoreUrl::Sqlite { path: Some(p), .. }) => p.with_extension("raw.db"),
        _ => dir.join("raw.db"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pools_are_valid_configs() {
        for size in [1, 100, 10_000] {
            let config = pool_config("bench", "free", size);
            mason_types::config::validate(&config).expect("valid");
            let names = &config.resources[0].names;
            assert_eq!(names.len(), size);
            assert_eq!(
                names.last().map(String::len),
                names.first().map(String::len)
            );
        }
        assert_eq!(pool_config("t", "free", 100).resources[0].names[7], "t-07");
    }

    #[test]
    fn raw_db_sits_beside_a_sqlite_store() {
        let tmp = Path::new("/tmp/x");
        assert_eq!(
            raw_db_path(Some("sqlite:///var/b.db"), tmp),
            Path::new("/var/b.raw.db")
        );
        assert_eq!(raw_db_path(None, tmp), Path::new("/tmp/x/raw.db"));
        assert_eq!(
            raw_db_path(Some("postgres://h/db"), tmp),
            Path::new("/tmp/x/raw.db")
        );
    }
}
