//! Serving: [`serve`] runs one router on one listener until the token is cancelled, then
//! finishes in-flight requests; [`run`] serves the API listener (and the optional metrics
//! and health listeners) together with the background loops, and returns once all of them
//! have stopped. Both go through [`crate::transport`] (timeouts, limits) and, for the API
//! listener, [`crate::tls`] when configured.

use std::sync::Arc;
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
use crate::tls::TlsSource;
use crate::transport::limits::{default_max_connections, SIDE_LISTENER_CONNECTIONS};
use crate::transport::{self, Endpoint, TransportOptions};
use crate::{Error, Result};

/// Timings of the background loops, and how the listeners serve.
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
    /// Timeouts, header size limit and connection cap of every listener.
    pub transport: TransportOptions,
    /// Serve the API listener over HTTPS (separate metrics and health listeners stay
    /// plain HTTP); the certificate follows its files while serving.
    pub tls: Option<TlsSource>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            sync_period: Duration::from_secs(60),
            config_poll_interval: Duration::from_secs(2),
            request_gc_period: Duration::from_secs(60),
            lease_expiry: ExpiryOptions::default(),
            transport: TransportOptions::default(),
            tls: None,
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

/// Serve `app` on `listener` over plain HTTP with the default transport options (the
/// connection cap from the open-file limit) until `shutdown` is cancelled; in-flight
/// requests finish.
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) -> Result<()> {
    let endpoint = Endpoint {
        app,
        max_connections: default_max_connections(0),
        tls: None,
    };
    transport::serve(
        listener,
        endpoint,
        Arc::new(TransportOptions::default()),
        shutdown,
    )
    .await;
    Ok(())
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
    // Event streams never end by themselves: end them when the server stops, so the
    // graceful shutdown does not wait for them (clients resume with Last-Event-ID).
    let (hub, stopping) = (state.events().clone(), local.clone());
    tracker.spawn(async move {
        stopping.cancelled().await;
        hub.close();
    });

    if let Some(tls) = &options.tls {
        tracker.spawn(tls.clone().watch(local.child_token()));
    }

    let side = usize::from(listeners.metrics.is_some()) + usize::from(listeners.health.is_some());
    let api_cap = options
        .transport
        .max_connections
        .unwrap_or_else(|| default_max_connections(side));
    tracing::info!(
        max_connections = api_cap,
        tls = options.tls.is_some(),
        header_timeout = ?options.transport.header_read_timeout,
        idle_timeout = ?options.transport.idle_timeout,
        "API transport"
    );
    let shared = Arc::new(options.transport.clone());
    let mut servers = JoinSet::new();
    let mut listen = |listener: TcpListener, endpoint: Endpoint| {
        let (options, token) = (Arc::clone(&shared), local.child_token());
        servers.spawn(async move {
            transport::serve(listener, endpoint, options, token).await;
            Ok::<(), Error>(())
        });
    };
    listen(
        listeners.api,
        Endpoint {
            app: router(state.clone()),
            max_connections: api_cap,
            tls: options.tls.clone(),
        },
    );
    if let Some(l) = listeners.metrics {
        let app = metrics_router(state.clone());
        listen(l, side_endpoint(app));
    }
    if let Some(l) = listeners.health {
        let app = health_router(state.clone());
        listen(l, side_endpoint(app));
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

/// A separate metrics or health listener: plain HTTP, a small connection share.
fn side_endpoint(app: Router) -> Endpoint {
    Endpoint {
        app,
        max_connections: SIDE_LISTENER_CONNECTIONS,
        tls: None,
    }
}
