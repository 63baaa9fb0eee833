//! Where leases live. The database is the single source of truth: every lease transition
//! is one short transaction with a compare-and-set on state and owner, the `request_id`
//! priority queue is a table with a TTL, and a call returns only once its change is
//! durable. Any number of servers may therefore share one database.
//!
//! Layout:
//! - [`Store`]: the trait every backend implements (`Arc<dyn Store>` at run time).
//! - [`AcquireRequest`], [`ReleaseRequest`], …: one request struct per call (`request.rs`),
//!   and what calls answer beyond resources (`outcome.rs`).
//! - [`error`]: the typed errors, carrying upstream's exact messages, and the one
//!   store → HTTP status mapping ([`Error::status`]).
//! - [`clock`]: injected time, so tests control timestamps.
//! - `lease/`: the lease rules every backend follows — checks and their order, which
//!   error a miss is, new dynamic resources, what each transition writes, expiry and
//!   lifespans, metrics folding, queue ranking — and where to add a transition.
//! - [`rules`]: the config sync and dynamic pool upkeep planners.
//! - [`history`]: the events every change appends (written by triggers in the same
//!   transaction), their queries, and retention.
//! - `rows.rs`: how values are stored (columns, timestamps, JSON), for both backends.
//! - [`sqlite`]: the embedded default backend (one file, WAL).
//! - `postgres` (cargo feature `postgres`): the backend for several replicas on one
//!   database. The two backends have the same files with the same responsibilities and
//!   hold only SQL, transactions and row decoding.
//! - [`mod@open`]: store URLs (`sqlite://mason.db`, `postgres://…`) and the one `match` on the engine.
//! - `testsuite` (cargo feature `testsuite`, for tests only): the conformance suite every
//!   backend must pass, per-engine harnesses, and a throwaway PostgreSQL server.

pub mod availability;
pub mod clock;
pub mod error;
pub mod history;
mod lease;
pub mod open;
mod outcome;
#[cfg(feature = "postgres")]
pub mod postgres;
mod request;
mod rows;
pub mod rules;
pub mod sqlite;
#[cfg(feature = "testsuite")]
pub mod testsuite;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use mason_types::event::EventPage;
use mason_types::{BoskosConfig, DynamicResourceLifeCycle, Metric, Resource, ResourceV2};

pub use availability::Availability;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use history::{
    EventFilter, EventQuery, LatestEventsQuery, PruneEventsRequest, Retention, MAX_EVENT_LIMIT,
};
pub use open::{open, StoreUrl};
pub use outcome::{
    Acquired, ExpireReport, ExpiredLease, MultiAcquired, QueuedRequest, Shortfall, SyncReport,
};
pub use request::{
    AcquireByStateRequest, AcquireRequest, ExpireRequest, MultiAcquireItem, MultiAcquireRequest,
    ReleaseRequest, ResetRequest, ResourceFilter, UpdateRequest,
};
pub use rules::{ImportMode, ImportReport, ImportRequest};

/// Default deadline of a store call (`--store-timeout`): a call not answered by then is
/// a 503 with `Retry-After`.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// Default time a `request_id` keeps its place in the queue without polling again.
pub const DEFAULT_REQUEST_TTL: Duration = Duration::from_secs(30);

/// A lease database. Every method is one atomic transaction; errors never leave partial
/// changes behind.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short engine name for logs (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// `POST /acquire`: take the least recently updated unowned resource of `rtype` in
    /// `state`, honouring the `request_id` queue, creating a dynamic resource on a new
    /// request id when the pool has room (SPEC §4.1). The grant gives the resource a
    /// fresh fencing generation ([`Acquired::lease`]).
    async fn acquire(&self, req: &AcquireRequest) -> Result<Acquired>;

    /// `POST /acquirebystate`: all named resources, unowned and in `state`, or none
    /// (atomic, unlike upstream which leaks partial acquisitions), each with the fresh
    /// fencing generation of its grant, in the order of upstream's answer.
    async fn acquire_by_state_leases(&self, req: &AcquireByStateRequest)
        -> Result<Vec<ResourceV2>>;

    /// [`Store::acquire_by_state_leases`] without the lease facts (upstream's answer).
    async fn acquire_by_state(&self, req: &AcquireByStateRequest) -> Result<Vec<Resource>> {
        Ok(self
            .acquire_by_state_leases(req)
            .await?
            .into_iter()
            .map(|r| r.resource)
            .collect())
    }

    /// `POST /api/v2/acquire`: every item of the set in one transaction, or nothing.
    /// Each item takes `count` unowned resources of its type in its state (least
    /// recently updated first, beyond those reserved for requests ahead of it in that
    /// queue) into `dest`, each with a fresh generation. With a request id the request
    /// holds a place in the queue of every item, ranked by priority then arrival, and
    /// reserves its counts there ahead of later requests; on its first attempt it grows
    /// short dynamic pools. Short: [`Error::Shortage`] (404; the queue places and any
    /// growth persist, no resource changes). A type without resources or pool:
    /// [`Error::UnknownTypes`] (409; nothing changes).
    async fn acquire_many(&self, req: &MultiAcquireRequest) -> Result<MultiAcquired>;

    /// "Resources may be available" signals, from now on (see [`availability`]).
    fn availability(&self) -> tokio::sync::broadcast::Receiver<Availability>;

    /// `POST /release`: owner (and, when given, generation) must match; sets state
    /// `dest`, clears the owner, gives a fresh generation and applies the
    /// expiration-date rules of SPEC §4.4.
    async fn release(&self, req: &ReleaseRequest) -> Result<Resource>;

    /// `POST /update`: owner and state (and, when given, generation) must match; merges
    /// user data and bumps `lastupdate`. The generation stays; a lease with a TTL gets
    /// the deadline now + TTL. A lease whose deadline passed is not renewed
    /// ([`Error::LeaseExpired`]), and neither is it released.
    async fn update(&self, req: &UpdateRequest) -> Result<Resource>;

    /// End at most `req.limit` leases whose TTL deadline is at or before `req.now`,
    /// oldest deadline first, each by a compare-and-set: unowned, in the state resolved
    /// at the grant (`lease-expired-state`), `lastupdate` now, a fresh generation, the
    /// expiration date as for a release. Reports only the leases this call ended (with
    /// several replicas each lease is ended, and reported, once) and the next deadline.
    async fn expire_leases(&self, req: &ExpireRequest) -> Result<ExpireReport>;

    /// `POST /reset`: every owned resource of `rtype` in `state` untouched for at least
    /// `expire` goes to `dest`, unowned. Returns name → previous owner.
    async fn reset(&self, req: &ResetRequest) -> Result<BTreeMap<String, String>>;

    /// `GET /metric`: counts for one type (`ResourceNotFound(type)` when it has none).
    async fn metric(&self, rtype: &str) -> Result<Metric>;

    /// Counts for every type present, sorted by type.
    async fn all_metrics(&self) -> Result<Vec<Metric>>;

    /// One resource by name (`ResourceNotFound(name)` when absent).
    async fn get(&self, name: &str) -> Result<Resource> {
        self.get_v2(name).await.map(|r| r.resource)
    }

    /// Resources matching `filter`, least recently updated first.
    async fn list(&self, filter: &ResourceFilter) -> Result<Vec<Resource>> {
        let all = self.list_v2(filter).await?;
        Ok(all.into_iter().map(|r| r.resource).collect())
    }

    /// [`Store::get`] with the resource's lease facts (its fencing generation): the
    /// `/api/v2` resource object.
    async fn get_v2(&self, name: &str) -> Result<ResourceV2>;

    /// [`Store::list`] with each resource's lease facts.
    async fn list_v2(&self, filter: &ResourceFilter) -> Result<Vec<ResourceV2>>;

    /// The dynamic pools the server maintains.
    async fn drlcs(&self) -> Result<Vec<DynamicResourceLifeCycle>>;

    /// Reconcile resources and dynamic pools with a validated config (SPEC §2.3), then run
    /// dynamic upkeep. Static resources that are leased are deferred, never deleted.
    async fn sync_config(&self, config: &BoskosConfig) -> Result<SyncReport>;

    /// Dynamic upkeep only (SPEC §4.8): expiry, min-count top-up, max-count scale-down,
    /// tombstone deletion. Run on a timer so it never waits for an event.
    async fn sync_dynamic(&self) -> Result<SyncReport>;

    /// Write many resources and dynamic pools at once, all or nothing (`mason import`):
    /// every field as given, in one transaction; what is refused is described at
    /// [`rules::plan_import`]. A dry run decides and reports, and writes nothing.
    async fn import(&self, request: &ImportRequest) -> Result<ImportReport>;

    /// Drop expired `request_id` entries; returns how many.
    async fn gc_requests(&self) -> Result<u64>;

    /// The live priority queue, by (type, state) then rank.
    async fn queue(&self) -> Result<Vec<QueuedRequest>>;

    /// Check the database answers.
    async fn ping(&self) -> Result<()>;

    /// Readiness: whether the store can serve writes now. By default whether it answers
    /// a [`Store::ping`]; a backend adds what it knows (the SQLite file replaced under
    /// it, say). The error says why not.
    async fn ready(&self) -> Result<()> {
        self.ping().await
    }
    /// The history after `query.after`, oldest first; `next` is the highest id the read
    /// covered (the last event returned when the page is full, else the head), so a
    /// filtered reader moves past events that did not match. Bad values are
    /// [`Error::InvalidArgument`].
    async fn events(&self, query: &EventQuery) -> Result<EventPage>;

    /// The newest `query.limit` matching events below `query.before`, oldest first;
    /// `next` is the highest id the read covered.
    async fn latest_events(&self, query: &LatestEventsQuery) -> Result<EventPage>;

    /// The newest event id a reader may see (0: none yet). Every id up to it is readable
    /// unless pruned.
    async fn event_head(&self) -> Result<u64>;

    /// A watch whose value (a head) changes after commits that wrote events; on
    /// PostgreSQL also after other replicas' commits.
    fn event_changes(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Delete one batch of events beyond the retention; returns how many.
    async fn prune_events(&self, request: &PruneEventsRequest) -> Result<u64>;
}
