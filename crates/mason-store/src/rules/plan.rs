//! What the planners read and what they return: the [`Snapshot`] a backend loads inside
//! its transaction, and the [`SyncPlan`] it then applies.

use mason_types::{DynamicResourceLifeCycle, Resource, Timestamp};

/// A resource as a backend stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResource {
    /// The resource itself.
    pub resource: Resource,
    /// Whether the resource comes from a config entry's `names` (a static resource).
    /// Dynamic upkeep only ever looks at resources with this flag off.
    pub is_static: bool,
}

/// Everything a planner needs to know about the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Resources. For [`crate::rules::plan_config_sync`] this must be every resource; for
    /// [`crate::rules::plan_dynamic_upkeep`] the non-static resources of the pools' types
    /// are enough (others are ignored).
    pub resources: Vec<StoredResource>,
    /// Every dynamic pool.
    pub drlcs: Vec<DynamicResourceLifeCycle>,
}

/// Which resources a backend loads into a [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every resource (a config sync judges static names too).
    Everything,
    /// Only the non-static resources of the pools' types (all that dynamic upkeep looks
    /// at).
    PoolMembers,
}

/// The compare-and-set condition of a change to an existing row: it applies only if the
/// row is still unowned and still has the state and `lastupdate` seen in the snapshot
/// (every write bumps `lastupdate`, so together they act as a version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowGuard {
    /// The resource name.
    pub name: String,
    /// The state seen in the snapshot.
    pub state: String,
    /// The `lastupdate` seen in the snapshot.
    pub lastupdate: Timestamp,
}

impl RowGuard {
    /// The guard for `r` as it is now.
    pub fn of(r: &Resource) -> Self {
        Self {
            name: r.name.clone(),
            state: r.state.clone(),
            lastupdate: r.lastupdate,
        }
    }
}

/// A change of the `is_static` flag (bookkeeping only: the resource itself and its
/// `lastupdate` stay as they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    /// The resource name.
    pub name: String,
    /// The new flag.
    pub is_static: bool,
}

/// The writes a sync wants, in the order a backend must apply them: deletions, then
/// `toBeDeleted` marks, flag changes, creations, pool upserts, pool deletions.
///
/// Deleting before creating matters when a name moves to another type (the old row goes,
/// a new one with the same name comes); a backend must skip (and report as deferred) a
/// creation whose name still exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// Rows to delete (static names gone from the config, tombstoned dynamic resources),
    /// each only if its guard still holds.
    pub delete: Vec<RowGuard>,
    /// Dynamic resources to move to `toBeDeleted` (bumping `lastupdate`, keeping the
    /// expiration date), each only if its guard still holds.
    pub mark_to_be_deleted: Vec<RowGuard>,
    /// Corrections of the `is_static` flag (adoption by or release from a dynamic pool).
    pub set_static: Vec<FlagChange>,
    /// New rows, unowned, with `lastupdate` = the planning time.
    pub create: Vec<StoredResource>,
    /// Pools to insert or replace (the pool's type is its key).
    pub upsert_drlcs: Vec<DynamicResourceLifeCycle>,
    /// Pools to delete, each only if no non-static resource of its type remains when the
    /// deletion is applied (otherwise the pool stays, at min = max = 0).
    pub delete_drlcs: Vec<String>,
    /// Resources whose removal waits because they are leased (static names gone from the
    /// config or moved to another type, resources of a pool being removed).
    pub deferred: Vec<String>,
}

impl SyncPlan {
    /// Whether the plan writes nothing (deferrals are not writes).
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty()
            && self.mark_to_be_deleted.is_empty()
            && self.set_static.is_empty()
            && self.create.is_empty()
            && self.upsert_drlcs.is_empty()
            && self.delete_drlcs.is_empty()
    }
}
