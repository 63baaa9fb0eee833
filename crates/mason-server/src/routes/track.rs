//! Middleware observing `boskos_http_request_duration_seconds` and
//! `boskos_http_response_size_bytes` for every request on the API port.

use std::time::Instant;

use axum::body::HttpBody;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::{simplify_path, simplify_user_agent};
use crate::state::AppState;

/// Time the request and record its status and body size.
pub(super) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let path = simplify_path(request.uri().path());
    let method = request.method().as_str().to_string();
    let user_agent = simplify_user_agent(
        request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    let response = next.run(request).await;
    let size = response.body().size_hint().exact().unwrap_or(0);
    state.metrics().observe_http(
        path,
        &method,
        response.status().as_u16(),
        &user_agent,
        started.elapsed().as_secs_f64(),
        size,
    );
    response
}
