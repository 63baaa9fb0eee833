//! `POST /api/v2/acquire`: the all-or-nothing acquire of several resources (a Mason
//! extension; the JSON is described in `mason_types::multi_acquire`).
//!
//! - 400: every bad input is refused before anything else happens, so nothing changes: a
//!   body that is not JSON or has an unknown key, an empty `owner` or `resources`, an item
//!   without `type`, `state` or `dest`, a `count` of 0 or over 1,000, the same type and
//!   state twice, more than 100 items, a `wait` over 60 s, a `lease_ttl` of 0 or over
//!   `--max-lease-ttl`. Every problem is listed, separated by `; `. A body over
//!   [`crate::MAX_BODY_BYTES`] is a 413.
//! - 200 `{"resources":[…]}` (`application/json`): every resource granted, in item order,
//!   each an `/api/v2` object with its `"generation"`; the store granted all of them in
//!   one transaction. The `Mason-Lease-Generation` header lists the generations.
//! - 404: some type is short; the message names each short type and how many were free.
//!   Nothing changes, but with a `request_id` (or while waiting) the request keeps its
//!   place in the queue of every type it asked for.
//! - 409: a type does not exist at all.
//! - 429: with an auth file, the caller's `max-leases` of some type would be exceeded by
//!   the whole set (nothing taken, no queue place).
//!
//! With `"wait"`, the request is held open (`crate::lease::long_poll`) until the set is
//! granted or the wait runs out, woken in queue order (priority, then arrival) when the
//! store signals that resources of one of its (type, state) pairs may have freed up,
//! never by polling. A waiting request without `request_id` is given one
//! (`mason-wait-<uuid>`, named in the 404) so that it holds a place in the queues.
//!
//! A set granted after its client went away (disconnected while waiting or while the
//! store worked) is rolled back (`crate::lease::rollback`).
//!
//! Granting needs the store's [`crate::lease::LeaseBackend`] (store schema v4); a server
//! whose store does not offer it answers a valid request 501 Not Implemented, and nothing
//! changes.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use mason_types::multi_acquire::{MultiAcquireAnswer, MultiAcquireBody};
use mason_types::resource_v2::format_generation_header;
use mason_types::GENERATION_HEADER;
use tokio::time::Instant;

use crate::auth::Caller;
use crate::body;
use crate::error::ApiError;
use crate::lease::backend::{MultiAcquireItem, MultiAcquireRequest, MultiAcquired, SetRefused};
use crate::lease::long_poll::{hold, Attempt};
use crate::lease::rollback::{self, Granted};
use crate::respond;
use crate::state::AppState;

pub(super) async fn handle(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(body).await?;
    let request = MultiAcquireBody::from_json(&bytes).map_err(ApiError::bad_request)?;
    let problems = request.problems(state.lease().max_lease_ttl());
    if !problems.is_empty() {
        return Err(ApiError::bad_request(problems.join("; ")));
    }
    let Some(backend) = state.lease().backend().cloned() else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "multi-resource acquire is not available yet: this server's store cannot grant a set of resources in one transaction",
        ));
    };
    let wait = request.wait();
    let request_id = request
        .request_id()
        .map(str::to_string)
        .or_else(|| (!wait.is_zero()).then(|| format!("mason-wait-{}", uuid::Uuid::new_v4())));
    let wait_until = state.clock().now() + chrono::Duration::from_std(wait).unwrap_or_default();
    let (holder, max_held) = caller.holder_and_quotas();
    let req = MultiAcquireRequest {
        actor: caller.actor().map(str::to_string),
        holder,
        max_held,
        owner: request.owner.clone(),
        request_id: request_id.clone(),
        priority: request.priority,
        lease_ttl: request.lease_ttl,
        items: request
            .resources
            .iter()
            .map(|i| MultiAcquireItem {
                rtype: i.rtype.clone(),
                state: i.state.clone(),
                dest: i.dest.clone(),
                count: i.count,
            })
            .collect(),
        queue_until: (!wait.is_zero()).then_some(wait_until),
    };
    let req = std::sync::Arc::new(req);
    let attempt = || async {
        // A set whose client goes away before this answer is rolled back.
        let (backend, task_req, granted_req) = (backend.clone(), req.clone(), req.clone());
        let granted = rollback::guarded(
            &state,
            "/api/v2/acquire",
            async move { backend.acquire_many(&task_req).await },
            move |granted| Granted::set(&granted_req, granted),
        )
        .await;
        match granted {
            Ok(granted) => Attempt::Granted(granted),
            Err(SetRefused::Shortage(short)) => {
                // Queues where this request is first in line and still short: nobody
                // behind it can be served there, so its wake-ups stop. Where resources
                // are reserved for requests ahead of it (queued on another replica, or
                // earlier than this process saw them), the wake-up goes on.
                let keys = short
                    .iter()
                    .filter(|s| s.reserved == 0)
                    .map(|s| (s.rtype.clone(), s.state.clone()))
                    .collect();
                Attempt::Short(keys, SetRefused::Shortage(short))
            }
            Err(e) => Attempt::Failed(e),
        }
    };
    let outcome = if wait.is_zero() {
        match attempt().await {
            Attempt::Granted(g) => Ok(g),
            Attempt::Short(_, e) | Attempt::Failed(e) => Err(e),
        }
    } else {
        let keys = req
            .items
            .iter()
            .map(|i| (i.rtype.clone(), i.state.clone()))
            .collect();
        let waiter = state.lease().waiters.register(keys, req.priority);
        hold(&waiter, Instant::now() + wait, attempt).await
    };
    let granted = outcome.map_err(|e| refusal(e, request_id.as_deref()))?;
    state.lease().granted();
    answer(&state, &request, granted)
}

/// The answer to a refused set.
fn refusal(refused: SetRefused, request_id: Option<&str>) -> ApiError {
    const PREFIX: &str = "Acquire failed";
    match refused {
        SetRefused::Store(e) => ApiError::from_store(Some(PREFIX), e),
        e @ SetRefused::UnknownTypes(_) => {
            ApiError::new(StatusCode::CONFLICT, format!("{PREFIX}: {e}"))
        }
        e @ SetRefused::Shortage(_) => {
            let mut message = format!("{PREFIX}: {e}");
            if let Some(id) = request_id {
                message.push_str(&format!(
                    " (request_id {id} keeps its place in the queue of each type)"
                ));
            }
            ApiError::new(StatusCode::NOT_FOUND, message)
        }
    }
}

/// 200 with the granted set; the acquire duration is observed per item.
fn answer(
    state: &AppState,
    request: &MultiAcquireBody,
    granted: MultiAcquired,
) -> Result<Response, ApiError> {
    let waited = (state.clock().now() - granted.requested_at)
        .to_std()
        .unwrap_or_default();
    for item in &request.resources {
        state.metrics().observe_acquire(
            &item.rtype,
            &item.state,
            &item.dest,
            request.request_id().is_some(),
            waited.as_secs_f64(),
        );
    }
    let header = format_generation_header(granted.resources.iter().map(|r| r.generation()));
    let answer = MultiAcquireAnswer {
        resources: granted.resources,
    };
    let json = serde_json::to_string(&answer).expect("resources serialize");
    let mut response = respond::json(json);
    if let Ok(value) = HeaderValue::from_str(&header) {
        response.headers_mut().insert(GENERATION_HEADER, value);
    }
    tracing::debug!(owner = %request.owner, granted = answer.resources.len(), "set acquired");
    Ok(response)
}
