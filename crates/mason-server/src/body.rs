//! Reading a request body whole, at most [`crate::MAX_BODY_BYTES`]: more is a 413, a
//! broken transfer a 400 (`/update`'s user data, `POST /api/v2/acquire`'s JSON).

use axum::body::{Body, Bytes};
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::MAX_BODY_BYTES;

/// The whole body, or the 413/400 to answer.
pub(crate) async fn read(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            if is_length_limit(&e) {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body too large (limit {MAX_BODY_BYTES} bytes)"),
                )
            } else {
                ApiError::bad_request(format!("cannot read request body: {e}"))
            }
        })
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}
