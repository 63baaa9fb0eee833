//! `POST /api/v2/acquire`: the all-or-nothing acquire of several resources (a Mason
//! extension; the JSON is described in `mason_types::multi_acquire`).
//!
//! Every bad input is refused with a 400 and a clear text before anything else happens,
//! so nothing changes: a body that is not JSON or has an unknown key, an empty `owner` or
//! `resources`, an item without `type`, `state` or `dest`, a `count` of 0 or over 1,000,
//! the same type and state twice, more than 100 items, a `wait` over 60 s, a `lease_ttl`
//! of 0 or over `--max-lease-ttl`. Every problem is listed, separated by `; `. A body
//! over [`crate::MAX_BODY_BYTES`] is a 413.
//!
//! Granting a valid request needs the store's all-or-nothing `acquire_many` (store
//! schema v4, issue 12's store part). Until the store has it, a valid request is
//! answered 501 Not Implemented saying so, and nothing changes.

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use mason_types::multi_acquire::MultiAcquireBody;

use crate::body;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) async fn handle(
    State(state): State<AppState>,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body).await?;
    let request = MultiAcquireBody::from_json(&bytes).map_err(ApiError::bad_request)?;
    let problems = request.problems(state.lease().max_lease_ttl());
    if !problems.is_empty() {
        return Err(ApiError::bad_request(problems.join("; ")));
    }
    tracing::debug!(owner = %request.owner, items = request.resources.len(), "multi-resource acquire refused: no store support");
    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "multi-resource acquire is not available yet: this server's store cannot grant a set of resources in one transaction",
    ))
}
