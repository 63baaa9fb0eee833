//! `GET /metrics`: the Prometheus exposition; `boskos_resources` is computed from the
//! store at each scrape.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::metrics::CONTENT_TYPE;
use crate::state::AppState;

pub(super) async fn handle(State(state): State<AppState>) -> Result<Response, ApiError> {
    let counts = state
        .store()
        .all_metrics()
        .await
        .map_err(|e| ApiError::from_store(Some("metrics"), e))?;
    let text = state.metrics().encode(&counts);
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}
