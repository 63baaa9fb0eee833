//! Where leases live. The database is the single source of truth: every lease transition
//! is one short transaction with a compare-and-set on state and owner, the `request_id`
//! priority queue is a table with a TTL, and a call returns only once its change is
//! durable. Any number of servers may therefore share one database.
//!
//! Layout:
//! - [`Store`]: the trait every backend implements (`Arc<dyn Store>` at run time).
//! - [`error`]: the typed errors, carrying upstream's exact messages.
//! - [`clock`]: injected time, so tests control timestamps.
//! - [`rules`]: backend-independent rules (config sync planning, dynamic pool upkeep).
//! - [`sqlite`]: the embedded default backend (one file, WAL).
//! - `postgres` (cargo feature `postgres`): the backend for several replicas on one database.
//! - [`mod@open`]: store URLs (`sqlite://mason.db`, `postgres://…`) and the one `match` on the engine.
//! - [`conformance`]: the suite every backend must pass (compiled always, so any
//!   backend's tests — in this crate or another — can run it).

pub mod clock;
pub mod error;
pub mod open;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod rules;
pub mod sqlite;

pub mod conformance;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use mason_types::{BoskosConfig, DynamicResourceLifeCycle, Metric, Resource, Timestamp, UserData};

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use open::{open, StoreUrl};

/// Default time a `request_id` keeps its place in the queue without polling again.
pub const DEFAULT_REQUEST_TTL: Duration = Duration::from_secs(30);

/// The parameters of `POST /acquire`.
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
    /// Caller's queue identity; keeps its FIFO rank across polls (empty = none).
    pub request_id: Option<String>,
}

/// A successful acquire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquired {
    /// The resource as stored after the transition.
    pub resource: Resource,
    /// When this request was first seen (its first poll), or now without a request id;
    /// feeds `boskos_acquire_duration_seconds`.
    pub requested_at: Timestamp,
}

/// Which resources [`Store::list`] returns. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    /// Only this type.
    pub rtype: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// Only this owner (`Some("")` = unowned).
    pub owner: Option<String>,
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
    /// 1-based position among live requests for this (type, state).
    pub rank: u64,
    /// First poll.
    pub created_at: Timestamp,
    /// When the entry lapses unless polled again.
    pub expires_at: Timestamp,
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

/// A lease database. Every method is one atomic transaction; errors never leave partial
/// changes behind.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short engine name for logs (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// `POST /acquire`: take the least recently updated unowned resource of `rtype` in
    /// `state`, honouring the `request_id` queue, creating a dynamic resource on a new
    /// request id when the pool has room (SPEC §4.1).
    async fn acquire(&self, req: &AcquireRequest) -> Result<Acquired>;

    /// `POST /acquirebystate`: all named resources, unowned and in `state`, or none
    /// (atomic, unlike upstream which leaks partial acquisitions).
    async fn acquire_by_state(
        &self,
        state: &str,
        dest: &str,
        owner: &str,
        names: &[String],
    ) -> Result<Vec<Resource>>;

    /// `POST /release`: owner must match; sets state `dest`, clears the owner and applies
    /// the expiration-date rules of SPEC §4.4.
    async fn release(&self, name: &str, dest: &str, owner: &str) -> Result<Resource>;

    /// `POST /update`: owner and state must match; merges user data and bumps `lastupdate`.
    async fn update(
        &self,
        name: &str,
        owner: &str,
        state: &str,
        userdata: Option<&UserData>,
    ) -> Result<Resource>;

    /// `POST /reset`: every owned resource of `rtype` in `state` untouched for at least
    /// `expire` goes to `dest`, unowned. Returns name → previous owner.
    async fn reset(
        &self,
        rtype: &str,
        state: &str,
        expire: Duration,
        dest: &str,
    ) -> Result<BTreeMap<String, String>>;

    /// `GET /metric`: counts for one type (`ResourceNotFound(type)` when it has none).
    async fn metric(&self, rtype: &str) -> Result<Metric>;

    /// Counts for every type present, sorted by type.
    async fn all_metrics(&self) -> Result<Vec<Metric>>;

    /// One resource by name.
    async fn get(&self, name: &str) -> Result<Resource>;

    /// Resources matching `filter`, least recently updated first.
    async fn list(&self, filter: &ResourceFilter) -> Result<Vec<Resource>>;

    /// The dynamic pools the server maintains.
    async fn drlcs(&self) -> Result<Vec<DynamicResourceLifeCycle>>;

    /// Reconcile resources and dynamic pools with a validated config (SPEC §2.3), then run
    /// dynamic upkeep. Static resources that are leased are deferred, never deleted.
    async fn sync_config(&self, config: &BoskosConfig) -> Result<SyncReport>;

    /// Dynamic upkeep only (SPEC §4.8): expiry, min-count top-up, max-count scale-down,
    /// tombstone deletion. Run on a timer so it never waits for an event.
    async fn sync_dynamic(&self) -> Result<SyncReport>;

    /// Drop expired `request_id` entries; returns how many.
    async fn gc_requests(&self) -> Result<u64>;

    /// The live priority queue, by (type, state) then rank.
    async fn queue(&self) -> Result<Vec<QueuedRequest>>;

    /// Check the database answers (readiness).
    async fn ping(&self) -> Result<()>;
}
