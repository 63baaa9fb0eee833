//! What the builder has done, per pool: counters and the reason a pool is blocked (the
//! wire types live in [`mason_types::status`]), plus the status of the builder's own
//! loop, the pool manager. Read with [`super::Builder::status`] and
//! [`super::Builder::loop_status`]; every change is also logged.

use std::sync::{Arc, Mutex};

pub use mason_types::status::{BuilderStatus, LoopStatus, PoolStatus};

/// Shared, mutable status.
#[derive(Debug, Clone)]
pub(crate) struct StatusBoard(Arc<Mutex<Board>>);

#[derive(Debug)]
struct Board {
    builder: BuilderStatus,
    manager: LoopStatus,
}

impl Default for StatusBoard {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Board {
            builder: BuilderStatus::default(),
            manager: LoopStatus::new("builder"),
        })))
    }
}

impl StatusBoard {
    pub(crate) fn snapshot(&self) -> BuilderStatus {
        self.0.lock().expect("status lock").builder.clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut BuilderStatus)) {
        f(&mut self.0.lock().expect("status lock").builder);
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

    /// The pool manager's loop status.
    pub(crate) fn manager(&self) -> LoopStatus {
        self.0.lock().expect("status lock").manager.clone()
    }

    /// Change the pool manager's loop status.
    pub(crate) fn update_manager(&self, f: impl FnOnce(&mut LoopStatus)) {
        f(&mut self.0.lock().expect("status lock").manager);
    }
}
