//! The PostgreSQL backend: the store for several `mason serve` replicas sharing one
//! database (active-active, no leader).
//!
//! Connections come from a deadpool pool (16 by default). Every call is one transaction
//! (often a single statement) whose writes are conditional on the state and owner the
//! caller expects, so any number of processes can run the same transitions concurrently
//! without ever double-leasing:
//!
//! - acquire locks its pick with `FOR UPDATE SKIP LOCKED`, so concurrent acquirers take
//!   different resources instead of queueing behind one row (see the `leases` module for what that
//!   means for `request_id` ranks);
//! - the `request_id` queue is a table shared by every replica (first poll inserts with
//!   `ON CONFLICT DO NOTHING`, later polls extend the TTL);
//! - config sync and dynamic upkeep take `pg_advisory_xact_lock`, so only one replica runs
//!   them at a time, and apply their plan with compare-and-set conditions.
//!
//! Failures: a lost connection, an unreachable database, or one that has not answered a
//! call within 30 s is [`Error::Unavailable`] (the server answers 503); the broken
//! connection is dropped from the pool and a later call reconnects by itself.
//! Serialization failures and deadlocks are retried a few times.
//!
//! Timestamps come from the injected [`Clock`] (not the database's `now()`), exactly as on
//! SQLite, so tests can move time; replicas are expected to have synchronised clocks.
//! TLS is not supported yet: connection strings asking for `sslmode=require` are refused.

mod error;
mod import;
mod leases;
mod migrate;
mod sync;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use mason_types::{BoskosConfig, DynamicResourceLifeCycle, Metric, Resource, Timestamp};
use tokio_postgres::config::SslMode;
use tokio_postgres::NoTls;

use self::error::{pool_error, PgError};
use crate::clock::Clock;
use crate::{
    AcquireByStateRequest, AcquireRequest, Acquired, Error, ImportReport, ImportRequest,
    QueuedRequest, ReleaseRequest, ResetRequest, ResourceFilter, Result, Store, SyncReport,
    UpdateRequest,
};

/// Default number of pooled connections per store.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How many times a transaction is run again after a serialization failure or deadlock.
const MAX_RETRIES: u32 = 5;

/// How long one attempt of a call may take before it is abandoned as
/// [`Error::Unavailable`] (a database that stopped answering without closing the
/// connection, say during a failover). Generous, because a config sync of a very large
/// pool is one transaction.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a call waits for a connection (from the pool or a new one) before answering
/// [`Error::Unavailable`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
}

/// The PostgreSQL [`Store`].
pub struct PostgresStore {
    /// Connections; broken ones are discarded and replaced on demand.
    pool: Pool,
    /// Stamps every write.
    clock: Arc<dyn Clock>,
    /// How long a queued request id lives between polls.
    request_ttl: Duration,
}

/// Per-attempt context handed to the SQL code.
pub(crate) struct Ctx {
    /// The time of this call; every row it writes gets this `lastupdate`.
    pub(crate) now: Timestamp,
    /// Queue TTL.
    pub(crate) request_ttl: Duration,
}

/// Run `$body` (a future using `$client: &mut Object` and `$ctx: &Ctx`) on a pooled
/// connection, again after serialization failures and deadlocks; evaluates to a
/// [`Result`]. A macro rather than a function taking an async closure, because such a
/// closure's future cannot yet be required to be `Send` for every borrow.
macro_rules! run {
    ($store:expr, |$client:ident, $ctx:ident| $body:expr) => {{
        let store: &PostgresStore = $store;
        match store.pool.get().await {
            Err(e) => Err(pool_error(e)),
            Ok(mut conn) => {
                let mut attempt = 0u32;
                loop {
                    let $ctx = &store.ctx();
                    let $client = &mut conn;
                    let outcome = tokio::time::timeout(CALL_TIMEOUT, $body).await;
                    match outcome {
                        Ok(Ok(v)) => break Ok(v),
                        Ok(Err(e)) => {
                            if let Some(e) = store.retry_or(e, &mut attempt).await {
                                break Err(PostgresStore::fail(conn, e));
                            }
                        }
                        Err(_) => {
                            // The connection's state is unknown: never reuse it.
                            drop(Object::take(conn));
                            break Err(Error::Unavailable(format!(
                                "PostgreSQL did not answer within {CALL_TIMEOUT:?}"
                            )));
                        }
                    }
                }
            }
        }
    }};
}

impl PostgresStore {
    /// Connect, create the pool and bring the schema up to date. Fails with
    /// [`Error::Unavailable`] when the database cannot be reached.
    pub async fn open(options: PostgresOptions) -> Result<Self> {
        let mut config = tokio_postgres::Config::from_str(&options.url).map_err(|e| {
            Error::InvalidArgument(format!("bad PostgreSQL connection string: {e}"))
        })?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err(Error::InvalidArgument(
                "TLS connections to PostgreSQL are not supported yet (sslmode=require); \
                 use sslmode=disable or prefer"
                    .into(),
            ));
        }
        if config.get_application_name().is_none() {
            config.application_name("mason");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if options.pool_size == 0 {
            return Err(Error::InvalidArgument(
                "PostgreSQL pool size must be at least 1".into(),
            ));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| Error::backend_from("cannot build the PostgreSQL pool", e))?;
        let store = Self {
            pool,
            clock: options.clock,
            request_ttl: options.request_ttl,
        };
        run!(&store, |client, _ctx| migrate::migrate(client))?;
        Ok(store)
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            now: self.clock.now(),
            request_ttl: self.request_ttl,
        }
    }

    /// After a failed attempt: `None` when the transaction should run again (PostgreSQL
    /// aborted it for a serialization failure or a deadlock; this waits a short, jittered
    /// backoff first), otherwise the error to hand back.
    async fn retry_or(&self, e: PgError, attempt: &mut u32) -> Option<PgError> {
        if e.is_retryable() && *attempt < MAX_RETRIES {
            *attempt += 1;
            tracing::debug!(attempt = *attempt, error = ?e, "retrying a PostgreSQL transaction");
            tokio::time::sleep(backoff(*attempt)).await;
            return None;
        }
        Some(e)
    }

    /// The caller's error for a final failure; a connection that failed is dropped from
    /// the pool instead of being reused.
    fn fail(conn: Object, e: PgError) -> Error {
        if e.is_connection_lost() {
            drop(Object::take(conn));
        }
        let e = e.into_store();
        if let Error::Backend { .. } = &e {
            tracing::error!(
                error = &e as &dyn std::error::Error,
                "PostgreSQL call failed"
            );
        }
        e
    }

    /// Number of connections currently open in the pool (for tests and diagnostics).
    pub fn pool_connections(&self) -> usize {
        self.pool.status().size
    }
}

/// 2 ms, 4 ms, 8 ms… with up to 50 % jitter, so replicas that collided do not collide
/// again in lockstep.
fn backoff(attempt: u32) -> Duration {
    let base = 2u64 << attempt.min(8);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    Duration::from_millis(base) + Duration::from_micros(nanos % (base * 500))
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn acquire(&self, req: &AcquireRequest) -> Result<Acquired> {
        run!(self, |c, ctx| leases::acquire(c, ctx, req))?
    }

    async fn acquire_by_state(&self, req: &AcquireByStateRequest) -> Result<Vec<Resource>> {
        if req.names.is_empty() {
            return Err(Error::InvalidArgument(
                "must provide names of expected resources".into(),
            ));
        }
        run!(self, |c, ctx| leases::acquire_by_state(
            c, ctx, &req.state, &req.dest, &req.owner, &req.names
        ))
    }

    async fn release(&self, req: &ReleaseRequest) -> Result<Resource> {
        run!(self, |c, ctx| leases::release(
            c, ctx, &req.name, &req.dest, &req.owner
        ))
    }

    async fn update(&self, req: &UpdateRequest) -> Result<Resource> {
        run!(self, |c, ctx| leases::update(
            c,
            ctx,
            &req.name,
            &req.owner,
            &req.state,
            req.userdata.as_ref()
        ))
    }

    async fn reset(&self, req: &ResetRequest) -> Result<BTreeMap<String, String>> {
        run!(self, |c, ctx| leases::reset(
            c, ctx, &req.rtype, &req.state, req.expire, &req.dest
        ))
    }

    async fn metric(&self, rtype: &str) -> Result<Metric> {
        run!(self, |c, _ctx| leases::metrics(c, Some(rtype)))?
            .pop()
            .ok_or_else(|| Error::ResourceNotFound(rtype.to_string()))
    }

    async fn all_metrics(&self) -> Result<Vec<Metric>> {
        run!(self, |c, _ctx| leases::metrics(c, None))
    }

    async fn get(&self, name: &str) -> Result<Resource> {
        run!(self, |c, _ctx| leases::get_resource(&*c, name))?
            .ok_or_else(|| Error::ResourceNotFound(name.to_string()))
    }

    async fn list(&self, filter: &ResourceFilter) -> Result<Vec<Resource>> {
        run!(self, |c, _ctx| leases::list(c, filter))
    }

    async fn drlcs(&self) -> Result<Vec<DynamicResourceLifeCycle>> {
        run!(self, |c, _ctx| leases::drlcs(c))
    }

    async fn sync_config(&self, config: &BoskosConfig) -> Result<SyncReport> {
        run!(self, |c, ctx| sync::sync_config(c, ctx, config))
    }

    async fn sync_dynamic(&self) -> Result<SyncReport> {
        run!(self, |c, ctx| sync::sync_dynamic(c, ctx))
    }

    async fn import(&self, request: &ImportRequest) -> Result<ImportReport> {
        run!(self, |c, _ctx| import::import(c, request))
    }

    async fn gc_requests(&self) -> Result<u64> {
        run!(self, |c, ctx| leases::gc_requests(c, ctx))
    }

    async fn queue(&self) -> Result<Vec<QueuedRequest>> {
        run!(self, |c, ctx| leases::queue(c, ctx))
    }

    async fn ping(&self) -> Result<()> {
        run!(self, |c, _ctx| leases::ping(c))
    }
}
