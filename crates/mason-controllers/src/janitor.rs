//! The janitor (SPEC §7.3 contract): cleans `dirty` resources with an external program.
//!
//! For each dirty resource it takes (`dirty` → `cleaning`, owner `Janitor`), a worker runs
//! `PROGRAM --<suffix>=<name> EXTRA_ARGS…`, where `<suffix>` is the resource type after its
//! last `-` (`gce-project` → `--project=<name>`, `workdir` → `--workdir=<name>`). Exit 0
//! releases the resource to `free`, anything else to `dirty`. While the program runs the
//! worker heartbeats the resource every `update_frequency`, so the reaper leaves long
//! cleanings alone (upstream test-infra#12362); if the lease is lost anyway, the program is
//! killed and the resource left to its new holder. At shutdown every program is killed
//! (its whole process group) and its resource released to `dirty`.
//!
//! **Fairness** (upstream boskos#17, where one type with many dirty resources filled every
//! worker and starved small pools): types are served round-robin, one acquisition per type
//! per turn, and the rotation position survives between ticks. When workers are scarce,
//! each freed worker goes to the next type in the rotation that has something dirty, so
//! with `k` types a dirty resource waits for at most `k - 1` other acquisitions before its
//! type's turn, however many dirty resources another type has.
//!
//! A resource whose cleaning failed is not retried before `retry_failed_after`: if the
//! server hands it out again sooner it goes straight back to `dirty` (to the end of the
//! queue) and its type sits out the rest of the turn, so a broken resource cannot keep a
//! worker spinning.

mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mason_client::{BoskosApi, Error as ApiError};
use mason_types::state;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::runner::{Loop, LoopError, Next, Waker};
use crate::types_source::TypeSource;

pub use worker::Outcome;

/// Upstream's owner name for the janitor.
pub const JANITOR_OWNER: &str = "Janitor";

/// Tuning of a [`Janitor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JanitorOptions {
    /// The cleanup program (`--command`); a bare name is looked up in `PATH`.
    pub command: PathBuf,
    /// Extra arguments after `--<suffix>=<name>` (what follows `--` on the command line).
    pub args: Vec<String>,
    /// Programs running at once (`--pool-size`, 20).
    pub pool_size: usize,
    /// Heartbeat period of a resource being cleaned (`--update-frequency`, 5m).
    pub update_frequency: Duration,
    /// Pause when no type has anything dirty (upstream sleeps 1 min).
    pub idle_wait: Duration,
    /// How long a resource whose cleaning failed is left alone.
    pub retry_failed_after: Duration,
}

impl JanitorOptions {
    /// Options with upstream's defaults for `command`.
    pub fn new(command: impl Into<PathBuf>) -> Self {
        Self {
            command: command.into(),
            args: Vec::new(),
            pool_size: 20,
            update_frequency: Duration::from_secs(300),
            idle_wait: Duration::from_secs(60),
            retry_failed_after: Duration::from_secs(60),
        }
    }

    fn validate(&self) -> Result<(), LoopError> {
        if self.command.as_os_str().is_empty() {
            return Err(LoopError::Config("the janitor command is empty".into()));
        }
        if self.pool_size == 0 {
            return Err(LoopError::Config("the pool size must be at least 1".into()));
        }
        if self.update_frequency.is_zero() || self.idle_wait.is_zero() {
            return Err(LoopError::Config(
                "the update frequency and idle wait must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Counters of a janitor, readable while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JanitorStats {
    /// Resources cleaned and released to `free`.
    pub cleaned: u64,
    /// Cleanings that failed (resource released to `dirty`).
    pub failed: u64,
    /// Cleanings interrupted by shutdown or a lost lease.
    pub interrupted: u64,
    /// Resources being cleaned now.
    pub in_flight: Vec<String>,
}

/// What workers share with the loop.
pub(crate) struct Shared {
    pub(crate) client: Arc<dyn BoskosApi>,
    pub(crate) options: JanitorOptions,
    pub(crate) stats: Mutex<JanitorStats>,
    /// Resource name → when it may be cleaned again after a failure.
    pub(crate) failed_until: Mutex<HashMap<String, Instant>>,
    /// Wakes the loop when a worker finishes.
    pub(crate) waker: Waker,
    /// Cancelled at shutdown: workers kill their programs and release to dirty.
    pub(crate) token: CancellationToken,
}

/// The janitor loop. Workers run on the given [`TaskTracker`]; wait for it at shutdown.
pub struct Janitor {
    shared: Arc<Shared>,
    types: TypeSource,
    slots: Arc<Semaphore>,
    tracker: TaskTracker,
    /// Index of the type whose turn is next.
    cursor: usize,
}

impl std::fmt::Debug for Janitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Janitor")
            .field("owner", &self.shared.client.owner())
            .field("types", &self.types)
            .field("options", &self.shared.options)
            .finish()
    }
}

impl Janitor {
    /// A janitor for `types`. Workers are spawned on `tracker` and stop (killing their
    /// programs, releasing to dirty) when `token` is cancelled.
    pub fn new(
        client: Arc<dyn BoskosApi>,
        types: TypeSource,
        options: JanitorOptions,
        tracker: TaskTracker,
        token: CancellationToken,
    ) -> Result<Self, LoopError> {
        options.validate()?;
        let slots = Arc::new(Semaphore::new(options.pool_size));
        let shared = Arc::new(Shared {
            client,
            options,
            stats: Mutex::new(JanitorStats::default()),
            failed_until: Mutex::new(HashMap::new()),
            waker: Waker::new(),
            token,
        });
        Ok(Self {
            shared,
            types,
            slots,
            tracker,
            cursor: 0,
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> JanitorStats {
        self.shared.stats.lock().expect("stats lock").clone()
    }

    /// The types served now (re-reading a changed config file).
    pub fn current_types(&mut self) -> Vec<String> {
        self.types.types().to_vec()
    }

    /// A handle to read the counters from elsewhere.
    pub fn stats_handle(&self) -> impl Fn() -> JanitorStats + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || shared.stats.lock().expect("stats lock").clone()
    }

    /// Wait until no program is running (tests drive ticks, then wait for the workers).
    pub async fn wait_idle(&self) {
        let all = self.shared.options.pool_size as u32;
        let _all = self
            .slots
            .acquire_many(all)
            .await
            .expect("slots are never closed");
    }

    /// One turn: hand free workers to dirty resources, round-robin over types.
    async fn dispatch(&mut self) -> Result<Next, LoopError> {
        let types = self.types.types().to_vec();
        if types.is_empty() {
            return Ok(Next::After(self.shared.options.idle_wait));
        }
        let mut exhausted = vec![false; types.len()];
        let (mut failures, mut first_error) = (0usize, None);
        while exhausted.contains(&false) {
            if self.shared.token.is_cancelled() {
                return Ok(Next::OnWake);
            }
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                // Every worker is busy: the next one to finish wakes us.
                return Ok(Next::OnWake);
            };
            let i = self.cursor % types.len();
            self.cursor = (i + 1) % types.len();
            if exhausted[i] {
                continue;
            }
            let rtype = &types[i];
            match self
                .shared
                .client
                .acquire(rtype, state::DIRTY, state::CLEANING, None)
                .await
            {
                Ok(res) => {
                    if self.cooling_down(&res.name) {
                        tracing::debug!(resource = %res.name, "failed recently; back to dirty for now");
                        if let Err(e) = self.shared.client.release(&res.name, state::DIRTY).await {
                            tracing::warn!(resource = %res.name, error = %e, "cannot put a resource back to dirty");
                        }
                        exhausted[i] = true;
                        continue;
                    }
                    let shared = self.shared.clone();
                    self.tracker.spawn(worker::run(shared, res, permit));
                }
                Err(ApiError::NotFound(_) | ApiError::TypeNotFound(_)) => exhausted[i] = true,
                // Shutdown (a guarded client): the loop stops after this tick.
                Err(ApiError::Cancelled) => return Ok(Next::OnWake),
                Err(e) => {
                    tracing::warn!(rtype = %rtype, error = %e, "cannot acquire a dirty resource");
                    exhausted[i] = true;
                    failures += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if failures == types.len() => Err(e.into()),
            _ => Ok(Next::After(self.shared.options.idle_wait)),
        }
    }

    fn cooling_down(&self, name: &str) -> bool {
        let mut failed = self.shared.failed_until.lock().expect("failures lock");
        let now = Instant::now();
        failed.retain(|_, until| *until > now);
        failed.contains_key(name)
    }
}

#[async_trait]
impl Loop for Janitor {
    fn name(&self) -> &'static str {
        "janitor"
    }

    async fn tick(&mut self) -> Result<Next, LoopError> {
        self.dispatch().await
    }

    fn waker(&self) -> Option<Waker> {
        Some(self.shared.waker.clone())
    }
}
