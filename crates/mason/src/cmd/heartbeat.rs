//! `mason heartbeat`: boskosctl's `heartbeat` — keep a lease alive from a shell script.
//!
//! Every `--period` it sends `/update` for the resource given as JSON (what `mason
//! acquire` printed), with the resource's state. Unlike boskosctl it sends **no user
//! data**: boskosctl re-sends the user data captured at acquire time, silently undoing
//! later changes to those keys. It stops with exit 0 at `--timeout` or on SIGINT/SIGTERM,
//! and with exit 1 after more than `--retries` consecutive failures, or at once when the
//! server says the lease is gone (resource missing, owned by someone else, or moved to
//! another state), since heartbeating it again cannot succeed.

use std::time::Duration;

use clap::Args;
use mason_client::BoskosApi;
use mason_types::Resource;
use tokio::time::Instant;

use crate::cli::client_opts::{go_duration, ClientOpts};
use crate::cli::console;
use crate::cli::signals::Interrupt;
use crate::cli::translate::{explain, Asked};
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason heartbeat --resource \"$(mason acquire --type gce-project)\" &   # until 5h or a signal
mason heartbeat --resource \"$RESOURCE_JSON\" --period 1m --timeout 2h
";

/// Options of `heartbeat`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// The resource, as the JSON printed by `mason acquire`.
    #[arg(long, value_name = "JSON")]
    resource: String,
    /// Pause between heartbeats, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = go_duration)]
    period: Duration,
    /// Stop heartbeating after this long, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "5h", value_parser = go_duration)]
    timeout: Duration,
    /// Consecutive failures tolerated before giving up.
    #[arg(long, value_name = "N", default_value_t = 10)]
    retries: u32,
    #[command(flatten)]
    client: ClientOpts,
}

/// Heartbeat until the timeout, a signal, or too many failures.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let resource: Resource = serde_json::from_str(&opts.resource)
        .map_err(|e| Exit::new(exit::USAGE, format!("mason: invalid --resource JSON: {e}")))?;
    if resource.name.is_empty() || resource.state.is_empty() {
        let msg = "mason: --resource JSON must have a non-empty \"name\" and \"state\"";
        return Err(Exit::new(exit::USAGE, msg).into());
    }
    if opts.period.is_zero() {
        return Err(Exit::new(exit::USAGE, "mason: --period must be positive").into());
    }
    let client = opts.client.client("mason heartbeat")?;
    let cancel = Interrupt::on_signals()?.token;
    let name = &resource.name;
    let deadline = Instant::now() + opts.timeout;
    let mut next = Instant::now() + opts.period;
    let mut failures = 0;
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                println!("received interrupt, stopping heartbeats for resource {name:?}");
                return Ok(exit::OK);
            }
            () = tokio::time::sleep_until(next.min(deadline)) => {}
        }
        if Instant::now() >= deadline {
            println!("reached timeout, stopping heartbeats for resource {name:?}");
            return Ok(exit::OK);
        }
        // Keep the rhythm, but never fire a burst to catch up after a slow call.
        next += opts.period;
        if next < Instant::now() {
            next = Instant::now() + opts.period;
        }
        match client.update(name, &resource.state, None).await {
            Ok(()) => {
                failures = 0;
                println!("heartbeat sent for resource {name:?}");
            }
            Err(e) => {
                let asked = Asked::Named {
                    name,
                    owner: client.owner(),
                    verb: "heartbeat",
                };
                console::warn(&format!(
                    "failed to send heartbeat for resource {name:?}: {}",
                    explain(&e, asked)
                ));
                if e.is_lease_lost() {
                    let msg = format!("stopping heartbeats: resource {name:?} is no longer ours");
                    return Err(Exit::new(exit::FAILURE, msg).into());
                }
                failures += 1;
                if failures > opts.retries {
                    let msg = format!(
                        "stopping heartbeats for resource {name:?}: {failures} consecutive failures"
                    );
                    return Err(Exit::new(exit::FAILURE, msg).into());
                }
            }
        }
    }
}
