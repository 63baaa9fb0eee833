//! The one middleware on the API port: refuses queries holding NUL (see
//! [`crate::params::query_has_nul`]), observes `boskos_http_request_duration_seconds` and
//! `boskos_http_response_size_bytes`, and logs each request at debug level.
//!
//! One hand-written layer instead of a stack of generic ones (tower-http's trace layer,
//! a separate NUL filter): every layer is a boxed future and a poll per request, and on a
//! lease call the HTTP path costs about as much as the database commit.

use std::time::Instant;

use axum::body::HttpBody;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::metrics::{simplify_path, simplify_user_agent};
use crate::params::query_has_nul;
use crate::state::AppState;

/// Check, time and record one request.
pub(super) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let path = simplify_path(request.uri().path());
    let method = request.method().clone();
    let user_agent = simplify_user_agent(
        request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    // Only kept when it will be logged.
    let uri = tracing::enabled!(tracing::Level::DEBUG).then(|| request.uri().clone());
    let response = if query_has_nul(request.uri()) {
        ApiError::bad_request("query parameters must not contain NUL characters").into_response()
    } else {
        next.run(request).await
    };
    let size = response.body().size_hint().exact().unwrap_or(0);
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics().observe_http(
        path,
        method.as_str(),
        status,
        &user_agent,
        elapsed.as_secs_f64(),
        size,
    );
    if let Some(uri) = uri {
        tracing::debug!(%method, %uri, status, micros = elapsed.as_micros() as u64, "request");
    }
    response
}
