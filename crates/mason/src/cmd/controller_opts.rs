//! What the controller subcommands (`reaper`, `cleaner`, `janitor`) share: connection
//! flags (with upstream's `--boskos-url` accepted as an alias), the resource-type flags,
//! and running one loop until SIGINT/SIGTERM with a shutdown deadline (and its status
//! listener, `--status-port`).
//!
//! Unlike the client subcommands, a controller's owner defaults to upstream's name for
//! that controller (`Reaper`, `cleaner`, `Janitor`), so leases it takes look the same as
//! with upstream's binaries.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use mason_client::{BoskosApi, HttpClient};
use mason_controllers::types_source::{parse_type_list, TypeSource};
use mason_controllers::{Driver, Loop};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cmd::client_opts::go_duration;
use crate::cmd::credential_opts::CredentialOpts;
use crate::cmd::status_opts::StatusOpts;
use crate::exit::{self, Exit};

/// How long a controller gets to finish its work after the first signal.
pub(crate) const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(8);

/// Exit code when a second signal cuts the graceful shutdown short (128 + SIGINT).
const FORCED: i32 = 130;

/// Connection flags of a controller.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnectOpts {
    /// URL of the Boskos-compatible server; env MASON_SERVER_URL.
    #[arg(
        long,
        alias = "boskos-url",
        env = "MASON_SERVER_URL",
        value_name = "URL"
    )]
    pub(crate) server_url: String,
    /// Who holds the leases [default: upstream's name for this controller].
    #[arg(long, value_name = "NAME")]
    pub(crate) owner_name: Option<String>,
    #[command(flatten)]
    pub(crate) credentials: CredentialOpts,
    /// Limit for one HTTP request, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = go_duration)]
    pub(crate) request_timeout: Duration,
}

impl ConnectOpts {
    /// The HTTP client, as `owner_name` or `default_owner`.
    pub(crate) fn client(&self, default_owner: &str) -> Result<Arc<dyn BoskosApi>, Exit> {
        let owner = self.owner_name.as_deref().unwrap_or(default_owner);
        if owner.trim().is_empty() {
            return Err(Exit::new(
                exit::USAGE,
                "mason: --owner-name must not be empty",
            ));
        }
        self.http_client(owner)
            .map(|c| Arc::new(c) as Arc<dyn BoskosApi>)
    }

    /// The HTTP client as `owner`.
    pub(crate) fn http_client(&self, owner: &str) -> Result<HttpClient, Exit> {
        self.credentials
            .apply(HttpClient::builder(&self.server_url, owner))
            .request_timeout(self.request_timeout)
            .build()
            .map_err(|e| Exit::new(exit::USAGE, format!("mason: {e}")))
    }
}

/// Which resource types a controller works on (at least one of the two).
#[derive(Debug, Clone, Args)]
pub(crate) struct TypeOpts {
    /// Comma-separated resource types.
    #[arg(long, value_name = "TYPES")]
    pub(crate) resource_type: Option<String>,
    /// Also every type of this Boskos config file (watched; an invalid edit keeps the
    /// previous types).
    #[arg(long, value_name = "FILE")]
    pub(crate) resource_type_from_config: Option<PathBuf>,
}

impl TypeOpts {
    /// The type source; missing or invalid input exits with the usage code.
    pub(crate) fn source(&self) -> Result<TypeSource, Exit> {
        let usage = |e: &dyn std::fmt::Display| Exit::new(exit::USAGE, format!("mason: {e}"));
        let fixed =
            parse_type_list(self.resource_type.as_deref().unwrap_or("")).map_err(|e| usage(&e))?;
        TypeSource::new(fixed, self.resource_type_from_config.as_deref(), None)
            .map_err(|e| usage(&e))
    }
}

/// A token cancelled by the first SIGINT/SIGTERM; a second signal exits at once.
pub(crate) fn shutdown_on_signals() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let token = CancellationToken::new();
    let fire = token.clone();
    tokio::spawn(async move {
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        tracing::info!("shutting down (signal again to exit at once)");
        fire.cancel();
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        tracing::warn!("second signal: exiting now");
        std::process::exit(FORCED);
    });
    Ok(token)
}

/// Wait for every task on `tracker` after `token` is cancelled, at most
/// [`SHUTDOWN_DEADLINE`] past the cancellation.
pub(crate) async fn wait_for_shutdown(tracker: &TaskTracker, token: &CancellationToken) {
    tracker.close();
    tokio::select! {
        _ = tracker.wait() => {}
        _ = async { token.cancelled().await; tokio::time::sleep(SHUTDOWN_DEADLINE).await } => {
            tracing::warn!(deadline = ?SHUTDOWN_DEADLINE, "shutdown took too long; exiting");
        }
    }
}

/// Run `lp` until a signal, on `tracker` (which may already carry the loop's workers),
/// with its status served as `status` asks.
pub(crate) async fn run_loop<L: Loop + 'static>(
    lp: L,
    tracker: TaskTracker,
    token: CancellationToken,
    status: &StatusOpts,
) -> anyhow::Result<u8> {
    let name = lp.name();
    let board = status.serve(name, &tracker, &token).await?;
    let (_, handle) = Driver::new(lp).spawn(&tracker, token.child_token());
    board.add_loop(name, move || handle.get());
    tracing::info!(controller = name, "running");
    wait_for_shutdown(&tracker, &token).await;
    tracing::info!(controller = name, "stopped");
    Ok(exit::OK)
}
