//! The resource history of `mason serve` (extension routes): [`HttpClient::events`] reads
//! `GET /api/v2/events` a page at a time, [`HttpClient::follow_events`] follows
//! `GET /api/v2/events/stream` (Server-Sent Events) and reconnects by itself with
//! `Last-Event-ID`, so a caller sees every matching event once, in order, across
//! dropped connections. [`HttpClient::resource`] reads one resource
//! (`GET /api/v2/resources/{name}`).

use std::time::Duration;

use mason_types::event::{Event, EventPage};
use mason_types::Resource;
use reqwest::header;

use crate::api::{Error, Result};
use crate::http::{Call, HttpClient};
use crate::url::{endpoint, escape_path_segment};

/// The history routes.
pub const EVENTS_ROUTE: &str = "api/v2/events";
/// The live history route.
pub const EVENT_STREAM_ROUTE: &str = "api/v2/events/stream";

/// Longest pause between two reconnects of a followed stream.
const MAX_RECONNECT_PAUSE: Duration = Duration::from_secs(10);

/// Which events to read; an unset filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventQuery {
    /// Only events of resources of this type.
    pub rtype: Option<String>,
    /// Only events of this resource.
    pub name: Option<String>,
    /// Only events where this owner held the resource before or after.
    pub owner: Option<String>,
    /// Only events of this kind (`acquire`, `release`, …).
    pub kind: Option<String>,
}

impl EventQuery {
    /// Every event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events of resources of `rtype`.
    pub fn rtype(mut self, rtype: impl Into<String>) -> Self {
        self.rtype = Some(rtype.into());
        self
    }

    /// Only events of the resource `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only events where `owner` held the resource before or after.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Only events of `kind`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        [
            ("type", &self.rtype),
            ("name", &self.name),
            ("owner", &self.owner),
            ("kind", &self.kind),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// Where a read of [`HttpClient::events`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsFrom {
    /// The events after this id, oldest first (0: from the oldest kept).
    After(u64),
    /// The newest events before this id (`None`: the newest of all), still oldest first.
    Before(Option<u64>),
}

impl HttpClient {
    /// One resource by name (`Error::NotFound` when there is none).
    pub async fn resource(&self, name: &str) -> Result<Resource> {
        let route = format!("api/v2/resources/{}", escape_path_segment(name));
        let body = self.send(Call::get(&route, Vec::new())).await?;
        serde_json::from_str(&body)
            .map_err(|e| Error::Protocol(format!("/{route} answered an unexpected body: {e}")))
    }

    /// At most `limit` (1 to 1,000) events matching `query`, from `from`.
    pub async fn events(
        &self,
        query: &EventQuery,
        from: EventsFrom,
        limit: u32,
    ) -> Result<EventPage> {
        let mut params = query.params();
        match from {
            EventsFrom::After(id) => params.push(("after", id.to_string())),
            EventsFrom::Before(id) => {
                params.push(("before", id.map(|i| i.to_string()).unwrap_or_default()))
            }
        }
        params.push(("limit", limit.to_string()));
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = self.send(Call::get(EVENTS_ROUTE, pairs)).await?;
        serde_json::from_str(&body).map_err(|e| {
            Error::Protocol(format!("/{EVENTS_ROUTE} answered an unexpected body: {e}"))
        })
    }

    /// Follow the events matching `query` that come after `after` (`None`: from now on).
    pub fn follow_events(&self, query: &EventQuery, after: Option<u64>) -> EventFollower {
        EventFollower {
            client: self.clone(),
            params: query.params(),
            last_id: after,
            response: None,
            buffer: String::new(),
            failures: 0,
        }
    }
}

/// A followed event stream; see [`HttpClient::follow_events`].
#[derive(Debug)]
pub struct EventFollower {
    client: HttpClient,
    params: Vec<(&'static str, String)>,
    /// The last event id delivered (sent as `Last-Event-ID` on a reconnect).
    last_id: Option<u64>,
    response: Option<reqwest::Response>,
    /// Text received but not yet a whole event.
    buffer: String,
    /// Connection failures in a row (for the pause before the next attempt).
    failures: u32,
}

impl EventFollower {
    /// The last event id delivered.
    pub fn last_id(&self) -> Option<u64> {
        self.last_id
    }

    /// The next event. A dropped connection is reopened after a pause (1 s, doubling,
    /// at most 10 s) from the last id delivered; bad input (400) and missing routes are
    /// returned as errors, since retrying cannot fix them.
    pub async fn next(&mut self) -> Result<Event> {
        loop {
            if let Some(event) = self.take_buffered()? {
                self.last_id = Some(event.id);
                return Ok(event);
            }
            if self.response.is_none() {
                match self.connect().await {
                    Ok(response) => {
                        self.response = Some(response);
                        self.failures = 0;
                    }
                    Err(e)
                        if e.is_unreachable()
                            || matches!(e, Error::Status { status: 500.., .. }) =>
                    {
                        self.pause(&e).await;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let response = self.response.as_mut().expect("connected");
            match response.chunk().await {
                Ok(Some(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) => {
                    // The server ended the stream (shutdown): reconnect where we were.
                    self.response = None;
                    self.buffer.clear();
                }
                Err(e) => {
                    self.response = None;
                    self.buffer.clear();
                    let err = Error::Unreachable(format!("event stream: {e}"));
                    self.pause(&err).await;
                }
            }
        }
    }

    async fn pause(&mut self, err: &Error) {
        self.failures = self.failures.saturating_add(1);
        let pause = Duration::from_secs(1 << self.failures.min(4).saturating_sub(1))
            .min(MAX_RECONNECT_PAUSE);
        tracing::debug!(error = %err, ?pause, "event stream: reconnecting");
        tokio::time::sleep(pause).await;
    }

    async fn connect(&self) -> Result<reqwest::Response> {
        let mut params: Vec<(&str, &str)> =
            self.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let after;
        if let Some(id) = self.last_id {
            after = id.to_string();
            params.push(("after", after.as_str()));
        }
        let inner = &self.client.inner;
        let url = endpoint(&inner.base, EVENT_STREAM_ROUTE, &params);
        // No overall timeout: the stream is meant to stay open (keep-alives every 15 s).
        let mut request = inner
            .http
            .get(url.clone())
            .header(header::ACCEPT, "text/event-stream")
            .timeout(Duration::from_secs(60 * 60 * 24 * 365));
        if let Some(id) = self.last_id {
            request = request.header("last-event-id", id.to_string());
        }
        if let Some(auth) = &inner.auth {
            request = auth.apply(request)?;
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::Unreachable(format!("GET {}: {e}", url.path())))?;
        let status = response.status().as_u16();
        let is_stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let challenged = response.headers().contains_key(header::WWW_AUTHENTICATE);
        if status != 200 {
            let body = response.text().await.unwrap_or_default();
            return Err(Error::from_challenged_status(status, body, challenged));
        }
        if !is_stream {
            return Err(Error::UnknownPath {
                url: url.path().to_string(),
            });
        }
        Ok(response)
    }

    /// The first whole event in the buffer, if any (comments and keep-alives skipped).
    fn take_buffered(&mut self) -> Result<Option<Event>> {
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let data: Vec<&str> = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if data.is_empty() {
                continue;
            }
            let event: Event = serde_json::from_str(&data.join("\n")).map_err(|e| {
                Error::Protocol(format!(
                    "/{EVENT_STREAM_ROUTE} sent an unexpected event: {e}"
                ))
            })?;
            if self.last_id.is_some_and(|last| event.id <= last) {
                continue;
            }
            return Ok(Some(event));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_filters_are_sent() {
        assert!(EventQuery::new().params().is_empty());
        let q = EventQuery::new().name("a b").kind("acquire");
        assert_eq!(
            q.params(),
            vec![("name", "a b".to_string()), ("kind", "acquire".to_string())]
        );
    }
}
