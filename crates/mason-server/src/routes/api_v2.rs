//! Read-only extension routes (JSON, `GET` only), invisible to upstream clients:
//! - `GET /api/v2/resources?type=&state=&owner=`: resources, least recently updated
//!   first; an empty `type`/`state` matches all, a present-but-empty `owner=` means
//!   unowned; `q=` searches names; `limit=`/`cursor=` ask for pages
//!   ([`super::resource_pages`]);
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

use super::resource_pages::{self, PageRequest};

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
    let paging = PageRequest::from_params(&p)?;
    let mut list = state
        .store()
        .list(&filter)
        .await
        .map_err(|e| ApiError::from_store(Some("list failed"), e))?;
    if let Some(q) = p.non_empty("q") {
        resource_pages::search(&mut list, q);
    }
    let Some(paging) = paging else {
        return Ok(respond::json(
            serde_json::to_string(&list).expect("resources serialize"),
        ));
    };
    let (page, next) = paging.cut(list);
    let mut response = respond::json(serde_json::to_string(&page).expect("resources serialize"));
    if let Some(next) = next {
        resource_pages::add_next(&mut response, uri.path(), &p, &next);
    }
    Ok(response)
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
