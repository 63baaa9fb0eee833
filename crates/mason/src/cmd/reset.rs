//! `mason reset`: move every resource of `--type` in `--state` that is owned and has not
//! been updated for `--expire` to `--target-state`, unowned (what a reaper does). Prints
//! the JSON map of reset resource names to their previous owners (`{}` when none).

use std::time::Duration;

use clap::Args;
use mason_client::BoskosApi;

use crate::cli::client_opts::{go_duration, ClientOpts};
use crate::cli::translate::{fail, Asked};
use crate::exit;

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason reset --type gce-project --state busy --expire 30m --target-state dirty
mason reset --type sandbox --state cleaning --expire 1h --target-state dirty
";

/// Options of `reset`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// Resource type.
    #[arg(long = "type", value_name = "TYPE")]
    rtype: String,
    /// State the stale resources are in (e.g. busy).
    #[arg(long, value_name = "STATE")]
    state: String,
    /// How long without an update makes a lease stale, Go duration (e.g. 30m).
    #[arg(long, value_name = "DURATION", value_parser = go_duration)]
    expire: Duration,
    /// State to move them to (e.g. dirty).
    #[arg(long, value_name = "STATE")]
    target_state: String,
    #[command(flatten)]
    client: ClientOpts,
}

/// Reset and print the map.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let client = opts.client.client("mason reset")?;
    let context = || format!("failed to reset resources of type {:?}", opts.rtype);
    let map = client
        .reset(&opts.rtype, &opts.state, opts.expire, &opts.target_state)
        .await
        .map_err(|e| fail(context(), &e, Asked::Other))?;
    println!("{}", serde_json::to_string(&map)?);
    Ok(exit::OK)
}
