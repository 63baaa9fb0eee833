//! [`StatusBoard`]: the loop status a process serves at `GET /api/v2/status`
//! ([`mason_types::status::ProcessStatus`]).
//!
//! The board knows nothing about controllers: each part registers a closure that reads
//! its own status (`mason up` registers the reaper's, cleaner's and janitor's runner
//! status and the builder's), and loops that have no status of their own record into a
//! [`LoopTracker`]. The server's own loops are tracked here:
//! - `config-sync`: one run per config sync (the periodic full sync, or a changed config
//!   file applied); a poll that finds the file unchanged is not a run. `next_run` is the
//!   next full sync.
//! - `request-gc`: one run per sweep of expired `request_id` entries.
//!
//! `mason serve` alone therefore answers with those two loops; `mason up` adds the
//! builder (with its pools), reaper, cleaner and janitor; a standalone controller serves
//! its own loop (and the builder its pools) on its `--status-port`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_types::status::{BuilderStatus, LoopStatus, ProcessStatus};
use mason_types::Timestamp;

type LoopSource = Arc<dyn Fn() -> LoopStatus + Send + Sync>;
type BuilderSource = Arc<dyn Fn() -> BuilderStatus + Send + Sync>;

/// The status of every loop of one process. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct StatusBoard {
    inner: Arc<Inner>,
}

struct Inner {
    /// When the board was made (the process's start, near enough).
    started_at: Timestamp,
    /// Which command this process is (`serve`, `up`, `reaper`, …).
    process: Mutex<String>,
    /// Loops, in registration order, each with the name it was registered under.
    loops: Mutex<Vec<(String, LoopSource)>>,
    /// The builder's pools, when a builder runs here.
    builder: Mutex<Option<BuilderSource>>,
    /// Loops recording their own runs here (also in `loops`), found again by name.
    trackers: Mutex<Vec<LoopTracker>>,
}

impl std::fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBoard")
            .field("process", &*self.inner.process.lock().expect("status lock"))
            .finish_non_exhaustive()
    }
}

impl StatusBoard {
    /// An empty board for the command `process`.
    pub fn new(process: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                started_at: chrono::Utc::now(),
                process: Mutex::new(process.to_string()),
                loops: Mutex::new(Vec::new()),
                builder: Mutex::new(None),
                trackers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Name the command this process runs (`mason up` renames the server's `serve`).
    pub fn set_process(&self, process: &str) {
        *self.inner.process.lock().expect("status lock") = process.to_string();
    }

    /// Show a loop whose status `source` reads (a controller's runner status). A loop
    /// registered again under the same name replaces the earlier one.
    pub fn add_loop(&self, name: &str, source: impl Fn() -> LoopStatus + Send + Sync + 'static) {
        let mut loops = self.inner.loops.lock().expect("status lock");
        let source: LoopSource = Arc::new(source);
        match loops.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = source,
            None => loops.push((name.to_string(), source)),
        }
    }

    /// Show the builder's pools, read by `source`.
    pub fn set_builder(&self, source: impl Fn() -> BuilderStatus + Send + Sync + 'static) {
        *self.inner.builder.lock().expect("status lock") = Some(Arc::new(source));
    }

    /// A tracker for a loop that records its own runs, registered under `name` (the same
    /// tracker again when one was made under that name before).
    pub fn track(&self, name: &str) -> LoopTracker {
        let mut trackers = self.inner.trackers.lock().expect("status lock");
        if let Some(existing) = trackers.iter().find(|t| t.name() == name) {
            return existing.clone();
        }
        let tracker = LoopTracker::new(name);
        trackers.push(tracker.clone());
        drop(trackers);
        let reader = tracker.clone();
        self.add_loop(name, move || reader.get());
        tracker
    }

    /// Everything, now.
    pub fn snapshot(&self) -> ProcessStatus {
        let loops: Vec<LoopSource> = self
            .inner
            .loops
            .lock()
            .expect("status lock")
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        let builder = self.inner.builder.lock().expect("status lock").clone();
        ProcessStatus {
            process: self.inner.process.lock().expect("status lock").clone(),
            started_at: self.inner.started_at,
            now: chrono::Utc::now(),
            loops: loops.iter().map(|read| read()).collect(),
            builder: builder.map(|read| read()),
        }
    }
}

/// The status of a loop that records its own runs (the server's config sync and request
/// GC). Cheap to clone.
#[derive(Debug, Clone)]
pub struct LoopTracker(Arc<Mutex<LoopStatus>>);

impl LoopTracker {
    fn new(name: &str) -> Self {
        Self(Arc::new(Mutex::new(LoopStatus::new(name))))
    }

    fn name(&self) -> String {
        self.0.lock().expect("status lock").name.clone()
    }

    /// A snapshot.
    pub fn get(&self) -> LoopStatus {
        self.0.lock().expect("status lock").clone()
    }

    /// The loop is running; its next run is due within `next` (`None`: on a wake-up).
    pub fn started(&self, next: Option<Duration>) {
        let mut s = self.0.lock().expect("status lock");
        s.running = true;
        s.next_run = next.and_then(wall_clock_in);
    }

    /// One run finished with `outcome`; the next is due within `next`.
    pub fn ran(&self, outcome: Result<(), String>, next: Option<Duration>) {
        let mut s = self.0.lock().expect("status lock");
        s.record_run(chrono::Utc::now(), outcome);
        s.next_run = next.and_then(wall_clock_in);
    }

    /// The loop stopped.
    pub fn stopped(&self) {
        let mut s = self.0.lock().expect("status lock");
        s.running = false;
        s.next_run = None;
    }
}

fn wall_clock_in(d: Duration) -> Option<Timestamp> {
    chrono::Utc::now().checked_add_signed(chrono::Duration::from_std(d).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_keep_their_order_and_trackers_are_found_again() {
        let board = StatusBoard::new("serve");
        let sync = board.track("config-sync");
        board.add_loop("reaper", || LoopStatus::new("reaper"));
        let again = board.track("config-sync");
        sync.started(Some(Duration::from_secs(60)));
        again.ran(Err("store down".into()), Some(Duration::from_secs(1)));
        board.set_process("up");

        let snapshot = board.snapshot();
        assert_eq!(snapshot.process, "up");
        let names: Vec<&str> = snapshot.loops.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["config-sync", "reaper"]);
        let s = &snapshot.loops[0];
        assert!(s.running);
        assert_eq!((s.ticks, s.errors), (1, 1));
        assert_eq!(s.last_error.as_deref(), Some("store down"));
        let next = s.next_run.expect("a next run");
        assert!(next > s.last_run.expect("a last run"));
        assert!(next <= snapshot.now + chrono::Duration::seconds(1));
        assert!(snapshot.builder.is_none());
    }

    #[test]
    fn a_builder_shows_its_pools_and_a_stopped_loop_has_no_next_run() {
        let board = StatusBoard::new("up");
        board.set_builder(|| {
            let mut b = BuilderStatus::default();
            b.pools.entry("sandbox".into()).or_default().in_flight = 2;
            b
        });
        let gc = board.track("request-gc");
        gc.started(Some(Duration::from_secs(60)));
        gc.stopped();
        let snapshot = board.snapshot();
        assert_eq!(snapshot.builder.unwrap().pools["sandbox"].in_flight, 2);
        assert!(!snapshot.loops[0].running);
        assert_eq!(snapshot.loops[0].next_run, None);
    }
}
