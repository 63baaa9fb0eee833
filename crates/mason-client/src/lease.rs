//! [`LeaseGuard`]: hold an acquired resource and keep it alive with heartbeats.
//!
//! Boskos has no lease duration: a lease is kept alive by `/update` calls that bump the
//! resource's `lastupdate`, and a reaper takes back owned resources that stay quiet too
//! long. `mason serve` can also end a lease itself when it has a TTL and nothing renewed
//! it (`lease-ttl` in the config, or `lease_ttl=` on the acquire). The guard sends the
//! heartbeat in a background task every `period`, with the resource's state and no user
//! data (so it never overwrites user data written since the acquire, unlike upstream's
//! `boskosctl heartbeat`); through an [`crate::HttpClient`] each heartbeat is fenced with
//! the generation granted.
//!
//! A **lost lease** is its own outcome ([`LostLease`]), never confused with a failing
//! heartbeat: the server answering 409 (stale generation, other state), 401 (someone
//! else's) or 404 (gone) to a heartbeat, or — with a TTL given to
//! [`LeaseGuard::start_with_ttl`] — no heartbeat accepted for a whole TTL, counted from
//! the moment the last accepted one was *sent* (the earliest the server's deadline can
//! be), so the holder stops no later than the server ends the lease, even when the server
//! cannot be reached to say so. Heartbeats then stop, [`LeaseGuard::lost`] resolves, and
//! [`LeaseGuard::finish`] reports [`LeaseOutcome::Lost`] without releasing anything.
//!
//! [`LeaseGuard::release`] stops the heartbeat, then releases. Dropping a guard without
//! releasing stops the heartbeat and logs a warning; the resource stays leased until the
//! reaper (or the TTL) takes it back (a `Drop` cannot wait for a network call).

mod lost;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_types::Resource;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{BoskosApi, Error, Result};

pub use lost::{LeaseOutcome, LostLease, LostReason};

/// How the heartbeat is going.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeartbeatStatus {
    /// Heartbeats the server accepted.
    pub sent: u64,
    /// Heartbeats that failed, in total.
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The lease is no longer ours; heartbeats stopped (see `lost_lease`).
    pub lost: bool,
    /// Why the lease was lost, once it is.
    pub lost_lease: Option<LostLease>,
}

/// An acquired resource, kept alive by a background heartbeat until released.
pub struct LeaseGuard {
    client: Arc<dyn BoskosApi>,
    resource: Resource,
    status: Arc<Mutex<HeartbeatStatus>>,
    lost: watch::Receiver<Option<LostLease>>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseGuard")
            .field("resource", &self.resource.name)
            .field("owner", &self.client.owner())
            .field("status", &self.status())
            .finish()
    }
}

impl LeaseGuard {
    /// Start heartbeating `resource` (already acquired by `client`'s owner) every
    /// `period`. Must be called inside a Tokio runtime.
    pub fn start(client: Arc<dyn BoskosApi>, resource: Resource, period: Duration) -> Result<Self> {
        Self::start_with_ttl(client, resource, period, None)
    }

    /// Like [`LeaseGuard::start`] for a lease with a TTL (just acquired): when no
    /// heartbeat is accepted for `ttl`, the lease is [`LostReason::Expired`]. `period`
    /// must be shorter than `ttl` (a third of it is a good choice).
    pub fn start_with_ttl(
        client: Arc<dyn BoskosApi>,
        resource: Resource,
        period: Duration,
        ttl: Option<Duration>,
    ) -> Result<Self> {
        if period.is_zero() {
            return Err(Error::Local(
                "heartbeat period must be positive".to_string(),
            ));
        }
        if ttl.is_some_and(|ttl| period >= ttl) {
            return Err(Error::Local(
                "heartbeat period must be shorter than the lease TTL".to_string(),
            ));
        }
        let status = Arc::new(Mutex::new(HeartbeatStatus::default()));
        let (lost_tx, lost) = watch::channel(None);
        let stop = CancellationToken::new();
        let beat = Heartbeat {
            client: Arc::clone(&client),
            name: resource.name.clone(),
            state: resource.state.clone(),
            period,
            ttl,
            status: Arc::clone(&status),
            lost: lost_tx,
        };
        let task = tokio::spawn(beat.run(stop.clone()));
        Ok(Self {
            client,
            resource,
            status,
            lost,
            stop,
            task: Some(task),
        })
    }

    /// The resource as acquired.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// A snapshot of the heartbeat's progress.
    pub fn status(&self) -> HeartbeatStatus {
        lock(&self.status).clone()
    }

    /// Resolves once the lease is lost; never while it is held (cancel-safe: use it in
    /// a `select!`).
    pub async fn lost(&self) -> LostLease {
        let mut rx = self.lost.clone();
        let lost = rx.wait_for(Option::is_some).await.map(|v| v.clone());
        match lost {
            Ok(Some(lost)) => lost,
            // The heartbeat stopped without losing the lease: nothing will ever be lost.
            _ => std::future::pending().await,
        }
    }

    /// Stop heartbeating (waiting for a heartbeat in flight), then release the resource to
    /// `dest`.
    pub async fn release(mut self, dest: &str) -> Result<()> {
        self.stop_heartbeat().await;
        self.client.release(&self.resource.name, dest).await
    }

    /// Stop heartbeating and end the lease: release it to `dest` unless it is already
    /// lost, telling a lost lease apart from a failed release.
    pub async fn finish(mut self, dest: &str) -> LeaseOutcome {
        self.stop_heartbeat().await;
        if let Some(lost) = self.lost.borrow().clone() {
            return LeaseOutcome::Lost(lost);
        }
        match self.client.release(&self.resource.name, dest).await {
            Ok(()) => LeaseOutcome::Released,
            Err(e) => match LostLease::from_error(&self.resource.name, &e) {
                Some(lost) => LeaseOutcome::Lost(lost),
                None => LeaseOutcome::Failed(e),
            },
        }
    }

    async fn stop_heartbeat(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::warn!(resource = %self.resource.name, error = %e, "heartbeat task failed");
            }
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.stop.cancel();
        if self.task.is_some() {
            tracing::warn!(
                resource = %self.resource.name,
                owner = %self.client.owner(),
                "lease dropped without release; it stays leased until the reaper takes it back"
            );
        }
    }
}

fn lock(status: &Mutex<HeartbeatStatus>) -> std::sync::MutexGuard<'_, HeartbeatStatus> {
    status.lock().unwrap_or_else(|p| p.into_inner())
}

/// The background task: one `/update` per period until stopped or the lease is lost.
struct Heartbeat {
    client: Arc<dyn BoskosApi>,
    name: String,
    state: String,
    period: Duration,
    ttl: Option<Duration>,
    status: Arc<Mutex<HeartbeatStatus>>,
    lost: watch::Sender<Option<LostLease>>,
}

impl Heartbeat {
    async fn run(self, stop: CancellationToken) {
        // The lease was granted just before the guard started; the server's deadline is
        // no earlier than that plus the TTL.
        let mut renewed = Instant::now();
        let mut next = Instant::now() + self.period;
        loop {
            let expiry = self.ttl.map(|ttl| renewed + ttl);
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                () = sleep_until_opt(expiry) => return self.expired(),
                () = tokio::time::sleep_until(next) => {}
            }
            // Keep the rhythm, but never fire a burst to catch up after a slow call.
            next = (next + self.period).max(Instant::now());
            let sent = Instant::now();
            // A heartbeat in flight is finished even when asked to stop, so a release
            // that follows never races with it; only the TTL cuts it short.
            let outcome = tokio::select! {
                biased;
                outcome = self.client.update(&self.name, &self.state, None) => outcome,
                () = sleep_until_opt(expiry) => return self.expired(),
            };
            match outcome {
                Ok(()) => {
                    renewed = sent;
                    let mut s = lock(&self.status);
                    s.sent += 1;
                    s.consecutive_failures = 0;
                    tracing::debug!(resource = %self.name, "heartbeat sent");
                }
                Err(e) => {
                    self.failed(&e);
                    if let Some(lost) = LostLease::from_error(&self.name, &e) {
                        return self.declare(lost);
                    }
                    tracing::warn!(resource = %self.name, error = %e, "heartbeat failed");
                }
            }
        }
    }

    fn failed(&self, e: &Error) {
        let mut s = lock(&self.status);
        s.failures += 1;
        s.consecutive_failures += 1;
        s.last_error = Some(e.to_string());
    }

    fn expired(&self) {
        let ttl = self.ttl.unwrap_or_default();
        let last = lock(&self.status).last_error.clone();
        self.declare(LostLease::expired(&self.name, ttl, last.as_deref()));
    }

    fn declare(&self, lost: LostLease) {
        tracing::error!(resource = %self.name, reason = %lost.reason, message = %lost.message, "lease lost; heartbeats stopped");
        {
            let mut s = lock(&self.status);
            s.lost = true;
            s.lost_lease = Some(lost.clone());
        }
        self.lost.send_replace(Some(lost));
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
