//! Read-only extension routes (JSON, `GET` only), invisible to upstream clients:
//! - `GET /api/v2/resources?type=&state=&owner=`: resources, least recently updated
//!   first; an empty `type`/`state` matches all, a present-but-empty `owner=` means
//!   unowned;
//! - `GET /api/v2/drlcs`: the dynamic pools (the builder reads pool definitions here);
//! - `GET /api/v2/queue`: the live `request_id` queue.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use mason_store::ResourceFilter;

use crate::error::ApiError;
use crate::params::Params;
use crate::respond;
use crate::state::AppState;

pub(super) async fn resources(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let p = Params::from_uri(&uri);
    let filter = ResourceFilter {
        rtype: p.non_empty("type").map(str::to_string),
        state: p.non_empty("state").map(str::to_string),
        owner: p.opt("owner").map(str::to_string),
    };
    let list = state
        .store()
        .list(&filter)
        .await
        .map_err(|e| ApiError::from_store(Some("list failed"), e))?;
    Ok(respond::json(
        serde_json::to_string(&list).expect("resources serialize"),
    ))
}

pub(super) async fn drlcs(State(state): State<AppState>) -> Result<Response, ApiError> {
    let list = state
        .store()
        .drlcs()
        .await
        .map_err(|e| ApiError::from_store(Some("list failed"), e))?;
    Ok(respond::json(
        serde_json::to_string(&list).expect("pools serialize"),
    ))
}

pub(super) async fn queue(State(state): State<AppState>) -> Result<Response, ApiError> {
    let list = state
        .store()
        .queue()
        .await
        .map_err(|e| ApiError::from_store(Some("list failed"), e))?;
    Ok(respond::json(
        serde_json::to_string(&list).expect("queue serializes"),
    ))
}
