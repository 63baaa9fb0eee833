//! The gate's Prometheus metrics:
//! - `mason_auth_failures_total{reason}`: refused requests by reason ([`Failure`]);
//! - `mason_auth_reload_errors_total`: auth file changes rejected (the previous file stayed
//!   in force);
//! - `mason_auth_last_reload_success_timestamp_seconds`: when a valid file was last loaded.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// No `Authorization` header (401).
    Missing,
    /// An `Authorization` header that could not be read (401).
    Malformed,
    /// A Basic user name the file does not define (401).
    UnknownUser,
    /// A known user with the wrong password (401).
    BadPassword,
    /// A bearer token the file does not define (401).
    UnknownToken,
    /// A known identity without the role or owner the request needs (403).
    Forbidden,
    /// The source address failed too often lately (429).
    RateLimited,
}

impl Failure {
    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Failure::Missing => "missing",
            Failure::Malformed => "malformed",
            Failure::UnknownUser => "unknown_user",
            Failure::BadPassword => "bad_password",
            Failure::UnknownToken => "unknown_token",
            Failure::Forbidden => "forbidden",
            Failure::RateLimited => "rate_limited",
        }
    }

    /// Whether it counts towards the source address's failure limit: only credentials
    /// that were presented and wrong do.
    pub fn counts_towards_limit(self) -> bool {
        matches!(
            self,
            Failure::Malformed
                | Failure::UnknownUser
                | Failure::BadPassword
                | Failure::UnknownToken
        )
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Handles of the auth metrics (clones share the counters).
#[derive(Debug, Clone, Default)]
pub struct AuthMetrics {
    failures: Family<ReasonLabels, Counter>,
    reload_errors: Counter,
    last_reload_success: Gauge<f64, AtomicU64>,
}

impl AuthMetrics {
    /// Register every metric in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "mason_auth_failures",
            "Requests refused by the auth gate, by reason.",
            self.failures.clone(),
        );
        registry.register(
            "mason_auth_reload_errors",
            "Auth file changes that were rejected (unreadable or invalid); the previous file stayed in force.",
            self.reload_errors.clone(),
        );
        registry.register(
            "mason_auth_last_reload_success_timestamp_seconds",
            "Unix time at which a valid auth file was last loaded.",
            self.last_reload_success.clone(),
        );
    }

    /// One refused request.
    pub fn failed(&self, why: Failure) {
        self.failures
            .get_or_create(&ReasonLabels {
                reason: why.label(),
            })
            .inc();
    }

    /// Refused requests so far for `why`.
    pub fn failures(&self, why: Failure) -> u64 {
        self.failures
            .get_or_create(&ReasonLabels {
                reason: why.label(),
            })
            .get()
    }

    /// A valid file was loaded.
    pub fn reloaded(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.last_reload_success.set(now);
    }

    /// A changed file was rejected.
    pub fn reload_failed(&self) {
        self.reload_errors.inc();
    }

    /// Rejected changes so far.
    pub fn reload_errors(&self) -> u64 {
        self.reload_errors.get()
    }
}
