//! `mason run --type T [...] -- CMD ARGS`: lease a resource for the time a command runs.
//!
//! 1. Wait for a `--type` resource in `--state`, moving it to `--target-state` (one request
//!    ID, so the place in the server's queue is kept; progress on stderr, see `progress`;
//!    a warning when no resource of the type is in `--state` at all, see
//!    `cli::diagnose`). No resource within `--timeout` → exit 3 without running the
//!    command. A *virtual* resource (one the Mason builder made, see `cli::leased`)
//!    comes with its physical resources, taken into the same state; if that fails, the
//!    virtual resource goes back to `dirty` and `mason run` exits 1 (4 when the server is
//!    unreachable) without running the command.
//! 2. Start the command with the resource (and any physical resources) in its
//!    environment (see `env`). If it cannot start (not found: 127, not runnable: 126),
//!    nothing ran: every resource goes back to the state it was acquired from, untouched
//!    (see `hold::give_back`), and `mason run` says so.
//! 3. While it runs, heartbeat every lease held every `--heartbeat-period` so no reaper
//!    takes it (see `hold`). SIGINT/SIGTERM received meanwhile are forwarded to it (see
//!    `child`).
//! 4. However the command ends — success, failure, killed by a forwarded signal — stop the
//!    heartbeats and release every resource held to `--release-to`.
//! 5. The exit code is the command's (128 + N when signal N killed it). The one
//!    exception, so a leak is never silent: the command succeeded (0) but a resource
//!    could not be released — then 4 when the server was unreachable, 1 when it refused.
//!    A command that failed keeps its own code either way, and the release failures are
//!    on stderr. (`mason help run` and the README say the same.)
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

use crate::cli::client_opts::{go_duration, ClientOpts};
use crate::cli::console;
use crate::cli::diagnose;
use crate::cli::leased;
use crate::cli::signals::Signals;
use crate::cli::translate::{self, fail, Asked};
use crate::exit::{self, Exit};

const COMMAND: &str = "mason run";

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason run --type gce-project -- ./e2e.sh                 # free -> busy, released to dirty
mason run --type sandbox --timeout 5m -- sh -c 'sqlite3 \"$MASON_USERDATA_DATABASE\" \"select 1\"'
mason run --type device --release-to free -- make flash   # no cleaning needed afterwards
";

/// Options of `run`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
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
    #[command(flatten)]
    client: ClientOpts,
}

/// Wait, run, release; the command's exit code.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    if opts.heartbeat_period.is_zero() {
        return Err(Exit::new(
            exit::USAGE,
            "mason run: --heartbeat-period must be positive",
        )
        .into());
    }
    let client = opts
        .client
        .builder(COMMAND)?
        .poll_interval(opts.poll_interval)
        .build()
        .map_err(|e| Exit::new(exit::USAGE, format!("{COMMAND}: {e}")))?;
    let mut signals = Signals::catch()?;

    let what = format!("a {:?} resource in state {:?}", opts.rtype, opts.state);
    let display = progress::Progress::start(what.clone(), std::io::stderr().is_terminal());
    let wait = Wait::new()
        .timeout(opts.timeout)
        .on_progress(display.hook());
    let asked = (
        opts.rtype.as_str(),
        opts.state.as_str(),
        opts.target_state.as_str(),
    );
    let acquired = tokio::select! {
        outcome = diagnose::acquire(&client, asked, Some(&wait), COMMAND) => outcome,
        sig = signals.next() => {
            display.finish();
            let msg = format!("{COMMAND}: interrupted while waiting for a resource ({})", sig.name());
            return Err(Exit::new(sig.exit_code(), msg).into());
        }
    };
    display.finish();
    let resource = match acquired {
        Ok(resource) => resource,
        Err(diagnose::Failed {
            error: Error::Timeout { waited, .. },
            ..
        }) => {
            let waited = format_go_duration(Duration::from_secs(waited.as_secs()));
            let msg =
                format!("{COMMAND}: no resource became available: waited {waited} for {what}");
            return Err(Exit::new(exit::NO_RESOURCE, msg).into());
        }
        Err(failed) => {
            let asked = Asked::Acquire {
                rtype: &opts.rtype,
                state: &opts.state,
            };
            let context = format!("{COMMAND}: failed to acquire a resource");
            return Err(fail(context, &failed.error, asked).into());
        }
    };
    let lease = match leased::take_leased(&client, resource, &opts.target_state).await {
        Ok(lease) => lease,
        Err(e) => {
            let msg = format!("{COMMAND}: failed to acquire a resource: {e}");
            return Err(Exit::new(leased::exit_code(&e), msg).into());
        }
    };
    let name = lease.resource.name.clone();
    let with = if lease.leased.is_empty() {
        String::new()
    } else {
        format!(" with {:?}", lease.leased_names())
    };
    console::note(&format!(
        "{COMMAND}: acquired {name:?} ({}){with}, running {:?}",
        lease.resource.rtype, opts.command
    ));

    let env = env::resource_env(&lease, opts.client.server_url()?, client.owner());
    let api: Arc<dyn BoskosApi> = Arc::new(client);
    let child = match child::spawn(&opts.command, env).await {
        Ok(child) => child,
        Err(e) => {
            console::error(&format!("{COMMAND}: {}", e.message));
            let given = hold::give_back(&api, lease, &opts.state).await;
            report(&given, api.owner(), "back to", "; nothing ran");
            return Ok(e.code);
        }
    };
    let held = hold::Held::start(&api, lease, opts.heartbeat_period)
        .map_err(|e| Exit::new(exit::USAGE, format!("{COMMAND}: {e}")))?;
    let code = child::wait(child, &mut signals).await;

    for (lost, why) in held.lost() {
        console::warn(&format!(
            "{COMMAND}: the lease on {lost:?} was lost while the command ran: {why}"
        ));
    }
    let released = held.release(&opts.release_to).await;
    report(&released, api.owner(), "to", "");
    Ok(exit_code(code, &released))
}

/// One line per resource released (`released "a" to "dirty"`) or not.
fn report(released: &hold::Released, owner: &str, to: &str, note: &str) {
    for (name, dest) in &released.done {
        console::note(&format!("{COMMAND}: released {name:?} {to} {dest:?}{note}"));
    }
    for (name, err) in &released.failed {
        let asked = Asked::Named {
            name,
            owner,
            verb: "release",
        };
        console::error(&format!(
            "{COMMAND}: failed to release resource {name:?}: {}",
            translate::explain(err, asked)
        ));
    }
}

/// The command's code, unless it succeeded and a release failed (see the module docs).
fn exit_code(command: u8, released: &hold::Released) -> u8 {
    match released.failed.first() {
        Some((_, err)) if command == exit::OK => translate::exit_code(err, false),
        _ => command,
    }
}
