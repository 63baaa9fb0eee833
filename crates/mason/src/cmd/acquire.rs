//! `mason acquire`: boskosctl's `acquire` — lease one resource and print it as JSON.
//!
//! With `--timeout 0` (the default) it makes one attempt, like boskosctl. With a timeout it
//! polls with one request ID (keeping its place in the server's queue) until a resource is
//! free, the timeout passes (exit 3) or SIGINT/SIGTERM arrives (exit 130).

use std::time::Duration;

use clap::Args;
use mason_client::{BoskosApi, Wait};

use super::client_opts::{cancel_on_signal, fail, go_duration, ClientOpts};
use crate::exit::{self, Exit};

/// Options of `acquire`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    client: ClientOpts,
    /// Type of the resource to acquire.
    #[arg(long = "type", value_name = "TYPE")]
    rtype: String,
    /// State the resource must be in (e.g. free).
    #[arg(long, value_name = "STATE")]
    state: String,
    /// State to move it to (e.g. busy).
    #[arg(long, value_name = "STATE")]
    target_state: String,
    /// How long to wait for a free resource, Go duration; 0 = a single attempt.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = go_duration)]
    timeout: Duration,
    /// Pause between attempts while waiting, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = go_duration)]
    poll_interval: Duration,
}

/// Acquire and print the resource JSON followed by a newline.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let client = opts
        .client
        .builder()
        .poll_interval(opts.poll_interval)
        .build()
        .map_err(|e| Exit::new(exit::USAGE, format!("mason: {e}")))?;
    let outcome = if opts.timeout.is_zero() {
        client
            .acquire(&opts.rtype, &opts.state, &opts.target_state, None)
            .await
    } else {
        let wait = Wait::new()
            .timeout(opts.timeout)
            .cancel(cancel_on_signal()?);
        client
            .acquire_wait(&opts.rtype, &opts.state, &opts.target_state, &wait)
            .await
    };
    match outcome {
        Ok(resource) => {
            println!("{}", resource.to_wire_json());
            Ok(exit::OK)
        }
        Err(e) => Err(fail("failed to acquire a resource", &e, true).into()),
    }
}
