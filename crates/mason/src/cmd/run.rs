//! `mason run --type T [...] -- CMD ARGS`: lease a resource for the time a command runs.
//!
//! 1. Wait for a `--type` resource in `--state`, moving it to `--target-state` (one request
//!    ID, so the place in the server's queue is kept; progress on stderr, see `progress`).
//!    No resource within `--timeout` → exit 3 without running the command.
//!    A *virtual* resource (one the Mason builder made, see `leased`) comes with its
//!    physical resources, taken into the same state; if that fails, the virtual resource
//!    goes back to `dirty` and `mason run` exits 1 (4 when the server is unreachable)
//!    without running the command.
//! 2. Run the command with the resource (and any physical resources) in its environment
//!    (see `env`), heartbeating every lease held every `--heartbeat-period` so no reaper
//!    takes it (see `hold`).
//! 3. SIGINT/SIGTERM received meanwhile are forwarded to the command (see `child`).
//! 4. However the command ends — success, failure, killed by a forwarded signal — stop the
//!    heartbeats and release every resource held to `--release-to`.
//! 5. Exit with the command's exit code (128 + signal number when a signal killed it). If
//!    the command succeeded but a release failed, exit 1 so the leak is not silent.
//!
//! A signal while waiting (step 1) stops the wait: exit 130 (SIGINT) or 143 (SIGTERM).
//! If a lease is lost while the command runs (someone reset or released the resource),
//! its heartbeat stops and `mason run` says so when the command ends; the command itself
//! is not interrupted.

mod child;
mod env;
mod hold;
mod progress;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use mason_client::{BoskosApi, Error, Wait};
use mason_types::format_go_duration;

use super::client_opts::{fail, go_duration, ClientOpts};
use super::leased;
use crate::exit::{self, Exit};

/// Options of `run`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    client: ClientOpts,
    /// Type of the resource to lease.
    #[arg(long = "type", value_name = "TYPE")]
    rtype: String,
    /// State the resource must be in.
    #[arg(long, value_name = "STATE", default_value = "free")]
    state: String,
    /// State it is in while the command runs (a virtual resource's physical resources too).
    #[arg(long, value_name = "STATE", default_value = "busy")]
    target_state: String,
    /// State to release it (and any physical resources) to when the command ends.
    #[arg(long, value_name = "STATE", default_value = "dirty")]
    release_to: String,
    /// How long to wait for a free resource, Go duration (0 = one attempt).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = go_duration)]
    timeout: Duration,
    /// Pause between heartbeats while the command runs, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = go_duration)]
    heartbeat_period: Duration,
    /// Pause between attempts while waiting, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = go_duration)]
    poll_interval: Duration,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

/// Wait, run, release; the command's exit code.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    if opts.heartbeat_period.is_zero() {
        return Err(Exit::new(exit::USAGE, "mason: --heartbeat-period must be positive").into());
    }
    let client = opts
        .client
        .builder()
        .poll_interval(opts.poll_interval)
        .build()
        .map_err(|e| Exit::new(exit::USAGE, format!("mason: {e}")))?;
    let mut signals = child::Signals::catch()?;

    let what = format!("a {:?} resource in state {:?}", opts.rtype, opts.state);
    let display = progress::Progress::start(what.clone(), std::io::stderr().is_terminal());
    let wait = Wait::new()
        .timeout(opts.timeout)
        .on_progress(display.hook());
    let acquired = tokio::select! {
        outcome = client.acquire_wait(&opts.rtype, &opts.state, &opts.target_state, &wait) => outcome,
        sig = signals.recv() => {
            display.finish();
            let code = 128u8.wrapping_add(sig.as_raw() as u8);
            return Err(Exit::new(code, "mason run: interrupted while waiting for a resource").into());
        }
    };
    display.finish();
    let resource = match acquired {
        Ok(resource) => resource,
        Err(Error::Timeout { waited, .. }) => {
            let waited = format_go_duration(Duration::from_secs(waited.as_secs()));
            let msg =
                format!("mason run: no resource became available: waited {waited} for {what}");
            return Err(Exit::new(exit::NO_RESOURCE, msg).into());
        }
        Err(e) => return Err(fail("mason run: failed to acquire a resource", &e, true).into()),
    };
    let lease = match leased::take_leased(&client, resource, &opts.target_state).await {
        Ok(lease) => lease,
        Err(e) => {
            let msg = format!("mason run: failed to acquire a resource: {e}");
            return Err(Exit::new(leased::exit_code(&e), msg).into());
        }
    };
    let name = lease.resource.name.clone();
    let with = if lease.leased.is_empty() {
        String::new()
    } else {
        format!(" with {:?}", lease.leased_names())
    };
    eprintln!(
        "mason run: acquired {name:?} ({}){with}, running {:?}",
        lease.resource.rtype, opts.command
    );

    let env = env::resource_env(&lease, &opts.client.server_url, client.owner());
    let api: Arc<dyn BoskosApi> = Arc::new(client);
    let held = hold::Held::start(&api, lease, opts.heartbeat_period)
        .map_err(|e| Exit::new(exit::USAGE, format!("mason: {e}")))?;
    let ran = child::run_command(&opts.command, env, &mut signals).await;

    for (lost, why) in held.lost() {
        eprintln!("mason run: the lease on {lost:?} was lost while the command ran: {why}");
    }
    let released = held.release(&opts.release_to).await;
    let code = match ran {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mason run: {}", e.message);
            e.code
        }
    };
    for done in &released.done {
        eprintln!("mason run: released {done:?} to {:?}", opts.release_to);
    }
    for (failed, e) in &released.failed {
        eprintln!("mason run: failed to release resource {failed:?}: {e}");
    }
    Ok(if code == exit::OK && !released.failed.is_empty() {
        exit::FAILURE
    } else {
        code
    })
}
