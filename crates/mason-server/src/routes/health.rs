//! `GET /healthz` (liveness: the process answers) and `GET /healthz/ready` (readiness:
//! the store can take writes, [`mason_store::Store::ready`]), both `OK` in plain text
//! like upstream's health port. Not ready is a 503 whose text says why (the store file
//! replaced, a stalled or failing disk, the database unreachable).

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
    match state.store().ready().await {
        Ok(()) => Ok(respond::sniffed_text("OK".into())),
        Err(mason_store::Error::Storage(why)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}"),
        )),
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
