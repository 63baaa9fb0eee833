//! The Boskos-compatible lease server behind `mason serve` (and `mason up`).
//!
//! Upstream clients (the Go client, `boskosctl`, Prow jobs, janitors, upstream Mason) see
//! exactly the routes, statuses, bodies and content types of upstream's `handlers.go`;
//! everything this crate adds lives on new paths (`/healthz`, `/metrics`, `/api/v2/…`).
//! The store is the single source of truth: handlers hold no lease state.
//!
//! Embedding (CONVENTIONS habit 1): build an [`AppState`] over an `Arc<dyn Store>`, run the
//! initial config sync with [`AppState::initial_sync`], then call [`run`] with the bound
//! listeners and a shutdown token. The library never installs signal handlers.
//!
//! Layout:
//! - [`state`]: [`AppState`], what every handler and background task shares.
//! - [`auth`]: `--auth-file`: credentials, roles, owner patterns, the gate in front of the
//!   routes, and the [`auth::Caller`] handlers read the request's identity from.
//! - [`error`]: [`ApiError`] (store errors → upstream statuses and texts) and the crate [`Error`].
//! - [`routes`]: the router, one file per route.
//! - [`events`]: the resource history over HTTP (pages and the SSE stream) and the
//!   [`events::EventHub`] that fans the store's events out to stream subscribers.
//! - [`metrics`]: the Prometheus registry (`boskos_*` names of upstream, `mason_*` extras).
//! - [`config`]: the config source, reload (parse, validate, keep the old one on error);
//!   `config_watch` wakes the reload when the file's directory changes.
//! - [`tasks`]: background loops: config watch + periodic sync, request-queue GC.
//! - [`status`]: [`StatusBoard`], the loop status served at `GET /api/v2/status`.
//! - [`ui`]: the dashboard at `GET /ui` (embedded HTML, CSS and JavaScript).
//! - [`server`]: serving listeners with graceful shutdown.
//! - [`lease`]: the lease-safety extension's parameters and per-process settings.
//! - [`transport`]: the accept loop under the router: header and idle timeouts, header
//!   size limit, connection cap, accept back-off.
//! - [`tls`]: HTTPS with a certificate that follows its files.

pub mod auth;
mod body;
pub mod config;
mod config_watch;
pub mod error;
pub mod events;
pub mod lease;
pub mod metrics;
mod params;
mod respond;
pub mod routes;
pub mod server;
pub mod state;
pub mod status;
pub mod tasks;
pub mod tls;
pub mod transport;
pub mod ui;

pub use config::ConfigSource;
pub use error::{ApiError, Error, Result};
pub use lease::{LeaseControl, DEFAULT_MAX_LEASE_TTL};
pub use routes::{health_router, metrics_router, router, status_router};
pub use server::{run, serve, Listeners, ServerOptions};
pub use state::AppState;
pub use status::{LoopTracker, StatusBoard};
pub use tls::{TlsFiles, TlsSource};
pub use transport::TransportOptions;

/// Largest request body accepted (`/update` and `POST /api/v2/acquire` read one); bigger
/// bodies get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
