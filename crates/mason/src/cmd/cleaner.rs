//! `mason cleaner`: upstream's `cmd/cleaner` (v1 semantics) — takes `toBeDeleted` dynamic
//! resources, gives their leased physical resources back to `dirty` and releases them to
//! `tombstone`, so the server deletes and replaces them.
//!
//! The dynamic pools come from `--config` when given (works against any server), else
//! from the server's `GET /api/v2/drlcs` (`mason serve`), which also lists pools removed
//! from the config until their last resource is gone.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use mason_controllers::builder::{FilePools, PoolSource};
use mason_controllers::cleaner::{Cleaner, CleanerOptions, CLEANER_OWNER};
use tokio_util::task::TaskTracker;

use crate::cli::client_opts::go_duration;
use crate::cli::controller_opts::{run_loop, ConnectOpts};
use crate::cli::status_opts::StatusOpts;
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason cleaner --server-url http://127.0.0.1:8080                    # pools from mason serve
mason cleaner --server-url http://boskos:8080 --config resources.yaml  # any Boskos server
";

/// Options of `cleaner`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// Read dynamic pools from this Boskos config file instead of the server.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Resources cleaned at once.
    #[arg(long, value_name = "N", default_value_t = 15)]
    cleaner_count: usize,
    /// Pause when nothing is marked for deletion, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = go_duration)]
    period: Duration,
    #[command(flatten)]
    status: StatusOpts,
    #[command(flatten)]
    connect: ConnectOpts,
}

/// Run the cleaner until a signal.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let usage = |e: String| Exit::new(exit::USAGE, format!("mason cleaner: {e}"));
    let shutdown = opts.connect.shutdown()?;
    let pools: Arc<dyn PoolSource> = match &opts.config {
        Some(path) => {
            let pools = FilePools::new(path);
            pools.load().await.map_err(|e| usage(e.to_string()))?;
            Arc::new(pools)
        }
        // `GET /api/v2/drlcs` on `mason serve`.
        None => Arc::new(opts.connect.guarded_client(CLEANER_OWNER, &shutdown)?),
    };
    let client = opts.connect.client(CLEANER_OWNER, &shutdown)?;
    let options = CleanerOptions {
        period: opts.period,
        cleaner_count: opts.cleaner_count,
    };
    tracing::info!(
        server = %opts.connect.server_url()?, owner = %client.owner(), pools = %pools.describe(),
        cleaner_count = options.cleaner_count, period = ?options.period, "cleaner starting"
    );
    let cleaner = Cleaner::new(client, pools, options).map_err(|e| usage(e.to_string()))?;
    run_loop(cleaner, TaskTracker::new(), &shutdown, &opts.status).await
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        opts: Opts,
    }

    #[test]
    fn defaults_match_upstream() {
        let w = Wrapper::try_parse_from(["cleaner", "--server-url", "http://b"]).unwrap();
        assert_eq!(w.opts.cleaner_count, 15);
        assert_eq!(w.opts.period, Duration::from_secs(15));
        assert_eq!(w.opts.config, None);
    }
}
