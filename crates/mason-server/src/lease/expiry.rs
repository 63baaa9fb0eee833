//! The lease expiry loop: the server itself ends leases whose TTL deadline passed without
//! a renewal (`lease-ttl` in the config or `lease_ttl=` on the acquire).
//!
//! It asks the store to end every lease due, in batches of [`ExpiryOptions::batch`]
//! (oldest deadline first, each ended by a compare-and-set, one transaction per batch),
//! then sleeps until the next deadline the store reports — at most
//! [`ExpiryOptions::max_sleep`] (500 ms), so a lease granted by another replica with an
//! earlier deadline is still ended within a second, and woken at once when this process
//! grants a lease that is due before its next look. Two looks are at least
//! [`ExpiryOptions::min_interval`] (50 ms) apart unless the last one found a full batch:
//! when deadlines are dense (100,000 over a minute is one every 0.6 ms) a look ends
//! every lease that fell due since the last one in one store call, instead of one call,
//! and one commit, per lease; a lease then ends at most that much later. Every lease it ends is counted in
//! `mason_leases_expired_total{type}`, its lateness in
//! `mason_lease_expiry_lateness_seconds`, and logged with its previous owner. With
//! several replicas each lease is reported by exactly one of them: the store returns a
//! lease only to the call whose compare-and-set ended it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::backend::{ExpireRequest, ExpiredLease};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Timings of the expiry loop.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryOptions {
    /// Most leases ended per store call (one transaction).
    pub batch: u32,
    /// Longest sleep between two looks at the store.
    pub max_sleep: Duration,
    /// Shortest time from the start of one look to the next (unless a batch was full).
    pub min_interval: Duration,
}

impl Default for ExpiryOptions {
    fn default() -> Self {
        Self {
            batch: 500,
            max_sleep: Duration::from_millis(500),
            min_interval: Duration::from_millis(50),
        }
    }
}

/// End due leases until `shutdown`.
pub(crate) async fn lease_expiry_loop(
    state: AppState,
    options: ExpiryOptions,
    shutdown: CancellationToken,
) {
    let Some(backend) = state.lease().backend().cloned() else {
        return;
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        let woken = state.lease().expiry_wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let look = tokio::time::Instant::now();
        let now = state.clock().now();
        let request = ExpireRequest {
            now,
            limit: options.batch,
        };
        let next = match backend.expire_leases(&request).await {
            Ok(report) => {
                backoff = Duration::from_millis(200);
                for lease in &report.expired {
                    record(&state, lease, now);
                }
                if report.expired.len() >= options.batch as usize {
                    tokio::task::yield_now().await;
                    continue;
                }
                report.next_deadline
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "lease expiry failed; will retry");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let now = state.clock().now();
        let not_before = options.min_interval.saturating_sub(look.elapsed());
        let until_next = next
            .map(|at| (at - now).to_std().unwrap_or_default())
            .unwrap_or(options.max_sleep)
            .max(not_before)
            .min(options.max_sleep);
        let next_look = now + chrono::Duration::from_std(until_next).unwrap_or_default();
        state
            .lease()
            .expiry_next_look
            .store(next_look.timestamp_micros(), Ordering::Relaxed);
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(until_next) => {}
            () = woken => {}
        }
        state
            .lease()
            .expiry_next_look
            .store(i64::MIN, Ordering::Relaxed);
    }
    tracing::debug!("lease expiry loop stopped");
}

fn record(state: &AppState, lease: &ExpiredLease, now: mason_types::Timestamp) {
    let late = (now - lease.deadline).to_std().unwrap_or_default();
    state
        .metrics()
        .lease()
        .lease_expired(&lease.rtype, late.as_secs_f64());
    tracing::info!(
        resource = %lease.name,
        r#type = %lease.rtype,
        previous_owner = %lease.previous_owner,
        state = %lease.state,
        generation = lease.generation,
        late_ms = late.as_millis() as u64,
        "lease expired: its owner did not renew it before the deadline"
    );
}
