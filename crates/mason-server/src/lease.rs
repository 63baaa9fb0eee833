//! Mason's lease-safety extension (issue 12), the server's part: reading the optional
//! `lease_ttl=` and `generation=` parameters (`params`), and [`LeaseControl`], what the
//! extension keeps per server process. None of it is lease state (that lives in the
//! store); it only decides what the server asks the store, when, and what it refuses
//! first.
//!
//! - `backend`: [`LeaseBackend`], the store calls beyond [`mason_store::Store`]
//!   (all-or-nothing sets, expiry, availability signals);
//! - `store_backend`: [`StoreBackend`], those calls answered by a store;
//! - `waiters` and `long_poll`: `POST /api/v2/acquire` requests held open, woken in queue
//!   order by availability signals, never by polling;
//! - `expiry`: the loop that has the store end leases at their deadline, counts and logs
//!   each one once;
//! - `metrics`: `mason_leases_expired_total{type}`, the expiry lateness and
//!   `mason_acquires_rolled_back_total{type}`;
//! - `rollback`: grants whose client went away before the answer are released again
//!   (`--disconnect-grace`).

pub mod backend;
pub(crate) mod expiry;
pub(crate) mod long_poll;
pub(crate) mod metrics;
pub(crate) mod params;
pub(crate) mod rollback;
pub mod store_backend;
pub(crate) mod waiters;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use backend::LeaseBackend;
pub use expiry::ExpiryOptions;
pub use store_backend::StoreBackend;

use crate::state::AppState;
use waiters::Waiters;

/// The default `--max-lease-ttl`: one day.
pub const DEFAULT_MAX_LEASE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Per-process lease machinery; see the module docs.
pub struct LeaseControl {
    /// The largest `lease_ttl` a request may ask for (`--max-lease-ttl`), in nanoseconds;
    /// more is a 400.
    max_lease_ttl_nanos: AtomicU64,
    /// The store's lease-safety calls, once a store offers them.
    backend: OnceLock<Arc<dyn LeaseBackend>>,
    /// Requests held open until their resources free up.
    pub(crate) waiters: Arc<Waiters>,
    /// Poked when a lease is granted here, so the expiry loop re-reads the next deadline.
    pub(crate) expiry_wake: Notify,
    /// When the expiry loop next looks at the store (Unix microseconds; `i64::MIN`
    /// while it is busy): a grant whose deadline is later needs no wake-up.
    pub(crate) expiry_next_look: AtomicI64,
    /// How long after its client went away an unheard grant is rolled back
    /// (`--disconnect-grace`), in nanoseconds.
    disconnect_grace_nanos: AtomicU64,
}

impl std::fmt::Debug for LeaseControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseControl")
            .field("max_lease_ttl", &self.max_lease_ttl())
            .field("backend", &self.backend.get().is_some())
            .field("waiting", &self.waiters.len())
            .finish()
    }
}

impl Default for LeaseControl {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LEASE_TTL)
    }
}

impl LeaseControl {
    /// Settings with the cap `max_lease_ttl` and no backend.
    pub fn new(max_lease_ttl: Duration) -> Self {
        Self {
            max_lease_ttl_nanos: AtomicU64::new(nanos(max_lease_ttl)),
            backend: OnceLock::new(),
            waiters: Arc::new(Waiters::default()),
            expiry_wake: Notify::new(),
            expiry_next_look: AtomicI64::new(i64::MIN),
            disconnect_grace_nanos: AtomicU64::new(0),
        }
    }

    /// The cap on requested lease TTLs.
    pub fn max_lease_ttl(&self) -> Duration {
        Duration::from_nanos(self.max_lease_ttl_nanos.load(Ordering::Relaxed))
    }

    /// Change the cap (start-up: `--max-lease-ttl`).
    pub fn set_max_lease_ttl(&self, max_lease_ttl: Duration) {
        self.max_lease_ttl_nanos
            .store(nanos(max_lease_ttl), Ordering::Relaxed);
    }

    /// How long after its client went away a grant it never heard of is rolled back
    /// (see `rollback`); 0 (the default): at once.
    pub fn disconnect_grace(&self) -> Duration {
        Duration::from_nanos(self.disconnect_grace_nanos.load(Ordering::Relaxed))
    }

    /// Change it (start-up: `--disconnect-grace`).
    pub fn set_disconnect_grace(&self, grace: Duration) {
        self.disconnect_grace_nanos
            .store(nanos(grace), Ordering::Relaxed);
    }

    /// Hand the server the store's lease-safety calls (before [`crate::run`]); `false`
    /// when one was already set (the first stays).
    pub fn set_backend(&self, backend: Arc<dyn LeaseBackend>) -> bool {
        self.backend.set(backend).is_ok()
    }

    /// The store's lease-safety calls, if the store offers them.
    pub fn backend(&self) -> Option<&Arc<dyn LeaseBackend>> {
        self.backend.get()
    }

    /// How many `POST /api/v2/acquire` requests this process holds open right now.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// A lease was granted here: its deadline may be the next one.
    pub(crate) fn granted(&self) {
        self.expiry_wake.notify_one();
    }

    /// A lease with `deadline` was granted (or renewed) here: wake the expiry loop only
    /// if it would otherwise look at the store after that deadline, so a busy server's
    /// grants cost the loop nothing.
    pub(crate) fn granted_until(&self, deadline: Option<mason_types::Timestamp>) {
        let Some(deadline) = deadline else {
            return;
        };
        if deadline.timestamp_micros() < self.expiry_next_look.load(Ordering::Relaxed) {
            self.expiry_wake.notify_one();
        }
    }
}

/// Start the extension's loops on `tracker` when the store offers the calls: the expiry
/// loop and the forwarding of availability signals to the waiters.
pub(crate) fn spawn_loops(
    tracker: &TaskTracker,
    state: &AppState,
    options: ExpiryOptions,
    shutdown: &CancellationToken,
) {
    let Some(backend) = state.lease().backend().cloned() else {
        return;
    };
    tracker.spawn(expiry::lease_expiry_loop(
        state.clone(),
        options,
        shutdown.child_token(),
    ));
    tracker.spawn(waiters::forward_availability(
        backend,
        state.lease().waiters.clone(),
        shutdown.child_token(),
    ));
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_defaults_to_a_day_and_can_be_changed() {
        let control = LeaseControl::default();
        assert_eq!(control.max_lease_ttl(), Duration::from_secs(86_400));
        control.set_max_lease_ttl(Duration::from_secs(90));
        assert_eq!(control.max_lease_ttl(), Duration::from_secs(90));
        assert!(control.backend().is_none());
    }
}
