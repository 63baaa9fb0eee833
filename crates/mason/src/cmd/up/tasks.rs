//! The tasks `mason up` runs, each spawned on the shared tracker with a child token:
//! the HTTP server, the builder, the reaper, the cleaner, the janitor, and a log line
//! whenever the pools' state counts change (so a newcomer watching the terminal sees
//! leases, builds, recycling and cleaning happen).
//!
//! Pool definitions and the builder's leftovers come straight from the store
//! ([`StorePools`], [`StoreInventory`] of `mason-inprocess`) rather than over HTTP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mason_client::BoskosApi;
use mason_controllers::builder::{exec_converter, Builder, BuilderOptions, EXEC_CONVERTER};
use mason_controllers::cleaner::{Cleaner, CleanerOptions, CLEANER_OWNER};
use mason_controllers::janitor::{Janitor, JanitorOptions, JANITOR_OWNER};
use mason_controllers::reaper::{Reaper, ReaperOptions, REAPER_OWNER};
use mason_controllers::shutdown::Shutdown;
use mason_controllers::types_source::{parse_type_list, TypeSource};
use mason_controllers::Driver;
use mason_inprocess::{StoreInventory, StorePools};
use mason_server::{AppState, Listeners, ServerOptions, StatusBoard};
use mason_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Opts;

/// The builder's owner name (upstream Mason's).
const BUILDER_OWNER: &str = "mason";
/// Longest heartbeat period of the builder and the janitor.
const MAX_HEARTBEAT: Duration = Duration::from_secs(30);
/// How often the pool summary is checked for changes.
const POOL_LOG_PERIOD: Duration = Duration::from_secs(2);

/// What `mason up` is about to start.
pub(super) struct Plan<'a> {
    pub(super) opts: &'a Opts,
    pub(super) store: Arc<dyn Store>,
    /// A guarded in-process client acting as the given owner.
    pub(super) client: &'a dyn Fn(&str) -> Arc<dyn BoskosApi>,
    /// What the store reads of the builder and cleaner give way to.
    pub(super) shutdown: &'a Shutdown,
    /// Where every part's loop status is shown (`GET /api/v2/status`).
    pub(super) status: &'a StatusBoard,
}

/// Serve the API; a server failure stops everything. Returns the "failed" flag.
pub(super) fn spawn_server(
    tracker: &TaskTracker,
    token: &CancellationToken,
    state: AppState,
    api: TcpListener,
    options: ServerOptions,
) -> Arc<AtomicBool> {
    let failed = Arc::new(AtomicBool::new(false));
    let listeners = Listeners {
        api,
        metrics: None,
        health: None,
    };
    let (flag, root) = (failed.clone(), token.clone());
    let child = token.child_token();
    tracker.spawn(async move {
        if let Err(e) = mason_server::run(state, listeners, options, child).await {
            tracing::error!(error = %e, "server failed; stopping");
            flag.store(true, Ordering::SeqCst);
            root.cancel();
        }
    });
    failed
}

impl Plan<'_> {
    /// Heartbeats well inside the reaper's expiry.
    fn heartbeat(&self, preferred: Duration) -> Duration {
        preferred
            .min(self.opts.reaper_expire / 3)
            .max(Duration::from_millis(100))
    }

    /// Start builder, reaper, cleaner and (when asked) the janitor; returns one line per
    /// part for the start-up summary.
    pub(super) fn spawn_controllers(
        &self,
        tracker: &TaskTracker,
        token: &CancellationToken,
    ) -> Result<Vec<String>, String> {
        let opts = self.opts;
        let mut summary = Vec::new();
        let pools = self
            .shutdown
            .guard(Arc::new(StorePools(self.store.clone())));

        // Builder: dynamic pools with `config.type: exec`, programs relative to the config.
        let base_dir = match opts.config.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let options = BuilderOptions {
            cleaner_count: opts.build_workers,
            heartbeat_period: self.heartbeat(MAX_HEARTBEAT),
            ..BuilderOptions::default()
        };
        let builder = Builder::new((self.client)(BUILDER_OWNER), options);
        builder
            .register_config_converter(EXEC_CONVERTER, exec_converter(&base_dir))
            .map_err(|e| e.to_string())?;
        let builder = builder.with_pool_source(pools.clone()).with_inventory(
            self.shutdown
                .guard(Arc::new(StoreInventory(self.store.clone()))),
        );
        let (reader, counters) = (builder.clone(), builder.clone());
        self.status
            .add_loop("builder", move || reader.loop_status());
        self.status.set_builder(move || counters.status());
        let child = token.child_token();
        tracker.spawn(async move {
            if let Err(e) = builder.run(child).await {
                tracing::error!(error = %e, "builder failed");
            }
        });
        summary.push(format!(
            "builder: builds dynamic pools with config.type exec (programs relative to {})",
            base_dir.display()
        ));

        // Reaper: every type of the config, watched.
        let types = TypeSource::new(vec![], Some(&opts.config), None).map_err(|e| e.to_string())?;
        let options = ReaperOptions {
            period: opts.reaper_period,
            expire: opts.reaper_expire,
            ..ReaperOptions::default()
        };
        summary.push(format!(
            "reaper: leases idle for {} go back to dirty (checked every {})",
            mason_types::format_go_duration(options.expire),
            mason_types::format_go_duration(options.period)
        ));
        let reaper =
            Reaper::new((self.client)(REAPER_OWNER), types, options).map_err(|e| e.to_string())?;
        let (_, status) = Driver::new(reaper).spawn(tracker, token.child_token());
        self.status.add_loop("reaper", move || status.get());

        // Cleaner: toBeDeleted dynamic resources → tombstone.
        let options = CleanerOptions {
            period: opts.cleaner_period,
            cleaner_count: opts.cleaner_count,
        };
        let cleaner = Cleaner::new((self.client)(CLEANER_OWNER), Arc::new(pools), options)
            .map_err(|e| e.to_string())?;
        let (_, status) = Driver::new(cleaner).spawn(tracker, token.child_token());
        self.status.add_loop("cleaner", move || status.get());
        summary.push("cleaner: expired dynamic resources give their parts back, then go".into());

        // Janitor, when a command is given.
        match &opts.janitor_command {
            Some(command) => {
                let fixed = parse_type_list(opts.janitor_resource_type.as_deref().unwrap_or(""))
                    .map_err(|e| e.to_string())?;
                let types = if fixed.is_empty() {
                    TypeSource::new(vec![], Some(&opts.config), None)
                        .map_err(|e| e.to_string())?
                        .excluding_built_pools()
                } else {
                    TypeSource::fixed(fixed).map_err(|e| e.to_string())?
                };
                let options = JanitorOptions {
                    args: opts.janitor_args.clone(),
                    pool_size: opts.janitor_pool_size,
                    update_frequency: self.heartbeat(Duration::from_secs(60)),
                    idle_wait: opts.janitor_idle_wait,
                    ..JanitorOptions::new(command)
                };
                let mut janitor = Janitor::new(
                    (self.client)(JANITOR_OWNER),
                    types,
                    options,
                    tracker.clone(),
                    token.child_token(),
                )
                .map_err(|e| e.to_string())?;
                summary.push(format!(
                    "janitor: {} cleans dirty {}",
                    command.display(),
                    types_of(&mut janitor)
                ));
                let (_, status) = Driver::new(janitor).spawn(tracker, token.child_token());
                self.status.add_loop("janitor", move || status.get());
            }
            None => summary.push(
                "janitor: off (give --janitor-command PROGRAM to clean dirty resources)".into(),
            ),
        }
        Ok(summary)
    }
}

fn types_of(janitor: &mut Janitor) -> String {
    let types = janitor.current_types();
    if types.is_empty() {
        "resources (no types yet)".into()
    } else {
        types.join(", ")
    }
}

/// Log the per-type state counts whenever they change.
pub(super) fn spawn_pool_log(
    tracker: &TaskTracker,
    token: &CancellationToken,
    store: Arc<dyn Store>,
) {
    let token = token.child_token();
    tracker.spawn(async move {
        let mut last = String::new();
        loop {
            let metrics = tokio::select! {
                _ = token.cancelled() => break,
                metrics = store.all_metrics() => metrics,
            };
            if let Ok(metrics) = metrics {
                let line = metrics
                    .iter()
                    .map(|m| {
                        // Physical resources parked under a virtual resource's name (and
                        // any custom state) are summed as `other`, like the metrics do.
                        let mut other = 0;
                        let mut counts: Vec<String> = Vec::new();
                        for (s, n) in &m.current {
                            if mason_types::state::is_known(s) {
                                counts.push(format!("{s}={n}"));
                            } else {
                                other += n;
                            }
                        }
                        if other > 0 {
                            counts.push(format!("other={other}"));
                        }
                        format!("{}[{}]", m.rtype, counts.join(" "))
                    })
                    .collect::<Vec<_>>()
                    .join("  ");
                if line != last {
                    tracing::info!("pools: {line}");
                    last = line;
                }
            }
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tokio::time::sleep(POOL_LOG_PERIOD) => {}
            }
        }
    });
}
