//! `GET /healthz` (liveness: the process answers) and `GET /healthz/ready` (readiness:
//! the store answers a ping), both `OK` in plain text like upstream's health port.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::error::ApiError;
use crate::respond;
use crate::state::AppState;

pub(super) async fn live() -> Response {
    respond::sniffed_text("OK".into())
}

pub(super) async fn ready(State(state): State<AppState>) -> Result<Response, ApiError> {
    match state.store().ping().await {
        Ok(()) => Ok(respond::sniffed_text("OK".into())),
        Err(e) => {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "readiness check: store does not answer"
            );
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the store does not answer",
            ))
        }
    }
}
