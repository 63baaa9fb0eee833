//! `GET /metric?type=`: counts of one type's resources by state and owner (SPEC §3.6),
//! `application/json`, no trailing newline; 404 without a prefix when the type has none.

use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::Response;

use crate::error::ApiError;
use crate::params::Params;
use crate::respond;
use crate::state::AppState;

pub(super) async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
) -> Result<Response, ApiError> {
    if method != Method::GET {
        return Err(ApiError::method_not_allowed("/metric only accepts GET"));
    }
    let p = Params::from_uri(&uri);
    let rtype = p.get("type");
    if rtype.is_empty() {
        return Err(ApiError::bad_request("Type must be set in the request."));
    }
    let metric = state
        .store()
        .metric(rtype)
        .await
        .map_err(|e| ApiError::from_store(None, e))?;
    Ok(respond::json(
        mason_types::json::to_go_json(&metric).expect("a metric serializes"),
    ))
}
