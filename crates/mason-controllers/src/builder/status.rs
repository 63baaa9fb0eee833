//! What the builder has done, per pool: counters and the reason a pool is blocked. Read
//! with [`super::Builder::status`]; every change is also logged.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// One dynamic pool the builder works on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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

/// A snapshot of the whole builder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BuilderStatus {
    /// Pools with a registered converter, by resource type.
    pub pools: BTreeMap<String, PoolStatus>,
    /// Resources currently held (virtual and physical), heartbeated by the sync loop.
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

/// Shared, mutable status.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatusBoard(Arc<Mutex<BuilderStatus>>);

impl StatusBoard {
    pub(crate) fn snapshot(&self) -> BuilderStatus {
        self.0.lock().expect("status lock").clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut BuilderStatus)) {
        f(&mut self.0.lock().expect("status lock"));
    }

    /// Change one pool's entry (created on first use).
    pub(crate) fn pool(&self, rtype: &str, f: impl FnOnce(&mut PoolStatus)) {
        self.update(|s| f(s.pools.entry(rtype.to_string()).or_default()));
    }

    pub(crate) fn remove_pool(&self, rtype: &str) {
        self.update(|s| {
            s.pools.remove(rtype);
        });
    }
}
