//! `GET /api/v2/events/stream`: the history live, as Server-Sent Events: one `event:` per
//! kind (`acquire`, `release`, …), `id:` the event id, `data:` the event's JSON, and a
//! `: keep-alive` comment every 15 s of silence.
//!
//! The same filters as `GET /api/v2/events` (`type`, `name`, `owner`, `kind`). Where it
//! starts: after the `Last-Event-ID` header (what a browser's `EventSource` sends when it
//! reconnects), else after `after=ID`, else with what happens from now on. A resume
//! sends every matching event after that id exactly once. `limit` is refused: the stream
//! sends everything that matches. The stream ends when the server shuts down; clients
//! reconnect with `Last-Event-ID`.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::events::filter::{after_param, filter_from_params, parse_id};
use crate::events::{into_stream, EventHub, Subscriber};
use crate::params::Params;

/// Silence after which a comment keeps proxies and clients from timing out.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) async fn handle(
    State(hub): State<EventHub>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let p = Params::from_uri(&uri);
    let filter = filter_from_params(&p)?;
    if p.opt("limit").is_some() {
        return Err(ApiError::bad_request(
            "limit does not apply to the stream (it sends every matching event); page with GET /api/v2/events",
        ));
    }
    let start = match headers.get("last-event-id") {
        Some(value) => {
            let text = value.to_str().map_err(|_| {
                ApiError::bad_request("invalid Last-Event-ID: not text (want an event id)")
            })?;
            Some(parse_id("Last-Event-ID", text)?)
        }
        None => after_param(&p)?,
    };
    let subscriber = Subscriber::start(hub, filter, start)
        .await
        .map_err(|e| ApiError::from_store(Some("reading events failed"), e))?;
    let sse = Sse::new(into_stream(subscriber))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"));
    let mut response = sse.into_response();
    // Proxies that buffer (nginx) would hold events back.
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}
