//! What callers hand to a [`Store`](crate::Store) method: one struct per call, named
//! fields instead of positional strings.
//!
//! Every request derives `Default`, so fields added later (a fencing generation, a lease
//! TTL, the acting identity, a quota) do not break callers that build requests with
//! `..Default::default()`. Reads keyed by a single value (`get(name)`, `metric(type)`)
//! keep that one argument: there is nothing to confuse and nothing to grow.

use std::collections::BTreeMap;
use std::time::Duration;

use mason_types::{Timestamp, UserData};

/// The parameters of `POST /acquire` (SPEC §4.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcquireRequest {
    /// Resource type wanted.
    pub rtype: String,
    /// Current state the resource must be in.
    pub state: String,
    /// State the resource is moved to.
    pub dest: String,
    /// New owner.
    pub owner: String,
    /// Caller's queue identity; keeps its FIFO rank across polls (`None` or empty: none).
    pub request_id: Option<String>,
    /// Who makes the change, recorded in the history as the event's `actor`: the
    /// authenticated user, or a part of Mason (`reaper`, `builder`, …). `None`: unknown.
    pub actor: Option<String>,
    /// The authenticated user the lease is held by (over all the owners it acts as),
    /// recorded with the grant and cleared when the lease ends. `None` (a server without
    /// an auth file): nothing is recorded and no quota applies, as upstream.
    pub holder: Option<String>,
    /// The most leases of `rtype` the holder may hold at once; over it the acquire is
    /// refused with [`Error::QuotaExceeded`](crate::Error::QuotaExceeded) and changes
    /// nothing. Checked only with a `holder`; `None`: no limit.
    pub max_held: Option<u32>,
    /// The lease's TTL, overriding the type's `lease-ttl` (the server has checked it
    /// against `--max-lease-ttl`); `None`: the type's, if any. The grant's deadline is
    /// then grant time + TTL, and each renewal ([`crate::Store::update`]) moves it.
    pub lease_ttl: Option<Duration>,
}

/// The parameters of `POST /acquirebystate` (SPEC §4.3): every named resource, or none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcquireByStateRequest {
    /// State every named resource must be in (and unowned).
    pub state: String,
    /// State they are moved to.
    pub dest: String,
    /// New owner.
    pub owner: String,
    /// The resources wanted (duplicates count once; must not be empty).
    pub names: Vec<String>,
    /// Who makes the change, recorded in the history as the event's `actor`: the
    /// authenticated user, or a part of Mason (`reaper`, `builder`, …). `None`: unknown.
    pub actor: Option<String>,
    /// The authenticated user the leases are held by, as [`AcquireRequest::holder`].
    pub holder: Option<String>,
    /// The holder's limits per resource type (the named resources may be of several
    /// types): the most leases of that type it may hold at once, counting the ones this
    /// call would grant. A type not in the map is unlimited. Checked only with a `holder`.
    pub max_held: BTreeMap<String, u32>,
    /// The TTL of every lease granted, as [`AcquireRequest::lease_ttl`].
    pub lease_ttl: Option<Duration>,
}

/// The parameters of `POST /release` (SPEC §4.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// The resource.
    pub name: String,
    /// State it is left in.
    pub dest: String,
    /// Who releases it (must be its owner).
    pub owner: String,
    /// The fencing generation the caller was granted; when given and not the resource's
    /// current one the release is refused ([`Error::GenerationMismatch`](crate::Error::GenerationMismatch))
    /// before any other check. `None`: upstream's behaviour.
    pub generation: Option<u64>,
    /// Who makes the change, recorded in the history as the event's `actor`: the
    /// authenticated user, or a part of Mason (`reaper`, `builder`, …). `None`: unknown.
    pub actor: Option<String>,
}

/// The parameters of `POST /update`, the heartbeat (SPEC §4.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateRequest {
    /// The resource.
    pub name: String,
    /// Who holds it (must be its owner).
    pub owner: String,
    /// The state the caller believes it is in (must match).
    pub state: String,
    /// User data to merge (an empty value deletes its key); `None` changes none.
    pub userdata: Option<UserData>,
    /// The fencing generation the caller was granted, checked as for
    /// [`ReleaseRequest::generation`]. An update never changes the generation.
    pub generation: Option<u64>,
    /// Who makes the change, recorded in the history as the event's `actor`: the
    /// authenticated user, or a part of Mason (`reaper`, `builder`, …). `None`: unknown.
    pub actor: Option<String>,
}

/// The parameters of `POST /reset` (SPEC §4.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetRequest {
    /// Resource type.
    pub rtype: String,
    /// State the stale leases are in.
    pub state: String,
    /// How long a lease must have gone without an update to be reset.
    pub expire: Duration,
    /// State they are moved to, unowned.
    pub dest: String,
    /// Who makes the change, recorded in the history as the event's `actor`: the
    /// authenticated user, or a part of Mason (`reaper`, `builder`, …). `None`: unknown.
    pub actor: Option<String>,
}

/// The parameters of [`Store::expire_leases`](crate::Store::expire_leases): end the
/// leases whose TTL deadline passed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpireRequest {
    /// The time of the expiry: leases whose deadline is at or before it end, and get it
    /// as their `lastupdate`.
    pub now: Timestamp,
    /// At most this many leases per call (oldest deadline first).
    pub limit: u32,
}

/// Which resources [`Store::list`](crate::Store::list) returns. Empty fields match
/// everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    /// Only this type.
    pub rtype: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// Only this owner (`Some("")` = unowned).
    pub owner: Option<String>,
}

/// One kind of resource wanted by a [`MultiAcquireRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultiAcquireItem {
    /// The resource type.
    pub rtype: String,
    /// The state the resources must be in (and unowned).
    pub state: String,
    /// The state they are moved to.
    pub dest: String,
    /// How many (1 to [`mason_types::multi_acquire::MAX_COUNT`]).
    pub count: u32,
}

/// The parameters of `POST /api/v2/acquire`: every item granted in one transaction, or
/// nothing (see [`Store::acquire_many`](crate::Store::acquire_many)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultiAcquireRequest {
    /// Who will hold the resources.
    pub owner: String,
    /// The queue identity: the request holds a place in the queue of every
    /// (type, state) it asks for, across attempts (`None` or empty: none).
    pub request_id: Option<String>,
    /// Higher is served first; first come, first served within a priority.
    pub priority: i32,
    /// Lease TTL of every resource granted (overrides the types' `lease-ttl`).
    pub lease_ttl: Option<Duration>,
    /// What to acquire: at least one item, no (type, state) twice.
    pub items: Vec<MultiAcquireItem>,
    /// While the server holds the request open, its queue places do not lapse before
    /// this time (plus the request TTL), even without attempts.
    pub queue_until: Option<mason_types::Timestamp>,
    /// Who makes the change, recorded in the history as the event's `actor`.
    pub actor: Option<String>,
    /// The authenticated user the leases are held by, as [`AcquireRequest::holder`].
    pub holder: Option<String>,
    /// The holder's limits per resource type, as [`AcquireByStateRequest::max_held`]:
    /// the set is refused whole (nothing written, no queue place) when any type would
    /// go over. Checked only with a `holder`.
    pub max_held: BTreeMap<String, u32>,
}
