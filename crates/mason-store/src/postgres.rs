//! The PostgreSQL backend: the store for several `mason serve` replicas sharing one
//! database (active-active, no leader).
//!
//! Connections come from a deadpool pool (16 by default). Every call is one transaction
//! (often a single statement) whose writes are conditional on the state and owner the
//! caller expects, so any number of processes can run the same transitions concurrently
//! without ever double-leasing:
//!
//! - acquire locks its pick with `FOR UPDATE SKIP LOCKED`, so concurrent acquirers take
//!   different resources instead of queueing behind one row (see `writes.rs` for what
//!   that means for `request_id` ranks);
//! - the `request_id` queue is a table shared by every replica (first poll inserts with
//!   `ON CONFLICT DO NOTHING`, later polls extend the TTL);
//! - config sync and dynamic upkeep take `pg_advisory_xact_lock`, so only one replica runs
//!   them at a time, and apply their plan with compare-and-set conditions.
//!
//! Failures: a lost connection, an unreachable database, or one that has not answered a
//! call within 30 s is [`Error::Unavailable`](crate::Error::Unavailable) (the server answers 503); the broken
//! connection is dropped from the pool and a later call reconnects by itself.
//! Serialization failures and deadlocks are retried a few times.
//!
//! Timestamps come from the injected [`Clock`] (not the database's `now()`), exactly as on
//! SQLite, so tests can move time; replicas are expected to have synchronised clocks.
//! TLS is not supported yet: connection strings asking for `sslmode=require` are refused.
//!
//! Layout (the same files as `sqlite/`, with the same responsibilities; the lease
//! decisions are `crate::lease`'s):
//! - `postgres.rs` (this file): the store, its options, and the [`Store`] impl (one line per call).
//! - `connect.rs`: the connection string and the pool.
//! - `txn.rs`: the transaction runner (deadline, retries) and the per-call context.
//! - `error.rs`: driver and pool errors → [`Error`](crate::Error).
//! - `migrate.rs` + `migrations/`: versioned schema migrations.
//! - `rows.rs`: row decoding, statement helpers and point reads.
//! - `writes.rs`: every statement that changes a resource row.
//! - `holders.rs`: the lease holders' counts a quota checks.
//! - `acquire.rs`: acquire and acquire-by-state.
//! - `leases.rs`: release, update, reset.
//! - `multi.rs`: the all-or-nothing acquire of a set.
//! - `queue.rs`: the `request_id` queue (priorities, counts, places of sets).
//! - PostgreSQL only: `listener.rs` (the `LISTEN` connection that turns the database's
//!   notifications into availability signals).
//! - `reads.rs`: get, list, metrics, pools, ping.
//! - `sync.rs`: config sync and dynamic upkeep.
//! - `ttl.rs` + `lease_ttl.sql`: lease TTLs — the stored per-type policies, expiry.
//! - `import.rs`: bulk import (`mason import`).
//! - `events.rs` (+ migration 4): the history (reads, pruning, numbering after commit).
//! - PostgreSQL only: `event_feed.rs` (the event feed: numbering soon after writes, and one
//!   `LISTEN` connection per store for every replica's new events).
//! - `counts.rs`: the kept counts (a table kept by triggers, migrations 5 and 7).
//! - PostgreSQL only: `vacuum.rs` (vacuums `resources` and `events` as soon as enough
//!   of their rows died, so the acquire's index walk does not slow down between two
//!   autovacuum visits).
//! - Tests only: `plans.rs` (the plans PostgreSQL makes of per-request and periodic
//!   statements on large tables: no scan of a whole table where an index leads).

mod acquire;
mod connect;
mod counts;
pub(crate) mod error;
mod event_feed;
mod events;
mod holders;
mod import;
mod leases;
mod listener;
mod migrate;
mod multi;
#[cfg(all(test, feature = "testsuite"))]
mod plans;
mod queue;
mod reads;
mod rows;
mod sync;
mod ttl;
pub(crate) mod txn;
mod vacuum;
mod writes;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use mason_types::event::EventPage;
use mason_types::{BoskosConfig, DynamicResourceLifeCycle, Metric, Resource, ResourceV2};

use self::txn::run;
use crate::availability::Signals;
use crate::clock::Clock;
use crate::lease::acquire::wanted_names;
use crate::{
    AcquireByStateRequest, AcquireRequest, Acquired, Availability, EventQuery, ExpireReport,
    ExpireRequest, ImportReport, ImportRequest, LatestEventsQuery, MultiAcquireRequest,
    MultiAcquired, PruneEventsRequest, QueuedRequest, ReleaseRequest, ResetRequest, ResourceFilter,
    Result, Store, SyncReport, UpdateRequest,
};

/// How many times a set short only of resources other transactions were moving is
/// tried (see `multi.rs`).
const CONTENDED_ATTEMPTS: u64 = 10;

/// Default number of pooled connections per store.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How to open a [`PostgresStore`].
#[derive(Clone)]
pub struct PostgresOptions {
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DB[?options]` (libpq key=value strings work
    /// too).
    pub url: String,
    /// Maximum number of pooled connections.
    pub pool_size: usize,
    /// Queue TTL of a `request_id`.
    pub request_ttl: Duration,
    /// Time source for stored timestamps.
    pub clock: Arc<dyn Clock>,
    /// The deadline of a call (`--store-timeout`; bulk calls get
    /// `txn::BULK_TIMEOUT`), of waiting for a pooled connection, and the server's
    /// `lock_timeout`.
    pub timeout: Duration,
}

/// The PostgreSQL [`Store`].
pub struct PostgresStore {
    /// Connections; broken ones are discarded and replaced on demand.
    pool: Pool,
    /// Stamps every write.
    clock: Arc<dyn Clock>,
    /// How long a queued request id lives between polls.
    request_ttl: Duration,
    /// The connection settings (the availability listener dials its own connection).
    config: tokio_postgres::Config,
    /// "Resources may be available" signals, fed by the listener.
    signals: Signals,
    /// The listener, started with the first receiver.
    listener: OnceLock<listener::Listener>,
    /// Numbers events and follows every replica's (see `event_feed.rs`).
    events: event_feed::EventFeed,
    /// The deadline of a point call.
    timeout: Duration,
    /// Where the next lease expiry scan starts (see `ttl.rs`).
    expiry_floor: ttl::ScanFloor,
    /// Vacuums the busiest tables (see `vacuum.rs`); started once the schema is there.
    _vacuum: Option<vacuum::VacuumKeeper>,
}

impl PostgresStore {
    /// Connect, create the pool and bring the schema up to date. Fails with
    /// [`Error::Unavailable`](crate::Error::Unavailable) when the database cannot be reached.
    pub async fn open(options: PostgresOptions) -> Result<Self> {
        let pool = connect::pool(&options)?;
        let mut store = Self {
            events: event_feed::EventFeed::start(pool.clone(), connect::config(&options)?),
            pool,
            config: connect::config(&options)?,
            clock: options.clock,
            request_ttl: options.request_ttl,
            signals: Signals::default(),
            listener: OnceLock::new(),
            timeout: options.timeout,
            expiry_floor: ttl::ScanFloor::default(),
            _vacuum: None,
        };
        run!(bulk: &store, |client, _ctx| migrate::migrate(client))?;
        store._vacuum = Some(vacuum::VacuumKeeper::start(store.config.clone()));
        Ok(store)
    }

    /// Number of connections currently open in the pool (for tests and diagnostics).
    pub fn pool_connections(&self) -> usize {
        self.pool.status().size
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn acquire(&self, req: &AcquireRequest) -> Result<Acquired> {
        run!(self, |c, ctx| acquire::acquire(c, ctx, req))?
    }

    async fn acquire_by_state_leases(
        &self,
        req: &AcquireByStateRequest,
    ) -> Result<Vec<ResourceV2>> {
        let names = wanted_names(req)?;
        run!(self, |c, ctx| acquire::acquire_by_state(
            c, ctx, req, &names
        ))
    }

    async fn acquire_many(&self, req: &MultiAcquireRequest) -> Result<MultiAcquired> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match run!(self, |c, ctx| multi::acquire_many(c, ctx, req))? {
                multi::Attempt::Done(answer) => return answer,
                multi::Attempt::Contended(refusal) if attempt >= CONTENDED_ATTEMPTS => {
                    return Err(refusal)
                }
                multi::Attempt::Contended(_) => {
                    tokio::time::sleep(Duration::from_millis(attempt)).await;
                }
            }
        }
    }

    fn availability(&self) -> tokio::sync::broadcast::Receiver<Availability> {
        let receiver = self.signals.subscribe();
        self.listener
            .get_or_init(|| listener::Listener::start(self.config.clone(), self.signals.clone()));
        receiver
    }

    async fn release(&self, req: &ReleaseRequest) -> Result<Resource> {
        run!(self, |c, ctx| leases::release(c, ctx, req)).map(|r| r.resource)
    }

    async fn update(&self, req: &UpdateRequest) -> Result<Resource> {
        run!(self, |c, ctx| leases::update(c, ctx, req)).map(|r| r.resource)
    }

    async fn expire_leases(&self, req: &ExpireRequest) -> Result<ExpireReport> {
        run!(self, |c, ctx| ttl::expire(c, ctx, req, &self.expiry_floor))
    }

    async fn reset(&self, req: &ResetRequest) -> Result<BTreeMap<String, String>> {
        run!(bulk: self, |c, ctx| leases::reset(c, ctx, req))
    }

    async fn metric(&self, rtype: &str) -> Result<Metric> {
        run!(self, |c, _ctx| reads::metric(c, rtype))
    }

    async fn all_metrics(&self) -> Result<Vec<Metric>> {
        run!(self, |c, _ctx| reads::all_metrics(c))
    }

    async fn get_v2(&self, name: &str) -> Result<ResourceV2> {
        run!(self, |c, _ctx| reads::get(c, name))
    }

    async fn list_v2(&self, filter: &ResourceFilter) -> Result<Vec<ResourceV2>> {
        run!(self, |c, _ctx| reads::list(c, filter))
    }

    async fn drlcs(&self) -> Result<Vec<DynamicResourceLifeCycle>> {
        run!(self, |c, _ctx| reads::drlcs(c))
    }

    async fn sync_config(&self, config: &BoskosConfig) -> Result<SyncReport> {
        run!(bulk: self, |c, ctx| sync::sync_config(c, ctx, config))
    }

    async fn sync_dynamic(&self) -> Result<SyncReport> {
        run!(bulk: self, |c, ctx| sync::sync_dynamic(c, ctx))
    }

    async fn import(&self, request: &ImportRequest) -> Result<ImportReport> {
        run!(bulk: self, |c, _ctx| import::import(c, request))
    }

    async fn gc_requests(&self) -> Result<u64> {
        run!(self, |c, ctx| queue::gc(c, ctx))
    }

    async fn queue(&self) -> Result<Vec<QueuedRequest>> {
        run!(self, |c, ctx| queue::list(c, ctx))
    }

    async fn ping(&self) -> Result<()> {
        run!(self, |c, _ctx| reads::ping(c))
    }

    async fn events(&self, query: &EventQuery) -> Result<EventPage> {
        let page = run!(self, |c, _ctx| events::after(c, query))?;
        self.events.saw(page.next);
        Ok(page)
    }

    async fn latest_events(&self, query: &LatestEventsQuery) -> Result<EventPage> {
        run!(self, |c, _ctx| events::latest(c, query))
    }

    async fn event_head(&self) -> Result<u64> {
        let head = run!(self, |c, _ctx| events::number(c))?;
        self.events.saw(head);
        Ok(head)
    }

    fn event_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events.subscribe()
    }

    async fn prune_events(&self, request: &PruneEventsRequest) -> Result<u64> {
        run!(bulk: self, |c, _ctx| events::prune(&*c, request))
    }
}
