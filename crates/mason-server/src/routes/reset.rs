//! `POST /reset?type=&state=&expire=&dest=`: every owned resource of `type` in `state`
//! untouched for `expire` (a Go duration) goes to `dest`, unowned (SPEC §3.5). Success is
//! the map name → previous owner, without a trailing newline.

use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::Response;
use mason_store::ResetRequest;
use mason_types::parse_go_duration;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;
use crate::respond;
use crate::state::AppState;

pub(super) async fn handle(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    uri: Uri,
) -> Result<Response, ApiError> {
    if method != Method::POST {
        return Err(ApiError::method_not_allowed(format!(
            "Method {method}, /reset only accepts POST."
        )));
    }
    let p = Params::from_uri(&uri);
    let (rtype, from, expire, dest) = (
        p.get("type"),
        p.get("state"),
        p.get("expire"),
        p.get("dest"),
    );
    if rtype.is_empty() || from.is_empty() || expire.is_empty() || dest.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Type: {rtype}, state: {from}, expire: {expire}, dest: {dest}, all of them must be set in the request."
        )));
    }
    let expire = parse_go_duration(expire).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let req = ResetRequest {
        actor: caller.actor().map(str::to_string),
        rtype: rtype.to_string(),
        state: from.to_string(),
        expire,
        dest: dest.to_string(),
    };
    let reset = state
        .store()
        .reset(&req)
        .await
        .map_err(|e| ApiError::from_store(Some("could not reset states"), e))?;
    Ok(respond::sniffed_text(
        mason_types::json::to_go_json(&reset).expect("a string map serializes"),
    ))
}
