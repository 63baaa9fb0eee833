//! `POST /acquire?type=&state=&dest=&owner=[&request_id=]`: one resource of `type` in
//! `state`, moved to `dest` for `owner` (SPEC §3.1). Success is the resource JSON without
//! a trailing newline; the wait since the request's first attempt feeds
//! `boskos_acquire_duration_seconds`. Extensions: an optional `lease_ttl=DURATION`
//! (checked by [`crate::lease::params`], a 400 when bad; it overrides the type's
//! `lease-ttl`), and the `Mason-Lease-Generation` response header with the fencing
//! generation of the grant (the body stays upstream's, byte for byte). With an auth file
//! the caller is the lease's holder and its `max-leases` for the type is checked by the
//! store (429). A grant whose client disconnects before the answer is written is rolled
//! back (`crate::lease::rollback`, after `--disconnect-grace`).

use axum::extract::State;
use axum::http::{HeaderValue, Method, Uri};
use axum::response::Response;
use mason_store::AcquireRequest;
use mason_types::GENERATION_HEADER;

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
        return Err(ApiError::method_not_allowed(format!(
            "Method {method}, /acquire only accepts POST."
        )));
    }
    let p = Params::from_uri(&uri);
    let (rtype, from, dest, owner) = (p.get("type"), p.get("state"), p.get("dest"), p.get("owner"));
    if rtype.is_empty() || from.is_empty() || dest.is_empty() || owner.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Bad request: Type: {rtype}, state: {from}, dest: {dest}, owner: {owner}, all of them must be set in the request."
        )));
    }
    let lease_ttl = lease_params::lease_ttl(&p, state.lease().max_lease_ttl())?;
    let request_id = p.non_empty("request_id").map(str::to_string);
    let has_request_id = request_id.is_some();
    let (holder, max_held) = caller.holder_and_quota(rtype);
    let req = AcquireRequest {
        actor: caller.actor().map(str::to_string),
        rtype: rtype.to_string(),
        state: from.to_string(),
        dest: dest.to_string(),
        owner: owner.to_string(),
        request_id,
        holder,
        max_held,
        lease_ttl,
    };
    // A grant whose client goes away before this answer is rolled back.
    let store = state.store().clone();
    let granted_from = from.to_string();
    let acquired = rollback::guarded(
        &state,
        "/acquire",
        async move { store.acquire(&req).await },
        move |acquired| Granted::acquired(acquired, &granted_from),
    )
    .await
    .map_err(|e| ApiError::from_store(Some("Acquire failed"), e))?;
    let waited = (state.clock().now() - acquired.requested_at)
        .to_std()
        .unwrap_or_default();
    state
        .metrics()
        .observe_acquire(rtype, from, dest, has_request_id, waited.as_secs_f64());
    tracing::debug!(name = %acquired.resource.name, %owner, "acquired");
    state.lease().granted_until(acquired.lease.lease_deadline);
    let mut response = respond::sniffed_text(acquired.resource.to_wire_json());
    response.headers_mut().insert(
        GENERATION_HEADER,
        HeaderValue::from(acquired.lease.generation),
    );
    Ok(response)
}
