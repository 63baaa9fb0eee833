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
//! - [`import`]: what an all-or-nothing bulk import (`mason import`) writes.

mod config_sync;
mod dynamic;
pub mod import;
pub mod plan;

#[cfg(test)]
mod tests;

pub use config_sync::plan_config_sync;
pub use dynamic::plan_dynamic_upkeep;
pub use import::{plan_import, ImportMode, ImportPlan, ImportReport, ImportRequest};
pub use plan::{FlagChange, RowGuard, Scope, Snapshot, StoredResource, SyncPlan};

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

/// Put an applied plan's report in its final form, the same on every backend: a pool
/// parked at 0/0 and deleted in the same sync counts only as deleted, and every list is
/// sorted and free of duplicates.
pub fn finish_report(mut report: crate::SyncReport) -> crate::SyncReport {
    report
        .drlcs_upserted
        .retain(|t| !report.drlcs_deleted.contains(t));
    for list in [
        &mut report.created,
        &mut report.deleted,
        &mut report.marked_for_deletion,
        &mut report.deferred,
        &mut report.drlcs_upserted,
        &mut report.drlcs_deleted,
    ] {
        list.sort();
        list.dedup();
    }
    report
}

/// Log what a sync did: one info line when resources changed, debug otherwise.
pub fn log_report(what: &str, plan: &SyncPlan, report: &crate::SyncReport) {
    if !report.is_empty() {
        tracing::info!(
            created = report.created.len(),
            deleted = report.deleted.len(),
            marked_for_deletion = report.marked_for_deletion.len(),
            deferred = report.deferred.len(),
            drlcs_upserted = ?report.drlcs_upserted,
            drlcs_deleted = ?report.drlcs_deleted,
            "{what} changed the store"
        );
    } else if !plan.set_static.is_empty() || !report.deferred.is_empty() {
        tracing::debug!(
            static_flags_changed = plan.set_static.len(),
            deferred = ?report.deferred,
            "{what}: no resource changed"
        );
    }
}
