//! `POST /update?name=&owner=&state=` with an optional JSON body of user data: the
//! heartbeat (bumps `lastupdate`) and user-data merge (SPEC §3.4). An empty body, only
//! whitespace, or `null` changes no user data; like Go's decoder only the first JSON value
//! is read; a `null` member deletes its key (Go reads it as `""`). Anything but an
//! object of strings is a 400; more than
//! [`crate::MAX_BODY_BYTES`] is a 413. Empty 200 on success. Extension: an optional
//! `generation=N` (checked by [`crate::lease::params`], a 400 when bad).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::Response;
use mason_store::UpdateRequest;
use mason_types::UserData;

use crate::auth::Caller;
use crate::body;
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
    body: Body,
) -> Result<Response, ApiError> {
    if method != Method::POST {
        return Err(ApiError::method_not_allowed(format!(
            "Method {method}, /update only accepts POST."
        )));
    }
    let p = Params::from_uri(&uri);
    let (name, owner, rstate) = (p.get("name"), p.get("owner"), p.get("state"));
    if name.is_empty() || owner.is_empty() || rstate.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Name: {name}, owner: {owner}, state : {rstate}, all of them must be set in the request."
        )));
    }
    // Checked before the body is read.
    let generation = lease_params::generation(&p)?;
    let req = UpdateRequest {
        actor: caller.actor().map(str::to_string),
        name: name.to_string(),
        owner: owner.to_string(),
        state: rstate.to_string(),
        userdata: decode_body(body).await?,
        // A stale one is the store's 409 (GenerationMismatch), nothing changed.
        generation,
    };
    state.store().update(&req).await.map_err(|e| {
        ApiError::from_store(
            Some(&format!("Update failed: {name} - {rstate} ({owner})")),
            e,
        )
    })?;
    Ok(respond::empty())
}

/// The user data in the body; `None` when there is none (empty, whitespace, `null`, `{}`).
async fn decode_body(body: Body) -> Result<Option<UserData>, ApiError> {
    let bytes = body::read(body).await?;
    // Go decodes a `null` member as the empty string, which the merge rule reads as
    // "delete this key"; do the same.
    type Wire = Option<BTreeMap<String, Option<String>>>;
    let mut values = serde_json::Deserializer::from_slice(&bytes).into_iter::<Wire>();
    match values.next() {
        None | Some(Ok(None)) => Ok(None),
        Some(Ok(Some(map))) if map.is_empty() => Ok(None),
        Some(Ok(Some(map))) => {
            let mut userdata = UserData::new();
            let has_nul = map
                .iter()
                .any(|(k, v)| k.contains('\0') || v.as_deref().is_some_and(|v| v.contains('\0')));
            if has_nul {
                return Err(ApiError::bad_request(
                    "user data must not contain NUL characters",
                ));
            }
            for (k, v) in map {
                userdata.insert(k, v.unwrap_or_default());
            }
            Ok(Some(userdata))
        }
        Some(Err(e)) => Err(ApiError::bad_request(format!(
            "cannot decode user data: {e}"
        ))),
    }
}
