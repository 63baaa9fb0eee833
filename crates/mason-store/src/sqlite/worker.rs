//! The store thread: the one thread that runs SQLite calls, so no async worker ever
//! blocks on the disk. Callers queue a job (a bounded queue: a full one is a 503) and
//! await its answer under the store's deadline; a job whose deadline passed while it
//! waited is not run. The thread records what it is doing in [`Health`], which readiness
//! reads without waiting for it: a call running for longer than [`STALL_AFTER`] is a
//! stall, and a write that failed on the storage (disk full, I/O error, read-only) makes
//! the store unready until a write succeeds again.
//!
//! Speed: on an idle machine the thread looks for its next job for a moment after each
//! one, and a caller for its answer, before sleeping; on a machine short of CPU both
//! sleep at once (`spin.rs` decides, and has the measurements). Looking without that
//! condition (the thread for 200 µs, the caller for 50 µs without yielding its worker) was
//! measured slower on the loaded machine: each looking thread takes a core the client and
//! the HTTP worker need.
//!
//! [`Faults`] is the test-only fault hook (a write that blocks, or fails as a full or
//! failing disk would): it is reachable only through `SqliteStore::faults` under the
//! `testsuite` feature and is inert otherwise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::spin::Spin;
use super::txn::Inner;
use crate::{Error, Result};

/// Jobs that may wait for the store thread; one more is refused with a 503.
const QUEUE: usize = 4096;

/// A call running longer than this is reported as a stall by readiness.
pub(super) const STALL_AFTER: Duration = Duration::from_secs(1);

/// One queued call: runs with the store's state, and answers its caller itself.
pub(super) type Job = Box<dyn FnOnce(&mut Inner) + Send>;

struct Queued {
    job: Job,
    /// A write (the fault hook applies to writes only).
    write: bool,
    /// Not run once this has passed (its caller has been answered 503).
    deadline: Instant,
}

/// What the store thread is doing, for readiness (read without waiting for it).
#[derive(Default)]
pub(crate) struct Health {
    /// When the running call started, as µs since [`epoch`] plus one; 0 when idle.
    busy_since: AtomicU64,
    /// The last write's storage failure, until a write succeeds.
    failing: Mutex<Option<String>>,
}

/// The instant [`Health::busy_since`] counts from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Health {
    fn start(&self) {
        let since = epoch().elapsed().as_micros() as u64 + 1;
        self.busy_since.store(since, Ordering::Release);
    }

    fn end(&self) {
        self.busy_since.store(0, Ordering::Release);
    }

    /// How long the running call has been running, if one is.
    pub(super) fn running_for(&self) -> Option<Duration> {
        match self.busy_since.load(Ordering::Acquire) {
            0 => None,
            since => {
                let now = epoch().elapsed().as_micros() as u64 + 1;
                Some(Duration::from_micros(now.saturating_sub(since)))
            }
        }
    }

    /// Record a write's outcome: a storage failure makes the store unready, a success
    /// ready again; other errors (the caller's) say nothing about the storage.
    pub(super) fn record_write<T>(&self, outcome: &Result<T>) {
        let failure = match outcome {
            Ok(_) => None,
            Err(Error::Storage(why)) => Some(why.clone()),
            Err(_) => return,
        };
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        if *failing != failure {
            *failing = failure;
        }
    }

    /// The storage failure of the last write, while writes fail.
    pub(super) fn failing(&self) -> Option<String> {
        self.failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The test-only fault hook (see the module doc). Without the `testsuite` feature it
/// cannot be armed at all.
#[derive(Default)]
#[cfg_attr(not(feature = "testsuite"), allow(unreachable_pub))]
pub struct Faults {
    /// The next write blocks this long (ms; 0: no stall) before it runs.
    stall_ms: AtomicU64,
    /// Every write fails with this SQLite result code (0: none) until cleared.
    fail_code: AtomicU64,
}

impl Faults {
    #[cfg(feature = "testsuite")]
    /// The next write blocks for `d` on the store thread before it runs, as a write
    /// stuck in the kernel on a stalled disk would.
    pub fn stall_next_write(&self, d: Duration) {
        self.stall_ms.store(d.as_millis() as u64, Ordering::Release);
    }

    #[cfg(feature = "testsuite")]
    /// Every write fails as on a full disk (`SQLITE_FULL`) until [`Faults::heal`].
    pub fn fill_disk(&self) {
        self.fail_code
            .store(rusqlite::ffi::SQLITE_FULL as u64, Ordering::Release);
    }

    #[cfg(feature = "testsuite")]
    /// Every write fails with an I/O error (`SQLITE_IOERR`) until [`Faults::heal`].
    pub fn break_disk(&self) {
        self.fail_code
            .store(rusqlite::ffi::SQLITE_IOERR as u64, Ordering::Release);
    }

    #[cfg(feature = "testsuite")]
    /// Writes work again.
    pub fn heal(&self) {
        self.fail_code.store(0, Ordering::Release);
    }

    /// Block before a write when asked to (store thread).
    fn before_write(&self) {
        let ms = self.stall_ms.swap(0, Ordering::AcqRel);
        if ms > 0 {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }

    /// The error every write fails with meanwhile, if any (called by the runner before
    /// `BEGIN`), as the driver would report it.
    pub(super) fn write_error(&self) -> Option<rusqlite::Error> {
        match self.fail_code.load(Ordering::Acquire) {
            0 => None,
            code => Some(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code as i32),
                Some("injected by the test fault hook".into()),
            )),
        }
    }
}

/// The store thread and its queue; stopped and joined on drop.
pub(super) struct Worker {
    queue: Option<SyncSender<Queued>>,
    thread: Option<JoinHandle<()>>,
    spin: Arc<Spin>,
}

impl Worker {
    /// Start the thread over `inner`, reporting to `health`.
    pub(super) fn start(
        inner: Arc<Mutex<Inner>>,
        health: Arc<Health>,
        faults: Arc<Faults>,
    ) -> Result<Self> {
        let (queue, jobs) = std::sync::mpsc::sync_channel(QUEUE);
        let spin = Arc::new(Spin::default());
        let looks = Arc::clone(&spin);
        let thread = std::thread::Builder::new()
            .name("mason-sqlite-store".into())
            .spawn(move || run(&inner, &jobs, &health, &faults, &looks))
            .map_err(|e| Error::backend_from("cannot start the store thread", e))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
            spin,
        })
    }

    /// The hand-off's adaptive wait, shared with the callers.
    pub(super) fn spin(&self) -> &Spin {
        &self.spin
    }

    /// Queue `job`; it is dropped unrun once `deadline` has passed.
    pub(super) fn submit(&self, job: Job, write: bool, deadline: Instant) -> Result<()> {
        let queue = self.queue.as_ref().expect("the queue lives until drop");
        match queue.try_send(Queued {
            job,
            write,
            deadline,
        }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Error::Storage(format!(
                "{QUEUE} calls are waiting for the store already (a stalled disk?)"
            ))),
            Err(TrySendError::Disconnected(_)) => {
                Err(Error::backend("the SQLite store thread has stopped"))
            }
        }
    }
}

/// The next job: looked for (yielding the CPU between looks) until `window` after
/// `since`, then slept for. Also says how long after `since` it came.
fn next_job(
    jobs: &Receiver<Queued>,
    window: Duration,
    since: Instant,
) -> Option<(Queued, Duration)> {
    if !window.is_zero() {
        loop {
            match jobs.try_recv() {
                Ok(next) => return Some((next, since.elapsed())),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            if since.elapsed() >= window {
                break;
            }
            std::thread::yield_now();
        }
    }
    let next = jobs.recv().ok()?;
    Some((next, since.elapsed()))
}

fn run(
    inner: &Mutex<Inner>,
    jobs: &Receiver<Queued>,
    health: &Health,
    faults: &Faults,
    spin: &Spin,
) {
    let mut window = Duration::ZERO;
    let mut since = Instant::now();
    loop {
        let Some((next, gap)) = next_job(jobs, window, since) else {
            return;
        };
        // Look for the next job only while jobs come soon enough to be caught so.
        let full = spin.store_window();
        window = if gap < full { full } else { Duration::ZERO };
        if Instant::now() > next.deadline {
            continue;
        }
        health.start();
        let Ok(mut guard) = inner.lock() else {
            return;
        };
        if next.write {
            faults.before_write();
        }
        (next.job)(&mut guard);
        drop(guard);
        health.end();
        since = Instant::now();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
