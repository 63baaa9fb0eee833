//! `GET /api/v2/events`: the history, a page at a time, as
//! `{"events":[...],"next":ID}` ([`mason_types::event::EventPage`]).
//!
//! - `after=ID` (default 0): events after ID, oldest first; read on with `after=next`.
//! - `before=` (empty: the newest) or `before=ID`: the *last* `limit` events before ID,
//!   still oldest first: what a dashboard or `mason describe` shows first. `next` is the
//!   newest id covered, so `after=next` (or `Last-Event-ID: next` on the stream) goes on
//!   from there. `after` and `before` do not combine.
//! - `type=`, `name=`, `owner=` (before or after the change), `kind=`: filters.
//! - `limit=N`: at most N events, 1 to 1,000 (default 1,000).

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;

use crate::error::ApiError;
use crate::events::filter::{after_param, filter_from_params, limit_param, parse_id};
use crate::events::EventHub;
use crate::params::Params;
use crate::respond;

pub(super) async fn handle(State(hub): State<EventHub>, uri: Uri) -> Result<Response, ApiError> {
    let p = Params::from_uri(&uri);
    let filter = filter_from_params(&p)?;
    let limit = limit_param(&p)?;
    let after = after_param(&p)?;
    let fail = |e| ApiError::from_store(Some("reading events failed"), e);
    let page = match p.opt("before") {
        Some(_) if after.is_some() => {
            return Err(ApiError::bad_request(
                "after and before do not combine: page forward with after, or read the latest with before",
            ))
        }
        Some(text) => {
            let before = match text {
                "" => None,
                id => Some(parse_id("before", id)?),
            };
            hub.log()
                .latest(before, &filter, limit)
                .await
                .map_err(fail)?
        }
        None => hub
            .log()
            .read(after.unwrap_or(0), &filter, limit)
            .await
            .map_err(fail)?,
    };
    Ok(respond::json(
        serde_json::to_string(&page).expect("events serialize"),
    ))
}
