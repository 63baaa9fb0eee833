//! `POST /acquirebystate?state=&dest=&owner=&names=a,b`: all the named resources,
//! unowned and in `state`, moved to `dest` (SPEC §3.2). Unlike upstream the store does it
//! atomically: on 404 nothing was taken. Success is a JSON array plus a newline.
//! Extension: an optional `lease_ttl=DURATION` (checked by [`crate::lease::params`]; it
//! overrides the types' `lease-ttl`). With an auth file the caller is the leases' holder
//! and its `max-leases` per type are checked by the store, counting every resource named
//! (429, nothing taken). The `Mason-Lease-Generation` response header lists the fencing
//! generation of every grant, in the order of the body's array (`"7, 9"`); the body stays
//! upstream's, byte for byte.

use axum::extract::State;
use axum::http::{HeaderValue, Method, Uri};
use axum::response::Response;
use mason_store::AcquireByStateRequest;
use mason_types::resource_v2::{format_generation_header, GENERATION_HEADER};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::lease::params as lease_params;
use crate::lease::rollback::{self, Granted};
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
        // Upstream's text says /acquire here too.
        return Err(ApiError::method_not_allowed(format!(
            "Method {method}, /acquire only accepts POST."
        )));
    }
    let p = Params::from_uri(&uri);
    let (from, dest, owner, names) = (
        p.get("state"),
        p.get("dest"),
        p.get("owner"),
        p.get("names"),
    );
    if from.is_empty() || dest.is_empty() || owner.is_empty() || names.is_empty() {
        return Err(ApiError::bad_request(format!(
            "state: {from}, dest: {dest}, owner: {owner}, names: {names} - all of them must be set in the request."
        )));
    }
    let lease_ttl = lease_params::lease_ttl(&p, state.lease().max_lease_ttl())?;
    let (holder, max_held) = caller.holder_and_quotas();
    let req = AcquireByStateRequest {
        actor: caller.actor().map(str::to_string),
        state: from.to_string(),
        dest: dest.to_string(),
        owner: owner.to_string(),
        names: names.split(',').map(str::to_string).collect(),
        holder,
        max_held,
        lease_ttl,
    };
    // Grants whose client goes away before this answer are rolled back.
    let store = state.store().clone();
    let granted_from = from.to_string();
    let granted = rollback::guarded(
        &state,
        "/acquirebystate",
        async move { store.acquire_by_state_leases(&req).await },
        move |granted: &Vec<mason_types::ResourceV2>| {
            granted
                .iter()
                .map(|r| Granted::leased(r, &granted_from))
                .collect()
        },
    )
    .await
    .map_err(|e| ApiError::from_store(Some("AcquireByState"), e))?;
    // The leases may have deadlines (the request's TTL or their types').
    state.lease().granted();
    let header = format_generation_header(granted.iter().map(|r| r.generation()));
    let resources: Vec<_> = granted.into_iter().map(|r| r.resource).collect();
    let mut body = mason_types::json::to_go_json(&resources).expect("resources always serialize");
    body.push('\n');
    let mut response = respond::sniffed_text(body);
    if let Ok(value) = HeaderValue::from_str(&header) {
        response.headers_mut().insert(GENERATION_HEADER, value);
    }
    Ok(response)
}
