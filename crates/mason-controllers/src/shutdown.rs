//! Server calls that give way to shutdown.
//!
//! A controller never drops a tick or a build halfway (see [`crate::runner`]): it stops
//! by letting the work under way reach its end, releasing what it holds on the way. That
//! end must come promptly even when the server cannot answer, yet an HTTP client retries
//! a transport error for 14 s (back-offs of 1 s, 4 s, 9 s) and waits for an answer up to
//! its request timeout. [`Guarded`] wraps a client (or a [`PoolSource`], or a
//! [`LeaseInventory`]) so that, once the token of its [`Shutdown`] is cancelled:
//!
//! - a call sleeping in a retry back-off ends at once with a "cancelled" error: its last
//!   attempt failed, and giving up is what the last retry would have done, later;
//! - a call waiting for an answer may finish within the [grace](Shutdown::grace), counted
//!   from the moment the first call saw the shutdown and shared by all calls. A healthy
//!   server answers long before, so an interrupted build still releases its resources;
//!   after the grace the call is abandoned as a timed-out one is, its effect on the
//!   server unknown either way (every transition is conditional, and the reaper takes
//!   back what a lost answer left held);
//! - a call started after the grace fails at once, without reaching the server.
//!
//! The controllers take these errors as any failure (log, release what they can, count)
//! and then stop, so a controller whose server is gone exits within the grace, or at once
//! when its calls are between retries.
//!
//! The wrapper learns that a call entered a back-off from the HTTP client's retry hook:
//! build the client with `HttpClientBuilder::on_retry(note_retry)`. Without the hook
//! (or with another client, such as `mason up`'s in-process one) a call gets the grace.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use mason_client::{BoskosApi, Error, Result, RetryNotice};
use mason_types::{DynamicResourceLifeCycle, Metric, Resource, UserData};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::builder::{InventoryError, LeaseInventory, PoolSource, PoolSourceError};

/// How long calls under way at shutdown may take to finish (see the module docs).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(1);

tokio::task_local! {
    /// The guarded call being polled, so the retry hook can mark its back-off.
    static CALL: Arc<CallState>;
}

/// What one guarded call tells its shutdown watcher.
#[derive(Debug, Default)]
struct CallState {
    /// The end of the retry back-off the call sleeps in, if any.
    backoff_until: Mutex<Option<Instant>>,
    /// Signalled when the call enters a back-off.
    entered_backoff: Notify,
}

impl CallState {
    fn in_backoff(&self) -> bool {
        self.backoff_until
            .lock()
            .expect("backoff lock")
            .is_some_and(|until| Instant::now() < until)
    }
}

/// The retry hook for `HttpClientBuilder::on_retry`: tells the guarded call being made
/// (if any) that it sleeps `notice.pause` before its next attempt.
pub fn note_retry(notice: &RetryNotice<'_>) {
    note_backoff(notice.pause);
}

/// Tell the guarded call being made (if any) that it now sleeps `pause` before trying
/// again, so a shutdown ends it at once. [`note_retry`] calls it; other clients with
/// retries may too. Outside a guarded call it does nothing.
pub fn note_backoff(pause: Duration) {
    if pause.is_zero() {
        return;
    }
    let _ = CALL.try_with(|call| {
        *call.backoff_until.lock().expect("backoff lock") = Some(Instant::now() + pause);
        call.entered_backoff.notify_one();
    });
}

/// A shutdown token and the grace calls under way get once it is cancelled. Cheap to
/// clone; clones share the moment the grace started.
#[derive(Debug, Clone)]
pub struct Shutdown {
    token: CancellationToken,
    grace: Duration,
    seen_at: Arc<OnceLock<Instant>>,
}

impl Shutdown {
    /// Calls give way `grace` after `token` is cancelled (at once when between retries).
    pub fn new(token: CancellationToken, grace: Duration) -> Self {
        Self {
            token,
            grace,
            seen_at: Arc::new(OnceLock::new()),
        }
    }

    /// The token that starts the shutdown.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// How long calls under way may take to finish after the shutdown starts.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// `inner`, its calls cut short by this shutdown.
    pub fn guard<T: ?Sized>(&self, inner: Arc<T>) -> Guarded<T> {
        Guarded {
            inner,
            shutdown: self.clone(),
        }
    }

    /// Resolves when `call` must be abandoned.
    async fn give_up(&self, call: &CallState) {
        self.token.cancelled().await;
        let deadline = *self.seen_at.get_or_init(Instant::now) + self.grace;
        loop {
            let entered = call.entered_backoff.notified();
            tokio::pin!(entered);
            entered.as_mut().enable();
            if call.in_backoff() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = entered => {}
            }
        }
    }

    /// Run `call` until it ends or must be abandoned (then `cancelled()` is the answer).
    async fn run<T, E>(
        &self,
        what: &'static str,
        call: impl Future<Output = std::result::Result<T, E>>,
        cancelled: impl FnOnce() -> E,
    ) -> std::result::Result<T, E> {
        let state = Arc::new(CallState::default());
        let call = CALL.scope(state.clone(), call);
        tokio::select! {
            biased;
            _ = self.give_up(&state) => {
                tracing::debug!(call = what, "server call abandoned at shutdown");
                Err(cancelled())
            }
            answer = call => answer,
        }
    }
}

/// A client, pool source or lease inventory whose calls give way to a [`Shutdown`]
/// (see the module docs). Made by [`Shutdown::guard`].
pub struct Guarded<T: ?Sized> {
    inner: Arc<T>,
    shutdown: Shutdown,
}

impl<T: ?Sized> Clone for Guarded<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

impl<T: ?Sized> std::fmt::Debug for Guarded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("grace", &self.shutdown.grace)
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized> Guarded<T> {
    /// The wrapped value.
    pub fn inner(&self) -> &Arc<T> {
        &self.inner
    }
}

#[async_trait]
impl<T: BoskosApi + ?Sized> BoskosApi for Guarded<T> {
    fn owner(&self) -> &str {
        self.inner.owner()
    }

    async fn acquire(
        &self,
        rtype: &str,
        state: &str,
        dest: &str,
        request_id: Option<&str>,
    ) -> Result<Resource> {
        let call = self.inner.acquire(rtype, state, dest, request_id);
        self.shutdown
            .run("acquire", call, || Error::Cancelled)
            .await
    }

    async fn acquire_by_state(
        &self,
        state: &str,
        dest: &str,
        names: &[String],
    ) -> Result<Vec<Resource>> {
        let call = self.inner.acquire_by_state(state, dest, names);
        self.shutdown
            .run("acquirebystate", call, || Error::Cancelled)
            .await
    }

    async fn release(&self, name: &str, dest: &str) -> Result<()> {
        let call = self.inner.release(name, dest);
        self.shutdown
            .run("release", call, || Error::Cancelled)
            .await
    }

    async fn update(&self, name: &str, state: &str, userdata: Option<&UserData>) -> Result<()> {
        let call = self.inner.update(name, state, userdata);
        self.shutdown.run("update", call, || Error::Cancelled).await
    }

    async fn reset(
        &self,
        rtype: &str,
        state: &str,
        expire: Duration,
        dest: &str,
    ) -> Result<BTreeMap<String, String>> {
        let call = self.inner.reset(rtype, state, expire, dest);
        self.shutdown.run("reset", call, || Error::Cancelled).await
    }

    async fn metric(&self, rtype: &str) -> Result<Metric> {
        let call = self.inner.metric(rtype);
        self.shutdown.run("metric", call, || Error::Cancelled).await
    }
}

#[async_trait]
impl<T: PoolSource + ?Sized> PoolSource for Guarded<T> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn load(&self) -> std::result::Result<Vec<DynamicResourceLifeCycle>, PoolSourceError> {
        let call = self.inner.load();
        self.shutdown
            .run("pool load", call, || PoolSourceError::Cancelled)
            .await
    }
}

#[async_trait]
impl<T: LeaseInventory + ?Sized> LeaseInventory for Guarded<T> {
    async fn owned_by(&self, owner: &str) -> std::result::Result<Vec<Resource>, InventoryError> {
        let call = self.inner.owned_by(owner);
        self.shutdown
            .run("inventory", call, || InventoryError::Cancelled)
            .await
    }
}

#[cfg(test)]
mod tests;
