//! Opening the database file (its lock file taken first, see `identity.rs`; the file
//! checked by `file.rs`): pragmas, SQLite's exclusive lock, the schema.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::identity::{Identity, StoreLock};
use super::{error, file, migrate, SqliteOptions, Synchronous};
use crate::Result;

/// Page size of new files. A lease commit writes one page to the WAL (see
/// [`super::free_index`]); with small pages that write, its checksum and the later
/// checkpoint copy are a quarter of SQLite's 4 KiB default. Measured at 10,000 resources:
/// store layer 36k → 46k cycles/s; at 100,000: 32k → 41k. Files created with another
/// page size keep it (changing it needs a `VACUUM` outside WAL mode).
pub(super) const PAGE_SIZE: i64 = 1024;

/// Page cache, as SQLite's negative `cache_size` (KiB): 64 MiB, so a pool of 100,000
/// resources stays in memory instead of being re-read through the OS on every miss.
const CACHE_KIB: i64 = -65_536;

/// How long a statement waits for a lock held by another connection (only ever the
/// opening of a file some other process holds).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Open (creating when needed, in a directory that must exist: see `file.rs`) the
/// database of `options`, lock it, set the pragmas and bring the schema up to date. A
/// file comes with its [`Identity`] (the held lock file and what the path names).
pub(super) fn open(options: &SqliteOptions) -> Result<(Connection, Option<Identity>)> {
    let Some(path) = &options.path else {
        return Ok((open_checked(options)?, None));
    };
    file::check_directory(path)?;
    let lock = StoreLock::take(path)?;
    let prepared = match file::prepare(path, lock.existed, options.create) {
        Ok(p) => p,
        Err(e) => {
            if !lock.existed {
                lock.remove();
            }
            return Err(e);
        }
    };
    let opened = file::settle(path, prepared, open_checked(options));
    match opened {
        Ok(conn) => Ok((conn, Some(Identity::record(path, lock)?))),
        Err(e) => {
            if !lock.existed && prepared == file::Prepared::Created {
                lock.remove();
            }
            Err(e)
        }
    }
}

/// [`open`], once [`file::prepare`] has checked the file.
fn open_checked(options: &SqliteOptions) -> Result<Connection> {
    let conn = match &options.path {
        Some(path) => {
            let conn = Connection::open(path)?;
            // Only takes effect on a new file (before its first write).
            conn.pragma_update(None, "page_size", PAGE_SIZE)?;
            lock_exclusively(&conn, path)?;
            conn
        }
        None => Connection::open_in_memory()?,
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let sync = match options.synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "cache_size", CACHE_KIB)?;
    conn.set_prepared_statement_cache_capacity(64);
    migrate::migrate(&conn)?;
    if options.path.is_some() {
        // Commits no longer pay for checkpoints; a thread does them (see checkpoint.rs).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    }
    Ok(conn)
}

/// Take the file's lock for good, or say who holds it.
///
/// `locking_mode=EXCLUSIVE` before the first WAL access keeps the WAL index in this
/// process's memory (no shared-memory file, no lock calls per transaction: measured ~12%
/// of a commit) and never gives the lock back while the connection is open. The empty
/// write transaction takes the write lock now rather than at the first request, so a
/// second server on the same file fails at start, not under load.
fn lock_exclusively(conn: &Connection, path: &Path) -> Result<()> {
    let in_use = |e: rusqlite::Error| error::in_use(e, path);
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(in_use)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(in_use)?;
    conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")
        .map_err(in_use)?;
    Ok(())
}
