//! The transport under the router: our own accept loop over hyper's HTTP/1 connections
//! (in place of `axum::serve`), so that a slow, greedy or abundant client cannot take the
//! server down.
//!
//! - **Header timeout** (default 10 s): a new connection, or a keep-alive connection whose
//!   next request has begun, must deliver a complete request head in time or is closed.
//! - **Header size** (default 64 KiB, start line included): more gets `431 Request Header
//!   Fields Too Large` from hyper, and the connection's read buffer never grows past it.
//! - **Idle keep-alive timeout** (default 75 s, longer than the header timeout so that
//!   clients with pooled connections reuse them): a connection with no request that long
//!   after its last answer is closed.
//! - **Connection cap** (`max_connections`, default from the open-file limit, see
//!   [`limits`]): a connection over it is answered `503` with `Retry-After` and closed at
//!   once, so clients get a clear error instead of a hang, and the fds for the store and
//!   the config reload are never exhausted by clients.
//! - **Accept errors**: exhaustion (`EMFILE` and the like) pauses accepting for a short,
//!   growing while (never a spin); open connections are served meanwhile; at most one log
//!   line per second, with a count.
//! - **TLS** (optional, [`crate::tls`]): the handshake runs under the header timeout.
//! - **Lingering close**: a connection closed after an answer while the client may still
//!   be sending (a `431` to an oversized head) first sends its FIN, then reads and drops
//!   the rest for at most 2 s / 4 MiB, so that the client reads the answer instead of a
//!   reset. A lingering socket keeps its slot under the cap (it holds an fd).
//! - **Shutdown**: no new connections; each open one closes gracefully once its request in
//!   flight is answered; serving returns when all have (a lingering one within 2 s).
//!
//! Layout: `activity` (header/idle clocks, the socket wrapper and the tower layer),
//! `connection` (driving one connection, refusing one over the cap), [`limits`] (open
//! files, default cap, accept errors).

pub(crate) mod activity;
pub(crate) mod connection;
pub mod limits;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::tls::TlsSource;

/// Default header read timeout.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default idle keep-alive timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Default limit on a request's head (start line plus headers).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Connections over the cap being answered `503` at once; beyond this many, an excess
/// connection is closed without an answer.
const MAX_REFUSING: usize = 64;

/// Connection limits and timeouts of every listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportOptions {
    /// A request head must arrive completely within this time of the connection opening,
    /// or of its first byte on a keep-alive connection.
    pub header_read_timeout: Duration,
    /// A keep-alive connection without a new request for this long is closed.
    pub idle_timeout: Duration,
    /// Longest request head accepted (at least 8 KiB is used); longer gets 431.
    pub max_header_bytes: usize,
    /// Most connections the API listener holds at once; `None` derives it from the
    /// open-file limit when serving starts ([`limits::default_max_connections`]).
    pub max_connections: Option<usize>,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections: None,
        }
    }
}

/// One listener's serving setup.
pub(crate) struct Endpoint {
    /// The router to serve.
    pub(crate) app: Router,
    /// Most connections at once.
    pub(crate) max_connections: usize,
    /// Serve HTTPS with this.
    pub(crate) tls: Option<TlsSource>,
}

/// Accept connections on `listener` and serve `endpoint` on each until `shutdown`; then
/// stop accepting and return once every open connection has closed.
pub(crate) async fn serve(
    listener: TcpListener,
    endpoint: Endpoint,
    options: Arc<TransportOptions>,
    shutdown: CancellationToken,
) {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let builder = Arc::new(connection::http1_builder(&options));
    let slots = Arc::new(Semaphore::new(endpoint.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut errors = limits::AcceptErrors::new(addr.clone());
    let connections = TaskTracker::new();
    tracing::debug!(listener = %addr, max_connections = endpoint.max_connections, tls = endpoint.tls.is_some(), "serving");
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => {
                errors.accepted();
                pair
            }
            Err(e) => {
                let pause = errors.failed(&e);
                if !pause.is_zero() {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
                continue;
            }
        };
        // Answers go out as soon as they are written (no Nagle delay behind an
        // unacknowledged segment): every answer here is one small write.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => {
                let (app, options, builder) = (
                    endpoint.app.clone(),
                    Arc::clone(&options),
                    Arc::clone(&builder),
                );
                let (tls, shutdown) = (endpoint.tls.clone(), shutdown.clone());
                connections.spawn(async move {
                    connection::serve_connection(tcp, peer, app, options, builder, tls, shutdown)
                        .await;
                    drop(slot);
                });
            }
            Err(_) => match Arc::clone(&refusing).try_acquire_owned() {
                Ok(refusal) => {
                    let (limit, tls) = (endpoint.max_connections, endpoint.tls.clone());
                    connections.spawn(async move {
                        connection::refuse_connection(tcp, peer, limit, tls).await;
                        drop(refusal);
                    });
                }
                Err(_) => drop(tcp),
            },
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}
