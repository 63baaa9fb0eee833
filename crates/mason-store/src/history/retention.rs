//! Retention of the history (`--history-retention`, `--history-max-events`): a
//! background task per server deletes the oldest events in small batches, each its own
//! short transaction, so the lease calls between them never wait long.
//!
//! An event goes when it is older than the retention, or when more than the maximum
//! number of events would be kept (the oldest ids go first); the newest event always
//! stays, whatever its age. Ids are never reused, so a reader past a pruned range simply
//! reads on.

use std::sync::Arc;
use std::time::Duration;

use crate::{Error, Result, Store};

/// Events deleted per transaction.
pub const PRUNE_BATCH: usize = 1_000;

/// Pause between two batches of one round (lets queued lease calls in).
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// What to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep events at most this old (`None`: forever).
    pub max_age: Option<Duration>,
    /// Keep at most this many events (`None`: unbounded).
    pub max_events: Option<u64>,
}

impl Retention {
    /// `--history-retention 14d` and `--history-max-events 10000000`.
    pub const DEFAULT: Self = Self {
        max_age: Some(Duration::from_secs(14 * 24 * 3600)),
        max_events: Some(10_000_000),
    };

    /// From the flags' values, where 0 means "no limit".
    pub fn from_flags(max_age: Duration, max_events: u64) -> Self {
        Self {
            max_age: Some(max_age).filter(|d| !d.is_zero()),
            max_events: Some(max_events).filter(|n| *n > 0),
        }
    }

    /// Whether nothing is ever pruned.
    pub fn keeps_everything(&self) -> bool {
        self.max_age.is_none() && self.max_events.is_none()
    }
}

/// One batch of pruning ([`Store::prune_events`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneEventsRequest {
    /// Delete events older than this, by the database's clock (`None`: none for age).
    pub max_age: Option<Duration>,
    /// Delete the oldest events beyond this many (`None`: none for count).
    pub max_events: Option<u64>,
    /// Delete at most this many (1 to 100,000).
    pub batch: usize,
}

impl PruneEventsRequest {
    /// The checked values as stored: (age cutoff in microseconds or `None`, number kept
    /// or `None`, batch).
    pub(crate) fn checked(&self) -> Result<(Option<i64>, Option<i64>, i64)> {
        if !(1..=100_000).contains(&self.batch) {
            return Err(Error::InvalidArgument(format!(
                "invalid prune batch {}: want 1 to 100000",
                self.batch
            )));
        }
        Ok((
            self.max_age.map(crate::rows::duration_micros),
            self.max_events
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            i64::try_from(self.batch).unwrap_or(i64::MAX),
        ))
    }
}

/// The background pruner; stops when dropped.
#[derive(Debug)]
pub struct Pruner {
    task: tokio::task::JoinHandle<()>,
}

impl Pruner {
    /// Prune `store` to `retention` now and then every `every`. Must be called within a
    /// Tokio runtime. `None` when the retention keeps everything.
    pub fn start(store: Arc<dyn Store>, retention: Retention, every: Duration) -> Option<Self> {
        if retention.keeps_everything() {
            return None;
        }
        let task = tokio::spawn(async move {
            loop {
                prune_round(store.as_ref(), retention).await;
                tokio::time::sleep(every).await;
            }
        });
        Some(Self { task })
    }
}

impl Drop for Pruner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Delete batches until one comes back short; returns how many events went. A failure
/// is logged and ends the round (the next round tries again).
pub async fn prune_round(store: &dyn Store, retention: Retention) -> u64 {
    let request = PruneEventsRequest {
        max_age: retention.max_age,
        max_events: retention.max_events,
        batch: PRUNE_BATCH,
    };
    let mut total = 0;
    loop {
        match store.prune_events(&request).await {
            Ok(n) => {
                total += n;
                if n < PRUNE_BATCH as u64 {
                    break;
                }
                tokio::time::sleep(BETWEEN_BATCHES).await;
            }
            Err(e) => {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "pruning the history failed; will retry"
                );
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(events = total, "pruned the history");
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_flags_mean_no_limit() {
        let r = Retention::from_flags(Duration::ZERO, 0);
        assert!(r.keeps_everything());
        let r = Retention::from_flags(Duration::from_secs(60), 5);
        assert_eq!(r.max_age, Some(Duration::from_secs(60)));
        assert_eq!(r.max_events, Some(5));
        assert!(!Retention::DEFAULT.keeps_everything());
        let bad = PruneEventsRequest {
            batch: 0,
            ..Default::default()
        };
        assert!(matches!(bad.checked(), Err(Error::InvalidArgument(_))));
    }
}
