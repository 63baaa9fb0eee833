//! The transaction runner: every call is one transaction on the store's one connection,
//! run on the store thread (`worker.rs`) under the store's deadline, and the in-memory
//! acquire order is patched only after a commit.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mason_types::{Resource, Timestamp};
use rusqlite::Connection;

use super::counts::SharedCounts;
use super::events::Announcer;
use super::free_index::{FreeIndex, IndexRow};
use super::generations::Generations;
use super::lifespans::Lifespans;
use super::worker::Job;
use super::SqliteStore;
use crate::availability::Signals;
use crate::{rows, Availability, Error, Result};

/// What the store's mutex guards: the one connection and what is derived from its data.
pub(crate) struct Inner {
    /// The only connection to the file (it holds the file's exclusive lock).
    pub(crate) conn: Connection,
    /// Unowned resources in acquire order (see [`super::free_index`]).
    pub(super) free: FreeIndex,
    /// The dynamic pools' lifespans (see [`super::lifespans`]).
    pub(super) lifespans: Lifespans,
    /// Resources per (type, state, owner) (see [`super::counts`]).
    pub(super) counts: SharedCounts,
    /// The fencing-generation counter (see [`super::generations`]).
    generations: Generations,
    /// "Resources may be available" signals, sent after each commit that freed some.
    pub(super) signals: Signals,
    /// Set when the derived state could not be reloaded after a commit; the next call
    /// reloads it.
    stale: bool,
    /// Tells event followers about commits that wrote events.
    pub(super) events: Announcer,
}

impl Inner {
    /// Wrap a freshly opened connection and load what is kept in memory.
    pub(super) fn new(conn: Connection) -> Result<Self> {
        let events = Announcer::new(super::events::head(&conn)?);
        let mut inner = Self {
            conn,
            free: FreeIndex::default(),
            lifespans: Lifespans::default(),
            counts: SharedCounts::default(),
            generations: Generations::default(),
            signals: Signals::default(),
            stale: true,
            events,
        };
        inner.reload()?;
        Ok(inner)
    }

    /// Rebuild everything kept in memory from the tables.
    fn reload(&mut self) -> Result<()> {
        self.free = FreeIndex::load(&self.conn)?;
        self.lifespans = Lifespans::load(&self.conn)?;
        self.generations.load(&self.conn)?;
        self.counts.reload(&self.conn)?;
        self.stale = false;
        Ok(())
    }
}

/// How much of the database a call may touch, as its caller states it. The runner treats
/// both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cost {
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

impl SqliteStore {
    /// Run `f` in one immediate transaction. The transaction commits when `f` returns
    /// `Ok`, and rolls back otherwise. For point operations (one or a few rows). A call
    /// that must commit even when it answers an error (acquire records its queue entry
    /// and may create a dynamic resource) returns `Ok(Err(..))` and unwraps it itself.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Ctx<'_>) -> Result<T> + Send + 'static,
    {
        self.write_sized(Cost::Point, f).await
    }

    /// A write that may touch many rows when `cost` says so.
    pub(super) async fn write_sized<T, F>(&self, cost: Cost, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Ctx<'_>) -> Result<T> + Send + 'static,
    {
        self.run(cost, Begin::Immediate, move |tx, ctx| {
            Ok((f(tx, ctx)?, true))
        })
        .await
    }

    /// Run a read-only `f` (in a deferred transaction, for a consistent view).
    pub(super) async fn read<T, F>(&self, cost: Cost, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Ctx<'_>) -> Result<T> + Send + 'static,
    {
        self.run(cost, Begin::Deferred, move |tx, ctx| {
            Ok((f(tx, ctx)?, false))
        })
        .await
    }

    /// Run `f` in a transaction on the store thread; `f` says whether to commit.
    ///
    /// No async worker ever runs SQLite (a stalled disk would freeze it, and with it every
    /// route). The caller looks for its answer briefly when the machine has CPU to spare,
    /// yielding its worker to other tasks between looks, then awaits it (`spin.rs`).
    ///
    /// The answer comes within the store's deadline or the call is a 503 ([`Error::Storage`]):
    /// a call still queued then is never run; one already running finishes (a write may
    /// so take effect after its caller was told 503 — retrying it is safe, see the README).
    async fn run<T, F>(&self, _cost: Cost, begin: Begin, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Ctx<'_>) -> Result<(T, bool)> + Send + 'static,
    {
        let (now, request_ttl) = (self.clock.now(), self.request_ttl);
        let write = begin == Begin::Immediate;
        if write {
            if let Some(identity) = &self.identity {
                identity.writable()?;
            }
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let health = Arc::clone(&self.health);
        let faults = Arc::clone(&self.faults);
        let job: Job = Box::new(move |inner| {
            let outcome = match faults.write_error().filter(|_| write) {
                Some(injected) => Err(injected.into()),
                None => in_transaction(inner, begin, now, request_ttl, f),
            };
            if write {
                health.record_write(&outcome);
            }
            let _ = reply.send(outcome);
        });
        let submitted = Instant::now();
        self.worker.submit(job, write, submitted + self.timeout)?;
        let mut answer = answer;
        let spin = self.worker.spin();
        let window = spin.caller_window();
        if !window.is_zero() {
            // Look for the answer briefly, letting the worker's other tasks run between
            // looks (see `spin.rs`).
            loop {
                match answer.try_recv() {
                    Ok(outcome) => return outcome,
                    Err(tokio::sync::oneshot::error::TryRecvError::Closed) => break,
                    Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
                }
                if submitted.elapsed() >= window {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        match tokio::time::timeout(self.timeout.saturating_sub(submitted.elapsed()), answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) | Err(_) => Err(Error::Storage(format!(
                "the store did not answer within {:?} (a stalled disk?){}",
                self.timeout,
                if write {
                    "; the call may still take effect, and retrying it is safe"
                } else {
                    ""
                }
            ))),
        }
    }
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
        generations: &inner.generations,
        changes: RefCell::new(Vec::new()),
        freed: RefCell::new(Vec::new()),
        reload: Cell::new(false),
    };
    let outcome = f(conn, &ctx);
    let (changes, freed, reload) = (
        ctx.changes.into_inner(),
        ctx.freed.into_inner(),
        ctx.reload.get(),
    );
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
    if begin == Begin::Immediate {
        inner.events.after_commit(&inner.conn);
    }
    signal_availability(&inner.signals, &changes, freed, reload);
    if reload {
        if let Err(e) = inner.reload() {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "reloading the acquire index failed; will retry"
            );
            inner.stale = true;
        }
    } else {
        inner.counts.apply(&changes);
        inner.free.apply(changes);
    }
    Ok(out)
}

/// After a commit: signal every (type, state) that got unowned resources or lost a
/// queue place; after table-wide changes (`reload`), that anything may have changed.
fn signal_availability(
    signals: &Signals,
    changes: &[IndexRow],
    freed: Vec<(String, String)>,
    reload: bool,
) {
    if reload {
        signals.send(Availability::Unknown);
        return;
    }
    let mut keys: Vec<(&str, &str)> = changes
        .iter()
        .filter(|row| row.unowned)
        .map(|row| (row.rtype.as_str(), row.state.as_str()))
        .chain(freed.iter().map(|(t, s)| (t.as_str(), s.as_str())))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for (rtype, state) in keys {
        signals.changed(rtype, state);
    }
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
    /// The fencing-generation counter.
    generations: &'a Generations,
    /// Rows this transaction wrote, applied to the index once it commits.
    changes: RefCell<Vec<IndexRow>>,
    /// Queues whose places this transaction dropped (signalled once it commits).
    freed: RefCell<Vec<(String, String)>>,
    /// Set when the transaction changed more than it reports: reload after commit.
    reload: Cell<bool>,
}

impl Ctx<'_> {
    /// Record that the transaction wrote `r` (as it now is in the table).
    pub(crate) fn wrote(&self, r: &Resource) {
        self.changes.borrow_mut().push(IndexRow {
            name: r.name.clone(),
            rtype: r.rtype.clone(),
            state: r.state.clone(),
            unowned: r.owner.is_empty(),
            owner: r.owner.clone(),
            lastupdate: rows::to_micros(&r.lastupdate),
        });
    }

    /// Record that the transaction dropped a queue place of (`rtype`, `state`).
    pub(crate) fn freed(&self, rtype: &str, state: &str) {
        self.freed
            .borrow_mut()
            .push((rtype.to_string(), state.to_string()));
    }

    /// A fencing generation never given out before, for a grant or an end of lease.
    pub(crate) fn next_generation(&self) -> i64 {
        self.generations.next()
    }

    /// Record, in this transaction, that it deletes resource rows (their generations
    /// must stay given out).
    pub(crate) fn deleting_rows(&self, tx: &Connection) -> Result<()> {
        self.generations.keep_floor(tx)
    }

    /// Record that the transaction changed resources or pools in ways it does not report
    /// one by one: everything kept in memory is reloaded once it commits.
    pub(crate) fn reload_after_commit(&self) {
        self.reload.set(true);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::sqlite::SqliteStore;
    use crate::{Error, ManualClock};

    fn user_version(conn: &rusqlite::Connection) -> crate::Result<i64> {
        Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    #[tokio::test]
    async fn a_write_that_fails_rolls_back_what_it_wrote_and_one_that_succeeds_commits() {
        let store = SqliteStore::in_memory(Arc::new(ManualClock::at_upstream_epoch())).unwrap();
        let before = store
            .read(super::Cost::Point, |tx, _| user_version(tx))
            .await
            .unwrap();
        let failed = store
            .write(move |tx, _| {
                tx.pragma_update(None, "user_version", before + 7)?;
                Err::<(), _>(Error::backend("the caller's own failure"))
            })
            .await;
        assert!(failed.is_err());
        let after = store
            .read(super::Cost::Point, |tx, _| user_version(tx))
            .await
            .unwrap();
        assert_eq!(after, before, "a failed write must roll back");

        store
            .write(move |tx, _| Ok(tx.pragma_update(None, "user_version", before + 7)?))
            .await
            .unwrap();
        let after = store
            .read(super::Cost::Point, |tx, _| user_version(tx))
            .await
            .unwrap();
        assert_eq!(after, before + 7);
    }
}
