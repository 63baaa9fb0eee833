//! Waiting acquires: poll until a resource is free, the deadline passes or the caller
//! cancels (SPEC §5.4 `AcquireWait`, `AcquireByStateWait`).
//!
//! [`HttpClient::acquire_wait`] draws one request ID (UUID v4) and sends it on every poll,
//! so the server keeps the caller's place in the FIFO queue. "Nothing free" (404) and
//! "owned by someone else" (401) mean: poll again after the client's poll interval
//! (default 3 s); any other error is returned at once — in particular
//! [`Error::TypeNotFound`], which waiting cannot fix. The deadline is checked between
//! polls (the last poll happens at the deadline, and one in flight finishes, bounded by
//! the request timeout and retries). Unlike upstream, cancellation also cuts short a poll
//! in flight; a resource granted by the server in that very instant is left to the reaper.
//!
//! A progress hook, called after each unsuccessful poll, lets a front end show how long it
//! has waited and, when the server offers queue visibility, the caller's rank.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mason_types::Resource;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{BoskosApi, Error, Result};
use crate::http::HttpClient;

/// What a progress hook is told after each unsuccessful poll.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WaitProgress {
    /// The request ID sent on every poll (`None` for acquire-by-state).
    pub request_id: Option<String>,
    /// Polls made so far.
    pub attempts: u64,
    /// Time since the wait began.
    pub waited: Duration,
    /// The caller's rank in the server's queue, when the server tells (`mason serve`).
    pub rank: Option<u64>,
    /// Why the last poll did not succeed.
    pub last_error: String,
}

/// A progress hook.
pub type ProgressHook = Arc<dyn Fn(&WaitProgress) + Send + Sync>;

/// How long and how to wait; all optional.
#[derive(Clone, Default)]
#[must_use]
pub struct Wait {
    pub(crate) timeout: Option<Duration>,
    pub(crate) cancel: Option<CancellationToken>,
    pub(crate) poll_interval: Option<Duration>,
    pub(crate) progress: Option<ProgressHook>,
}

impl std::fmt::Debug for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wait")
            .field("timeout", &self.timeout)
            .field("poll_interval", &self.poll_interval)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Wait {
    /// Wait forever (until cancelled).
    pub fn new() -> Self {
        Self::default()
    }

    /// Give up with [`Error::Timeout`] after `timeout` (zero = a single poll).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Give up with [`Error::Cancelled`] when `token` is cancelled.
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Poll this often instead of the client's poll interval.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// Call `hook` after every unsuccessful poll. With a hook, `acquire_wait` also reads
    /// the queue rank (one extra request per poll, skipped once the server proves not to
    /// offer it).
    pub fn on_progress(mut self, hook: impl Fn(&WaitProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(hook));
        self
    }
}

/// Whether waiting may fix this error.
fn worth_waiting(err: &Error) -> bool {
    matches!(err, Error::NotFound(_) | Error::OwnerMismatch(_))
}

impl HttpClient {
    /// Acquire a `rtype` resource in `state`, moved to `dest`, polling until one is free.
    pub async fn acquire_wait(
        &self,
        rtype: &str,
        state: &str,
        dest: &str,
        wait: &Wait,
    ) -> Result<Resource> {
        let request_id = uuid::Uuid::new_v4().to_string();
        self.acquire_wait_with_id(rtype, state, dest, &request_id, wait)
            .await
    }

    /// Like [`HttpClient::acquire_wait`] with a caller-chosen request ID.
    pub async fn acquire_wait_with_id(
        &self,
        rtype: &str,
        state: &str,
        dest: &str,
        request_id: &str,
        wait: &Wait,
    ) -> Result<Resource> {
        let poll = || self.acquire(rtype, state, dest, Some(request_id));
        let rank = || async move {
            match self.queue(Some(rtype)).await {
                Ok(Some(entries)) => {
                    let rank = entries.iter().find(|e| e.request_id == request_id);
                    (rank.map(|e| e.rank), true)
                }
                Ok(None) => (None, false),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the queue");
                    (None, true)
                }
            }
        };
        self.poll_until(wait, Some(request_id), poll, rank, true)
            .await
    }

    /// Acquire the named resources in `state`, moved to `dest`, polling until all are free.
    pub async fn acquire_by_state_wait(
        &self,
        state: &str,
        dest: &str,
        names: &[String],
        wait: &Wait,
    ) -> Result<Vec<Resource>> {
        let poll = || self.acquire_by_state(state, dest, names);
        let no_rank = || async { (None, false) };
        self.poll_until(wait, None, poll, no_rank, false).await
    }

    /// The shared waiting loop. When a progress hook is set, `rank` is asked after each
    /// unsuccessful poll (while `ask_rank` holds); it answers the rank and whether to keep
    /// asking.
    async fn poll_until<T, P, PF, R, RF>(
        &self,
        wait: &Wait,
        request_id: Option<&str>,
        poll: P,
        rank: R,
        mut ask_rank: bool,
    ) -> Result<T>
    where
        P: Fn() -> PF,
        PF: Future<Output = Result<T>>,
        R: Fn() -> RF,
        RF: Future<Output = (Option<u64>, bool)>,
    {
        let start = Instant::now();
        let deadline = wait.timeout.map(|t| start + t);
        let interval = wait.poll_interval.unwrap_or(self.inner.poll_interval);
        let cancel = wait.cancel.clone().unwrap_or_default();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(Error::Cancelled),
                outcome = poll() => outcome,
            };
            let err = match outcome {
                Ok(value) => return Ok(value),
                Err(e) if worth_waiting(&e) => e,
                Err(e) => return Err(e),
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(timeout(start, err));
            }
            if let Some(hook) = &wait.progress {
                let rank = if ask_rank {
                    let (rank, keep) = rank().await;
                    ask_rank = keep;
                    rank
                } else {
                    None
                };
                hook(&WaitProgress {
                    request_id: request_id.map(str::to_string),
                    attempts,
                    waited: start.elapsed(),
                    rank,
                    last_error: err.to_string(),
                });
            }
            let next = Instant::now() + interval;
            let wake = deadline.map_or(next, |d| d.min(next));
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(Error::Cancelled),
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

fn timeout(start: Instant, last: Error) -> Error {
    Error::Timeout {
        waited: start.elapsed(),
        last: Box::new(last),
    }
}
