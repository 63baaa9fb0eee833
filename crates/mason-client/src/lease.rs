//! [`LeaseGuard`]: hold an acquired resource and keep it alive with heartbeats.
//!
//! Boskos has no lease duration: a lease is kept alive by `/update` calls that bump the
//! resource's `lastupdate`, and a reaper takes back owned resources that stay quiet too
//! long. The guard sends that heartbeat in a background task every `period`, with the
//! resource's state and no user data (so it never overwrites user data written since the
//! acquire, unlike upstream's `boskosctl heartbeat`).
//!
//! [`LeaseGuard::release`] stops the heartbeat, then releases. Dropping a guard without
//! releasing stops the heartbeat and logs a warning; the resource stays leased until the
//! reaper takes it back (a `Drop` cannot wait for a network call). When the server says
//! the lease is gone (404, 401 or 409 on a heartbeat), the guard stops heartbeating and
//! reports it through [`LeaseGuard::status`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_types::Resource;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{BoskosApi, Error, Result};

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
    /// The server said the lease is no longer ours; heartbeats stopped.
    pub lost: bool,
}

/// An acquired resource, kept alive by a background heartbeat until released.
pub struct LeaseGuard {
    client: Arc<dyn BoskosApi>,
    resource: Resource,
    status: Arc<Mutex<HeartbeatStatus>>,
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
        if period.is_zero() {
            return Err(Error::Local(
                "heartbeat period must be positive".to_string(),
            ));
        }
        let status = Arc::new(Mutex::new(HeartbeatStatus::default()));
        let stop = CancellationToken::new();
        let task = tokio::spawn(heartbeat(
            Arc::clone(&client),
            resource.name.clone(),
            resource.state.clone(),
            period,
            Arc::clone(&status),
            stop.clone(),
        ));
        Ok(Self {
            client,
            resource,
            status,
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
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stop heartbeating (waiting for a heartbeat in flight), then release the resource to
    /// `dest`.
    pub async fn release(mut self, dest: &str) -> Result<()> {
        self.stop_heartbeat().await;
        self.client.release(&self.resource.name, dest).await
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

/// The background task: one `/update` per period until stopped or the lease is lost.
async fn heartbeat(
    client: Arc<dyn BoskosApi>,
    name: String,
    state: String,
    period: Duration,
    status: Arc<Mutex<HeartbeatStatus>>,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        // A heartbeat in flight is finished even when asked to stop, so a release that
        // follows never races with it.
        let outcome = client.update(&name, &state, None).await;
        let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => {
                s.sent += 1;
                s.consecutive_failures = 0;
                tracing::debug!(resource = %name, "heartbeat sent");
            }
            Err(e) => {
                s.failures += 1;
                s.consecutive_failures += 1;
                s.last_error = Some(e.to_string());
                if e.is_lease_lost() {
                    s.lost = true;
                    tracing::error!(resource = %name, error = %e, "lease lost; heartbeats stopped");
                    return;
                }
                tracing::warn!(resource = %name, error = %e, "heartbeat failed");
            }
        }
    }
}
