//! The recycle stage, one recycler per pool.
//!
//! A recycler takes dirty virtual resources of its pool (`dirty` → `cleaning`) and starts
//! a build for each at once, as long as the pool has a free in-flight slot. When none
//! is dirty it polls again after `idle_poll` (250 ms by default) or as soon as it is
//! nudged, so a released virtual resource is picked up within a fraction of a second,
//! where upstream waits for a 15 s tick. Before taking a resource it checks (at most every few seconds) that every need
//! can ever be met — the type exists on the server and has at least as many resources
//! as one build needs — so a pool that cannot be built holds nothing and is reported
//! as blocked instead.
//!
//! [`release_previous`] is the first step of every build: the physical resources the
//! virtual one was last built from (its `leasedResources`, parked unowned in a state
//! named after it) are taken back one by one (`acquirebystate` → `leased`, as upstream's
//! Mason does) and released to `dirty` for a janitor, then the key is cleared. One name
//! per call keeps this leak-free on upstream servers too, whose `acquirebystate` is not
//! atomic; names no longer parked there (the user released them elsewhere) are skipped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mason_types::{state, Resource, UserData, LEASED_RESOURCES};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::fulfil;
use super::pipeline::{run_build, Backoff, Ctx, PoolWatch, StageError};

/// How long a "needs can be met" check stays valid.
const NEEDS_CHECK_VALID: Duration = Duration::from_secs(30);
/// How often a blocked pool re-checks its needs.
const NEEDS_RECHECK_BLOCKED: Duration = Duration::from_secs(5);

/// Give back the physical resources `virt` was last built from, and clear the key.
pub(crate) async fn release_previous(ctx: &Ctx, virt: &mut Resource) -> Result<(), StageError> {
    if virt.userdata.get(LEASED_RESOURCES).is_none() {
        return Ok(());
    }
    let names = virt.userdata.leased_resources().unwrap_or_else(|e| {
        tracing::warn!(resource = %virt.name, error = %e, "unreadable leasedResources; clearing it");
        Vec::new()
    });
    for name in &names {
        match ctx
            .client
            .acquire_by_state(&virt.name, state::LEASED, std::slice::from_ref(name))
            .await
        {
            Ok(_) => match ctx.client.release(name, state::DIRTY).await {
                Ok(()) => {
                    tracing::debug!(resource = %name, from = %virt.name, "physical resource released to dirty")
                }
                Err(e) => {
                    tracing::warn!(resource = %name, error = %e, "cannot release a recycled physical resource")
                }
            },
            Err(e) => {
                tracing::debug!(resource = %name, from = %virt.name, error = %e, "physical resource no longer parked; skipped")
            }
        }
    }
    let clear: UserData = [(LEASED_RESOURCES, "")].into_iter().collect();
    ctx.client
        .update(&virt.name, state::CLEANING, Some(&clear))
        .await
        .map_err(|e| StageError::api(format!("clearing {LEASED_RESOURCES} of {}", virt.name), e))?;
    virt.userdata.remove(LEASED_RESOURCES);
    Ok(())
}

/// Takes dirty virtual resources of one pool and starts their builds.
pub(crate) struct Recycler {
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) rtype: String,
    pub(crate) pool: PoolWatch,
    /// In-flight builds of this pool.
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) backoff: Arc<Mutex<Backoff>>,
    pub(crate) tracker: TaskTracker,
    pub(crate) cancel: CancellationToken,
}

impl Recycler {
    /// Run until the pool is removed or the builder stops.
    pub(crate) async fn run(mut self) {
        // Until when the needs were found satisfiable, and which needs were checked.
        let mut needs_ok_until: Option<(Instant, BTreeMap<String, u32>)> = None;
        let mut error_streak = 0u32;
        loop {
            if self.cancel.is_cancelled() || self.pool.borrow().is_none() {
                return;
            }
            let slot = tokio::select! {
                slot = self.slots.clone().acquire_owned() => slot.expect("slots are never closed"),
                _ = self.cancel.cancelled() => return,
            };
            let pause = self.backoff.lock().expect("backoff lock").remaining();
            if let Some(pause) = pause {
                drop(slot);
                if self.stopped_during(pause).await {
                    return;
                }
                continue;
            }
            let recheck =
                std::mem::take(&mut self.backoff.lock().expect("backoff lock").recheck_needs);
            let needs = self
                .pool
                .borrow()
                .as_ref()
                .map(|p| p.drlc.needs.clone())
                .unwrap_or_default();
            let stale = needs_ok_until
                .as_ref()
                .is_none_or(|(until, checked)| Instant::now() >= *until || *checked != needs);
            if recheck || stale {
                if self.check_needs(&needs).await.is_err() {
                    needs_ok_until = None;
                    drop(slot);
                    if self.stopped_during(NEEDS_RECHECK_BLOCKED).await {
                        return;
                    }
                    continue;
                }
                needs_ok_until = Some((Instant::now() + NEEDS_CHECK_VALID, needs));
            }
            match self
                .ctx
                .client
                .acquire(&self.rtype, state::DIRTY, state::CLEANING, None)
                .await
            {
                Ok(virt) => {
                    error_streak = 0;
                    tracing::debug!(resource = %virt.name, rtype = %self.rtype, "dirty virtual resource taken");
                    self.ctx.status.pool(&self.rtype, |p| {
                        p.recycled += 1;
                        p.in_flight += 1;
                    });
                    self.tracker.spawn(run_build(
                        self.ctx.clone(),
                        self.pool.clone(),
                        virt,
                        self.backoff.clone(),
                        slot,
                        self.cancel.clone(),
                    ));
                }
                Err(e) if e.is_not_found() || matches!(e, mason_client::Error::TypeNotFound(_)) => {
                    error_streak = 0;
                    drop(slot);
                    if self.stopped_during(self.ctx.options.idle_poll).await {
                        return;
                    }
                }
                // Shutdown (a guarded client).
                Err(mason_client::Error::Cancelled) => return,
                Err(e) => {
                    drop(slot);
                    error_streak = error_streak.saturating_add(1);
                    tracing::warn!(rtype = %self.rtype, error = %e, "cannot take dirty virtual resources");
                    self.ctx
                        .status
                        .pool(&self.rtype, |p| p.last_error = Some(e.to_string()));
                    let delay = self
                        .ctx
                        .options
                        .failure_backoff
                        .saturating_mul(1 << error_streak.min(16))
                        .min(self.ctx.options.max_failure_backoff);
                    if self.stopped_during(delay).await {
                        return;
                    }
                }
            }
        }
    }

    /// Check every need; record and log a change of the blocked reason.
    async fn check_needs(&self, needs: &BTreeMap<String, u32>) -> Result<(), String> {
        let result = fulfil::check_needs(self.ctx.client.as_ref(), needs).await;
        let reason = result.as_ref().err().cloned();
        let mut changed = false;
        self.ctx.status.pool(&self.rtype, |p| {
            changed = p.blocked != reason;
            if reason.is_some() && changed {
                p.unmet_needs += 1;
            }
            p.blocked = reason.clone();
        });
        if changed {
            match &reason {
                Some(r) => {
                    tracing::error!(rtype = %self.rtype, reason = %r, "pool cannot be built")
                }
                None => tracing::info!(rtype = %self.rtype, "pool needs can be met again"),
            }
        }
        result
    }

    /// Sleep `d`, returning early when the pool changes or on a nudge; `true` when the
    /// builder stops
    /// (or the pool's definition is gone for good).
    async fn stopped_during(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => true,
            changed = self.pool.changed() => changed.is_err(),
            _ = self.ctx.nudge.notified() => false,
            _ = tokio::time::sleep(d) => false,
        }
    }
}
