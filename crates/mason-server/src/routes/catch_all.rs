//! Upstream's `/` handler: any unregistered path, any method → 200, empty body.

use axum::http::{Method, Uri};
use axum::response::Response;

use crate::respond;

/// Answer 200 with nothing (and log the request at debug level, as upstream logs it).
pub(super) async fn handle(method: Method, uri: Uri) -> Response {
    tracing::debug!(%method, %uri, "request to an unregistered path");
    respond::empty()
}
