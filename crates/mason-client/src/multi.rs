//! All-or-nothing acquire of several resources: `POST /api/v2/acquire`, a `mason serve`
//! extension (see `mason_types::multi_acquire` for the JSON).
//!
//! [`HttpClient::acquire_many`] makes one attempt. [`HttpClient::acquire_many_wait`] keeps
//! one request id (so the request holds its place in the queue of every type it asks
//! for) and lets the server hold each attempt open for up to a minute (`"wait"`), so a
//! set is handed over the moment it is free instead of at the next poll. Without a
//! deadline it waits until cancelled.
//!
//! The generation of every granted resource is remembered (see `fencing`), so later
//! updates and releases through this client are fenced. An upstream Boskos has no such
//! route (it answers 200 with an empty body): that is an [`Error::Protocol`] naming the
//! extension.

use std::time::Duration;

use mason_types::multi_acquire::{
    MultiAcquireAnswer, MultiAcquireBody, MultiAcquireItem, MAX_WAIT,
};
use mason_types::{format_go_duration, ResourceV2};
use tokio::time::Instant;

use crate::api::{Error, Result};
use crate::http::{Call, HttpClient};
use crate::wait::{Wait, WaitProgress};

/// The extension route of the multi-resource acquire.
pub const MULTI_ACQUIRE_ROUTE: &str = "api/v2/acquire";

/// Extra time the HTTP exchange of a long poll gets beyond the wait itself.
const LONG_POLL_MARGIN: Duration = Duration::from_secs(15);

/// What to ask for besides the items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetRequest {
    /// What to acquire, all or nothing.
    pub items: Vec<MultiAcquireItem>,
    /// Higher is served first (default 0).
    pub priority: i32,
    /// The queue identity; [`HttpClient::acquire_many_wait`] draws one when unset.
    pub request_id: Option<String>,
}

impl SetRequest {
    /// A request for `items` at priority 0.
    pub fn new(items: Vec<MultiAcquireItem>) -> Self {
        Self {
            items,
            ..Self::default()
        }
    }

    /// Served before lower priorities.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Keep this place in the queues.
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
}

impl HttpClient {
    /// One attempt at the whole set, letting the server hold the request open for up to
    /// `wait` (zero: answer at once). 404 ([`Error::NotFound`]) when some type is short
    /// (the message names each short type and how many were free); an unknown type is
    /// [`Error::TypeNotFound`].
    pub async fn acquire_many(&self, set: &SetRequest, wait: Duration) -> Result<Vec<ResourceV2>> {
        // Whole milliseconds: `19.999s`, not `19.999998799s`.
        let wait = Duration::from_millis(wait.min(MAX_WAIT).as_millis() as u64);
        let body = MultiAcquireBody {
            owner: self.inner.owner.clone(),
            request_id: set.request_id.clone(),
            lease_ttl: self.lease_ttl(),
            resources: set.items.clone(),
            wait: (!wait.is_zero()).then_some(wait),
            priority: set.priority,
        };
        let json = serde_json::to_vec(&body)
            .map_err(|e| Error::Local(format!("cannot encode the request: {e}")))?;
        let mut call = Call::post(MULTI_ACQUIRE_ROUTE, Vec::new());
        call.body = Some(json);
        call.json = true;
        if !wait.is_zero() {
            call.timeout = Some(wait + LONG_POLL_MARGIN);
        }
        let reply = self.send_reply(call).await?;
        if reply.body.trim().is_empty() {
            return Err(Error::Protocol(format!(
                "/{MULTI_ACQUIRE_ROUTE} answered 200 with an empty body: the server does not offer the multi-resource acquire (a mason serve extension)"
            )));
        }
        let answer: MultiAcquireAnswer = serde_json::from_str(&reply.body).map_err(|e| {
            Error::Protocol(format!(
                "/{MULTI_ACQUIRE_ROUTE} answered 200 with an unexpected body: {e}"
            ))
        })?;
        for resource in &answer.resources {
            self.set_generation(&resource.resource.name, resource.generation());
        }
        Ok(answer.resources)
    }

    /// Acquire the whole set, waiting for it: long polls of up to a minute with one
    /// request id, until granted, `wait`'s timeout ([`Error::Timeout`]) or its
    /// cancellation ([`Error::Cancelled`]). Errors other than "not enough free" end the
    /// wait at once.
    pub async fn acquire_many_wait(
        &self,
        set: &SetRequest,
        wait: &Wait,
    ) -> Result<Vec<ResourceV2>> {
        let mut set = set.clone();
        let request_id = set
            .request_id
            .get_or_insert_with(|| uuid::Uuid::new_v4().to_string())
            .clone();
        let start = Instant::now();
        let deadline = wait.timeout.map(|t| start + t);
        let cancel = wait.cancel.clone().unwrap_or_default();
        let pause = wait.poll_interval.unwrap_or(self.inner.poll_interval);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let hold = deadline.map_or(MAX_WAIT, |d| d.saturating_duration_since(Instant::now()));
            let asked = Instant::now();
            let outcome = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(Error::Cancelled),
                outcome = self.acquire_many(&set, hold.min(MAX_WAIT)) => outcome,
            };
            let err = match outcome {
                Ok(resources) => return Ok(resources),
                Err(e @ Error::NotFound(_)) => e,
                Err(e) => return Err(e),
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout {
                    waited: start.elapsed(),
                    last: Box::new(err),
                });
            }
            if let Some(hook) = &wait.progress {
                hook(&WaitProgress {
                    request_id: Some(request_id.clone()),
                    attempts,
                    waited: start.elapsed(),
                    rank: None,
                    last_error: err.to_string(),
                });
            }
            // A server that answered well before the wait it was given does not hold
            // requests: fall back to polling instead of spinning.
            if asked.elapsed() + Duration::from_secs(1) < hold.min(MAX_WAIT) {
                tracing::debug!(
                    held = %format_go_duration(asked.elapsed()),
                    "the server did not hold the request; polling"
                );
                let wake =
                    deadline.map_or(Instant::now() + pause, |d| d.min(Instant::now() + pause));
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => return Err(Error::Cancelled),
                    () = tokio::time::sleep_until(wake) => {}
                }
            }
        }
    }
}
