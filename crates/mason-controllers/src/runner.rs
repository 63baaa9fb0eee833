//! The loop runner: every controller is a [`Loop`] that does one bounded unit of work per
//! [`Loop::tick`] and says when it wants to run again ([`Next`]). A [`Driver`] owns one
//! loop and runs it until a [`CancellationToken`] is cancelled:
//!
//! - between ticks it waits with `select!` on the token, a timer and its [`Waker`];
//! - a wake-up that arrives *while* a tick runs is remembered (the `Notify` keeps a
//!   permit), so work signalled mid-tick is never missed;
//! - a tick is never interrupted: cancellation is only observed between ticks, so a loop
//!   never stops halfway through a lease transition (loops that start long-running work,
//!   such as the janitor's child processes, hold their own child token for it). A tick
//!   still ends promptly at shutdown when its client is [`crate::shutdown::Guarded`]:
//!   its server calls then give way, and a tick that fails once shutdown has started
//!   ends the loop without the error counting as a warning;
//! - errors go through one [`ErrorPolicy`] (exponential backoff, capped) and are counted
//!   per loop in its [`LoopStatus`] (last run, next run, last error), readable at any
//!   time through a [`StatusHandle`] (what `GET /api/v2/status` shows).
//!
//! Tests drive a loop without timers: [`Driver::tick`] runs exactly one tick (recording
//! status like the runner does) and [`Driver::run_until_idle`] ticks while the loop
//! answers [`Next::Now`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a loop wants after a tick (like kube's `Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// There is more work: tick again at once.
    Now,
    /// Tick again after this long (or earlier when woken).
    After(Duration),
    /// Nothing to do until the loop's [`Waker`] is woken.
    OnWake,
}

/// Why a tick failed. The runner logs it, counts it and backs off.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoopError {
    /// A Boskos API call failed.
    #[error("api call failed: {0}")]
    Api(#[from] mason_client::Error),
    /// A local IO problem (spawning a program, reading a file).
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration the loop works from is unusable.
    #[error("bad configuration: {0}")]
    Config(String),
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}

impl LoopError {
    /// A short, stable label for the error kind (for logs and metrics).
    pub fn label(&self) -> &'static str {
        match self {
            LoopError::Api(_) => "api",
            LoopError::Io(_) => "io",
            LoopError::Config(_) => "config",
            LoopError::Other(_) => "other",
        }
    }
}

/// One controller's unit of work.
#[async_trait]
pub trait Loop: Send {
    /// A short name for logs and status (`reaper`, `cleaner`, ...).
    fn name(&self) -> &'static str;

    /// Do one bounded unit of work and say when to run again. Must be safe to run while
    /// other replicas run the same loop: every transition is a conditional server call.
    async fn tick(&mut self) -> Result<Next, LoopError>;

    /// The waker this loop hands to its own helpers (workers, file watchers) so they can
    /// wake it; the [`Driver`] waits on it. `None`: the driver makes its own.
    fn waker(&self) -> Option<Waker> {
        None
    }
}

/// How failures turn into retry delays: `initial · 2^(n-1)` after the n-th consecutive
/// error, never more than `max`. A successful tick resets the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorPolicy {
    /// Delay after the first error.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
}

impl Default for ErrorPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl ErrorPolicy {
    /// The delay after `consecutive` (≥ 1) errors in a row.
    pub fn delay(&self, consecutive: u32) -> Duration {
        let shift = consecutive.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << shift).min(self.max)
    }
}

pub use mason_types::status::LoopStatus;

/// Read access to a loop's [`LoopStatus`].
#[derive(Debug, Clone)]
pub struct StatusHandle(Arc<Mutex<LoopStatus>>);

impl StatusHandle {
    /// A snapshot of the status.
    pub fn get(&self) -> LoopStatus {
        self.0.lock().expect("status lock").clone()
    }

    fn update(&self, f: impl FnOnce(&mut LoopStatus)) {
        f(&mut self.0.lock().expect("status lock"));
    }
}

/// Wakes a loop that waits ([`Next::OnWake`] or [`Next::After`]). Cheap to clone; a wake
/// while the loop is busy makes its next wait return at once.
#[derive(Debug, Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    /// A waker not yet attached to a loop.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the loop to tick again soon.
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Wait for a wake-up (tests observe wake-ups this way; it consumes the wake).
    #[cfg(test)]
    pub(crate) async fn notified(&self) {
        self.0.notified().await;
    }
}

/// Owns one [`Loop`] and runs it (see the module docs).
pub struct Driver<L> {
    inner: L,
    policy: ErrorPolicy,
    waker: Waker,
    status: StatusHandle,
}

impl<L: Loop> Driver<L> {
    /// Wrap `inner` with the default [`ErrorPolicy`] and a fresh [`Waker`].
    pub fn new(inner: L) -> Self {
        let status = LoopStatus::new(inner.name());
        Self {
            inner,
            policy: ErrorPolicy::default(),
            waker: Waker::new(),
            status: StatusHandle(Arc::new(Mutex::new(status))),
        }
    }

    /// Use `policy` for failures.
    pub fn with_policy(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Use an existing waker (e.g. one handed to a component that signals new work).
    pub fn with_waker(mut self, waker: Waker) -> Self {
        self.waker = waker;
        self
    }

    /// The waker of this loop.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// The loop's status.
    pub fn status(&self) -> StatusHandle {
        self.status.clone()
    }

    /// The wrapped loop.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// The wrapped loop, mutably.
    pub fn inner_mut(&mut self) -> &mut L {
        &mut self.inner
    }

    /// Run exactly one tick, recording it in the status; on error, returns the error
    /// (the runner would back off by [`ErrorPolicy::delay`]).
    pub async fn tick(&mut self) -> Result<Next, LoopError> {
        let outcome = self.inner.tick().await;
        let recorded = outcome.as_ref().map(|_| ()).map_err(|e| e.to_string());
        self.status
            .update(|s| s.record_run(chrono::Utc::now(), recorded));
        outcome
    }

    /// Tick while the loop answers [`Next::Now`], at most `max_ticks` times; returns the
    /// first other answer (or `Next::Now` if the limit was reached). Stops at the first
    /// error.
    pub async fn run_until_idle(&mut self, max_ticks: usize) -> Result<Next, LoopError> {
        for _ in 0..max_ticks {
            match self.tick().await? {
                Next::Now => continue,
                other => return Ok(other),
            }
        }
        Ok(Next::Now)
    }

    /// Run until `token` is cancelled. Returns the loop so callers can inspect it.
    pub async fn run(mut self, token: CancellationToken) -> L {
        let name = self.inner.name();
        self.status.update(|s| s.running = true);
        tracing::debug!(loop_name = name, "loop started");
        while !token.is_cancelled() {
            let wait = match self.tick().await {
                Ok(Next::Now) => Some(Duration::ZERO),
                Ok(Next::After(d)) => Some(d),
                Ok(Next::OnWake) => None,
                Err(e) if token.is_cancelled() => {
                    tracing::info!(loop_name = name, error = %e, "tick cut short by shutdown");
                    break;
                }
                Err(e) => {
                    let n = self.status.get().consecutive_errors;
                    let delay = self.policy.delay(n);
                    tracing::warn!(
                        loop_name = name,
                        error = %e,
                        kind = e.label(),
                        consecutive = n,
                        retry_in = ?delay,
                        "tick failed"
                    );
                    Some(delay)
                }
            };
            let next_run = wait.and_then(wall_clock_in);
            self.status.update(|s| s.next_run = next_run);
            if wait == Some(Duration::ZERO) {
                tokio::task::yield_now().await;
                continue;
            }
            let notified = self.waker.0.notified();
            tokio::select! {
                biased;
                _ = token.cancelled() => break,
                _ = notified => {}
                _ = sleep_or_forever(wait) => {}
            }
        }
        self.status.update(|s| {
            s.running = false;
            s.next_run = None;
        });
        tracing::debug!(loop_name = name, "loop stopped");
        self.inner
    }
}

impl<L: Loop + 'static> Driver<L> {
    /// Spawn [`Driver::run`] on `tracker`; returns the loop's waker and status.
    pub fn spawn(self, tracker: &TaskTracker, token: CancellationToken) -> (Waker, StatusHandle) {
        let handles = (self.waker(), self.status());
        tracker.spawn(async move {
            self.run(token).await;
        });
        handles
    }
}

/// The wall-clock time `d` from now, for status readers (`None` if out of range).
pub(crate) fn wall_clock_in(d: Duration) -> Option<mason_types::Timestamp> {
    let d = chrono::Duration::from_std(d).ok()?;
    chrono::Utc::now().checked_add_signed(d)
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts ticks; answers from a script, then `OnWake`.
    struct Scripted {
        script: Vec<Result<Next, LoopError>>,
        ticks: Arc<Mutex<u32>>,
    }

    #[async_trait]
    impl Loop for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        async fn tick(&mut self) -> Result<Next, LoopError> {
            *self.ticks.lock().unwrap() += 1;
            if self.script.is_empty() {
                Ok(Next::OnWake)
            } else {
                self.script.remove(0)
            }
        }
    }

    fn scripted(script: Vec<Result<Next, LoopError>>) -> (Driver<Scripted>, Arc<Mutex<u32>>) {
        let ticks = Arc::new(Mutex::new(0));
        (
            Driver::new(Scripted {
                script,
                ticks: ticks.clone(),
            }),
            ticks,
        )
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = ErrorPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        assert_eq!(p.delay(1), Duration::from_secs(1));
        assert_eq!(p.delay(2), Duration::from_secs(2));
        assert_eq!(p.delay(4), Duration::from_secs(8));
        assert_eq!(p.delay(5), Duration::from_secs(10));
        assert_eq!(p.delay(200), Duration::from_secs(10));
    }

    #[tokio::test]
    async fn direct_ticks_record_status() {
        let (mut d, _) = scripted(vec![
            Ok(Next::Now),
            Err(LoopError::Other("boom".into())),
            Err(LoopError::Config("bad".into())),
            Ok(Next::After(Duration::from_secs(5))),
        ]);
        assert_eq!(d.run_until_idle(10).await.unwrap_err().to_string(), "boom");
        let s = d.status().get();
        assert_eq!((s.ticks, s.errors, s.consecutive_errors), (2, 1, 1));
        assert!(d.tick().await.is_err());
        assert_eq!(d.status().get().consecutive_errors, 2);
        assert_eq!(d.tick().await.unwrap(), Next::After(Duration::from_secs(5)));
        let s = d.status().get();
        assert_eq!((s.ticks, s.errors, s.consecutive_errors), (4, 2, 0));
        assert_eq!(s.last_error.as_deref(), Some("bad configuration: bad"));
        assert_eq!(s.name, "scripted");
        assert!(s.last_run >= s.last_error_at && s.last_error_at.is_some());
    }

    /// Reports the (virtual) time of each tick; answers from a script, then `OnWake`.
    struct Timed {
        script: Vec<Result<Next, LoopError>>,
        seen: tokio::sync::mpsc::UnboundedSender<tokio::time::Instant>,
    }

    #[async_trait]
    impl Loop for Timed {
        fn name(&self) -> &'static str {
            "timed"
        }
        async fn tick(&mut self) -> Result<Next, LoopError> {
            self.seen.send(tokio::time::Instant::now()).unwrap();
            if self.script.is_empty() {
                Ok(Next::OnWake)
            } else {
                self.script.remove(0)
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn runner_waits_wakes_backs_off_and_stops() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let script = vec![
            Ok(Next::Now),
            Ok(Next::After(Duration::from_secs(30))),
            Err(LoopError::Other("x".into())),
        ];
        let d = Driver::new(Timed { script, seen: tx }).with_policy(ErrorPolicy {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(2),
        });
        let waker = d.waker();
        let status = d.status();
        let token = CancellationToken::new();
        let start = tokio::time::Instant::now();
        let task = tokio::spawn(d.run(token.clone()));
        let mut at = Vec::new();
        for _ in 0..4 {
            at.push(rx.recv().await.unwrap() - start);
        }
        // Now → at once; After(30s) → 30 s later; the error backs off 2 s.
        let secs = |s| Duration::from_secs(s);
        assert_eq!(at, vec![secs(0), secs(0), secs(30), secs(32)]);
        assert_eq!(status.get().errors, 1);
        // The fourth tick answered OnWake: no tick without a wake, however long we wait.
        let idle = tokio::time::timeout(Duration::from_secs(3600), rx.recv()).await;
        assert!(idle.is_err(), "ticked without a wake");
        let s = status.get();
        assert!(s.last_run.is_some() && s.last_error_at.is_some(), "{s:?}");
        assert_eq!(s.next_run, None, "waiting for a wake-up only");
        waker.wake();
        assert!(rx.recv().await.is_some());
        assert!(status.get().running);
        token.cancel();
        task.await.unwrap();
        let s = status.get();
        assert!(!s.running);
        assert_eq!((s.ticks, s.errors, s.consecutive_errors), (5, 1, 0));
    }

    /// A wake that arrives while a tick runs is not lost.
    #[tokio::test(start_paused = true)]
    async fn wake_during_tick_is_remembered() {
        struct WakesItself {
            waker: Waker,
            seen: tokio::sync::mpsc::UnboundedSender<()>,
            first: bool,
        }
        #[async_trait]
        impl Loop for WakesItself {
            fn name(&self) -> &'static str {
                "self-waking"
            }
            async fn tick(&mut self) -> Result<Next, LoopError> {
                if std::mem::take(&mut self.first) {
                    self.waker.wake();
                }
                self.seen.send(()).unwrap();
                Ok(Next::OnWake)
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let waker = Waker::new();
        let d = Driver::new(WakesItself {
            waker: waker.clone(),
            seen: tx,
            first: true,
        })
        .with_waker(waker);
        let token = CancellationToken::new();
        let task = tokio::spawn(d.run(token.clone()));
        rx.recv().await.unwrap();
        rx.recv().await.unwrap();
        let idle = tokio::time::timeout(Duration::from_secs(3600), rx.recv()).await;
        assert!(idle.is_err());
        token.cancel();
        task.await.unwrap();
    }

    /// A tick that is in progress when shutdown starts finishes before the runner stops.
    #[tokio::test(start_paused = true)]
    async fn cancellation_never_interrupts_a_tick() {
        struct Slow {
            token: CancellationToken,
            finished: Arc<Mutex<bool>>,
        }
        #[async_trait]
        impl Loop for Slow {
            fn name(&self) -> &'static str {
                "slow"
            }
            async fn tick(&mut self) -> Result<Next, LoopError> {
                self.token.cancel();
                tokio::time::sleep(Duration::from_secs(1)).await;
                *self.finished.lock().unwrap() = true;
                Ok(Next::Now)
            }
        }
        let token = CancellationToken::new();
        let finished = Arc::new(Mutex::new(false));
        let d = Driver::new(Slow {
            token: token.clone(),
            finished: finished.clone(),
        });
        let status = d.status();
        d.run(token).await;
        assert!(*finished.lock().unwrap());
        assert_eq!(status.get().ticks, 1);
    }
}
