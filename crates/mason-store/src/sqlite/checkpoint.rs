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
use std::time::Duration;

use rusqlite::Connection;

use super::txn::Inner;

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
    /// Start checkpointing the store's database.
    pub(super) fn start(inner: Arc<Mutex<Inner>>) -> crate::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("mason-sqlite-checkpoint".into())
            .spawn(move || run(&inner, &flag))
            .map_err(|e| crate::Error::backend_from("cannot start the checkpoint thread", e))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

fn run(inner: &Mutex<Inner>, stop: &AtomicBool) {
    let wal_path = match inner.lock() {
        Ok(guard) => guard.conn.path().map(|p| format!("{p}-wal")),
        Err(_) => return,
    };
    let mut wal: Option<File> = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(PERIOD);
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

/// Copy the WAL into the database file.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
