//! The answer of `GET /api/v2/status`: what a process's background loops have done.
//!
//! Every Mason process with loops serves it: `mason serve` (its config sync and request
//! queue GC), `mason up` (those plus the builder, reaper, cleaner and janitor), and the
//! standalone controllers when given a status listener. A loop is described by a
//! [`LoopStatus`] (last run, next run, last error); the builder adds per-pool counters
//! ([`BuilderStatus`], [`PoolStatus`]).
//!
//! Times are RFC 3339 with sub-second precision (an extension route, not upstream's
//! whole-second format). `next_run` is `null` when a loop waits for a wake-up rather than
//! a timer, or when it is not running.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::resource::Timestamp;

/// A whole process: which command it is and each of its loops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStatus {
    /// The command running: `serve`, `up`, `builder`, `reaper`, `cleaner` or `janitor`.
    pub process: String,
    /// When the process started.
    pub started_at: Timestamp,
    /// The process's clock when it answered (lets a reader compute ages without trusting
    /// its own clock).
    pub now: Timestamp,
    /// Every background loop, in the order they were registered.
    pub loops: Vec<LoopStatus>,
    /// The builder's pools, when this process runs a builder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<BuilderStatus>,
}

/// One background loop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopStatus {
    /// The loop's name (`config-sync`, `request-gc`, `builder`, `reaper`, …).
    pub name: String,
    /// Whether the loop is being driven right now.
    pub running: bool,
    /// Runs completed, successful or not.
    pub ticks: u64,
    /// Runs that failed.
    pub errors: u64,
    /// Failures since the last successful run (drives the loop's backoff).
    pub consecutive_errors: u32,
    /// When the last run finished.
    pub last_run: Option<Timestamp>,
    /// When the loop runs next at the latest (it may be woken earlier); `None` while it
    /// waits for a wake-up only, or is stopped.
    pub next_run: Option<Timestamp>,
    /// The most recent failure.
    pub last_error: Option<String>,
    /// When the most recent failure happened.
    pub last_error_at: Option<Timestamp>,
}

impl LoopStatus {
    /// A loop that has not run yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Record one run that finished at `at` with `outcome` (the error's text on failure).
    pub fn record_run(&mut self, at: Timestamp, outcome: Result<(), String>) {
        self.ticks += 1;
        self.last_run = Some(at);
        match outcome {
            Ok(()) => self.consecutive_errors = 0,
            Err(text) => {
                self.errors += 1;
                self.consecutive_errors = self.consecutive_errors.saturating_add(1);
                self.last_error = Some(text);
                self.last_error_at = Some(at);
            }
        }
    }
}

/// The builder: its pools and what it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuilderStatus {
    /// Pools with a registered converter, by resource type.
    pub pools: BTreeMap<String, PoolStatus>,
    /// Resources currently held (virtual and physical), heartbeated by the builder.
    pub held: u64,
    /// Resources found still owned by this builder at start-up and released to dirty.
    pub recovered: u64,
    /// Heartbeats that failed.
    pub heartbeat_errors: u64,
    /// Successful loads of the pool definitions.
    pub pool_loads: u64,
    /// Why the pool definitions could not be (re)loaded, if the last attempt failed.
    pub pool_source_error: Option<String>,
}

/// One dynamic pool the builder works on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStatus {
    /// The pool's `config.type` (its converter).
    pub converter: String,
    /// Builds under way (virtual resources held between dirty and free).
    pub in_flight: u64,
    /// Dirty virtual resources taken for a build.
    pub recycled: u64,
    /// Virtual resources built and released free.
    pub built: u64,
    /// Builds that failed; their resources went back (virtual to dirty).
    pub failed: u64,
    /// Times a need could not be met: its type is missing, the server has fewer
    /// resources of it than one build needs, or none became free in time.
    pub unmet_needs: u64,
    /// Why the pool cannot be built at all right now (bad converter content, a need
    /// that can never be met); `None` while it can.
    pub blocked: Option<String>,
    /// The most recent failure.
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn runs_count_failures_and_reset_the_streak() {
        let at = |s| chrono::Utc.timestamp_opt(s, 0).unwrap();
        let mut status = LoopStatus::new("reaper");
        status.record_run(at(10), Err("boom".into()));
        status.record_run(at(20), Err("again".into()));
        assert_eq!(
            (status.ticks, status.errors, status.consecutive_errors),
            (2, 2, 2)
        );
        status.record_run(at(30), Ok(()));
        assert_eq!(
            (status.ticks, status.errors, status.consecutive_errors),
            (3, 2, 0)
        );
        assert_eq!(status.last_run, Some(at(30)));
        assert_eq!(status.last_error.as_deref(), Some("again"));
        assert_eq!(status.last_error_at, Some(at(20)));
    }

    #[test]
    fn round_trips_with_optional_builder() {
        let at = chrono::Utc.timestamp_opt(1_700_000_000, 5_000_000).unwrap();
        let status = ProcessStatus {
            process: "serve".into(),
            started_at: at,
            now: at,
            loops: vec![LoopStatus::new("config-sync")],
            builder: None,
        };
        let text = serde_json::to_string(&status).unwrap();
        assert!(!text.contains("builder"), "{text}");
        assert!(text.contains("\"next_run\":null"), "{text}");
        let back: ProcessStatus = serde_json::from_str(&text).unwrap();
        assert_eq!(back, status);
    }
}
