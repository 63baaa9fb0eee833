//! Which failures are retried, how often, and how long to wait in between.
//!
//! Upstream's client retries every unexpected status, including 401/404/409 on the raw
//! calls, for 14 s (1 s, 4 s, 9 s) before reporting what was a definitive answer. We retry
//! only what can change by itself: transport errors (connection refused or reset, timeouts)
//! and 5xx answers except 501 Not Implemented (a server without an extension stays
//! without it). Everything else — 400, 401, 404, 405, 409, 501 — is the server's final
//! word and is returned at once. The back-off keeps upstream's shape (`base × attempt²`).
//!
//! Retrying a request whose answer was lost (a timeout after the server acted) can, as with
//! upstream, leave a resource acquired twice by the same owner or released already; the
//! second release then fails with an owner mismatch, and a lost acquire is reaped.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use crate::api::Error;

/// How many attempts a request gets and the back-off between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, at least 1 (upstream: 4).
    pub attempts: u32,
    /// The unit of the back-off: after attempt `i` (1-based) the client sleeps `base × i²`
    /// (upstream: 1 s, giving 1 s, 4 s, 9 s).
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// A policy that tries once and never retries.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            base_delay: Duration::ZERO,
        }
    }

    /// The pause after failed attempt `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        self.base_delay
            .saturating_mul(attempt.saturating_mul(attempt))
    }

    /// Whether another attempt follows failed attempt `attempt` (1-based).
    pub fn has_more(&self, attempt: u32) -> bool {
        attempt < self.attempts.max(1)
    }
}

/// What a retry hook is told before the client sleeps and tries again.
#[derive(Debug)]
#[non_exhaustive]
pub struct RetryNotice<'a> {
    /// The server's base URL.
    pub base: &'a Url,
    /// The attempt about to be made (2 for the first retry).
    pub next_attempt: u32,
    /// Attempts in all.
    pub attempts: u32,
    /// The pause before it.
    pub pause: Duration,
    /// Why the last attempt failed ([`Error::Unreachable`] or a 5xx [`Error::Status`]).
    pub error: &'a Error,
}

/// A hook told about each retry (see `HttpClientBuilder::on_retry`).
#[derive(Clone)]
pub(crate) struct RetryHook(pub(crate) Arc<dyn Fn(&RetryNotice<'_>) + Send + Sync>);

impl std::fmt::Debug for RetryHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetryHook")
    }
}

/// Whether an HTTP status is worth retrying (server-side trouble, not a verdict; 501
/// Not Implemented is a verdict).
pub(crate) fn is_retryable_status(status: u16) -> bool {
    (500..=599).contains(&status) && status != 501
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_backoff_shape() {
        let p = RetryPolicy::default();
        let delays: Vec<_> = (1..p.attempts)
            .map(|i| p.delay_after(i).as_secs())
            .collect();
        assert_eq!(delays, [1, 4, 9]);
        assert!(p.has_more(3));
        assert!(!p.has_more(4));
        assert!(!RetryPolicy::none().has_more(1));
        assert!(!RetryPolicy {
            attempts: 0,
            base_delay: Duration::ZERO
        }
        .has_more(1));
    }

    #[test]
    fn only_server_errors_are_retried() {
        for s in [500, 502, 503, 599] {
            assert!(is_retryable_status(s));
        }
        for s in [200, 400, 401, 404, 405, 409, 413, 429, 501] {
            assert!(!is_retryable_status(s));
        }
    }
}
