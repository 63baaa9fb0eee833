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
//! and exits 0 (a second signal, more than a second later, exits at once); server calls
//! give way to the shutdown as in the other controllers (`controller_opts`), and the
//! builder gets at most their shutdown deadline. With
//! `--config`, pools it cannot build (an unknown converter, `exec` content that cannot
//! run) are logged as warnings at start. With `--status-port`, the builder's loop and
//! per-pool counters (builds under way, failed builds, unmet needs) are served at
//! `GET /api/v2/status`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use mason_client::{BoskosApi, HttpClient};
use mason_controllers::builder::{
    exec_converter, Builder, BuilderOptions, FilePools, EXEC_CONVERTER,
};
use mason_controllers::shutdown;
use mason_types::BoskosConfig;
use tokio_util::task::TaskTracker;

use crate::cli::client_opts::{go_duration, missing_server_url, server_url};
use crate::cli::config_check;
use crate::cli::controller_opts::{controller_shutdown, wait_for_shutdown, SHUTDOWN_DEADLINE};
use crate::cli::credential_opts::CredentialOpts;
use crate::cli::status_opts::StatusOpts;
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason builder --server-url http://127.0.0.1:8080                  # pools from mason serve
mason builder --server-url http://boskos:8080 --config resources.yaml  # any Boskos server";

/// Flags of `mason builder`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// URL of the Boskos-compatible server, e.g. http://127.0.0.1:8080 (http:// is
    /// assumed without a scheme; a path prefix is kept).
    #[arg(long, env = "MASON_SERVER_URL", value_name = "URL", value_parser = server_url)]
    server_url: Option<String>,
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
    /// At SIGINT/SIGTERM, how long a request under way may take to finish (one waiting
    /// to be retried ends at once), Go duration.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = go_duration)]
    shutdown_grace: Duration,
    #[command(flatten)]
    credentials: CredentialOpts,
    #[command(flatten)]
    status: StatusOpts,
}

impl Opts {
    fn options(&self) -> BuilderOptions {
        BuilderOptions {
            cleaner_count: usize::from(self.cleaner_count),
            max_in_flight_per_pool: usize::from(self.max_in_flight),
            idle_poll: self.poll_interval,
            fulfil_timeout: self.fulfil_timeout,
            construct_timeout: self.construct_timeout,
            heartbeat_period: self.sync_period,
            ..BuilderOptions::default()
        }
    }
}

/// Run the builder until SIGINT/SIGTERM.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let usage = |m: String| Exit::new(exit::USAGE, m);
    let server_url = opts.server_url.as_deref().ok_or_else(missing_server_url)?;
    let shutdown = controller_shutdown(opts.shutdown_grace)?;
    // Also reads `mason serve`'s pools (`/api/v2/drlcs`) and leftovers (`/api/v2/resources`),
    // with the same credentials and CA.
    let http = opts
        .credentials
        .apply(HttpClient::builder(server_url, &opts.owner_name))
        .on_retry(shutdown::note_retry)
        .build()
        .map_err(|e| usage(format!("mason builder: {e}")))?;
    let http = shutdown.guard(Arc::new(http));
    let client: Arc<dyn BoskosApi> = Arc::new(http.clone());

    let builder = Builder::new(client, opts.options());
    let builder = match &opts.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                usage(format!(
                    "mason builder: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            let config = BoskosConfig::parse_and_validate(&text).map_err(|e| {
                usage(format!(
                    "mason builder: invalid config {}: {e}",
                    path.display()
                ))
            })?;
            let pools = FilePools::new(path);
            for finding in config_check::builder_findings(&config, &pools.base_dir()) {
                tracing::warn!(config = %path.display(), "{finding}");
            }
            builder
                .register_config_converter(EXEC_CONVERTER, exec_converter(pools.base_dir()))
                .context("registering the exec converter")?;
            builder.with_pool_source(pools)
        }
        None => {
            builder
                .register_config_converter(EXEC_CONVERTER, exec_converter("."))
                .context("registering the exec converter")?;
            builder.with_pool_source(http.clone())
        }
    };
    let builder = builder.with_inventory(http);

    let cancel = shutdown.token().clone();
    let tracker = TaskTracker::new();
    let board = opts.status.serve("builder", &tracker, &cancel).await?;
    let (reader, pools) = (builder.clone(), builder.clone());
    board.add_loop("builder", move || reader.loop_status());
    board.set_builder(move || pools.status());
    let deadline = async {
        cancel.cancelled().await;
        tokio::time::sleep(SHUTDOWN_DEADLINE).await;
    };
    let outcome = tokio::select! {
        outcome = builder.run(cancel.clone()) => outcome.context("builder"),
        _ = deadline => {
            tracing::warn!(deadline = ?SHUTDOWN_DEADLINE, "shutdown took too long; exiting");
            Ok(())
        }
    };
    cancel.cancel();
    wait_for_shutdown(&tracker, &cancel).await;
    outcome?;
    Ok(exit::OK)
}
