//! Background WAL checkpoints for a file-backed SQLite store.
//!
//! SQLite normally checkpoints inside whichever commit pushes the WAL past 1000 pages;
//! that commit then copies pages and syncs the database file, and the caller waits tens
//! of milliseconds (measured: a 99 ms max on an otherwise 27 µs acquire). Here automatic
//! checkpoints are off and a thread checkpoints instead, in two phases:
//!
//! 1. Every [`PERIOD`], a *passive* checkpoint through the thread's own connection (the
//!    `unix-excl` VFS shares the WAL index between the connections of this process, see
//!    `connect.rs`): it syncs the WAL, copies every frame committed so far into the
//!    database file and syncs that, while the store thread goes on committing. The
//!    serving path never waits for these syncs.
//! 2. A commit starts the WAL over from its beginning only when it finds every frame
//!    copied, which never happens under continuous writes: commits land during every
//!    phase 1 (measured: 681 MB of WAL after 12 s at 8 connections with phase 1 alone).
//!    So once the WAL holds [`RESTART_BYTES`], the thread takes the store's connection
//!    between two calls and checkpoints the few frames committed since phase 1 started;
//!    the next commit then starts the WAL over. Calls arriving meanwhile wait, as they
//!    did for every checkpoint before: that wait (a sync of the WAL, one of the database
//!    file, and the next commit's sync of the new WAL header, each 1–50 ms on the shared
//!    machine, mostly the file system's journal commit) now comes once per
//!    `RESTART_BYTES` of WAL instead of every 250 ms.
//!
//! With no writes during a phase 1 (an idle store), phase 1 copies everything and the
//! next commit starts the WAL over by itself. Durability is SQLite's own: each checkpoint
//! syncs the WAL before copying and the database file before the WAL may be reused; a
//! commit is in the WAL before its call is answered.
//!
//! When the second connection cannot be opened, the thread falls back to checkpointing
//! through the store's connection every [`PERIOD`] (the behaviour before).

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::txn::Inner;

/// How often the WAL is checkpointed (phase 1).
const PERIOD: Duration = Duration::from_millis(250);

/// The WAL size at which the store's connection copies the rest and the WAL starts over
/// (phase 2). At full load a lease commit writes about 4 KiB of WAL, so 64 MiB is about a
/// second of 8,000 commits/s; the file stays this size once grown (overwritten in place).
const RESTART_BYTES: i64 = 64 << 20;

/// Phase 1 failures in a row after which the store's connection checkpoints instead.
const GIVE_UP_AFTER: u32 = 4;

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
    let db_path: Option<PathBuf> = match inner.lock() {
        Ok(guard) => guard.conn.path().map(PathBuf::from),
        Err(_) => return,
    };
    let wal_path = db_path.as_ref().map(|p| {
        let mut wal = p.clone().into_os_string();
        wal.push("-wal");
        PathBuf::from(wal)
    });
    let own = db_path
        .as_deref()
        .map(super::connect::open_checkpointer)
        .transpose()
        .unwrap_or_else(|e| {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "cannot open the checkpoint connection; checkpointing through the store's"
            );
            None
        });
    let page_size: i64 = own
        .as_ref()
        .and_then(|c| c.pragma_query_value(None, "page_size", |r| r.get(0)).ok())
        .unwrap_or(super::connect::PAGE_SIZE);
    let mut wal: Option<File> = None;
    let mut failed = 0;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(PERIOD);
        if wal.is_none() {
            wal = wal_path.as_ref().and_then(|p| File::open(p).ok());
        }
        if let Some(own) = &own {
            // Phase 1, beside the store thread.
            match checkpoint(own) {
                Ok(frames) if frames.saturating_mul(page_size) < RESTART_BYTES => {
                    failed = 0;
                    continue;
                }
                Ok(_) => failed = 0,
                Err(e) => {
                    // Passive checkpoints do not wait for a lock: one may find the WAL
                    // index being written and give up. Many in a row go to phase 2.
                    tracing::debug!(error = %e, "SQLite WAL checkpoint failed; will retry");
                    failed += 1;
                    if failed < GIVE_UP_AFTER {
                        continue;
                    }
                    failed = 0;
                }
            }
        }
        if let Some(wal) = &wal {
            // Outside the lock: what the checkpoint's own sync of the WAL would write.
            let _ = wal.sync_data();
        }
        let Ok(guard) = inner.lock() else {
            return;
        };
        // Phase 2 (or the only one without a connection of its own): cheap when nothing
        // was written since the last one: no copy, no sync.
        if let Err(e) = checkpoint(&guard.conn) {
            tracing::debug!(error = %e, "SQLite WAL checkpoint failed; will retry");
        }
    }
    drop(own);
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
        Ok(_) => tracing::warn!("copied the deleted WAL's commits into the database file"),
        Err(e) => tracing::error!(error = %e, "cannot copy the deleted WAL into the database file"),
    }
}

/// Copy the WAL into the database file as far as no reader needs it; the WAL's size in
/// frames.
fn checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
