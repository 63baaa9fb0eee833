//! What [`Store`](crate::Store) methods answer beyond plain resources: a granted acquire,
//! a granted set, the shortfalls of a refused set, the visible request queue, the leases
//! ended at their deadline, and the report of a config sync.

use mason_types::resource_v2::LeaseFacts;
use mason_types::{Resource, ResourceV2, Timestamp};

/// A successful acquire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquired {
    /// The resource as stored after the transition.
    pub resource: Resource,
    /// When this request was first seen (its first poll), or now without a request id;
    /// feeds `boskos_acquire_duration_seconds`.
    pub requested_at: Timestamp,
    /// The lease's facts: the fencing generation this grant gave the resource (send it
    /// back with release and update).
    pub lease: LeaseFacts,
}

/// A granted set ([`Store::acquire_many`](crate::Store::acquire_many)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiAcquired {
    /// Every resource granted, in item order (least recently updated first within an
    /// item), each with the fresh generation of its grant.
    pub resources: Vec<ResourceV2>,
    /// When the request was first seen (its first attempt), or now without a request id.
    pub requested_at: Timestamp,
}

/// An item of a set the store could not fill ([`Error::Shortage`](crate::Error::Shortage)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    /// The resource type.
    pub rtype: String,
    /// The state asked for.
    pub state: String,
    /// How many were asked for.
    pub wanted: u32,
    /// How many this request could have had (free ones beyond those reserved for
    /// requests ahead of it in the queue).
    pub free: u32,
    /// How many are reserved for requests ahead of this one in the queue. 0: this
    /// request is first in line for them, so no request behind it can get any either
    /// (a server holding waiters open stops waking others for this queue).
    pub reserved: u32,
}

/// One waiting `request_id` in the priority queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueuedRequest {
    /// Type asked for.
    #[serde(rename = "type")]
    pub rtype: String,
    /// State asked for.
    pub state: String,
    /// The caller's request id.
    pub request_id: String,
    /// 1-based position among live requests for this (type, state): higher priority
    /// first, then first come, first served.
    pub rank: u64,
    /// The request's priority (0 for `/acquire`; higher is served first).
    pub priority: i32,
    /// How many resources of this (type, state) the request waits for (1 for
    /// `/acquire`); they are reserved for it ahead of later requests.
    pub count: u32,
    /// First poll.
    pub created_at: Timestamp,
    /// When the entry lapses unless polled again.
    pub expires_at: Timestamp,
}

/// A lease that [`Store::expire_leases`](crate::Store::expire_leases) ended because its
/// deadline passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredLease {
    /// The resource.
    pub name: String,
    /// Its type.
    pub rtype: String,
    /// Who held the lease.
    pub previous_owner: String,
    /// The state it was in.
    pub previous_state: String,
    /// The state it went to (the type's `lease-expired-state`, resolved at the grant).
    pub state: String,
    /// The deadline that passed (the server measures its lateness).
    pub deadline: Timestamp,
    /// The resource's new fencing generation.
    pub generation: u64,
}

/// What one [`Store::expire_leases`](crate::Store::expire_leases) call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpireReport {
    /// The leases this call ended, oldest deadline first. With several replicas each
    /// lease is in exactly one call's report: only the call whose compare-and-set ended
    /// it lists it.
    pub expired: Vec<ExpiredLease>,
    /// The earliest deadline still pending after this call (`None`: no lease has one).
    /// When `expired` is as long as the limit, more may be due already.
    pub next_deadline: Option<Timestamp>,
}

/// What a config sync or dynamic upkeep changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Resources created (static names and dynamic top-ups).
    pub created: Vec<String>,
    /// Resources deleted (static names removed, tombstones).
    pub deleted: Vec<String>,
    /// Dynamic resources moved to `toBeDeleted`.
    pub marked_for_deletion: Vec<String>,
    /// Resources whose deletion waits because they are leased.
    pub deferred: Vec<String>,
    /// Dynamic pools created or changed.
    pub drlcs_upserted: Vec<String>,
    /// Dynamic pools removed.
    pub drlcs_deleted: Vec<String>,
}

impl SyncReport {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty()
            && self.deleted.is_empty()
            && self.marked_for_deletion.is_empty()
            && self.drlcs_upserted.is_empty()
            && self.drlcs_deleted.is_empty()
    }
}
