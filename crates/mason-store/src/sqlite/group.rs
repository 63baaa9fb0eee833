//! Group commit: the point writes queued on the store thread together run in one
//! transaction, and all are answered once it has committed.
//!
//! A commit costs more than the compare-and-set it closes (its `BEGIN`/`COMMIT`, the
//! WAL frames of every page it changed, the history head read after it), and the pages a
//! lease commit changes are mostly shared by the next one (the history's last page, the
//! resources' pages). When several clients wait, each call still runs its own
//! compare-and-set, under its own savepoint: one that fails, or decides not to keep what
//! it did, is rolled back to its savepoint and the others' changes stay. Every caller is
//! answered after the one `COMMIT`, so an answer still means the change is in the WAL
//! (durability as documented: an acknowledged lease survives kill -9).
//!
//! Each call sees the ones before it in the group: the in-memory acquire order is patched
//! after each call's savepoint is released (before the commit), and is rebuilt from the
//! tables if the transaction does not commit after all. The kept counts and the
//! availability signals move only after the commit. A call that changed more than it
//! reports (a reload) ends its group. If the commit fails, or SQLite rolled the whole
//! transaction back on an I/O error, every call of the group is answered with a storage
//! error (a 503; retrying is safe), as a lone call is when its commit fails.

use std::sync::Arc;
use std::time::Duration;

use mason_types::Timestamp;
use rusqlite::Connection;

use super::txn::{self, Ctx, Inner};
use super::worker::{Faults, Health};
use crate::{Error, Result};

/// A point write waiting on the store thread, with its answer.
pub(super) trait GroupWrite: Send {
    /// Run alone, in a transaction of its own, and answer (a group of one).
    fn run_alone(self: Box<Self>, inner: &mut Inner);
    /// Run inside the group's open transaction; whether its changes are to be kept.
    fn run_in(&mut self, conn: &Connection, ctx: &Ctx<'_>) -> bool;
    /// Answer the caller; `lost` says why what it did did not commit, if it did not.
    fn answer(self: Box<Self>, lost: Option<&str>);
    /// The time of the call and the queue TTL, for its context.
    fn stamp(&self) -> (Timestamp, Duration);
}

/// Run `writes` (in their order), as few transactions as they allow.
pub(super) fn run(inner: &mut Inner, mut writes: Vec<Box<dyn GroupWrite>>) {
    while !writes.is_empty() {
        if writes.len() == 1 {
            if let Some(only) = writes.pop() {
                only.run_alone(inner);
            }
            return;
        }
        writes = one_transaction(inner, writes);
    }
}

/// Run as many of `writes` as one transaction takes; hand back those not run.
fn one_transaction(
    inner: &mut Inner,
    writes: Vec<Box<dyn GroupWrite>>,
) -> Vec<Box<dyn GroupWrite>> {
    if inner.stale {
        if let Err(e) = inner.reload() {
            let why = e.to_string();
            for write in writes {
                write.answer(Some(&why));
            }
            return Vec::new();
        }
    }
    if let Err(e) = control(&inner.conn, "BEGIN IMMEDIATE") {
        let why = e.to_string();
        for write in writes {
            write.answer(Some(&why));
        }
        return Vec::new();
    }
    let mut done: Vec<Box<dyn GroupWrite>> = Vec::with_capacity(writes.len());
    let mut rest = writes.into_iter();
    let (mut changes, mut freed, mut reload) = (Vec::new(), Vec::new(), false);
    // Set when SQLite ended the whole transaction (it does so on some I/O errors).
    let mut aborted: Option<String> = None;
    for mut write in rest.by_ref() {
        if let Err(e) = control(&inner.conn, "SAVEPOINT grouped") {
            aborted = Some(e.to_string());
            write.answer(aborted.as_deref());
            break;
        }
        let (now, request_ttl) = write.stamp();
        let ctx = txn::ctx(inner, now, request_ttl);
        let keep = write.run_in(&inner.conn, &ctx);
        let (mine, mine_freed, mine_reload) = ctx.finish();
        if inner.conn.is_autocommit() {
            aborted = Some("SQLite rolled the transaction back".into());
            write.answer(aborted.as_deref());
            break;
        }
        let ended = if keep {
            control(&inner.conn, "RELEASE grouped")
        } else {
            control(&inner.conn, "ROLLBACK TO grouped")
                .and_then(|()| control(&inner.conn, "RELEASE grouped"))
        };
        if let Err(e) = ended {
            aborted = Some(e.to_string());
            write.answer(aborted.as_deref());
            break;
        }
        if keep {
            // The next call of the group picks from the order as this one left it.
            inner.free.apply(mine.iter().cloned());
            changes.extend(mine);
            freed.extend(mine_freed);
            reload |= mine_reload;
        }
        done.push(write);
        if reload {
            break;
        }
    }
    let rest: Vec<Box<dyn GroupWrite>> = rest.collect();
    if let Some(why) = aborted {
        txn::roll_back(&inner.conn);
        inner.stale = true;
        for write in done {
            write.answer(Some(&why));
        }
        return rest;
    }
    if let Err(e) = control(&inner.conn, "COMMIT") {
        txn::roll_back(&inner.conn);
        inner.stale = true;
        let why = e.to_string();
        for write in done {
            write.answer(Some(&why));
        }
        return rest;
    }
    txn::after_group_commit(inner, changes, freed, reload);
    for write in done {
        write.answer(None);
    }
    rest
}

/// Run one of the cached control statements.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// A queued point write of `T`.
pub(super) struct Pending<T, F> {
    /// The call (taken when it runs).
    f: Option<F>,
    /// The time of the call.
    now: Timestamp,
    /// Queue TTL.
    request_ttl: Duration,
    /// What the call returned, once it ran in a group.
    outcome: Option<Result<T>>,
    /// Its caller.
    reply: tokio::sync::oneshot::Sender<Result<T>>,
    /// Told every write's outcome (readiness).
    health: Arc<Health>,
    /// The test-only fault hook.
    faults: Arc<Faults>,
}

impl<T, F> Pending<T, F> {
    /// A point write of `f` at `now`, answered on `reply`.
    pub(super) fn new(
        f: F,
        now: Timestamp,
        request_ttl: Duration,
        reply: tokio::sync::oneshot::Sender<Result<T>>,
        health: Arc<Health>,
        faults: Arc<Faults>,
    ) -> Self {
        Self {
            f: Some(f),
            now,
            request_ttl,
            outcome: None,
            reply,
            health,
            faults,
        }
    }
}

impl<T, F> GroupWrite for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection, &Ctx<'_>) -> Result<(T, bool)> + Send + 'static,
{
    fn run_alone(mut self: Box<Self>, inner: &mut Inner) {
        let outcome = match (self.faults.write_error(), self.f.take()) {
            (Some(injected), _) => Err(injected.into()),
            (None, Some(f)) => {
                txn::in_transaction(inner, txn::Begin::Immediate, self.now, self.request_ttl, f)
            }
            (None, None) => Err(Error::backend("a store call ran twice")),
        };
        self.health.record_write(&outcome);
        let _ = self.reply.send(outcome);
    }

    fn run_in(&mut self, conn: &Connection, ctx: &Ctx<'_>) -> bool {
        let outcome = match (self.faults.write_error(), self.f.take()) {
            (Some(injected), _) => Err(injected.into()),
            (None, Some(f)) => f(conn, ctx),
            (None, None) => Err(Error::backend("a store call ran twice")),
        };
        let (outcome, keep) = match outcome {
            Ok((out, keep)) => (Ok(out), keep),
            Err(e) => (Err(e), false),
        };
        self.outcome = Some(outcome);
        keep
    }

    fn answer(mut self: Box<Self>, lost: Option<&str>) {
        let outcome = match (lost, self.outcome.take()) {
            (Some(why), _) => Err(Error::Storage(format!(
                "the store's transaction did not commit ({why}); nothing of this call took \
                 effect, and retrying it is safe"
            ))),
            (None, Some(outcome)) => outcome,
            (None, None) => Err(Error::backend("a store call was answered without running")),
        };
        self.health.record_write(&outcome);
        let _ = self.reply.send(outcome);
    }

    fn stamp(&self) -> (Timestamp, Duration) {
        (self.now, self.request_ttl)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use mason_types::BoskosConfig;
    use tokio::sync::oneshot;

    use super::*;
    use crate::clock::Clock;
    use crate::sqlite::{acquire, SqliteStore};
    use crate::{AcquireRequest, Acquired, ManualClock, Store};

    fn request(owner: &str) -> AcquireRequest {
        AcquireRequest {
            actor: None,
            rtype: "t".into(),
            state: "free".into(),
            dest: "busy".into(),
            owner: owner.into(),
            ..Default::default()
        }
    }

    /// Three acquires and, between them, a call that writes and then fails, run as one
    /// group: each acquire sees the ones before it (three different resources), the
    /// failing call's write is undone alone, and all are answered after the one commit.
    #[tokio::test]
    async fn a_group_keeps_each_call_apart() {
        let clock = Arc::new(ManualClock::at_upstream_epoch());
        let store = SqliteStore::in_memory(clock.clone()).unwrap();
        let config =
            BoskosConfig::parse_and_validate("resources:\n- type: t\n  names: [a, b, c, d]\n")
                .unwrap();
        store.sync_config(&config).await.unwrap();
        let (health, faults) = (Arc::new(Health::default()), Arc::new(Faults::default()));
        let ttl = Duration::from_secs(30);
        let mut writes: Vec<Box<dyn GroupWrite>> = Vec::new();
        let mut acquired: Vec<oneshot::Receiver<Result<Result<Acquired>>>> = Vec::new();
        for owner in ["o1", "o2"] {
            let req = request(owner);
            let (reply, answer) = oneshot::channel();
            writes.push(Box::new(Pending::new(
                move |c: &Connection, ctx: &Ctx<'_>| -> Result<(Result<Acquired>, bool)> {
                    Ok((acquire::acquire(c, ctx, &req), true))
                },
                clock.now(),
                ttl,
                reply,
                Arc::clone(&health),
                Arc::clone(&faults),
            )));
            acquired.push(answer);
        }
        let (reply, failed) = oneshot::channel::<Result<()>>();
        writes.push(Box::new(Pending::new(
            |c: &Connection, _: &Ctx<'_>| -> Result<((), bool)> {
                c.execute(
                    "UPDATE resources SET state = 'busy', owner = 'x' WHERE name = 'd'",
                    [],
                )?;
                Err(Error::backend("fails after writing"))
            },
            clock.now(),
            ttl,
            reply,
            Arc::clone(&health),
            Arc::clone(&faults),
        )));
        let req = request("o3");
        let (reply, answer) = oneshot::channel();
        writes.push(Box::new(Pending::new(
            move |c: &Connection, ctx: &Ctx<'_>| -> Result<(Result<Acquired>, bool)> {
                Ok((acquire::acquire(c, ctx, &req), true))
            },
            clock.now(),
            ttl,
            reply,
            Arc::clone(&health),
            Arc::clone(&faults),
        )));
        acquired.push(answer);

        {
            let mut inner = store.inner.lock().unwrap();
            run(&mut inner, writes);
            assert!(inner.conn.is_autocommit(), "the group's transaction ended");
        }

        let mut names = Vec::new();
        for (mut answer, owner) in acquired.into_iter().zip(["o1", "o2", "o3"]) {
            let got = answer.try_recv().unwrap().unwrap().unwrap().resource;
            assert_eq!(got.owner, owner);
            names.push(got.name);
        }
        assert_eq!(
            names,
            ["a", "b", "c"],
            "each acquire saw the ones before it"
        );
        let mut failed = failed;
        assert!(failed.try_recv().unwrap().is_err());
        for (name, owner) in [("a", "o1"), ("b", "o2"), ("c", "o3"), ("d", "")] {
            assert_eq!(store.get(name).await.unwrap().owner, owner, "{name}");
        }
        // What the index says next agrees with the table: d is the only free one.
        let next = store.acquire(&request("o4")).await.unwrap().resource;
        assert_eq!(next.name, "d");
        assert!(store.acquire(&request("o5")).await.is_err());
    }
}
