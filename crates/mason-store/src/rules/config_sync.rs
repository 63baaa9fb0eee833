//! Config sync planning (SPEC §2.3): reconcile static names and dynamic pool definitions
//! with a config (phase A), then plan pool upkeep on the state that leaves (phase B).
//!
//! Phase A, as upstream:
//! - Static resources are the names of entries with `names`. A stored resource is judged
//!   as static when its name is in the config or its type is not a dynamic pool's type
//!   (pools = existing ones ∪ the config's). A static resource whose name left the config
//!   is deleted at once (no `toBeDeleted` stage); one whose configured type changed is
//!   deleted and created again with the new type. Leased ones are deferred (reported,
//!   left alone) until a later sync finds them released — unlike upstream, a leased name
//!   moving to another type is deferred too instead of failing the whole sync.
//! - New names are created unowned, in the entry's state (`free` by default), with
//!   `lastupdate` = now. The configured state of an existing resource is never changed.
//! - Resources of a type that becomes dynamic and whose names are not in the config are
//!   adopted by the pool (their `is_static` flag is cleared) and count toward its
//!   min/max; names of a former pool that the config now lists become static.
//! - Pools: new ones are created, changed ones replaced, and a pool gone from the config
//!   is parked at min = max = 0 ("lame duck"), which makes phase B retire its resources
//!   and finally delete it.

use std::collections::{BTreeMap, HashSet};

use mason_types::{BoskosConfig, DynamicResourceLifeCycle, Resource, ResourceEntry, Timestamp};

use super::dynamic::plan_pools;
use super::plan::{FlagChange, RowGuard, Snapshot, StoredResource, SyncPlan};

/// Plan a full config sync: phase A against `config`, then phase B (dynamic upkeep) on
/// the state phase A leaves. `snapshot` must hold every resource and pool; `config` is
/// expected to be validated (duplicate names or types: the last entry wins). `names`
/// yields fresh names for dynamic resources (UUID v4 in production).
pub fn plan_config_sync(
    snapshot: &Snapshot,
    config: &BoskosConfig,
    now: Timestamp,
    mut names: impl FnMut() -> String,
) -> SyncPlan {
    let new_drlcs = config.drlcs();
    let mut new_static: BTreeMap<&str, &ResourceEntry> = BTreeMap::new();
    for entry in config.resources.iter().filter(|e| !e.is_dynamic()) {
        for name in &entry.names {
            new_static.insert(name, entry);
        }
    }
    let old_drlcs: BTreeMap<&str, &DynamicResourceLifeCycle> = snapshot
        .drlcs
        .iter()
        .map(|d| (d.rtype.as_str(), d))
        .collect();
    let dynamic_types: HashSet<&str> = old_drlcs
        .keys()
        .copied()
        .chain(new_drlcs.keys().map(String::as_str))
        .collect();

    let mut plan = SyncPlan::default();
    let mut dynamic: Vec<&Resource> = Vec::new();
    for stored in &snapshot.resources {
        let r = &stored.resource;
        let wanted = new_static.get(r.name.as_str()).copied();
        let is_static = wanted.is_some() || !dynamic_types.contains(r.rtype.as_str());
        let keep = match wanted {
            _ if !is_static => {
                dynamic.push(r);
                true
            }
            Some(entry) if entry.rtype == r.rtype => true,
            _ if !r.owner.is_empty() => {
                plan.deferred.push(r.name.clone());
                true
            }
            Some(entry) => {
                plan.delete.push(RowGuard::of(r));
                plan.create.push(static_resource(&r.name, entry, now));
                false
            }
            None => {
                plan.delete.push(RowGuard::of(r));
                false
            }
        };
        if keep && stored.is_static != is_static {
            plan.set_static.push(FlagChange {
                name: r.name.clone(),
                is_static,
            });
        }
    }

    let existing: HashSet<&str> = snapshot
        .resources
        .iter()
        .map(|s| s.resource.name.as_str())
        .collect();
    for (name, entry) in &new_static {
        if !existing.contains(name) {
            plan.create.push(static_resource(name, entry, now));
        }
    }

    let pools = plan_drlcs(&old_drlcs, &new_drlcs, &mut plan);

    let pool_refs: BTreeMap<&str, &DynamicResourceLifeCycle> =
        pools.iter().map(|(t, d)| (t.as_str(), d)).collect();
    let mut by_type: BTreeMap<&str, Vec<&Resource>> = BTreeMap::new();
    for r in dynamic {
        by_type.entry(r.rtype.as_str()).or_default().push(r);
    }
    let taken: HashSet<&str> = existing
        .iter()
        .copied()
        .chain(new_static.keys().copied())
        .collect();
    plan_pools(&pool_refs, &by_type, &taken, now, &mut names, &mut plan);
    plan
}

/// A new static resource: unowned, in the entry's initial state, empty user data.
fn static_resource(name: &str, entry: &ResourceEntry, now: Timestamp) -> StoredResource {
    StoredResource {
        resource: Resource::new(&entry.rtype, name, entry.initial_state(), now),
        is_static: true,
    }
}

/// The pool diff; returns every pool as it stands after phase A.
fn plan_drlcs(
    old: &BTreeMap<&str, &DynamicResourceLifeCycle>,
    new: &BTreeMap<String, DynamicResourceLifeCycle>,
    plan: &mut SyncPlan,
) -> BTreeMap<String, DynamicResourceLifeCycle> {
    let mut after = BTreeMap::new();
    for (rtype, current) in old {
        let wanted = match new.get(*rtype) {
            Some(wanted) => wanted.clone(),
            None => DynamicResourceLifeCycle {
                min_count: 0,
                max_count: 0,
                ..(*current).clone()
            },
        };
        if wanted != **current {
            plan.upsert_drlcs.push(wanted.clone());
        }
        after.insert(rtype.to_string(), wanted);
    }
    for (rtype, wanted) in new {
        if !old.contains_key(rtype.as_str()) {
            plan.upsert_drlcs.push(wanted.clone());
            after.insert(rtype.clone(), wanted.clone());
        }
    }
    after
}
