//! Background WAL checkpoints for a file-backed SQLite store.
//!
//! SQLite normally checkpoints inside whichever commit pushes the WAL past 1000 pages;
//! that commit then copies pages and syncs the database file, and the caller waits tens
//! of milliseconds (measured: a 99 ms max on an otherwise 27 µs acquire). Here automatic
//! checkpoints are off and a thread checkpoints every [`PERIOD`] instead. The store's
//! file is locked exclusively by its one connection, so the thread borrows that
//! connection between calls: calls arriving meanwhile wait for it like for any other
//! call. With no other reader, each checkpoint copies the whole WAL, and the next commit
//! starts the WAL over from its beginning, so the file stays short.
//!
//! The checkpoint syncs the WAL, then the database file, while calls wait. The thread
//! first syncs the WAL through its own descriptor *without* the connection, so the sync
//! inside the checkpoint has less left to write. Measured with `strace -T` on this thread
//! (shared machine), this did not shorten the syncs made under the lock: WAL 1–31 ms and
//! database 1–51 ms at 8 connections, against 2–32 ms and 1–35 ms without it at 1
//! connection. They are still the serving path's longest waits (see docs/benchmarks.md,
//! 2026-12-02). An extra sync never weakens durability.
//!
//! Measured 2026-12-03 (cross-process, pool 10,000, 1 connection, load 2.4–4.5; times
//! taken inside this thread): the sync outside the lock takes p50 4.3 ms; the checkpoint
//! under the lock p50 2.2 ms, p90 4.4 ms, p99 13 ms, max 19 ms. Checkpointing every 100
//! or 50 ms instead did not shorten it (p50 2.7 and 3.4 ms against 2.5 ms in the same
//! run): the two syncs, not the copy, are most of it, and on this machine's disk a sync
//! of even 4 KiB costs 2–4 ms with `fdatasync` as with `fsync` (so building SQLite with
//! `HAVE_FDATASYNC` was not pursued). With one connection, no order of the syncs takes
//! them off the lock without weakening durability: the WAL must be synced before its
//! frames are copied, and the database file before the next commit may overwrite them.
//!
//! A config sync that wrote many rows is checkpointed at once by
//! [`SqliteStore::checkpoint_after_bulk`], so a start-up sync is copied before the server
//! turns ready instead of during its first requests.
//!
//! Tried and dropped: checkpointing from a second connection, which would not block calls
//! at all. It needs `locking_mode=NORMAL` (the `unix-excl` VFS keeps the WAL index in
//! process memory and the file locked against other processes), but then the WAL never
//! starts over under continuous writes: a commit restarts it only when it finds the WAL
//! fully copied, and commits landing during each checkpoint keep it from ever being so
//! (681 MB of WAL after 12 s at 8 connections).

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::txn::Inner;
use super::worker::Job;
use super::SqliteStore;

/// How often the WAL is checkpointed.
const PERIOD: Duration = Duration::from_millis(250);

/// The checkpoint thread; stopped and joined on drop.
pub(super) struct Checkpointer {
    /// Set to stop the thread.
    stop: Arc<AtomicBool>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Start checkpointing the store's database every [`PERIOD`].
    pub(super) fn start(inner: Arc<Mutex<Inner>>) -> crate::Result<Self> {
        Self::every(inner, PERIOD)
    }

    /// Start checkpointing every `period`.
    fn every(inner: Arc<Mutex<Inner>>, period: Duration) -> crate::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("mason-sqlite-checkpoint".into())
            .spawn(move || run(&inner, &flag, period))
            .map_err(|e| crate::Error::backend_from("cannot start the checkpoint thread", e))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

fn run(inner: &Mutex<Inner>, stop: &AtomicBool, period: Duration) {
    let wal_path = match inner.lock() {
        Ok(guard) => guard.conn.path().map(|p| format!("{p}-wal")),
        Err(_) => return,
    };
    let mut wal: Option<File> = None;
    loop {
        // Woken early by the drop (an unpark), so closing the store does not wait out
        // the period.
        std::thread::park_timeout(period);
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if wal.is_none() {
            wal = wal_path.as_ref().and_then(|p| File::open(p).ok());
        }
        if let Some(wal) = &wal {
            // Outside the lock: what the checkpoint's own sync of the WAL would write.
            let _ = wal.sync_data();
        }
        let Ok(guard) = inner.lock() else {
            return;
        };
        // Cheap when nothing was written since the last one: no copy, no sync.
        if let Err(e) = checkpoint(&guard.conn) {
            tracing::debug!(error = %e, "SQLite WAL checkpoint failed; will retry");
        }
    }
    // A last checkpoint so a clean shutdown leaves a short WAL behind.
    if let Ok(guard) = inner.lock() {
        let _ = checkpoint(&guard.conn);
    }
}

/// Copy what the WAL holds into the database file after the WAL file was deleted under
/// the store (the connection still has it open), so nothing acknowledged is only in a
/// file no path names any more.
pub(super) fn save_wal(inner: &Mutex<Inner>) {
    let Ok(guard) = inner.lock() else {
        return;
    };
    match checkpoint(&guard.conn) {
        Ok(()) => tracing::warn!("copied the deleted WAL's commits into the database file"),
        Err(e) => tracing::error!(error = %e, "cannot copy the deleted WAL into the database file"),
    }
}

/// Rows a config sync must have created, deleted or marked for the store to checkpoint
/// right after it (see [`SqliteStore::checkpoint_after_bulk`]).
pub(super) const BULK_ROWS: usize = 1_000;

impl SqliteStore {
    /// Checkpoint now, on the store thread, and wait for it: called after a config sync
    /// that wrote at least [`BULK_ROWS`] rows. Such a sync leaves its whole write in the
    /// WAL (at 100,000 resources, tens of MB); left to the thread, copying it would block
    /// the first requests after the start (or after the sync) behind one long checkpoint.
    /// Done here, the start-up sync is copied before the server turns ready. A failure is
    /// only logged: the thread copies the WAL later anyway.
    pub(super) async fn checkpoint_after_bulk(&self) {
        if self.identity.is_none() {
            return;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |inner| {
            let _ = reply.send(checkpoint(&inner.conn));
        });
        let deadline = Instant::now() + self.timeout;
        let outcome = match self.worker.submit(job, false, deadline) {
            Ok(()) => tokio::time::timeout(self.timeout, answer).await,
            Err(e) => {
                tracing::debug!(error = %e, "cannot queue the checkpoint after a config sync");
                return;
            }
        };
        match outcome {
            Ok(Ok(Ok(()))) => tracing::debug!("checkpointed the WAL after a large config sync"),
            Ok(Ok(Err(e))) => {
                tracing::debug!(error = %e, "checkpoint after a config sync failed; will retry")
            }
            Ok(Err(_)) | Err(_) => {
                tracing::debug!("the checkpoint after a config sync did not finish in time")
            }
        }
    }
}

/// Copy the WAL into the database file.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mason_types::BoskosConfig;

    use super::super::txn::Cost;
    use super::super::SqliteStore;
    use super::BULK_ROWS;
    use crate::Store;

    #[tokio::test]
    async fn a_large_sync_is_in_the_database_file_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::on_file(path.clone()).unwrap();
        let names: Vec<String> = (0..2 * BULK_ROWS)
            .map(|i| format!("  - res-{i:05}\n"))
            .collect();
        let yaml = format!(
            "resources:\n- type: t\n  state: free\n  names:\n{}",
            names.concat()
        );
        let report = store
            .sync_config(&BoskosConfig::parse_and_validate(&yaml).unwrap())
            .await
            .unwrap();
        assert_eq!(report.created.len(), 2 * BULK_ROWS);
        // Read at once: the checkpoint thread's next turn is up to 250 ms away, so only
        // the checkpoint after the sync can have written every page into the file.
        let on_disk = std::fs::metadata(&path).unwrap().len();
        let (pages, page_size): (u64, u64) = store
            .read(Cost::Point, |conn, _| {
                Ok((
                    conn.pragma_query_value(None, "page_count", |r| r.get(0))?,
                    conn.pragma_query_value(None, "page_size", |r| r.get(0))?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(
            on_disk,
            pages * page_size,
            "every page of the synced database is in the file, not only in the WAL"
        );
    }

    /// Stopping the thread does not wait out its period: with a period of an hour, the
    /// drop returns at once (the thread is unparked), not an hour later.
    #[test]
    fn a_drop_wakes_the_thread_instead_of_waiting_out_the_period() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::on_file(dir.path().join("s.db")).unwrap();
        let slow = super::Checkpointer::every(
            Arc::clone(&store.inner),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let (done, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(slow);
            let _ = done.send(());
        });
        assert!(
            dropped
                .recv_timeout(std::time::Duration::from_secs(60))
                .is_ok(),
            "the checkpoint thread was not stopped within a minute of its drop"
        );
    }
}
