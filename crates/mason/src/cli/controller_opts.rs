//! What the controller subcommands (`reaper`, `cleaner`, `janitor`) share: connection
//! flags (with upstream's `--boskos-url` accepted as an alias), the resource-type flags,
//! and running one loop until SIGINT/SIGTERM (see `signals`) with a shutdown deadline
//! (and its status listener, `--status-port`).
//!
//! A controller's client is guarded ([`mason_controllers::shutdown`]): at shutdown a
//! call sleeping in a retry back-off ends at once and a request in flight gets
//! `--shutdown-grace` ([`SHUTDOWN_GRACE`] by default), so an unreachable or hung server
//! does not hold the process up to [`SHUTDOWN_DEADLINE`] (which stays as the last
//! resort).
//!
//! Unlike the client subcommands, a controller's owner defaults to upstream's name for
//! that controller (`Reaper`, `cleaner`, `Janitor`), so leases it takes look the same as
//! with upstream's binaries.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use mason_client::{BoskosApi, HttpClient};
use mason_controllers::shutdown::{self, Guarded, Shutdown};
use mason_controllers::types_source::{parse_type_list, TypeSource};
use mason_controllers::{Driver, Loop};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cli::client_opts::{go_duration, missing_server_url, server_url};
use crate::cli::credential_opts::CredentialOpts;
use crate::cli::signals::shutdown_on_signals;
use crate::cli::status_opts::StatusOpts;
use crate::exit::{self, Exit};

/// How long a controller gets to finish its work after the first signal.
pub(crate) const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(8);

/// How long server calls under way at the first signal may take to finish (the default
/// of `--shutdown-grace`).
pub(crate) const SHUTDOWN_GRACE: Duration = shutdown::DEFAULT_GRACE;

/// Catch SIGINT/SIGTERM (see `signals`): the shutdown of a controller command, whose
/// server calls under way get `grace` to finish.
pub(crate) fn controller_shutdown(grace: Duration) -> anyhow::Result<Shutdown> {
    Ok(Shutdown::new(shutdown_on_signals()?, grace))
}

/// Connection flags of a controller.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection")]
pub(crate) struct ConnectOpts {
    /// URL of the Boskos-compatible server, e.g. http://127.0.0.1:8080 (http:// is
    /// assumed without a scheme).
    #[arg(
        long,
        alias = "boskos-url",
        env = "MASON_SERVER_URL",
        value_name = "URL",
        value_parser = server_url
    )]
    server_url: Option<String>,
    /// Who holds the leases [default: upstream's name for this controller].
    #[arg(long, value_name = "NAME")]
    pub(crate) owner_name: Option<String>,
    #[command(flatten)]
    pub(crate) credentials: CredentialOpts,
    /// Limit for one HTTP request, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = go_duration)]
    pub(crate) request_timeout: Duration,
    /// At SIGINT/SIGTERM, how long a request under way may take to finish (one waiting
    /// to be retried ends at once), Go duration.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = go_duration)]
    pub(crate) shutdown_grace: Duration,
}

impl ConnectOpts {
    /// Catch SIGINT/SIGTERM: the shutdown, with `--shutdown-grace`.
    pub(crate) fn shutdown(&self) -> anyhow::Result<Shutdown> {
        controller_shutdown(self.shutdown_grace)
    }

    /// The server URL; a usage error naming both ways to give it when neither was used.
    pub(crate) fn server_url(&self) -> Result<&str, Exit> {
        self.server_url.as_deref().ok_or_else(missing_server_url)
    }

    /// The HTTP client, as `owner_name` or `default_owner`, its calls giving way to
    /// `shutdown`.
    pub(crate) fn client(
        &self,
        default_owner: &str,
        shutdown: &Shutdown,
    ) -> Result<Arc<dyn BoskosApi>, Exit> {
        self.guarded_client(default_owner, shutdown)
            .map(|c| Arc::new(c) as Arc<dyn BoskosApi>)
    }

    /// [`ConnectOpts::client`] around the concrete [`HttpClient`] (which also reads
    /// `mason serve`'s `/api/v2` extension routes, with the same credentials and CA).
    pub(crate) fn guarded_client(
        &self,
        default_owner: &str,
        shutdown: &Shutdown,
    ) -> Result<Guarded<HttpClient>, Exit> {
        Ok(shutdown.guard(Arc::new(self.http_client(default_owner)?)))
    }

    /// The HTTP client, telling guarded calls of its retry back-offs.
    fn http_client(&self, default_owner: &str) -> Result<HttpClient, Exit> {
        let owner = self.owner_name.as_deref().unwrap_or(default_owner);
        if owner.trim().is_empty() {
            return Err(Exit::new(
                exit::USAGE,
                "mason: --owner-name must not be empty",
            ));
        }
        self.credentials
            .apply(HttpClient::builder(self.server_url()?, owner))
            .request_timeout(self.request_timeout)
            .on_retry(shutdown::note_retry)
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

/// Run `lp` until `shutdown` starts, on `tracker` (which may already carry the loop's
/// workers), with its status served as `status` asks.
pub(crate) async fn run_loop<L: Loop + 'static>(
    lp: L,
    tracker: TaskTracker,
    shutdown: &Shutdown,
    status: &StatusOpts,
) -> anyhow::Result<u8> {
    let token = shutdown.token();
    let name = lp.name();
    let board = status.serve(name, &tracker, token).await?;
    let (_, handle) = Driver::new(lp).spawn(&tracker, token.child_token());
    board.add_loop(name, move || handle.get());
    tracing::info!(controller = name, "running");
    wait_for_shutdown(&tracker, token).await;
    tracing::info!(controller = name, "stopped");
    Ok(exit::OK)
}
