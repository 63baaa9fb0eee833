//! The cleaner (SPEC §7.2, upstream's v1 semantics over the API): makes dynamic resources
//! marked `toBeDeleted` safe to delete.
//!
//! For every dynamic pool (from a [`PoolSource`]: the config file, `mason serve`'s
//! `GET /api/v2/drlcs`, or the store inside `mason up`), it takes `toBeDeleted` resources
//! (`→ cleaning`, as owner `cleaner`), gives the physical resources each one was built from
//! back to `dirty` (its `leasedResources`, parked in a state named after it), clears that
//! key and releases the resource to `tombstone`; the server's dynamic upkeep then deletes
//! it and tops the pool back up.
//!
//! Reading pools from the server rather than the file matters when a pool is removed
//! from the config: the server keeps its definition (min = max = 0) until its last
//! resource is gone (SPEC §4.9), so the cleaner still sees it.
//!
//! One tick takes up to `cleaner_count` resources (round-robin over the pools, so a big
//! pool does not hold up a small one) and cleans them concurrently; it asks to run again
//! at once while batches come back full, and otherwise waits `period`. Nothing is held
//! between ticks. Physical resources are taken back one name per `acquirebystate` call,
//! so a partly failed call on an upstream server (not atomic there) leaks nothing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mason_client::{BoskosApi, Error as ApiError};
use mason_types::{state, Resource, UserData, LEASED_RESOURCES};
use tokio::task::JoinSet;

use crate::builder::PoolSource;
use crate::runner::{Loop, LoopError, Next};

/// Upstream's owner name for the cleaner.
pub const CLEANER_OWNER: &str = "cleaner";

/// Tuning of a [`Cleaner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanerOptions {
    /// Pause when nothing is left to clean (upstream ticks every 15 s).
    pub period: Duration,
    /// Resources cleaned at once (`--cleaner-count`, 15).
    pub cleaner_count: usize,
}

impl Default for CleanerOptions {
    fn default() -> Self {
        Self {
            period: Duration::from_secs(15),
            cleaner_count: 15,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanPass {
    /// Resources moved to `tombstone`.
    pub tombstoned: Vec<String>,
    /// Physical resources given back to `dirty`.
    pub released: Vec<String>,
    /// Resources that could not be finished (their error was logged).
    pub failed: Vec<String>,
}

/// The cleaner loop.
pub struct Cleaner {
    client: Arc<dyn BoskosApi>,
    pools: Arc<dyn PoolSource>,
    options: CleanerOptions,
    /// Where the next batch starts in the list of pool types (fairness across pools).
    cursor: usize,
}

impl std::fmt::Debug for Cleaner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cleaner")
            .field("owner", &self.client.owner())
            .field("pools", &self.pools.describe())
            .field("options", &self.options)
            .finish()
    }
}

impl Cleaner {
    /// A cleaner of the pools `pools` lists, acting through `client`.
    pub fn new(
        client: Arc<dyn BoskosApi>,
        pools: Arc<dyn PoolSource>,
        options: CleanerOptions,
    ) -> Result<Self, LoopError> {
        if options.cleaner_count == 0 {
            return Err(LoopError::Config(
                "the cleaner count must be at least 1".into(),
            ));
        }
        if options.period.is_zero() {
            return Err(LoopError::Config(
                "the cleaner period must be positive".into(),
            ));
        }
        Ok(Self {
            client,
            pools,
            options,
            cursor: 0,
        })
    }

    /// Take up to `cleaner_count` `toBeDeleted` resources and clean them.
    pub async fn pass(&mut self) -> Result<CleanPass, LoopError> {
        let pools = self
            .pools
            .load()
            .await
            .map_err(|e| LoopError::Other(format!("cannot list dynamic pools: {e}")))?;
        let types: Vec<String> = pools
            .into_iter()
            .map(|p| p.rtype)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let batch = self.take_batch(&types).await?;
        let mut pass = CleanPass::default();
        let mut tasks = JoinSet::new();
        for res in batch {
            let client = self.client.clone();
            tasks.spawn(async move {
                let name = res.name.clone();
                (name, clean_one(client.as_ref(), &res).await)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((name, Ok(released))) => {
                    pass.released.extend(released);
                    pass.tombstoned.push(name);
                }
                Ok((name, Err(e))) => {
                    tracing::warn!(resource = %name, error = %e, "cannot tombstone");
                    pass.failed.push(name);
                }
                Err(e) => return Err(LoopError::Other(format!("a cleaning task failed: {e}"))),
            }
        }
        Ok(pass)
    }

    /// Acquire up to `cleaner_count` resources, one per pool per round.
    async fn take_batch(&mut self, types: &[String]) -> Result<Vec<Resource>, LoopError> {
        let mut batch = Vec::new();
        let mut exhausted = vec![false; types.len()];
        let mut first_error = None;
        while batch.len() < self.options.cleaner_count && exhausted.contains(&false) {
            let i = self.cursor % types.len();
            self.cursor = (i + 1) % types.len();
            if exhausted[i] {
                continue;
            }
            match self
                .client
                .acquire(&types[i], state::TO_BE_DELETED, state::CLEANING, None)
                .await
            {
                Ok(res) => batch.push(res),
                Err(ApiError::NotFound(_) | ApiError::TypeNotFound(_)) => exhausted[i] = true,
                // Shutdown (a guarded client): clean what was taken, take nothing more.
                Err(e @ ApiError::Cancelled) => {
                    first_error.get_or_insert(e);
                    break;
                }
                Err(e) => {
                    tracing::warn!(rtype = %types[i], error = %e, "cannot acquire a resource to clean");
                    exhausted[i] = true;
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if batch.is_empty() => Err(e.into()),
            _ => Ok(batch),
        }
    }
}

/// Clean one `toBeDeleted` resource this client holds in `cleaning`: give its physical
/// resources back to `dirty`, clear `leasedResources`, release it to `tombstone`.
/// Returns the physical resources released. Only the final release is fatal; the rest is
/// logged (a physical resource that is not parked any more belongs to someone else now).
pub async fn clean_one(client: &dyn BoskosApi, res: &Resource) -> Result<Vec<String>, ApiError> {
    let names = res.userdata.leased_resources().unwrap_or_else(|e| {
        tracing::warn!(resource = %res.name, error = %e, "unreadable leasedResources; nothing to give back");
        Vec::new()
    });
    let mut released = Vec::new();
    for name in &names {
        let taken = client
            .acquire_by_state(&res.name, state::CLEANING, std::slice::from_ref(name))
            .await;
        match taken {
            Ok(_) => match client.release(name, state::DIRTY).await {
                Ok(()) => released.push(name.clone()),
                Err(e) => {
                    tracing::warn!(resource = %name, error = %e, "cannot release a physical resource to dirty")
                }
            },
            Err(e) => {
                tracing::warn!(resource = %name, parked_under = %res.name, error = %e, "physical resource not parked any more; skipped")
            }
        }
    }
    if res.userdata.get(LEASED_RESOURCES).is_some() {
        let clear: UserData = [(LEASED_RESOURCES, "")].into_iter().collect();
        if let Err(e) = client
            .update(&res.name, state::CLEANING, Some(&clear))
            .await
        {
            tracing::warn!(resource = %res.name, error = %e, "cannot clear leasedResources");
        }
    }
    if let Err(e) = client.release(&res.name, state::TOMBSTONE).await {
        // Put it back for the next pass (if this fails too, the reaper takes it back).
        if let Err(back) = client.release(&res.name, state::TO_BE_DELETED).await {
            tracing::debug!(resource = %res.name, error = %back, "cannot put it back to toBeDeleted");
        }
        return Err(e);
    }
    tracing::info!(
        resource = %res.name, rtype = %res.rtype, physical_to_dirty = ?released,
        "dynamic resource tombstoned; the server deletes it"
    );
    Ok(released)
}

#[async_trait]
impl Loop for Cleaner {
    fn name(&self) -> &'static str {
        "cleaner"
    }

    async fn tick(&mut self) -> Result<Next, LoopError> {
        let pass = self.pass().await?;
        let taken = pass.tombstoned.len() + pass.failed.len();
        if pass.failed.is_empty() && taken == self.options.cleaner_count {
            Ok(Next::Now)
        } else {
            Ok(Next::After(self.options.period))
        }
    }
}
