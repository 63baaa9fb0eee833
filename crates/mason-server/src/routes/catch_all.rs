//! Upstream's `/` handler: any unregistered path, any method → 200, empty body. The
//! answer also carries [`UNKNOWN_PATH`] (upstream clients ignore it), so Mason's client
//! can tell a wrong path in its server URL from a successful empty answer.

use axum::http::{HeaderValue, Method, Uri};
use axum::response::Response;
use mason_types::headers::UNKNOWN_PATH;

use crate::respond;

/// Answer 200 with nothing (and log the request at debug level, as upstream logs it).
pub(super) async fn handle(method: Method, uri: Uri) -> Response {
    tracing::debug!(%method, %uri, "request to an unregistered path");
    let mut response = respond::empty();
    response
        .headers_mut()
        .insert(UNKNOWN_PATH, HeaderValue::from_static("true"));
    response
}
