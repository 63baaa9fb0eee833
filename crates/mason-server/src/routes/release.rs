//! `POST /release?name=&dest=&owner=`: give a resource back in state `dest` (SPEC §3.3).
//! Empty 200 on success. Extension: an optional `generation=N` (checked by
//! [`crate::lease::params`], a 400 when bad).

use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::Response;
use mason_store::ReleaseRequest;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::lease::params as lease_params;
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
            "Method {method}, /release only accepts POST."
        )));
    }
    let p = Params::from_uri(&uri);
    let (name, dest, owner) = (p.get("name"), p.get("dest"), p.get("owner"));
    if name.is_empty() || dest.is_empty() || owner.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Name: {name}, dest: {dest}, owner: {owner}, all of them must be set in the request."
        )));
    }
    let req = ReleaseRequest {
        actor: caller.actor().map(str::to_string),
        name: name.to_string(),
        dest: dest.to_string(),
        owner: owner.to_string(),
        // A stale one is the store's 409 (GenerationMismatch), nothing changed.
        generation: lease_params::generation(&p)?,
    };
    state.store().release(&req).await.map_err(|e| {
        ApiError::from_store(
            Some(&format!("Done failed: {name} - {dest} (from {owner})")),
            e,
        )
    })?;
    tracing::debug!(%name, %dest, %owner, "released");
    if dest == mason_types::state::TOMBSTONE {
        // The pool can now delete and replace it: no need to wait for the timer.
        state.sync_soon();
    }
    Ok(respond::empty())
}
