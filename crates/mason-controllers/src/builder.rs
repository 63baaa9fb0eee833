//! The Mason builder: keeps dynamic pools of *virtual* resources built out of leased
//! *physical* ones (SPEC §6, the two Mason seed documents).
//!
//! A pool is a dynamic entry of the Boskos config whose `config.type` names a registered
//! converter. The server keeps the pool between `min-count` and `max-count` resources and
//! creates them in its initial state (typically `dirty`); the builder turns each dirty
//! virtual resource into a free one:
//!
//! 1. **recycle** (`recycle`): take it `dirty` → `cleaning`, give the physical resources
//!    of its previous build back to `dirty`, clear `leasedResources`;
//! 2. **fulfil** (`fulfil`): acquire each need `free` → `leased` and record their names
//!    under `leasedResources` (upstream's YAML list, so upstream's Mason client and ours
//!    interoperate);
//! 3. **construct** (`construct`): run the pool's [`Masonable`] (at most
//!    `cleaner_count` at once) and merge the user data it returns;
//! 4. **free** (`free`): park each physical resource, unowned, in a state named after the
//!    virtual resource, then release the virtual resource to `free`.
//!
//! A **heartbeat** loop (`heartbeat`, upstream Mason's "sync" stage) heartbeats
//! everything held. Any failure garbage-collects:
//! the virtual resource goes back to `dirty`, physical ones to `dirty` (or `free` when no
//! construct touched them).
//!
//! Event-driven rather than upstream's 15 s ticks: each build runs its four stages
//! back to back in its own task (the pipeline), and each pool's recycler polls for dirty
//! resources every `idle_poll` when idle and at once after taking one. A dirty virtual
//! resource whose needs are free is free again within a fraction of a second when its
//! construct is instant. The generic [`crate::runner`] is not used: a build is a
//! sequence of awaited stages rather than a periodic tick, and per-build tasks give
//! per-pool independence for free.
//!
//! Layout: [`masonable`] (the trait, converters and their registry), [`exec`] (the
//! built-in `exec` converter), [`pools`] (where pool definitions come from), `manager`
//! (a recycler per pool), `pipeline` (one build), the four stage modules, `heartbeat`,
//! [`recover`] (leftovers of a previous run), [`status`]. Against `mason serve`, a
//! [`mason_client::HttpClient`] is both a [`PoolSource`] and a [`LeaseInventory`].
//!
//! ```no_run
//! # async fn demo(client: std::sync::Arc<dyn mason_client::BoskosApi>) {
//! use mason_controllers::builder::{exec_converter, Builder, BuilderOptions, FilePools};
//! let pools = FilePools::new("/etc/boskos/config.yaml");
//! let builder = Builder::new(client, BuilderOptions::default());
//! builder.register_config_converter("exec", exec_converter(pools.base_dir())).unwrap();
//! let running = builder.with_pool_source(pools).start();
//! // ... until shutdown:
//! running.stop().await.unwrap();
//! # }
//! ```

mod construct;
pub mod exec;
mod free;
mod fulfil;
mod heartbeat;
mod manager;
pub mod masonable;
mod pipeline;
pub mod pools;
pub mod recover;
mod recycle;
pub mod status;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_client::BoskosApi;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::runner::LoopStatus;
pub use exec::{exec_converter, ExecMasonable, EXEC_CONVERTER};
pub use masonable::{
    ConfigConverter, ConstructError, ConvertError, ConverterRegistry, Masonable, RegistryError,
    TypeToResources,
};
pub use pools::{FilePools, PoolSource, PoolSourceError, StaticPools};
pub use recover::{InventoryError, LeaseInventory};
pub use status::{BuilderStatus, PoolStatus};

use heartbeat::Held;
use manager::PoolManager;
use pipeline::Ctx;

/// Tuning of a [`Builder`]. The defaults suit a real deployment; tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderOptions {
    /// Constructs running at once, across pools (upstream's `--cleaner-count`).
    pub cleaner_count: usize,
    /// Builds under way per pool (dirty virtual resources taken but not yet free).
    pub max_in_flight_per_pool: usize,
    /// Pause between looks for dirty virtual resources when a pool has none.
    pub idle_poll: Duration,
    /// Pause between attempts to acquire a need that has nothing free.
    pub need_poll: Duration,
    /// How long one build waits for its needs before giving its resources back.
    pub fulfil_timeout: Duration,
    /// Timeout of a construct whose Masonable sets none.
    pub construct_timeout: Duration,
    /// Heartbeat period of held resources (keep it well under the reaper's expiry);
    /// upstream Mason's sync period, `mason builder --sync-period`.
    pub heartbeat_period: Duration,
    /// How often pool definitions are reloaded.
    pub pool_reload: Duration,
    /// Pause after a pool's first failed build; doubles per consecutive failure.
    pub failure_backoff: Duration,
    /// Longest pause after failed builds.
    pub max_failure_backoff: Duration,
}

impl Default for BuilderOptions {
    fn default() -> Self {
        Self {
            cleaner_count: 4,
            max_in_flight_per_pool: 8,
            idle_poll: Duration::from_millis(250),
            need_poll: Duration::from_millis(250),
            fulfil_timeout: Duration::from_secs(60),
            construct_timeout: Duration::from_secs(30 * 60),
            heartbeat_period: Duration::from_secs(30),
            pool_reload: Duration::from_secs(1),
            failure_backoff: Duration::from_secs(1),
            max_failure_backoff: Duration::from_secs(60),
        }
    }
}

/// Why the builder could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuilderError {
    /// No [`PoolSource`] was given.
    #[error("the builder has no pool source (a config file or a server route)")]
    NoPoolSource,
    /// `run` was called while the builder was already running.
    #[error("the builder is already running")]
    AlreadyRunning,
    /// An option is out of range.
    #[error("invalid builder option: {0}")]
    InvalidOptions(String),
    /// The builder task panicked.
    #[error("the builder task failed: {0}")]
    Panicked(String),
}

struct Shared {
    client: Arc<dyn BoskosApi>,
    options: BuilderOptions,
    registry: Arc<Mutex<ConverterRegistry>>,
    registry_changed: Arc<Notify>,
    nudge: Arc<Notify>,
    source: Mutex<Option<Arc<dyn PoolSource>>>,
    inventory: Mutex<Option<Arc<dyn LeaseInventory>>>,
    status: status::StatusBoard,
    held: Held,
    running: AtomicBool,
}

/// The Mason builder. Cheap to clone (clones share everything).
#[derive(Clone)]
pub struct Builder {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("owner", &self.shared.client.owner())
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A builder acting through `client` (as `client.owner()`, e.g. `mason`).
    pub fn new(client: Arc<dyn BoskosApi>, options: BuilderOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                options,
                registry: Arc::new(Mutex::new(ConverterRegistry::new())),
                registry_changed: Arc::new(Notify::new()),
                nudge: Arc::new(Notify::new()),
                source: Mutex::new(None),
                inventory: Mutex::new(None),
                status: status::StatusBoard::default(),
                held: Held::default(),
                running: AtomicBool::new(false),
            }),
        }
    }

    /// Build pools whose `config.type` is `name` with `converter`. A name can be
    /// registered once (`a converter for <name> already exists`). Works while running:
    /// pools of that type start at once.
    pub fn register_config_converter<F>(
        &self,
        name: &str,
        converter: F,
    ) -> Result<(), RegistryError>
    where
        F: Fn(&str) -> Result<Box<dyn Masonable>, ConvertError> + Send + Sync + 'static,
    {
        self.shared
            .registry
            .lock()
            .expect("registry lock")
            .register(name, converter)?;
        self.shared.registry_changed.notify_one();
        Ok(())
    }

    /// Read pool definitions from `source` (replaces any previous one; takes effect at
    /// the next [`Builder::run`]).
    pub fn with_pool_source(self, source: impl PoolSource + 'static) -> Self {
        *self.shared.source.lock().expect("source lock") = Some(Arc::new(source));
        self
    }

    /// Release leftovers of a previous run found through `inventory` when starting.
    pub fn with_inventory(self, inventory: impl LeaseInventory + 'static) -> Self {
        *self.shared.inventory.lock().expect("inventory lock") = Some(Arc::new(inventory));
        self
    }

    /// The options in force.
    pub fn options(&self) -> &BuilderOptions {
        &self.shared.options
    }

    /// What the builder has done so far.
    pub fn status(&self) -> BuilderStatus {
        let mut status = self.shared.status.snapshot();
        status.held = self.shared.held.len() as u64;
        status
    }

    /// The status of the builder's own loop (each load of the pool definitions is one
    /// run; a failed load is an error).
    pub fn loop_status(&self) -> LoopStatus {
        self.shared.status.manager()
    }

    /// Make every idle pool look for dirty virtual resources now instead of at its next
    /// poll. For embedders that learn of releases as they happen (a server in the same
    /// process, an event stream); without nudges the builder still polls every
    /// `idle_poll`.
    pub fn nudge(&self) {
        self.shared.nudge.notify_waiters();
    }

    /// Run until `cancel` is cancelled. On the way out every build under way is
    /// interrupted and its resources released to `dirty`; `run` returns once that is done.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), BuilderError> {
        let options = &self.shared.options;
        if options.cleaner_count == 0 {
            return Err(BuilderError::InvalidOptions(
                "cleaner_count must be at least 1".into(),
            ));
        }
        let source = self.shared.source.lock().expect("source lock").clone();
        let source = source.ok_or(BuilderError::NoPoolSource)?;
        if self.shared.running.swap(true, Ordering::SeqCst) {
            return Err(BuilderError::AlreadyRunning);
        }
        let ctx = Arc::new(Ctx {
            client: self.shared.client.clone(),
            options: options.clone(),
            held: self.shared.held.clone(),
            status: self.shared.status.clone(),
            construct_slots: Arc::new(Semaphore::new(options.cleaner_count)),
            nudge: self.shared.nudge.clone(),
        });
        tracing::info!(owner = %ctx.client.owner(), cleaner_count = options.cleaner_count, "builder starting");

        let inventory = self
            .shared
            .inventory
            .lock()
            .expect("inventory lock")
            .clone();
        if let Some(inventory) = inventory {
            let n = recover::recover(ctx.client.as_ref(), inventory.as_ref()).await;
            self.shared.status.update(|s| s.recovered += n);
        }

        let heartbeat_stop = CancellationToken::new();
        let heartbeat = tokio::spawn(heartbeat::heartbeat_loop(
            ctx.client.clone(),
            ctx.held.clone(),
            ctx.status.clone(),
            options.heartbeat_period,
            heartbeat_stop.clone(),
        ));
        let tracker = TaskTracker::new();
        let manager = PoolManager::new(
            ctx.clone(),
            source,
            self.shared.registry.clone(),
            self.shared.registry_changed.clone(),
            tracker.clone(),
            cancel.clone(),
        );
        manager.run().await;

        tracker.close();
        tracker.wait().await;
        heartbeat_stop.cancel();
        let _ = heartbeat.await;
        self.shared.running.store(false, Ordering::SeqCst);
        tracing::info!("builder stopped; nothing held");
        Ok(())
    }

    /// Run in a background task; stop it with [`RunningBuilder::stop`].
    pub fn start(&self) -> RunningBuilder {
        let cancel = CancellationToken::new();
        let builder = self.clone();
        let token = cancel.clone();
        let handle = tokio::spawn(async move { builder.run(token).await });
        RunningBuilder {
            builder: self.clone(),
            cancel,
            handle,
        }
    }
}

/// A builder running in the background.
#[derive(Debug)]
pub struct RunningBuilder {
    builder: Builder,
    cancel: CancellationToken,
    handle: JoinHandle<Result<(), BuilderError>>,
}

impl RunningBuilder {
    /// The builder (for its status, or to register more converters).
    pub fn builder(&self) -> &Builder {
        &self.builder
    }

    /// What the builder has done so far.
    pub fn status(&self) -> BuilderStatus {
        self.builder.status()
    }

    /// Stop: interrupt builds, release their resources to `dirty`, wait for the end.
    pub async fn stop(self) -> Result<(), BuilderError> {
        self.cancel.cancel();
        self.handle
            .await
            .map_err(|e| BuilderError::Panicked(e.to_string()))?
    }
}
