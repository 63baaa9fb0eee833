//! `mason builder`: the Mason builder against any Boskos-compatible server (ours or
//! upstream). Keeps dynamic pools of virtual resources built by converters; this binary
//! ships the `exec` converter (`config.type: exec`), so any program can build them.
//!
//! Pool definitions come from `--config` (the Boskos config file the server reads, its
//! dynamic entries; re-read every second, relative `exec` programs resolved against its
//! directory) or, without it, from `GET /api/v2/drlcs` on `mason serve` (relative
//! programs then resolve against the working directory). At start the builder releases
//! to `dirty` whatever its owner name still holds from a previous run, when the server
//! can list it (`mason serve`); against upstream Boskos the reaper recovers those.
//! SIGINT/SIGTERM interrupts the builds under way, releases their resources to `dirty`
//! and exits 0. With `--status-port`, the builder's loop and per-pool counters (builds
//! under way, failed builds, unmet needs) are served at `GET /api/v2/status`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use mason_client::{BoskosApi, HttpClient};
use mason_controllers::builder::{
    exec_converter, Builder, BuilderOptions, FilePools, ServerRoutes, EXEC_CONVERTER,
};
use mason_types::{parse_go_duration, BoskosConfig, DurationError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cmd::credential_opts::CredentialOpts;
use crate::cmd::status_opts::StatusOpts;
use crate::exit::{self, Exit};

/// Flags of `mason builder`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// URL of the Boskos-compatible server (a path prefix is kept); env MASON_SERVER_URL.
    #[arg(long, env = "MASON_SERVER_URL", value_name = "URL")]
    server_url: String,
    /// Boskos config file with the dynamic pools to build [default: read them from the
    /// server's /api/v2/drlcs, mason serve only].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Owner name of everything the builder holds; give each builder its own.
    #[arg(long, value_name = "NAME", default_value = "mason")]
    owner_name: String,
    /// Constructs running at once, across pools.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    cleaner_count: u16,
    /// Builds under way per pool (dirty virtual resources taken, not yet free).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    max_in_flight: u16,
    /// Pause between looks for dirty virtual resources when there are none.
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = go_duration)]
    poll_interval: Duration,
    /// How long a build waits for its physical resources before giving them back.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = go_duration)]
    fulfil_timeout: Duration,
    /// Timeout of a construct whose converter sets none (exec sets its own, default 10m).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = go_duration)]
    construct_timeout: Duration,
    /// Heartbeat period of held resources (keep it well under the reaper's expiry).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = go_duration)]
    sync_period: Duration,
    #[command(flatten)]
    credentials: CredentialOpts,
    #[command(flatten)]
    status: StatusOpts,
}

fn go_duration(text: &str) -> Result<Duration, DurationError> {
    parse_go_duration(text)
}

impl Opts {
    fn options(&self) -> BuilderOptions {
        BuilderOptions {
            cleaner_count: usize::from(self.cleaner_count),
            max_in_flight_per_pool: usize::from(self.max_in_flight),
            idle_poll: self.poll_interval,
            fulfil_timeout: self.fulfil_timeout,
            construct_timeout: self.construct_timeout,
            sync_period: self.sync_period,
            ..BuilderOptions::default()
        }
    }
}

/// Run the builder until SIGINT/SIGTERM.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let usage = |m: String| Exit::new(exit::USAGE, m);
    let http = opts
        .credentials
        .apply(HttpClient::builder(&opts.server_url, &opts.owner_name))
        .build()
        .map_err(|e| usage(format!("mason builder: {e}")))?;
    let routes = ServerRoutes::with_client(http.clone());
    let client: Arc<dyn BoskosApi> = Arc::new(http);

    let builder = Builder::new(client, opts.options());
    let builder = match &opts.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                usage(format!(
                    "mason builder: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            BoskosConfig::parse_and_validate(&text).map_err(|e| {
                usage(format!(
                    "mason builder: invalid config {}: {e}",
                    path.display()
                ))
            })?;
            let pools = FilePools::new(path);
            builder
                .register_config_converter(EXEC_CONVERTER, exec_converter(pools.base_dir()))
                .context("registering the exec converter")?;
            builder.with_pool_source(pools)
        }
        None => {
            builder
                .register_config_converter(EXEC_CONVERTER, exec_converter("."))
                .context("registering the exec converter")?;
            builder.with_pool_source(routes.clone())
        }
    };
    let builder = builder.with_inventory(routes);

    let cancel = cancel_on_signal().context("installing signal handlers")?;
    let tracker = TaskTracker::new();
    let board = opts.status.serve("builder", &tracker, &cancel).await?;
    let (reader, pools) = (builder.clone(), builder.clone());
    board.add_loop("builder", move || reader.loop_status());
    board.set_builder(move || pools.status());
    let outcome = builder.run(cancel.clone()).await.context("builder");
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
    outcome?;
    Ok(exit::OK)
}

/// A token cancelled by the first SIGINT or SIGTERM.
fn cancel_on_signal() -> std::io::Result<CancellationToken> {
    use tokio::signal::unix::{signal, SignalKind};
    let token = CancellationToken::new();
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let fire = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("signal received; stopping the builder");
        fire.cancel();
    });
    Ok(token)
}
