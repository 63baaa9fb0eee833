//! The operations of the Boskos API as a trait, so controllers (builder, reaper, cleaner,
//! janitor) run unchanged over HTTP against any server, or in process inside `mason up`.
//!
//! Every call is made on behalf of one owner, fixed when the client is built. No method
//! keeps local lease bookkeeping: release and update work by name after a restart
//! (upstream boskos#16).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use mason_types::{Metric, Resource, UserData};

/// A failed API call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 404: resources exist but none is available (or the named resource is missing).
    #[error("resources not found: {0}")]
    NotFound(String),
    /// 404 with upstream's `resource type "<t>" does not exist`.
    #[error("resource type not found: {0}")]
    TypeNotFound(String),
    /// 401: the resource is owned by someone else.
    #[error("resources already used by another user: {0}")]
    OwnerMismatch(String),
    /// 409: the resource is not in the stated state.
    #[error("state mismatch: {0}")]
    StateMismatch(String),
    /// 401 with a `WWW-Authenticate` challenge: the server wants credentials, or refused
    /// the ones sent (an upstream owner mismatch is a 401 without a challenge).
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// 403: the credentials are valid but their role or owner patterns do not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 429: over the caller's lease quota, or too many failed logins from this address.
    #[error("too many requests: {0}")]
    TooManyRequests(String),
    /// 400: the server refused the parameters.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Any other HTTP status (5xx after retries, 405, 413, ...).
    #[error("status {status}: {message}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// Response body.
        message: String,
        /// What caused it, when known: an in-process client keeps the store's error here
        /// (see [`Error::caused_by`]); over HTTP the cause stays in the server's log.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The server could not be reached (after retries).
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// The server answered something that is not the Boskos wire format.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// The server answered with its catch-all: the path does not exist there (a wrong
    /// path in the server URL). `mason serve` says so with the
    /// [`UNKNOWN_PATH`](mason_types::headers::UNKNOWN_PATH) response header; an upstream
    /// server is caught when a route that must answer a body answers an empty one.
    #[error("{url} is not a Boskos API route (the server answered with its catch-all: 200 and an empty body); check the path of the server URL")]
    UnknownPath {
        /// The URL asked, without its query.
        url: String,
    },
    /// A local problem (bad argument, unreadable password file).
    #[error("{0}")]
    Local(String),
    /// Waiting for a resource gave up at its deadline (added for `acquire_wait`; `last` is
    /// the answer of the final attempt, normally [`Error::NotFound`]).
    #[error("no resource became available within {}: {last}", rounded(*waited))]
    Timeout {
        /// How long the caller waited.
        waited: Duration,
        /// The error of the last attempt.
        last: Box<Error>,
    },
    /// The caller cancelled a wait (added for `acquire_wait`, e.g. on SIGINT).
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// Whether waiting and retrying may succeed (nothing free right now).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }

    /// Whether the server is out of reach (transport failures after every retry).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable(_))
    }

    /// For [`Error::Unreachable`]: why, without the request it happened to
    /// (`Connection refused (os error 111) (after 4 attempts)`), so a front end that
    /// names the server itself does not name it twice.
    pub fn transport_cause(&self) -> Option<&str> {
        match self {
            // The text is `<METHOD> <URL>: <cause>` (see `http::transport`).
            Error::Unreachable(text) => {
                Some(text.split_once(": ").map_or(text.as_str(), |(_, c)| c))
            }
            _ => None,
        }
    }

    /// Whether the server says the lease is not (or no longer) ours: the resource is gone,
    /// owned by someone else, or in another state. Heartbeating it again cannot succeed.
    pub fn is_lease_lost(&self) -> bool {
        matches!(
            self,
            Error::NotFound(_) | Error::OwnerMismatch(_) | Error::StateMismatch(_)
        )
    }
}

/// A waiting time for people: whole seconds from one second on, else milliseconds.
fn rounded(d: Duration) -> String {
    let d = if d >= Duration::from_secs(1) {
        Duration::from_secs(d.as_secs())
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    mason_types::format_go_duration(d)
}

/// Result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The Boskos operations, on behalf of [`BoskosApi::owner`].
#[async_trait]
pub trait BoskosApi: Send + Sync {
    /// Who this client acts as.
    fn owner(&self) -> &str;

    /// `POST /acquire`: one resource of `rtype` in `state`, moved to `dest`.
    async fn acquire(
        &self,
        rtype: &str,
        state: &str,
        dest: &str,
        request_id: Option<&str>,
    ) -> Result<Resource>;

    /// `POST /acquirebystate`: the named resources in `state`, moved to `dest`.
    async fn acquire_by_state(
        &self,
        state: &str,
        dest: &str,
        names: &[String],
    ) -> Result<Vec<Resource>>;

    /// `POST /release`.
    async fn release(&self, name: &str, dest: &str) -> Result<()>;

    /// `POST /update`: heartbeat, merging `userdata` when given.
    async fn update(&self, name: &str, state: &str, userdata: Option<&UserData>) -> Result<()>;

    /// `POST /reset`: name → previous owner.
    async fn reset(
        &self,
        rtype: &str,
        state: &str,
        expire: Duration,
        dest: &str,
    ) -> Result<BTreeMap<String, String>>;

    /// `GET /metric`.
    async fn metric(&self, rtype: &str) -> Result<Metric>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_message_rounds_the_wait() {
        let last = Box::new(Error::NotFound("none".into()));
        let err = Error::Timeout {
            waited: Duration::from_nanos(61_002_793_270),
            last,
        };
        assert_eq!(
            err.to_string(),
            "no resource became available within 1m1s: resources not found: none"
        );
        let err = Error::Timeout {
            waited: Duration::from_micros(200_345),
            last: Box::new(Error::Cancelled),
        };
        assert_eq!(
            err.to_string(),
            "no resource became available within 200ms: cancelled"
        );
    }
}
