//! Serving: [`serve`] runs one router on one listener until the token is cancelled, then
//! finishes in-flight requests; [`run`] serves the API listener (and the optional metrics
//! and health listeners) together with the background loops, and returns once all of them
//! have stopped.

use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lease::{self, ExpiryOptions};
use crate::routes::{health_router, metrics_router, router};
use crate::state::AppState;
use crate::tasks;
use crate::{Error, Result};

/// Timings of the background loops.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Full config sync period (`--sync-period`, default 1 minute).
    pub sync_period: Duration,
    /// How often the config file is re-read when no file event arrives (default 2 s).
    pub config_poll_interval: Duration,
    /// Request-queue GC period (upstream's fixed 1 minute).
    pub request_gc_period: Duration,
    /// Lease expiry loop timings (runs only when the store offers lease expiry).
    pub lease_expiry: ExpiryOptions,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            sync_period: Duration::from_secs(60),
            config_poll_interval: Duration::from_secs(2),
            request_gc_period: Duration::from_secs(60),
            lease_expiry: ExpiryOptions::default(),
        }
    }
}

/// The sockets to serve, already bound (tests bind `127.0.0.1:0`).
#[derive(Debug)]
pub struct Listeners {
    /// The Boskos API (also serves `/healthz`, `/metrics` and `/api/v2`).
    pub api: TcpListener,
    /// Optional separate Prometheus listener (`--metrics-port`).
    pub metrics: Option<TcpListener>,
    /// Optional separate health listener (`--health-port`).
    pub health: Option<TcpListener>,
}

/// Serve `app` on `listener` until `shutdown` is cancelled; in-flight requests finish.
/// Handlers see the peer's address as `ConnectInfo<SocketAddr>` (the auth gate's
/// per-address failure limit keys on it).
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) -> Result<()> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    // Answers go out as soon as they are written (no Nagle delay behind an unacknowledged
    // segment): every answer here is one small write.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
    .map_err(|source| Error::Io {
        what: format!("serving on {addr}"),
        source,
    })
}

/// Serve every listener and run the background loops until `shutdown` is cancelled (or a
/// listener fails, which stops everything and is returned). The caller must have run
/// [`AppState::initial_sync`] first.
pub async fn run(
    state: AppState,
    listeners: Listeners,
    options: ServerOptions,
    shutdown: CancellationToken,
) -> Result<()> {
    if let Ok(addr) = listeners.api.local_addr() {
        crate::auth::warn_if_open(addr, state.auth().is_some());
    }
    let local = shutdown.child_token();
    let tracker = TaskTracker::new();
    if let Some(gate) = state.auth() {
        tracker.spawn(crate::auth::watch::reload_loop(
            gate.clone(),
            local.child_token(),
        ));
    }
    tracker.spawn(tasks::config_loop(
        state.clone(),
        options.clone(),
        local.child_token(),
    ));
    tracker.spawn(tasks::request_gc_loop(
        state.clone(),
        options.request_gc_period,
        local.child_token(),
    ));
    lease::spawn_loops(&tracker, &state, options.lease_expiry, &local);

    let mut servers = JoinSet::new();
    servers.spawn(serve(
        listeners.api,
        router(state.clone()),
        local.child_token(),
    ));
    if let Some(l) = listeners.metrics {
        servers.spawn(serve(l, metrics_router(state.clone()), local.child_token()));
    }
    if let Some(l) = listeners.health {
        servers.spawn(serve(l, health_router(state.clone()), local.child_token()));
    }
    let mut outcome = Ok(());
    while let Some(done) = servers.join_next().await {
        let result = done.map_err(|e| Error::Io {
            what: "server task".into(),
            source: std::io::Error::other(e.to_string()),
        });
        if let Err(e) = result.and_then(|r| r) {
            tracing::error!(error = %e, "listener failed; shutting down");
            if outcome.is_ok() {
                outcome = Err(e);
            }
            local.cancel();
        }
    }
    local.cancel();
    tracker.close();
    tracker.wait().await;
    outcome
}
