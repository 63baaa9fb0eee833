//! Backend-independent rules: planning a config sync (SPEC §2.3) and dynamic pool upkeep
//! (SPEC §4.8) as pure functions over a snapshot, which each backend then applies inside
//! one transaction with compare-and-set conditions.
//!
//! A backend loads a [`Snapshot`] (resources with their `is_static` flag, and the dynamic
//! pools), asks [`plan_config_sync`] or [`plan_dynamic_upkeep`] for a [`SyncPlan`], and
//! applies it. Every change to an existing row carries a [`RowGuard`]: it applies only if
//! the row is still unowned and unchanged since the snapshot, and a row that no longer
//! matches is reported as deferred, never forced. No SQL and no IO live here, so both
//! backends are tested against the same rules.
//!
//! Layout:
//! - [`plan`]: the snapshot and plan types.
//! - `config_sync`: phase A of SPEC §2.3 (static names, DRLC objects), followed by
//!   phase B on the state phase A leaves behind.
//! - `dynamic`: phase B alone, the per-type upkeep of SPEC §4.8.

mod config_sync;
mod dynamic;
pub mod plan;

#[cfg(test)]
mod tests;

pub use config_sync::plan_config_sync;
pub use dynamic::plan_dynamic_upkeep;
pub use plan::{FlagChange, RowGuard, Snapshot, StoredResource, SyncPlan};

/// A fresh name for a dynamic resource: a random UUID v4, as upstream generates them.
pub fn uuid_name() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The initial state of new resources of a pool (`free` when the pool leaves it empty).
pub(crate) fn initial_state(drlc: &mason_types::DynamicResourceLifeCycle) -> &str {
    if drlc.initial_state.is_empty() {
        mason_types::state::FREE
    } else {
        &drlc.initial_state
    }
}
