//! [`AppState`]: what every handler and background task shares. Cheap to clone (one `Arc`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mason_store::{Clock, Store, SyncReport};

use crate::auth::AuthGate;
use crate::config::{ConfigHolder, ConfigSource, Reload};
use crate::events::{EventHub, StoreLog};
use crate::lease::LeaseControl;
use crate::metrics::Metrics;
use crate::status::StatusBoard;
use crate::{Error, Result};

/// Shared server state.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    /// The single source of truth for resources, pools and the request queue.
    store: Arc<dyn Store>,
    /// The time the store stamps with; acquire durations are measured against it so a
    /// manual test clock gives exact values.
    clock: Arc<dyn Clock>,
    /// The Prometheus registry and the metric handles routes observe.
    metrics: Metrics,
    /// Where the resource config comes from and the one currently in force.
    config: ConfigHolder,
    /// Serialises config reload + sync: the watcher, the timer and callers never sync at
    /// the same time (upstream runs its reconcile with one worker too).
    sync_lock: tokio::sync::Mutex<()>,
    /// The loop status served at `GET /api/v2/status` (the server's loops, plus whatever
    /// an embedder such as `mason up` registers).
    status: StatusBoard,
    /// Wakes the config loop for a sync soon: a resource reached `tombstone`, so the pool
    /// can delete and replace it (upstream reconciles on every such write).
    sync_wanted: tokio::sync::Notify,
    /// A sync marked resources `toBeDeleted`: their replacements follow only once the
    /// cleaner tombstones them and a later sync runs, so the config loop syncs again
    /// soon (see `tasks`).
    deletions_pending: AtomicBool,
    /// The lease-safety extension's per-process settings (`--max-lease-ttl`).
    lease: LeaseControl,
    /// Credential checks (`--auth-file`); `None`: the server is open.
    auth: Option<Arc<AuthGate>>,
    /// The store's history fanned out to `/api/v2/events/stream` subscribers.
    events: EventHub,
}

impl AppState {
    /// State over `store`, stamping durations with `clock`, with config from `source`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, source: ConfigSource) -> Self {
        let status = StatusBoard::new("serve");
        // The server's own loops come first on the board, whatever order they start in.
        status.track("config-sync");
        status.track("request-gc");
        let events = EventHub::new(Arc::new(StoreLog::new(store.clone())));
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                metrics: Metrics::new(),
                config: ConfigHolder::new(source),
                sync_lock: tokio::sync::Mutex::new(()),
                status,
                sync_wanted: tokio::sync::Notify::new(),
                deletions_pending: AtomicBool::new(false),
                lease: LeaseControl::default(),
                auth: None,
                events,
            }),
        }
    }

    /// Check credentials with `gate` on every route but health (see [`crate::auth`]).
    ///
    /// # Panics
    /// When called after the state was cloned (call it right after [`AppState::new`]).
    pub fn with_auth(mut self, gate: AuthGate) -> Self {
        let inner = Arc::get_mut(&mut self.inner)
            .expect("AppState::with_auth is called before the state is shared");
        inner.metrics.register_auth(gate.metrics());
        inner.auth = Some(Arc::new(gate));
        self
    }

    /// The auth gate, when the server checks credentials.
    pub fn auth(&self) -> Option<&Arc<AuthGate>> {
        self.inner.auth.as_ref()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The loop status board (`GET /api/v2/status`).
    pub fn status(&self) -> &StatusBoard {
        &self.inner.status
    }

    /// The history hub (`/api/v2/events/stream`).
    pub fn events(&self) -> &EventHub {
        &self.inner.events
    }

    /// The lease-safety settings.
    pub fn lease(&self) -> &LeaseControl {
        &self.inner.lease
    }

    /// The config holder.
    pub fn config(&self) -> &ConfigHolder {
        &self.inner.config
    }

    /// Ask the config loop for a sync soon (a resource was tombstoned).
    pub fn sync_soon(&self) {
        self.inner.sync_wanted.notify_one();
    }

    /// Resolves when [`AppState::sync_soon`] was called (the config loop waits on it).
    pub(crate) async fn sync_wanted(&self) {
        self.inner.sync_wanted.notified().await;
    }

    /// Whether a sync marked resources for deletion since this was last asked.
    pub(crate) fn take_deletions_pending(&self) -> bool {
        self.inner.deletions_pending.swap(false, Ordering::SeqCst)
    }

    fn note_report(&self, report: &SyncReport) {
        if !report.marked_for_deletion.is_empty() {
            self.inner.deletions_pending.store(true, Ordering::SeqCst);
        }
    }

    /// Start-up: load the config (any problem is an error) and sync the store with it.
    /// Upstream treats a failure here as fatal, and so should the caller.
    pub async fn initial_sync(&self) -> Result<SyncReport> {
        let _guard = self.inner.sync_lock.lock().await;
        let config = self.inner.config.load_initial()?;
        self.inner.metrics.config_reloaded();
        let report = self
            .inner
            .store
            .sync_config(&config)
            .await
            .map_err(Error::Sync)?;
        self.inner.metrics.config_synced();
        self.inner.status.track("config-sync").ran(Ok(()), None);
        log_report("initial config sync", &report);
        self.note_report(&report);
        Ok(report)
    }

    /// Re-read the config source and, when it changed and is valid, apply it; when
    /// `force` is set, sync the store with the config in force even if nothing changed
    /// (the periodic sync: expiry and top-up do not wait for an event). An invalid new
    /// config is logged, counted in `mason_config_reload_errors_total` and ignored: the
    /// old one stays in force. Returns what was done; `Err` only when the store sync failed.
    pub async fn reconcile(&self, force: bool) -> Result<Reconciled> {
        let _guard = self.inner.sync_lock.lock().await;
        let reload = self.inner.config.reload();
        match &reload {
            Reload::Changed(_) => {
                self.inner.metrics.config_reloaded();
                tracing::info!(origin = %self.inner.config.origin(), "config file changed, applying it");
            }
            Reload::Rejected(problem) => {
                self.inner.metrics.config_reload_failed();
                tracing::error!(
                    origin = %self.inner.config.origin(),
                    error = %problem,
                    "new config rejected; the previous config stays in force"
                );
            }
            Reload::Unchanged => {}
        }
        let changed = matches!(reload, Reload::Changed(_));
        if !changed && !force {
            return Ok(Reconciled {
                reload,
                report: None,
            });
        }
        let Some(config) = self.inner.config.current() else {
            return Ok(Reconciled {
                reload,
                report: None,
            });
        };
        match self.inner.store.sync_config(&config).await {
            Ok(report) => {
                self.inner.metrics.config_synced();
                log_report("config sync", &report);
                self.note_report(&report);
                Ok(Reconciled {
                    reload,
                    report: Some(report),
                })
            }
            Err(e) => {
                self.inner.metrics.config_sync_failed();
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "config sync failed; will retry"
                );
                Err(Error::Sync(e))
            }
        }
    }
}

impl axum::extract::FromRef<AppState> for EventHub {
    fn from_ref(state: &AppState) -> Self {
        state.events().clone()
    }
}

/// The outcome of [`AppState::reconcile`].
#[derive(Debug)]
pub struct Reconciled {
    /// What reading the config source found.
    pub reload: Reload,
    /// The sync's changes, when a sync ran.
    pub report: Option<SyncReport>,
}

fn log_report(what: &str, report: &SyncReport) {
    if report.is_empty() {
        tracing::debug!("{what}: nothing to change");
    } else {
        tracing::info!(
            created = report.created.len(),
            deleted = report.deleted.len(),
            marked_for_deletion = report.marked_for_deletion.len(),
            deferred = report.deferred.len(),
            drlcs_upserted = report.drlcs_upserted.len(),
            drlcs_deleted = report.drlcs_deleted.len(),
            "{what} applied"
        );
    }
}
