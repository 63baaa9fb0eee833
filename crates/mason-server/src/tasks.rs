//! Background loops, each stopped by its cancellation token:
//! - [`config_loop`]: one worker that re-reads the config file when the `notify` watcher
//!   fires or every [`ServerOptions::config_poll_interval`] (a cheap read-and-compare
//!   fallback for filesystems without events), applies a changed valid config (200 ms
//!   after the last file event, so a file being written is not read half-way), and runs a
//!   full `sync_config` every [`ServerOptions::sync_period`] so expiry and min-count
//!   top-up never wait for an event. A failed sync is retried with backoff (1 s doubling,
//!   capped at the sync period).
//!
//!   Replacing an expired dynamic resource takes three steps: a sync marks it
//!   `toBeDeleted`, the cleaner tombstones it, and a later sync deletes and replaces it.
//!   Upstream reconciles on every such write; here the loop syncs when a release to
//!   `tombstone` arrives over HTTP ([`AppState::sync_soon`]), and after any sync that
//!   marked resources it syncs again [`FOLLOW_UP_FIRST`] later, then at doubling gaps up
//!   to the period, so a cleaner in the same process (`mason up`) is followed within a
//!   fraction of a second and a restart on an old store is ready at once.
//! - [`request_gc_loop`]: drops expired `request_id` entries every
//!   [`ServerOptions::request_gc_period`] (upstream: 1 minute).
//!
//! Both record their runs on the [`crate::StatusBoard`] (`config-sync`, `request-gc`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::server::ServerOptions;
use crate::state::AppState;

/// Quiet time after a file event before the file is read.
const WATCH_DEBOUNCE: Duration = Duration::from_millis(200);

/// First follow-up sync after a sync that marked resources for deletion.
pub const FOLLOW_UP_FIRST: Duration = Duration::from_millis(100);

/// Keep the config in force and the store in sync with it until `shutdown`.
pub async fn config_loop(state: AppState, options: ServerOptions, shutdown: CancellationToken) {
    let wake = Arc::new(Notify::new());
    // Held for the loop's lifetime: dropping the watcher stops the events.
    let _watcher = state
        .config()
        .path()
        .and_then(|path| crate::config_watch::watch(path, wake.clone()));
    let poll = state
        .config()
        .path()
        .map(|_| options.config_poll_interval.max(Duration::from_millis(10)));
    let period = options.sync_period.max(Duration::from_millis(10));
    let mut next_full_sync = Instant::now() + period;
    let mut backoff = Duration::from_secs(1);
    let status = state.status().track("config-sync");
    status.started(Some(period));
    // The gap to the next follow-up sync while deletions are under way.
    let mut follow_up: Option<Duration> = None;
    loop {
        if state.take_deletions_pending() {
            follow_up = Some(FOLLOW_UP_FIRST);
            next_full_sync = next_full_sync.min(Instant::now() + FOLLOW_UP_FIRST);
        }
        let next_poll = poll.map(|p| Instant::now() + p).unwrap_or(next_full_sync);
        let woken = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sleep_until(next_full_sync.min(next_poll)) => false,
            _ = wake.notified() => true,
            _ = state.sync_wanted() => {
                next_full_sync = Instant::now();
                false
            }
        };
        if woken {
            // Writers often truncate then write: let the burst of events settle so a
            // half-written file is not read (and rejected) in between.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(WATCH_DEBOUNCE) => {}
            }
        }
        let force = Instant::now() >= next_full_sync;
        match state.reconcile(force).await {
            Ok(done) => {
                if force || done.report.is_some() {
                    backoff = Duration::from_secs(1);
                    let gap = match follow_up {
                        Some(gap) if gap < period => {
                            follow_up = Some(gap * 2);
                            gap
                        }
                        _ => {
                            follow_up = None;
                            period
                        }
                    };
                    next_full_sync = Instant::now() + gap;
                    status.ran(Ok(()), Some(gap));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, retry_in = ?backoff, "sync will be retried");
                status.ran(Err(e.to_string()), Some(backoff));
                next_full_sync = Instant::now() + backoff;
                backoff = (backoff * 2).min(period);
            }
        }
    }
    status.stopped();
    tracing::debug!("config loop stopped");
}

/// Drop expired `request_id` queue entries every `period` until `shutdown`.
pub async fn request_gc_loop(state: AppState, period: Duration, shutdown: CancellationToken) {
    let period = period.max(Duration::from_millis(10));
    let status = state.status().track("request-gc");
    status.started(Some(period));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(period) => {}
        }
        match state.store().gc_requests().await {
            Ok(n) => {
                if n > 0 {
                    tracing::debug!(dropped = n, "expired request ids dropped");
                }
                status.ran(Ok(()), Some(period));
            }
            Err(e) => {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "request queue GC failed; will retry"
                );
                status.ran(Err(e.to_string()), Some(period));
            }
        }
    }
    status.stopped();
}
