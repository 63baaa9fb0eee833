//! Dynamic pool upkeep (SPEC §2.3 phase B, §4.8, §4.9): per pool, delete tombstones,
//! mark expired resources `toBeDeleted`, top up to `min-count`, scale down to
//! `max-count`, and drop a removed pool (min = max = 0) once nothing of it is left.
//!
//! Counting follows upstream exactly, per pool, over its non-static resources:
//! - leased resources are never touched, but count toward the total;
//! - `tombstone` → deleted, and not counted as active;
//! - `toBeDeleted` (and expired ones being marked now) count as active *and* as being
//!   deleted, so no replacement is made until they reach `tombstone`;
//! - top-up: while active < `min-count`, create one in the pool's initial state;
//! - scale-down: `active - being deleted - max-count` of the remaining unowned resources,
//!   taken by name descending, are marked `toBeDeleted`.
//!
//! One deliberate difference: upstream decides whether a removed pool may be deleted with
//! add/delete counts accumulated across all pools processed so far (a quirk, SPEC §2.3
//! phase B step 3). Here the counts are the pool's own, so a pool is deleted exactly when
//! it is at min = max = 0 and every one of its non-static resources is an unowned
//! tombstone being deleted in this same plan (or it has none).

use std::collections::{BTreeMap, HashSet};

use mason_types::{state, DynamicResourceLifeCycle, Resource, Timestamp};

use super::plan::{RowGuard, Snapshot, StoredResource, SyncPlan};

/// Phase B alone: upkeep of every pool in `snapshot`, looking only at resources whose
/// `is_static` flag is off. `names` yields fresh names for new resources (UUID v4 in
/// production, see [`super::uuid_name`]).
pub fn plan_dynamic_upkeep(
    snapshot: &Snapshot,
    now: Timestamp,
    mut names: impl FnMut() -> String,
) -> SyncPlan {
    let drlcs: BTreeMap<&str, &DynamicResourceLifeCycle> = snapshot
        .drlcs
        .iter()
        .map(|d| (d.rtype.as_str(), d))
        .collect();
    let mut by_type: BTreeMap<&str, Vec<&Resource>> = BTreeMap::new();
    for stored in snapshot.resources.iter().filter(|s| !s.is_static) {
        by_type
            .entry(stored.resource.rtype.as_str())
            .or_default()
            .push(&stored.resource);
    }
    let taken: HashSet<&str> = snapshot
        .resources
        .iter()
        .map(|s| s.resource.name.as_str())
        .collect();
    let mut plan = SyncPlan::default();
    plan_pools(&drlcs, &by_type, &taken, now, &mut names, &mut plan);
    plan
}

/// Upkeep of each pool in `drlcs` given its non-static resources in `by_type`, appended to
/// `plan`. Generated names already in `taken` (or generated earlier) are skipped.
pub(super) fn plan_pools(
    drlcs: &BTreeMap<&str, &DynamicResourceLifeCycle>,
    by_type: &BTreeMap<&str, Vec<&Resource>>,
    taken: &HashSet<&str>,
    now: Timestamp,
    names: &mut dyn FnMut() -> String,
    plan: &mut SyncPlan,
) {
    let mut generated: HashSet<String> = HashSet::new();
    for (rtype, drlc) in drlcs {
        let resources = by_type.get(rtype).map(Vec::as_slice).unwrap_or_default();
        let upkeep = plan_pool(drlc, resources, now);
        plan.delete
            .extend(upkeep.delete.iter().map(|r| RowGuard::of(r)));
        plan.mark_to_be_deleted
            .extend(upkeep.mark.iter().map(|r| RowGuard::of(r)));
        plan.deferred
            .extend(upkeep.deferred.iter().map(|r| r.name.clone()));
        for _ in 0..upkeep.add {
            let Some(name) = fresh_name(names, taken, &mut generated) else {
                break;
            };
            let resource = Resource::new(*rtype, name, super::initial_state(drlc), now);
            plan.create.push(StoredResource {
                resource,
                is_static: false,
            });
        }
        if upkeep.delete_pool {
            plan.delete_drlcs.push(rtype.to_string());
        }
    }
}

/// A generated name not yet in use. Gives up after a few collisions (impossible with
/// UUIDs; a broken generator then just creates nothing until the next sync).
fn fresh_name(
    names: &mut dyn FnMut() -> String,
    taken: &HashSet<&str>,
    generated: &mut HashSet<String>,
) -> Option<String> {
    const ATTEMPTS: usize = 16;
    for _ in 0..ATTEMPTS {
        let name = names();
        if !taken.contains(name.as_str()) && generated.insert(name.clone()) {
            return Some(name);
        }
    }
    None
}

/// What one pool needs.
#[derive(Debug, Default)]
struct PoolUpkeep<'a> {
    /// Unowned tombstones: delete the row.
    delete: Vec<&'a Resource>,
    /// Expired or excess unowned resources: mark `toBeDeleted`.
    mark: Vec<&'a Resource>,
    /// How many new resources to create.
    add: usize,
    /// Leased resources of a pool being removed (their removal waits for the release).
    deferred: Vec<&'a Resource>,
    /// Whether the pool itself can go.
    delete_pool: bool,
}

/// SPEC §4.8 for one pool over its non-static resources.
fn plan_pool<'a>(
    drlc: &DynamicResourceLifeCycle,
    resources: &[&'a Resource],
    now: Timestamp,
) -> PoolUpkeep<'a> {
    let mut upkeep = PoolUpkeep::default();
    let mut being_deleted = 0usize;
    let mut candidates: Vec<&Resource> = Vec::new();
    let removed = drlc.min_count == 0 && drlc.max_count == 0;
    for r in resources {
        if !r.owner.is_empty() {
            if removed {
                upkeep.deferred.push(r);
            }
        } else if r.state == state::TOMBSTONE {
            upkeep.delete.push(r);
        } else if r.state == state::TO_BE_DELETED {
            being_deleted += 1;
        } else if r.expiration_date.is_some_and(|exp| exp < now) {
            upkeep.mark.push(r);
            being_deleted += 1;
        } else {
            candidates.push(r);
        }
    }

    let mut active = resources.len() - upkeep.delete.len();
    let min = drlc.min_count as usize;
    if active < min {
        upkeep.add = min - active;
        active = min;
    }

    let excess = active
        .saturating_sub(being_deleted)
        .saturating_sub(drlc.max_count as usize);
    candidates.sort_by(|a, b| b.name.cmp(&a.name));
    upkeep.mark.extend(candidates.into_iter().take(excess));

    upkeep.delete_pool = removed && upkeep.add == 0 && upkeep.delete.len() == resources.len();
    upkeep
}
