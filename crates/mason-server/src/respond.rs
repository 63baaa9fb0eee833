//! Success responses with upstream's headers: bodies Go wrote without a content type are
//! sniffed by Go as `text/plain; charset=utf-8`, `/metric` is `application/json`, and empty
//! 200s carry no content type at all.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

/// 200 with `body` as `text/plain; charset=utf-8` (what Go's sniffing yields for JSON).
pub(crate) fn sniffed_text(body: String) -> Response {
    with_type(body, "text/plain; charset=utf-8")
}

/// 200 with `body` as `application/json`.
pub(crate) fn json(body: String) -> Response {
    with_type(body, "application/json")
}

/// 200 with an empty body and no content type.
pub(crate) fn empty() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::OK;
    response
}

fn with_type(body: String, content_type: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
