//! The embedded default backend: one SQLite file in WAL mode.
//!
//! One connection, guarded by a mutex, serves every call; each call is one
//! `BEGIN IMMEDIATE` transaction, so transitions are serialised and every
//! compare-and-set condition in the SQL holds trivially — it is still written out, so the
//! statements say what they guarantee. Point calls run inline on the async worker when
//! the connection is free, everything else on Tokio's blocking pool (see `run`).
//!
//! One process per file: the store locks its file exclusively while it is open (a
//! second `mason serve` on the same file fails at start), which keeps the WAL index in
//! process memory and lets the acquire order live in memory too (see `free_index.rs`).
//!
//! Durability: with `synchronous=normal` (default) a commit is in the WAL before the call
//! returns, so it survives a crash of the process at any instant; `synchronous=full`
//! also survives power loss.

/// The column list every resource query selects, in [`row_to_resource`]'s order, as a
/// literal for `concat!` (so hot statements are `&'static str`, not formatted per call).
macro_rules! resource_columns {
    () => {
        "name, type, state, owner, lastupdate, userdata, expiration"
    };
}

mod checkpoint;
mod free_index;
mod import;
mod leases;
mod lifespans;
mod sync;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mason_types::{BoskosConfig, DynamicResourceLifeCycle, Metric, Resource, Timestamp, UserData};
use rusqlite::{Connection, OptionalExtension, Row};

use self::free_index::{FreeIndex, IndexRow};
use self::lifespans::Lifespans;

use crate::clock::Clock;
use crate::{
    AcquireByStateRequest, AcquireRequest, Acquired, Error, ImportReport, ImportRequest,
    QueuedRequest, ReleaseRequest, ResetRequest, ResourceFilter, Result, Store, SyncReport,
    UpdateRequest,
};

const SCHEMA: &str = include_str!("schema.sql");
const SCHEMA_VERSION: i64 = 3;

/// Page size of new files. A lease commit writes one page to the WAL (see
/// [`free_index`]); with small pages that write, its checksum and the later checkpoint
/// copy are a quarter of SQLite's 4 KiB default. Measured at 10,000 resources: store
/// layer 36k → 46k cycles/s; at 100,000: 32k → 41k. Files created with another page
/// size keep it (changing it needs a `VACUUM` outside WAL mode).
const PAGE_SIZE: i64 = 1024;

/// Page cache, as SQLite's negative `cache_size` (KiB): 64 MiB, so a pool of 100,000
/// resources stays in memory instead of being re-read through the OS on every miss.
const CACHE_KIB: i64 = -65_536;

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
}

/// The SQLite [`Store`].
pub struct SqliteStore {
    /// The connection and the acquire order; the mutex is the writer queue.
    inner: Arc<Mutex<Inner>>,
    /// Stamps every write.
    clock: Arc<dyn Clock>,
    /// How long a queued request id lives between polls.
    request_ttl: Duration,
    /// Background WAL checkpoints (file-backed stores only); stops on drop.
    _checkpointer: Option<checkpoint::Checkpointer>,
}

/// What the store's mutex guards: the one connection and what is derived from its data.
pub(crate) struct Inner {
    /// The only connection to the file (it holds the file's exclusive lock).
    pub(crate) conn: Connection,
    /// Unowned resources in acquire order (see [`free_index`]).
    free: FreeIndex,
    /// The dynamic pools' lifespans (see [`lifespans`]).
    lifespans: Lifespans,
    /// Set when the derived state could not be reloaded after a commit; the next call
    /// reloads it.
    stale: bool,
}

impl Inner {
    /// Rebuild everything kept in memory from the tables.
    fn reload(&mut self) -> Result<()> {
        self.free = FreeIndex::load(&self.conn)?;
        self.lifespans = Lifespans::load(&self.conn)?;
        self.stale = false;
        Ok(())
    }
}

impl SqliteStore {
    /// Open or create the database and bring its schema up to date.
    ///
    /// A file-backed store locks its file exclusively for as long as it is open: one
    /// process serves one file (run replicas on PostgreSQL). A second process opening the
    /// same file gets [`Error::Unavailable`] saying so.
    pub fn open(options: SqliteOptions) -> Result<Self> {
        let conn = match &options.path {
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        Error::backend_from(format!("cannot create {}", dir.display()), e)
                    })?;
                }
                let conn = Connection::open(path)?;
                // Only takes effect on a new file (before its first write).
                conn.pragma_update(None, "page_size", PAGE_SIZE)?;
                lock_exclusively(&conn, path)?;
                conn
            }
            None => Connection::open_in_memory()?,
        };
        conn.busy_timeout(Duration::from_secs(10))?;
        let sync = match options.synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.pragma_update(None, "cache_size", CACHE_KIB)?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&conn)?;
        let file_backed = options.path.is_some();
        if file_backed {
            // Commits no longer pay for checkpoints; a thread does them (see checkpoint.rs).
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        }
        let mut inner = Inner {
            conn,
            free: FreeIndex::default(),
            lifespans: Lifespans::default(),
            stale: true,
        };
        inner.reload()?;
        let inner = Arc::new(Mutex::new(inner));
        let checkpointer = if file_backed {
            Some(checkpoint::Checkpointer::start(Arc::clone(&inner))?)
        } else {
            None
        };
        Ok(Self {
            inner,
            clock: options.clock,
            request_ttl: options.request_ttl,
            _checkpointer: checkpointer,
        })
    }

    /// A private in-memory store (tests).
    pub fn in_memory(clock: Arc<dyn Clock>) -> Result<Self> {
        Self::open(SqliteOptions {
            path: None,
            synchronous: Synchronous::Normal,
            request_ttl: crate::DEFAULT_REQUEST_TTL,
            clock,
        })
    }

    /// Run `f` in one immediate transaction. The transaction commits when `f` returns
    /// `Ok`, and rolls back otherwise. For point operations (one or a few rows).
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Ctx<'_>) -> Result<T> + Send + 'static,
    {
        self.write_keep(move |tx, ctx| Ok(f(tx, ctx))).await?
    }

    /// Like [`Self::write`] but commits whatever `f` decides: the outer result is the
    /// transaction's, the inner one is handed back to the caller. Acquire uses it because
    /// a failed acquire still records its queue entry and may create a dynamic resource.
    async fn write_keep<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Ctx<'_>) -> Result<T> + Send + 'static,
    {
        self.run(Cost::Point, Begin::Immediate, move |tx, ctx| {
            let out = f(tx, ctx)?;
            Ok((out, true))
        })
        .await
    }

    /// [`Self::write`] or [`Self::write_scan`], chosen by the size of the work.
    async fn write_sized<T, F>(&self, large: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Ctx<'_>) -> Result<T> + Send + 'static,
    {
        if large {
            self.write_scan(f).await
        } else {
            self.write(f).await
        }
    }

    /// A write that may touch the whole table (config sync): always on the blocking pool.
    async fn write_scan<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Ctx<'_>) -> Result<T> + Send + 'static,
    {
        self.run(Cost::Scan, Begin::Immediate, move |tx, ctx| {
            Ok((f(tx, ctx)?, true))
        })
        .await
    }

    /// Run a read-only `f` (in a deferred transaction, for a consistent view).
    async fn read<T, F>(&self, cost: Cost, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Ctx<'_>) -> Result<T> + Send + 'static,
    {
        self.run(cost, Begin::Deferred, move |tx, ctx| {
            Ok((f(tx, ctx)?, false))
        })
        .await
    }

    /// Run `f` in a transaction; `f` says whether to commit.
    ///
    /// Where it runs is the main cost of a call: a hop to Tokio's blocking pool costs more
    /// than the SQL itself (measured: a bare commit takes ~10 µs, the same commit through
    /// `spawn_blocking` ~45 µs on two cores). So a point operation runs right here on the
    /// async worker when the connection is free — it holds the worker for tens of
    /// microseconds, like any CPU work — and only waits on the blocking pool when another
    /// call holds the connection (so no async worker ever blocks on the mutex). Table-wide
    /// work (sync, listings) always goes to the blocking pool.
    async fn run<T, F>(&self, cost: Cost, begin: Begin, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Ctx<'_>) -> Result<(T, bool)> + Send + 'static,
    {
        let (now, request_ttl) = (self.clock.now(), self.request_ttl);
        if cost == Cost::Point {
            if let Ok(mut inner) = self.inner.try_lock() {
                return in_transaction(&mut inner, begin, now, request_ttl, f);
            }
        }
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut inner = inner
                .lock()
                .map_err(|_| Error::backend("the SQLite store's lock is poisoned"))?;
            in_transaction(&mut inner, begin, now, request_ttl, f)
        })
        .await
        .map_err(|e| Error::backend_from("the SQLite store task failed", e))?
    }
}

/// Take the file's lock for good, or say who holds it.
///
/// `locking_mode=EXCLUSIVE` before the first WAL access keeps the WAL index in this
/// process's memory (no shared-memory file, no lock calls per transaction: measured ~12%
/// of a commit) and never gives the lock back while the connection is open. The empty
/// write transaction takes the write lock now rather than at the first request, so a
/// second server on the same file fails at start, not under load.
fn lock_exclusively(conn: &Connection, path: &std::path::Path) -> Result<()> {
    let in_use = |e: rusqlite::Error| match Error::from(e) {
        Error::Unavailable(_) => Error::Unavailable(format!(
            "the SQLite store {} is in use by another process (a store file serves one \
             mason at a time; stop the other one, or use PostgreSQL for replicas)",
            path.display()
        )),
        other => other,
    };
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(in_use)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(in_use)?;
    conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")
        .map_err(in_use)?;
    Ok(())
}

/// How much of the database a call may touch; decides where it runs (see `run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cost {
    /// A few rows through an index.
    Point,
    /// Possibly every row.
    Scan,
}

/// How a transaction starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Begin {
    /// Takes the write lock at once (every write).
    Immediate,
    /// A read.
    Deferred,
}

/// Run `f` between `BEGIN` and `COMMIT` (or `ROLLBACK`), then bring the acquire index up
/// to date with what committed.
///
/// The three control statements are prepared once and cached (rusqlite's `Transaction`
/// parses `BEGIN`/`COMMIT` afresh on every call, a visible share of a point operation).
fn in_transaction<T>(
    inner: &mut Inner,
    begin: Begin,
    now: Timestamp,
    request_ttl: Duration,
    f: impl FnOnce(&Connection, &Ctx<'_>) -> Result<(T, bool)>,
) -> Result<T> {
    if inner.stale {
        inner.reload()?;
    }
    let begin_sql = match begin {
        Begin::Immediate => "BEGIN IMMEDIATE",
        Begin::Deferred => "BEGIN DEFERRED",
    };
    let conn = &inner.conn;
    conn.prepare_cached(begin_sql)?.execute([])?;
    let ctx = Ctx {
        now,
        request_ttl,
        free: &inner.free,
        lifespans: &inner.lifespans,
        changes: RefCell::new(Vec::new()),
        reload: Cell::new(false),
    };
    let outcome = f(conn, &ctx);
    let (changes, reload) = (ctx.changes.into_inner(), ctx.reload.get());
    let (out, commit) = match outcome {
        Ok(done) => done,
        Err(e) => {
            roll_back(conn);
            return Err(e);
        }
    };
    if !commit {
        roll_back(conn);
        return Ok(out);
    }
    if let Err(e) = conn
        .prepare_cached("COMMIT")
        .and_then(|mut c| c.execute([]))
    {
        roll_back(conn);
        return Err(e.into());
    }
    if reload {
        if let Err(e) = inner.reload() {
            tracing::warn!(error = %e, "reloading the acquire index failed; will retry");
            inner.stale = true;
        }
    } else {
        inner.free.apply(changes);
    }
    Ok(out)
}

/// End the open transaction, if any, without keeping its changes.
fn roll_back(conn: &Connection) {
    if !conn.is_autocommit() {
        if let Err(e) = conn
            .prepare_cached("ROLLBACK")
            .and_then(|mut r| r.execute([]))
        {
            tracing::warn!(error = %e, "SQLite rollback failed");
        }
    }
}

/// Per-call context handed to the SQL code.
pub(crate) struct Ctx<'a> {
    /// The time of this call; every row it writes gets this `lastupdate`.
    pub(crate) now: Timestamp,
    /// Queue TTL.
    pub(crate) request_ttl: Duration,
    /// The acquire order as of the start of this transaction.
    pub(crate) free: &'a FreeIndex,
    /// The dynamic pools' lifespans.
    pub(crate) lifespans: &'a Lifespans,
    /// Rows this transaction wrote, applied to the index once it commits.
    changes: RefCell<Vec<IndexRow>>,
    /// Set when the transaction changed more than it reports: reload after commit.
    reload: Cell<bool>,
}

impl Ctx<'_> {
    /// Record that the transaction wrote (or deleted) a resource row.
    pub(crate) fn wrote(&self, change: IndexRow) {
        self.changes.borrow_mut().push(change);
    }

    /// Record that the transaction wrote `r` (as it now is in the table).
    pub(crate) fn wrote_resource(&self, r: &Resource) {
        self.wrote(IndexRow {
            name: r.name.clone(),
            rtype: r.rtype.clone(),
            state: r.state.clone(),
            unowned: r.owner.is_empty(),
            lastupdate: to_micros(&r.lastupdate),
        });
    }

    /// Record that the transaction changed resources or pools in ways it does not report
    /// one by one: everything kept in memory is reloaded once it commits.
    pub(crate) fn reload_after_commit(&self) {
        self.reload.set(true);
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::backend(format!(
            "database schema version {version} is newer than this mason ({SCHEMA_VERSION}); upgrade mason"
        )));
    }
    if version < SCHEMA_VERSION {
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(())
}

/// Microseconds since the epoch, as stored.
pub(crate) fn to_micros(t: &Timestamp) -> i64 {
    t.timestamp_micros()
}

/// Back from stored microseconds.
pub(crate) fn from_micros(us: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The column list every resource query selects, in [`row_to_resource`]'s order.
pub(crate) const RESOURCE_COLUMNS: &str = resource_columns!();

/// Decode a row selected with [`RESOURCE_COLUMNS`].
pub(crate) fn row_to_resource(row: &Row<'_>) -> rusqlite::Result<Resource> {
    let userdata: String = row.get(5)?;
    let userdata: UserData = serde_json::from_str(&userdata).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Resource {
        name: row.get(0)?,
        rtype: row.get(1)?,
        state: row.get(2)?,
        owner: row.get(3)?,
        lastupdate: from_micros(row.get(4)?),
        userdata,
        expiration_date: row.get::<_, Option<i64>>(6)?.map(from_micros),
    })
}

/// One resource by name, if present.
pub(crate) fn get_resource(tx: &Connection, name: &str) -> Result<Option<Resource>> {
    Ok(tx
        .prepare_cached(concat!(
            "SELECT ",
            resource_columns!(),
            " FROM resources WHERE name = ?1"
        ))?
        .query_row([name], row_to_resource)
        .optional()?)
}

/// The dynamic pool of `rtype`, if any.
pub(crate) fn get_drlc(tx: &Connection, rtype: &str) -> Result<Option<DynamicResourceLifeCycle>> {
    let spec: Option<String> = tx
        .prepare_cached("SELECT spec FROM drlcs WHERE type = ?1")?
        .query_row([rtype], |r| r.get(0))
        .optional()?;
    spec.map(|s| serde_json::from_str(&s).map_err(|e| Error::backend_from("bad DRLC row", e)))
        .transpose()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn acquire(&self, req: &AcquireRequest) -> Result<Acquired> {
        let req = req.clone();
        self.write_keep(move |tx, ctx| Ok(leases::acquire(tx, ctx, &req)))
            .await?
    }

    async fn acquire_by_state(&self, req: &AcquireByStateRequest) -> Result<Vec<Resource>> {
        let req = req.clone();
        self.write_sized(req.names.len() > 64, move |tx, ctx| {
            leases::acquire_by_state(tx, ctx, &req.state, &req.dest, &req.owner, &req.names)
        })
        .await
    }

    async fn release(&self, req: &ReleaseRequest) -> Result<Resource> {
        let req = req.clone();
        self.write(move |tx, ctx| leases::release(tx, ctx, &req.name, &req.dest, &req.owner))
            .await
    }

    async fn update(&self, req: &UpdateRequest) -> Result<Resource> {
        let req = req.clone();
        self.write(move |tx, ctx| {
            leases::update(
                tx,
                ctx,
                &req.name,
                &req.owner,
                &req.state,
                req.userdata.as_ref(),
            )
        })
        .await
    }

    async fn reset(
        &self,
        req: &ResetRequest,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let req = req.clone();
        self.write_scan(move |tx, ctx| {
            leases::reset(tx, ctx, &req.rtype, &req.state, req.expire, &req.dest)
        })
        .await
    }

    async fn metric(&self, rtype: &str) -> Result<Metric> {
        let rtype = rtype.to_string();
        self.read(Cost::Scan, move |tx, _| {
            leases::metrics(tx, Some(&rtype))?
                .pop()
                .ok_or(Error::ResourceNotFound(rtype))
        })
        .await
    }

    async fn all_metrics(&self) -> Result<Vec<Metric>> {
        self.read(Cost::Scan, |tx, _| leases::metrics(tx, None))
            .await
    }

    async fn get(&self, name: &str) -> Result<Resource> {
        let name = name.to_string();
        self.read(Cost::Point, move |tx, _| {
            get_resource(tx, &name)?.ok_or(Error::ResourceNotFound(name))
        })
        .await
    }

    async fn list(&self, filter: &ResourceFilter) -> Result<Vec<Resource>> {
        let filter = filter.clone();
        self.read(Cost::Scan, move |tx, _| leases::list(tx, &filter))
            .await
    }

    async fn drlcs(&self) -> Result<Vec<DynamicResourceLifeCycle>> {
        self.read(Cost::Point, |tx, _| {
            let mut stmt = tx.prepare_cached("SELECT spec FROM drlcs ORDER BY type")?;
            let specs = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            specs
                .iter()
                .map(|s| {
                    serde_json::from_str(s).map_err(|e| Error::backend_from("bad DRLC row", e))
                })
                .collect()
        })
        .await
    }

    async fn sync_config(&self, config: &BoskosConfig) -> Result<SyncReport> {
        let config = config.clone();
        self.write_scan(move |tx, ctx| sync::sync_config(tx, ctx, &config))
            .await
    }

    async fn sync_dynamic(&self) -> Result<SyncReport> {
        self.write_scan(sync::sync_dynamic).await
    }

    async fn import(&self, request: &ImportRequest) -> Result<ImportReport> {
        let request = request.clone();
        self.write_scan(move |tx, ctx| import::import(tx, ctx, &request))
            .await
    }

    async fn gc_requests(&self) -> Result<u64> {
        self.write(|tx, ctx| {
            let n = tx
                .prepare_cached("DELETE FROM requests WHERE expires_at < ?1")?
                .execute([to_micros(&ctx.now)])?;
            Ok(n as u64)
        })
        .await
    }

    async fn queue(&self) -> Result<Vec<QueuedRequest>> {
        self.read(Cost::Scan, leases::queue).await
    }

    async fn ping(&self) -> Result<()> {
        self.read(Cost::Point, |tx, _| {
            tx.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }
}
