//! The store file's identity: who may open it, whether it existed before, and whether the
//! path still names the file this store has open.
//!
//! - **The lock file.** `PATH.lock` beside the database is locked exclusively (`flock`)
//!   for as long as the store is open. It is not the database: a database file deleted
//!   or replaced under a running server (an operator's `rm`, a restore gone wrong) does
//!   not free the lock, so a second server on the same path still stops at start.
//!   Opening waits up to [`LOCK_WAIT`] for the lock before saying so: a child process
//!   started by any thread of this process holds a copy of every open descriptor (the
//!   lock file's, and with it the lock) from its fork until its exec closes it, so a
//!   store reopened at once in the same process (a restart) can find its own earlier
//!   lock still held for that moment.
//! - **The marker rule.** The lock file is created with the store and never removed, so
//!   it also records that a store was initialised at `PATH`. A missing database whose
//!   lock file is there was lost, and opening it is an error unless the caller asked to
//!   create a new empty store ([`super::SqliteOptions::create`], `--create`): a silent
//!   empty store never replaces a lost one. No lock file and no database is a fresh path.
//! - **The watch.** The device and inode of the database, its WAL and the lock file are
//!   recorded at open; [`Identity::check`] compares them with what the path names now.
//!   (The files are held open, so their inode numbers cannot be reused by a new file.)
//!   A thread checks every [`WATCH_PERIOD`]; the store refuses writes and readiness fails
//!   from the first mismatch on (logged once), until the server is restarted on a
//!   restored file. Every write also checks the lock file (one `stat`), so a second
//!   store that took over a deleted lock file never grants next to this one.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// How often the watch thread compares the path with the open files.
pub(super) const WATCH_PERIOD: Duration = Duration::from_millis(250);

/// How long opening waits for the lock file's lock before the store is "in use by
/// another process". A child process's copy of the lock (see the module doc) lasts from
/// its fork to its exec; a real second server is refused this much later.
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(1);

/// Between two tries of the lock while waiting for it.
const LOCK_RETRY: Duration = Duration::from_millis(5);

/// A file's device and inode.
type FileId = (u64, u64);

/// `path` with `suffix` appended to its file name (`-wal`, `.lock`).
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The lock file of the store at `path`.
pub(super) fn lock_path(path: &Path) -> PathBuf {
    with_suffix(path, ".lock")
}

/// The held lock file of a store being opened, and whether it was there before.
pub(super) struct StoreLock {
    /// The open, locked file (the lock lasts as long as it is open; never read).
    _file: File,
    /// `PATH.lock`.
    path: PathBuf,
    /// The lock file was there already: a store was initialised at this path before.
    pub(super) existed: bool,
}

impl StoreLock {
    /// Create or open `PATH.lock` and lock it, or say that another process holds it.
    pub(super) fn take(db: &Path) -> Result<Self> {
        let path = lock_path(&std::path::absolute(db).unwrap_or_else(|_| db.to_path_buf()));
        let (mut file, existed) = match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => (f, false),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                // Read-only is enough for the lock (and lets a read-only store file be
                // the error, with its own message).
                let f = OpenOptions::new().read(true).open(&path).map_err(|e| {
                    Error::backend_from(format!("cannot open {}", path.display()), e)
                })?;
                (f, true)
            }
            Err(e) => {
                return Err(Error::backend_from(
                    format!("cannot create {}", path.display()),
                    e,
                ))
            }
        };
        let asked = Instant::now();
        let mut retries = 0u32;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if asked.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(LOCK_RETRY);
                    retries += 1;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Unavailable(format!(
                        "the SQLite store {} is in use by another process (it holds {}; a \
                         store file serves one mason at a time: stop the other one, or use \
                         PostgreSQL for replicas)",
                        db.display(),
                        path.display()
                    )))
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::backend_from(
                        format!("cannot lock {}", path.display()),
                        e,
                    ))
                }
            }
        }
        if retries > 0 {
            let waited_ms = asked.elapsed().as_secs_f64() * 1e3;
            tracing::debug!(
                retries,
                waited_ms,
                "waited for the lock of {} (held by another process, or by a child \
                 process of this one until it starts its program)",
                path.display()
            );
        }
        if !existed {
            let note = format!(
                "mason: the lock of the SQLite store {name}, and the record that a store was \
                 created here.\nWhile it exists, a missing {name} is an error (a lost store), \
                 not a new empty one; see the README, Stores.\n",
                name = db.file_name().unwrap_or_default().to_string_lossy()
            );
            file.write_all(note.as_bytes())
                .map_err(|e| Error::backend_from(format!("cannot write {}", path.display()), e))?;
        }
        Ok(Self {
            _file: file,
            path,
            existed,
        })
    }

    /// Give the lock up and remove the lock file (a start that failed, on a path that had
    /// no store before).
    pub(super) fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What the path named when the store opened it, and whether it still does.
pub(super) struct Identity {
    /// The database path.
    db: PathBuf,
    /// `PATH-wal`.
    wal: PathBuf,
    /// The held lock (kept open for the store's life).
    lock: StoreLock,
    /// The database file's id at open.
    db_id: FileId,
    /// The lock file's id at open.
    lock_id: FileId,
    /// The WAL's id once seen (SQLite creates it at the first transaction).
    wal_id: Mutex<Option<FileId>>,
    /// Set for good at the first mismatch.
    lost: AtomicBool,
    /// What the first mismatch was (the 503's and readiness' text).
    reason: Mutex<String>,
}

impl Identity {
    /// Record what `db` (just opened, holding `lock`) and its WAL are.
    pub(super) fn record(db: &Path, lock: StoreLock) -> Result<Self> {
        let id_of = |p: &Path| {
            file_id(p)
                .map_err(|e| Error::backend_from(format!("cannot stat {}", p.display()), e))?
                .ok_or_else(|| Error::backend(format!("{} vanished while opening", p.display())))
        };
        let db_id = id_of(db)?;
        let lock_id = id_of(&lock.path)?;
        let db = std::path::absolute(db).unwrap_or_else(|_| db.to_path_buf());
        let wal = with_suffix(&db, "-wal");
        let wal_id = file_id(&wal).ok().flatten();
        Ok(Self {
            db,
            wal,
            lock,
            db_id,
            lock_id,
            wal_id: Mutex::new(wal_id),
            lost: AtomicBool::new(false),
            reason: Mutex::new(String::new()),
        })
    }

    /// `Err` (the store's 503) once the path no longer names the open files; checks the
    /// lock file now (one `stat`), the rest as of the watch thread's last look.
    pub(super) fn writable(&self) -> Result<()> {
        if !self.lost.load(Ordering::Acquire) && self.compare_lock().is_none() {
            return Ok(());
        }
        self.check()
    }

    /// Compare every recorded file with what its path names now; the first mismatch is
    /// logged and kept (the store stays refused until restarted).
    pub(super) fn check(&self) -> Result<()> {
        if !self.lost.load(Ordering::Acquire) {
            let Some(what) = self
                .compare_lock()
                .or_else(|| self.compare_db())
                .or_else(|| self.compare_wal())
            else {
                return Ok(());
            };
            let mut reason = self.reason.lock().unwrap_or_else(|e| e.into_inner());
            if !self.lost.swap(true, Ordering::AcqRel) {
                *reason = format!(
                    "the SQLite store {} {what} while this server had it open; writes are \
                     refused until mason is restarted on the restored file",
                    self.db.display()
                );
                tracing::error!("{}", *reason);
            }
        }
        let reason = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        Err(Error::Storage(reason.clone()))
    }

    /// Whether only the WAL went (the database file is still the one open): the watch
    /// then checkpoints, so what the WAL held is in the database file.
    pub(super) fn wal_lost_alone(&self) -> bool {
        self.lost.load(Ordering::Acquire) && self.compare_db().is_none()
    }

    fn compare_lock(&self) -> Option<String> {
        let path = &self.lock.path;
        compare(path, self.lock_id)
            .map(|what| format!("lost its lock file: {} {what}", path.display()))
    }

    fn compare_db(&self) -> Option<String> {
        compare(&self.db, self.db_id)
    }

    fn compare_wal(&self) -> Option<String> {
        let mut seen = self.wal_id.lock().unwrap_or_else(|e| e.into_inner());
        match *seen {
            Some(id) => compare(&self.wal, id)
                .map(|what| format!("lost its WAL: {} {what}", self.wal.display())),
            None => {
                *seen = file_id(&self.wal).ok().flatten();
                None
            }
        }
    }
}

/// `None` when `path` still names the file `id`; otherwise what happened to it.
fn compare(path: &Path, id: FileId) -> Option<String> {
    match file_id(path) {
        Ok(Some(now)) if now == id => None,
        Ok(Some(_)) => Some("was replaced by another file".into()),
        Ok(None) => Some("was deleted".into()),
        Err(e) => Some(format!("cannot be checked ({e})")),
    }
}

/// The device and inode `path` names, `None` when there is no such file.
fn file_id(path: &Path) -> std::io::Result<Option<FileId>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some((m.dev(), m.ino()))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The watch thread; stopped and joined on drop.
pub(super) struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Check `identity` every [`WATCH_PERIOD`]; `on_wal_lost` runs once when only the WAL
    /// went (the store checkpoints what it held into the database file).
    pub(super) fn start(
        identity: Arc<Identity>,
        on_wal_lost: impl FnOnce() + Send + 'static,
    ) -> Result<Self> {
        Self::every(identity, WATCH_PERIOD, on_wal_lost)
    }

    /// Check `identity` every `period`.
    fn every(
        identity: Arc<Identity>,
        period: Duration,
        on_wal_lost: impl FnOnce() + Send + 'static,
    ) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("mason-sqlite-watch".into())
            .spawn(move || {
                let mut on_wal_lost = Some(on_wal_lost);
                loop {
                    // Woken early by the drop (an unpark), so closing the store does not
                    // wait out the period.
                    std::thread::park_timeout(period);
                    if flag.load(Ordering::Relaxed) {
                        return;
                    }
                    if identity.check().is_err() {
                        if identity.wal_lost_alone() {
                            if let Some(f) = on_wal_lost.take() {
                                f();
                            }
                        }
                        return;
                    }
                }
            })
            .map_err(|e| Error::backend_from("cannot start the store watch thread", e))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Watch {
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
    use super::*;

    /// Stopping the watch does not wait out its period: with a period of an hour, the
    /// drop returns at once (the thread is unparked), not an hour later.
    #[test]
    fn a_drop_wakes_the_watch_instead_of_waiting_out_the_period() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        std::fs::write(&db, b"x").unwrap();
        let identity = Arc::new(Identity::record(&db, StoreLock::take(&db).unwrap()).unwrap());
        let watch = Watch::every(identity, Duration::from_secs(3600), || {}).unwrap();
        let (done, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(watch);
            let _ = done.send(());
        });
        assert!(
            dropped.recv_timeout(Duration::from_secs(60)).is_ok(),
            "the watch thread was not stopped within a minute of its drop"
        );
    }

    #[test]
    fn a_replaced_or_deleted_file_is_lost_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        std::fs::write(&db, b"x").unwrap();
        let lock = StoreLock::take(&db).unwrap();
        assert!(!lock.existed);
        assert!(matches!(
            StoreLock::take(&db),
            Err(Error::Unavailable(text)) if text.contains("in use by another process")
        ));
        // Held open, as SQLite holds it: its inode cannot be reused by the new file.
        let _open = File::open(&db).unwrap();
        let identity = Identity::record(&db, lock).unwrap();
        identity.check().unwrap();
        identity.writable().unwrap();
        std::fs::remove_file(&db).unwrap();
        std::fs::write(&db, b"y").unwrap();
        let err = identity.check().unwrap_err().to_string();
        assert!(
            err.contains(&format!("{} was replaced", db.display())),
            "{err}"
        );
        assert!(identity.writable().is_err());
        assert!(!identity.wal_lost_alone());
    }

    #[test]
    fn a_deleted_lock_file_refuses_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        std::fs::write(&db, b"x").unwrap();
        let identity = Identity::record(&db, StoreLock::take(&db).unwrap()).unwrap();
        std::fs::remove_file(lock_path(&db)).unwrap();
        let err = identity.writable().unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "{} lost its lock file: {} was deleted",
                db.display(),
                lock_path(&db).display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_lock_file_left_behind_says_a_store_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        drop(StoreLock::take(&db).unwrap());
        let again = StoreLock::take(&db).unwrap();
        assert!(again.existed);
        again.remove();
        assert!(!lock_path(&db).exists());
    }
}
