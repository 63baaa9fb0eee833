//! The embedded default backend: one SQLite file in WAL mode.
//!
//! One connection, guarded by a mutex, serves every call; each call is one
//! `BEGIN IMMEDIATE` transaction, so transitions are serialised and every
//! compare-and-set condition in the SQL holds trivially — it is still written out, so the
//! statements say what they guarantee. Calls run on the store thread under a deadline
//! (`--store-timeout`), never on an async worker (see `txn.rs`, `worker.rs`).
//!
//! One process per file: the store locks `PATH.lock` and its file exclusively while it is
//! open (a second `mason serve` on the same path fails at start, even once the database
//! file was deleted or replaced), which keeps the WAL index in process memory and lets
//! the acquire order live in memory too (see `free_index.rs`). The path is watched: once
//! it no longer names the open file, writes are refused and readiness fails (see
//! `identity.rs`).
//!
//! Durability: with `synchronous=normal` (default) a commit is in the WAL before the call
//! returns, so it survives a crash of the process at any instant; `synchronous=full`
//! also survives power loss.
//!
//! Layout (the same files as `postgres/`, with the same responsibilities; the lease
//! decisions are `crate::lease`'s):
//! - `sqlite.rs` (this file): the store, its options, and the [`Store`] impl (one line per call).
//! - `connect.rs`: opening the file, pragmas, the exclusive lock.
//! - `identity.rs`: the lock file, the rule for a missing file, and the watch on the
//!   path.
//! - `txn.rs`: the transaction runner and the per-call context.
//! - `worker.rs`: the store thread, its health (stalls, failing writes) and the test-only
//!   fault hook.
//! - `error.rs`: driver errors → [`Error`].
//! - `migrate.rs` + `schema.sql` (+ `holders.sql`, the lease holders' kept counts): the
//!   schema and its version.
//! - `rows.rs`: row decoding and point reads.
//! - `writes.rs`: every statement that changes a resource row.
//! - `holders.rs`: the lease holders' counts a quota checks.
//! - `acquire.rs`: acquire and acquire-by-state.
//! - `leases.rs`: release, update, reset.
//! - `multi.rs`: the all-or-nothing acquire of a set.
//! - `queue.rs`: the `request_id` queue (priorities, counts, places of sets).
//! - `reads.rs`: get, list, metrics, pools, ping.
//! - `sync.rs`: config sync and dynamic upkeep.
//! - `ttl.rs` + `lease_ttl.sql`: lease TTLs — the stored per-type policies, expiry.
//! - `import.rs`: bulk import (`mason import`).
//! - `events.rs` + `events.sql`: the history (table, triggers, reads, pruning).
//! - SQLite only: `free_index.rs` (the acquire order in memory), `counts.rs` (resources
//!   per type, state and owner, kept in memory for metrics), `lifespans.rs` (pool
//!   lifespans in memory), `generations.rs` (the fencing-generation counter in memory),
//!   `checkpoint.rs` (WAL checkpoints on a thread), `file.rs` (the file's checks before
//!   opening: its directory must exist, it must be writable; the notice of a new store).

mod acquire;
mod checkpoint;
mod connect;
mod counts;
mod error;
mod events;
mod file;
mod free_index;
mod generations;
mod holders;
mod identity;
mod import;
mod leases;
mod lifespans;
mod migrate;
mod multi;
mod queue;
mod reads;
mod rows;
mod slack;
mod spin;
mod sync;
mod ttl;
mod txn;
mod worker;
mod writes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mason_types::event::EventPage;
use mason_types::{BoskosConfig, DynamicResourceLifeCycle, Metric, Resource, ResourceV2};

#[doc(hidden)]
pub use self::events::prepare_file_without_history;
use self::txn::{Cost, Inner};
#[cfg(feature = "testsuite")]
pub use self::worker::Faults;
#[cfg(not(feature = "testsuite"))]
use self::worker::Faults;
use self::worker::{Health, Worker, STALL_AFTER};
use crate::clock::Clock;
use crate::{
    AcquireByStateRequest, AcquireRequest, Acquired, Availability, Error, EventQuery, ExpireReport,
    ExpireRequest, ImportReport, ImportRequest, LatestEventsQuery, MultiAcquireRequest,
    MultiAcquired, PruneEventsRequest, QueuedRequest, ReleaseRequest, ResetRequest, ResourceFilter,
    Result, Store, SyncReport, UpdateRequest,
};

/// An `acquirebystate` naming more resources than this runs on the blocking pool.
const POINT_NAMES: usize = 64;

/// SQLite's `synchronous` setting for the WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Durable across process crashes (the default).
    #[default]
    Normal,
    /// Durable across power loss too.
    Full,
}

impl FromStr for Synchronous {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            other => Err(Error::InvalidArgument(format!(
                "unknown synchronous mode {other:?} (expected normal or full)"
            ))),
        }
    }
}

/// How to open a [`SqliteStore`].
#[derive(Clone)]
pub struct SqliteOptions {
    /// Database file; `None` for a private in-memory database.
    pub path: Option<PathBuf>,
    /// Commit durability.
    pub synchronous: Synchronous,
    /// Queue TTL of a `request_id`.
    pub request_ttl: Duration,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Create a new empty store even where one was created before and is now missing
    /// (`--create`; see `identity.rs`).
    pub create: bool,
    /// The deadline of every call (`--store-timeout`): a call not answered by then is a
    /// 503 (see `txn.rs`).
    pub timeout: Duration,
}

/// The SQLite [`Store`].
pub struct SqliteStore {
    /// The connection and the acquire order, for unit tests that look inside.
    #[cfg(test)]
    inner: Arc<Mutex<Inner>>,
    /// The kept counts, read without the connection (see `counts.rs`).
    counts: counts::SharedCounts,
    /// Stamps every write.
    clock: Arc<dyn Clock>,
    /// How long a queued request id lives between polls.
    request_ttl: Duration,
    /// "Resources may be available" signals (sent by the transaction runner).
    signals: crate::availability::Signals,
    /// Event followers' watch (see `events.rs`).
    events: events::Announcer,
    /// The deadline of every call.
    timeout: Duration,
    /// What the store thread is doing (stalls, failing writes), for readiness.
    health: Arc<Health>,
    /// The test-only fault hook (inert unless a test arms it).
    faults: Arc<Faults>,
    /// The store thread, which owns the connection and the acquire order (shared with
    /// the checkpoints and the watch); stops on drop (before the lock below is given up).
    worker: Worker,
    /// Background WAL checkpoints (file-backed stores only); stops on drop.
    _checkpointer: Option<checkpoint::Checkpointer>,
    /// The watch on the path (file-backed stores only); stops on drop.
    _watch: Option<identity::Watch>,
    /// What the path named at open, and whether it still does (file-backed stores
    /// only). Last: the lock file is given up only once the connection is closed.
    identity: Option<Arc<identity::Identity>>,
}

impl SqliteStore {
    /// Open or create the database and bring its schema up to date.
    ///
    /// A file-backed store locks its file exclusively for as long as it is open: one
    /// process serves one file (run replicas on PostgreSQL). A second process opening the
    /// same file gets [`Error::Unavailable`] saying so.
    pub fn open(options: SqliteOptions) -> Result<Self> {
        let (conn, identity) = connect::open(&options)?;
        let inner = Inner::new(conn)?;
        let signals = inner.signals.clone();
        let events = inner.events.clone();
        let counts = inner.counts.clone();
        let inner = Arc::new(Mutex::new(inner));
        let identity = identity.map(Arc::new);
        let (checkpointer, watch) = match &identity {
            Some(identity) => {
                let saved = Arc::clone(&inner);
                let watch = identity::Watch::start(Arc::clone(identity), move || {
                    checkpoint::save_wal(&saved)
                })?;
                let checkpointer = checkpoint::Checkpointer::start(Arc::clone(&inner))?;
                (Some(checkpointer), Some(watch))
            }
            None => (None, None),
        };
        let health = Arc::new(Health::default());
        let faults = Arc::new(Faults::default());
        let worker = Worker::start(Arc::clone(&inner), Arc::clone(&health), Arc::clone(&faults))?;
        Ok(Self {
            #[cfg(test)]
            inner: Arc::clone(&inner),
            counts,
            clock: options.clock,
            request_ttl: options.request_ttl,
            signals,
            events,
            timeout: options.timeout,
            health,
            faults,
            worker,
            _checkpointer: checkpointer,
            _watch: watch,
            identity,
        })
    }

    /// A private in-memory store (tests).
    pub fn in_memory(clock: Arc<dyn Clock>) -> Result<Self> {
        Self::open(SqliteOptions {
            path: None,
            synchronous: Synchronous::Normal,
            request_ttl: crate::DEFAULT_REQUEST_TTL,
            clock,
            create: false,
            timeout: crate::DEFAULT_STORE_TIMEOUT,
        })
    }

    /// A store on the file `path` with the system clock (unit tests that look at the
    /// file or the threads of a file-backed store).
    #[cfg(test)]
    pub(crate) fn on_file(path: PathBuf) -> Result<Self> {
        Self::open(SqliteOptions {
            path: Some(path),
            synchronous: Synchronous::Normal,
            request_ttl: crate::DEFAULT_REQUEST_TTL,
            clock: Arc::new(crate::SystemClock),
            create: false,
            timeout: crate::DEFAULT_STORE_TIMEOUT,
        })
    }

    /// The test-only fault hook: stall or fail the store's writes.
    #[cfg(feature = "testsuite")]
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn acquire(&self, req: &AcquireRequest) -> Result<Acquired> {
        let req = req.clone();
        // Committed even when the answer is an error (see `SqliteStore::write`).
        self.write(move |tx, ctx| Ok(acquire::acquire(tx, ctx, &req)))
            .await?
    }

    async fn acquire_by_state_leases(
        &self,
        req: &AcquireByStateRequest,
    ) -> Result<Vec<ResourceV2>> {
        let req = req.clone();
        let cost = if req.names.len() > POINT_NAMES {
            Cost::Scan
        } else {
            Cost::Point
        };
        self.write_sized(cost, move |tx, ctx| {
            acquire::acquire_by_state(tx, ctx, &req)
        })
        .await
    }

    async fn acquire_many(&self, req: &MultiAcquireRequest) -> Result<MultiAcquired> {
        let req = req.clone();
        let cost = if req.items.iter().map(|i| i.count as usize).sum::<usize>() > POINT_NAMES {
            Cost::Scan
        } else {
            Cost::Point
        };
        self.write_sized(cost, move |tx, ctx| multi::acquire_many(tx, ctx, &req))
            .await?
    }

    fn availability(&self) -> tokio::sync::broadcast::Receiver<Availability> {
        self.signals.subscribe()
    }

    async fn release(&self, req: &ReleaseRequest) -> Result<Resource> {
        let req = req.clone();
        self.write(move |tx, ctx| leases::release(tx, ctx, &req))
            .await
            .map(|r| r.resource)
    }

    async fn update(&self, req: &UpdateRequest) -> Result<Resource> {
        let req = req.clone();
        self.write(move |tx, ctx| leases::update(tx, ctx, &req))
            .await
            .map(|r| r.resource)
    }

    async fn expire_leases(&self, req: &ExpireRequest) -> Result<ExpireReport> {
        let req = req.clone();
        let cost = if req.limit as usize > POINT_NAMES {
            Cost::Scan
        } else {
            Cost::Point
        };
        self.write_sized(cost, move |tx, ctx| ttl::expire(tx, ctx, &req))
            .await
    }

    async fn reset(&self, req: &ResetRequest) -> Result<BTreeMap<String, String>> {
        let req = req.clone();
        self.write_sized(Cost::Scan, move |tx, ctx| leases::reset(tx, ctx, &req))
            .await
    }

    async fn metric(&self, rtype: &str) -> Result<Metric> {
        if let Some(kept) = reads::kept_metric(&self.counts, rtype) {
            return kept;
        }
        let rtype = rtype.to_string();
        self.read(Cost::Scan, move |tx, _| reads::metric(tx, &rtype))
            .await
    }

    async fn all_metrics(&self) -> Result<Vec<Metric>> {
        if let Some(kept) = reads::kept_metrics(&self.counts) {
            return Ok(kept);
        }
        self.read(Cost::Scan, |tx, _| reads::all_metrics(tx)).await
    }

    async fn get_v2(&self, name: &str) -> Result<ResourceV2> {
        let name = name.to_string();
        self.read(Cost::Point, move |tx, _| reads::get(tx, &name))
            .await
    }

    async fn list_v2(&self, filter: &ResourceFilter) -> Result<Vec<ResourceV2>> {
        let filter = filter.clone();
        self.read(Cost::Scan, move |tx, _| reads::list(tx, &filter))
            .await
    }

    async fn drlcs(&self) -> Result<Vec<DynamicResourceLifeCycle>> {
        self.read(Cost::Point, |tx, _| reads::drlcs(tx)).await
    }

    async fn sync_config(&self, config: &BoskosConfig) -> Result<SyncReport> {
        let config = config.clone();
        let report = self
            .write_sized(Cost::Scan, move |tx, ctx| {
                sync::sync_config(tx, ctx, &config)
            })
            .await?;
        let rows = report.created.len() + report.deleted.len() + report.marked_for_deletion.len();
        if rows >= checkpoint::BULK_ROWS {
            self.checkpoint_after_bulk().await;
        }
        Ok(report)
    }

    async fn sync_dynamic(&self) -> Result<SyncReport> {
        self.write_sized(Cost::Scan, sync::sync_dynamic).await
    }

    async fn import(&self, request: &ImportRequest) -> Result<ImportReport> {
        let request = request.clone();
        self.write_sized(Cost::Scan, move |tx, ctx| import::import(tx, ctx, &request))
            .await
    }

    async fn gc_requests(&self) -> Result<u64> {
        self.write(queue::gc).await
    }

    async fn queue(&self) -> Result<Vec<QueuedRequest>> {
        self.read(Cost::Scan, queue::list).await
    }

    async fn ping(&self) -> Result<()> {
        self.read(Cost::Point, |tx, _| reads::ping(tx)).await
    }

    async fn ready(&self) -> Result<()> {
        if let Some(identity) = &self.identity {
            identity.check()?;
        }
        let stalled = |running: Duration| {
            Error::Storage(format!(
                "a store call has been running for {:.1} s (a stalled disk?)",
                running.as_secs_f64()
            ))
        };
        if let Some(running) = self.health.running_for().filter(|d| *d >= STALL_AFTER) {
            return Err(stalled(running));
        }
        let check = async {
            if self.health.failing().is_some() {
                // Writes failed on the storage: ready again once one succeeds (this one).
                return self.write(|tx, _| reads::probe_write(tx)).await;
            }
            self.ping().await
        };
        match tokio::time::timeout(STALL_AFTER, check).await {
            Ok(outcome) => outcome,
            Err(_) => Err(stalled(self.health.running_for().unwrap_or(STALL_AFTER))),
        }
    }

    async fn events(&self, query: &EventQuery) -> Result<EventPage> {
        let query = query.clone();
        self.read(Cost::Scan, move |tx, _| events::after(tx, &query))
            .await
    }

    async fn latest_events(&self, query: &LatestEventsQuery) -> Result<EventPage> {
        let query = query.clone();
        self.read(Cost::Scan, move |tx, _| events::latest(tx, &query))
            .await
    }

    async fn event_head(&self) -> Result<u64> {
        self.read(Cost::Point, |tx, _| events::head(tx)).await
    }

    fn event_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events.subscribe()
    }

    async fn prune_events(&self, request: &PruneEventsRequest) -> Result<u64> {
        let request = request.clone();
        self.write_sized(Cost::Scan, move |tx, _| events::prune(tx, &request))
            .await
    }
}
