//! The HTTP routes, one file per route. Upstream's routes answer exactly as
//! `handlers.go` does (method check first, then parameters, then the store); any other
//! path or method falls through to the catch-all, which answers 200 with an empty body
//! like upstream's `/` handler. Extensions: `/healthz`, `/healthz/ready`, `/metrics`
//! (GET only; other methods fall through to the catch-all too) and the read-only
//! `/api/v2/…` routes (`status` serves the process's loop status, `overview` and
//! `resource_by_name` feed the dashboard, `events` and `event_stream` serve the history),
//! `POST /api/v2/acquire` (all-or-nothing sets, issue 12), and the dashboard itself at
//! `/ui` ([`crate::ui`]).

mod acquire;
mod acquire_by_state;
mod acquire_many;
mod api_v2;
mod catch_all;
mod event_stream;
mod events;
mod health;
mod metric;
mod metrics;
mod overview;
mod release;
mod reset;
mod resource_by_name;
mod resource_pages;
mod status;
mod track;
mod update;

use axum::extract::FromRef;
use axum::routing::{any, get, post};
use axum::Router;

use crate::events::EventHub;
use crate::state::AppState;
use crate::status::StatusBoard;
use crate::ui;

/// The API router: upstream's routes, health, metrics and `/api/v2`.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/acquire", any(acquire::handle))
        .route("/acquirebystate", any(acquire_by_state::handle))
        .route("/release", any(release::handle))
        .route("/update", any(update::handle))
        .route("/reset", any(reset::handle))
        .route("/metric", any(metric::handle))
        .route("/healthz", get(health::live).fallback(catch_all::handle))
        .route(
            "/healthz/ready",
            get(health::ready).fallback(catch_all::handle),
        )
        .route("/metrics", get(metrics::handle).fallback(catch_all::handle))
        .route("/api/v2/acquire", post(acquire_many::handle))
        .route("/api/v2/resources", get(api_v2::resources))
        .route("/api/v2/drlcs", get(api_v2::drlcs))
        .route("/api/v2/queue", get(api_v2::queue))
        .route("/api/v2/status", get(status::handle))
        .route("/api/v2/overview", get(overview::handle))
        .route("/api/v2/resources/{name}", get(resource_by_name::handle))
        .route("/ui", get(ui::page).fallback(catch_all::handle))
        .route("/ui/", get(ui::page).fallback(catch_all::handle))
        .route("/ui/{file}", get(ui::asset).fallback(catch_all::handle))
        .merge(event_routes())
        .fallback(catch_all::handle);
    with_auth(routes, &state)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            track::observe,
        ))
        .with_state(state)
}

/// The history routes (`/api/v2/events`, `/api/v2/events/stream`), over any state that
/// holds an [`EventHub`].
pub(crate) fn event_routes<S>() -> Router<S>
where
    EventHub: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api/v2/events", get(events::handle))
        .route("/api/v2/events/stream", get(event_stream::handle))
}

/// The router of a standalone controller's `--status-port` listener: `GET /api/v2/status`
/// only.
pub fn status_router(board: StatusBoard) -> Router {
    Router::new()
        .route("/api/v2/status", get(status::handle))
        .with_state(board)
}

/// The router of the optional `--metrics-port` listener: `GET /metrics` only.
pub fn metrics_router(state: AppState) -> Router {
    let routes = Router::new().route("/metrics", get(metrics::handle));
    with_auth(routes, &state).with_state(state)
}

/// The auth gate in front of `routes`, when the server checks credentials.
fn with_auth(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    match state.auth() {
        Some(gate) => routes.layer(axum::middleware::from_fn_with_state(
            gate.clone(),
            crate::auth::middleware::authorize,
        )),
        None => routes,
    }
}

/// The router of the optional `--health-port` listener: `/healthz` and `/healthz/ready`.
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::live))
        .route("/healthz/ready", get(health::ready))
        .with_state(state)
}
