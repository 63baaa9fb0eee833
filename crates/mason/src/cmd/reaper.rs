//! `mason reaper`: upstream's `cmd/reaper` — every `--period`, resets owned resources
//! not heartbeated for `--expire` in busy, cleaning, leased (and `--extra-source-states`)
//! to `--target-state`, for the types of `--resource-type` and/or
//! `--resource-type-from-config`.

use std::time::Duration;

use clap::Args;
use mason_controllers::reaper::{Reaper, ReaperOptions, REAPER_OWNER};
use tokio_util::task::TaskTracker;

use crate::cli::client_opts::go_duration;
use crate::cli::controller_opts::{run_loop, ConnectOpts, TypeOpts};
use crate::cli::status_opts::StatusOpts;
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason reaper --server-url http://boskos:8080 --resource-type gce-project,gke-cluster
mason reaper --server-url http://boskos:8080 --resource-type-from-config resources.yaml --expire 1h
";

/// Options of `reaper`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    types: TypeOpts,
    /// Time between sweeps, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = go_duration)]
    period: Duration,
    /// How long a lease may go without a heartbeat, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = go_duration)]
    expire: Duration,
    /// State stale resources are moved to.
    #[arg(long, value_name = "STATE", default_value = "dirty")]
    target_state: String,
    /// Comma-separated states swept in addition to busy, cleaning and leased.
    #[arg(long, value_name = "STATES", value_delimiter = ',')]
    extra_source_states: Vec<String>,
    #[command(flatten)]
    status: StatusOpts,
    #[command(flatten)]
    connect: ConnectOpts,
}

impl Opts {
    fn options(&self) -> ReaperOptions {
        ReaperOptions {
            period: self.period,
            expire: self.expire,
            target_state: self.target_state.clone(),
            extra_source_states: self.extra_source_states.clone(),
        }
    }
}

/// Run the reaper until a signal.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let types = opts.types.source()?;
    let shutdown = opts.connect.shutdown()?;
    let client = opts.connect.client(REAPER_OWNER, &shutdown)?;
    let options = opts.options();
    tracing::info!(
        server = %opts.connect.server_url()?, owner = %client.owner(),
        ?types, period = ?options.period, expire = ?options.expire,
        target = %options.target_state, "reaper starting"
    );
    let reaper = Reaper::new(client, types, options)
        .map_err(|e| Exit::new(exit::USAGE, format!("mason reaper: {e}")))?;
    run_loop(reaper, TaskTracker::new(), &shutdown, &opts.status).await
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
        let w = Wrapper::try_parse_from([
            "reaper",
            "--boskos-url",
            "http://b",
            "--resource-type",
            "a,b",
        ])
        .unwrap();
        assert_eq!(w.opts.options(), ReaperOptions::default());
        assert_eq!(w.opts.connect.server_url().unwrap(), "http://b");
        assert_eq!(w.opts.types.resource_type.as_deref(), Some("a,b"));
        assert_eq!(w.opts.connect.shutdown_grace, Duration::from_secs(1));
    }

    #[test]
    fn parses_states_and_durations() {
        let w = Wrapper::try_parse_from([
            "reaper",
            "--server-url=http://b",
            "--resource-type=a",
            "--extra-source-states=noSchedule,other",
            "--expire=1h",
            "--period=10s",
            "--target-state=quarantine",
            "--shutdown-grace=250ms",
        ])
        .unwrap();
        let o = w.opts.options();
        assert_eq!(o.extra_source_states, ["noSchedule", "other"]);
        assert_eq!(
            (o.expire, o.period),
            (Duration::from_secs(3600), Duration::from_secs(10))
        );
        assert_eq!(o.target_state, "quarantine");
        assert_eq!(w.opts.connect.shutdown_grace, Duration::from_millis(250));
    }

    #[test]
    fn a_type_source_is_required() {
        let w = Wrapper::try_parse_from(["reaper", "--server-url=http://b"]).unwrap();
        let err = w.opts.types.source().unwrap_err();
        assert_eq!(err.code, exit::USAGE);
        assert!(err.message.contains("--resource-type"), "{}", err.message);
    }
}
