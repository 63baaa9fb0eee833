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
//!
//! **Sets.** Several `--type`s, a count (`--type b=2`) or a `--priority` lease a *set*
//! from a `mason serve`, all or nothing (see `resource_set`); the command gets every
//! resource in its environment (see `set_env`).
//!
//! **Lost leases.** A lease is lost when the server says so to a heartbeat (the lease
//! moved on: 409; someone else's: 401; gone: 404) or, with `--lease-ttl D` (the server
//! ends a lease not renewed for D; heartbeats default to every D/3), when no heartbeat was
//! accepted for a whole D. The command must then stop using the resource: `mason run`
//! says why, sends SIGTERM to the command, SIGKILL after `--kill-grace`, releases what is
//! still ours, and exits 5 (see `lost`). A lease found lost only at the final release
//! also makes the exit code 5.

mod acquire;
mod child;
mod env;
mod hold;
mod lost;
mod progress;
mod set_env;

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use mason_client::{BoskosApi, HttpClient, VirtualLease};
use mason_types::format_go_duration;

use crate::cli::client_opts::{go_duration, ClientOpts};
use crate::cli::console;
use crate::cli::signals::Signals;
use crate::cli::translate::{self, Asked};
use crate::cmd::resource_set::{self, type_count, TypeCount};
use crate::exit::{self, Exit};

const COMMAND: &str = "mason run";

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason run --type gce-project -- ./e2e.sh                 # free -> busy, released to dirty
mason run --type sandbox --timeout 5m -- sh -c 'sqlite3 \"$MASON_USERDATA_DATABASE\" \"select 1\"'
mason run --type gce-project=2 --type gke-cluster --lease-ttl 30m -- ./e2e.sh   # a set; lost lease: exit 5
";

/// Heartbeat period without `--heartbeat-period` and without `--lease-ttl`.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);

/// Options of `run`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// Type of the resource to lease; `TYPE=N` for N of them. Repeat for a set of several
    /// types, leased all or nothing (a mason serve extension); the command then also gets
    /// MASON_RESOURCE_NAMES (comma-separated), MASON_RESOURCES_JSON (a JSON array) and
    /// MASON_NAMES_<TYPE> per type (e.g. MASON_NAMES_GCE_PROJECT).
    #[arg(long = "type", value_name = "TYPE[=N]", required = true, value_parser = type_count)]
    types: Vec<TypeCount>,
    /// Queue priority of a set: higher is served first (a mason serve extension; implies
    /// the set acquire).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    priority: i32,
    /// Ask the server to end the lease when it is not renewed for this long (a mason serve
    /// extension, at most its --max-lease-ttl); heartbeats then default to a third of it,
    /// and a lease with no heartbeat accepted for this long counts as lost (exit 5).
    #[arg(long, value_name = "DURATION", value_parser = go_duration)]
    lease_ttl: Option<Duration>,
    /// After a lost lease: how long the command gets after SIGTERM before SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = go_duration)]
    kill_grace: Duration,
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
    /// Pause between heartbeats while the command runs, Go duration [default: 30s, or a
    /// third of --lease-ttl].
    #[arg(long, value_name = "DURATION", value_parser = go_duration)]
    heartbeat_period: Option<Duration>,
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
    let period = heartbeat_period(&opts)?;
    let mut builder = opts
        .client
        .builder(COMMAND)?
        .poll_interval(opts.poll_interval);
    if let Some(ttl) = opts.lease_ttl {
        builder = builder.lease_ttl(ttl);
    }
    let client = builder
        .build()
        .map_err(|e| Exit::new(exit::USAGE, format!("{COMMAND}: {e}")))?;
    let mut signals = Signals::catch()?;

    let (granted, leases) = match resource_set::single(&opts.types, opts.priority) {
        Some(rtype) => {
            let lease = acquire::one(&client, &opts, rtype, &mut signals).await?;
            let generation = client.generation(&lease.resource.name);
            (generation.map(|g| (lease.resource.clone(), g)), vec![lease])
        }
        None => {
            let (granted, leases) = acquire::set(&client, &opts, &mut signals).await?;
            console::note(&format!(
                "{COMMAND}: acquired {:?}, running {:?}",
                granted
                    .iter()
                    .map(|r| r.resource.name.as_str())
                    .collect::<Vec<_>>(),
                opts.command
            ));
            let server_url = opts.client.server_url()?;
            let env = set_env::set_env(&granted, &leases, server_url, client.owner());
            return run_with(client, leases, env, &opts, period, &mut signals).await;
        }
    };
    let lease = &leases[0];
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
    let mut env = env::resource_env(lease, opts.client.server_url()?, client.owner());
    if let Some((_, generation)) = granted {
        env.push(("MASON_RESOURCE_GENERATION".into(), generation.to_string()));
    }
    run_with(client, leases, env, &opts, period, &mut signals).await
}

/// The heartbeat period: `--heartbeat-period`, else a third of `--lease-ttl`, else 30 s.
fn heartbeat_period(opts: &Opts) -> Result<Duration, Exit> {
    let usage = |msg: &str| Exit::new(exit::USAGE, format!("{COMMAND}: {msg}"));
    if opts.heartbeat_period.is_some_and(|p| p.is_zero()) {
        return Err(usage("--heartbeat-period must be positive"));
    }
    if opts.lease_ttl.is_some_and(|t| t.is_zero()) {
        return Err(usage("--lease-ttl must be positive"));
    }
    match (opts.heartbeat_period, opts.lease_ttl) {
        (Some(p), Some(ttl)) if p >= ttl => Err(usage(&format!(
            "--heartbeat-period ({}) must be shorter than --lease-ttl ({})",
            format_go_duration(p),
            format_go_duration(ttl)
        ))),
        (Some(p), _) => Ok(p),
        (None, Some(ttl)) => Ok(ttl / 3),
        (None, None) => Ok(DEFAULT_HEARTBEAT),
    }
}

/// Steps 2–5: start the command with `env`, hold every lease while it runs (stopping it
/// if one is lost), release, and work out the exit code.
async fn run_with(
    client: HttpClient,
    leases: Vec<VirtualLease>,
    env: Vec<(String, String)>,
    opts: &Opts,
    period: Duration,
    signals: &mut Signals,
) -> anyhow::Result<u8> {
    let api: Arc<dyn BoskosApi> = Arc::new(client);
    let child = match child::spawn(&opts.command, env).await {
        Ok(child) => child,
        Err(e) => {
            console::error(&format!("{COMMAND}: {}", e.message));
            let given = hold::give_back(&api, leases, &opts.state).await;
            report(&given, api.owner(), "back to", "; nothing ran");
            return Ok(e.code);
        }
    };
    let held = hold::Held::start(&api, leases, period, opts.lease_ttl)
        .map_err(|e| Exit::new(exit::USAGE, format!("{COMMAND}: {e}")))?;
    let ended = child::wait(child, signals, held.first_lost(), opts.kill_grace).await;
    let released = held.release(&opts.release_to).await;
    report(&released, api.owner(), "to", "");
    match ended {
        child::Ended::LeaseLost(lost) => {
            let msg = format!(
                "{COMMAND}: the command was stopped because {lost} (exit {})",
                exit::LEASE_LOST
            );
            Err(Exit::new(exit::LEASE_LOST, msg).into())
        }
        child::Ended::Exited(code) => Ok(exit_code(code, &released)),
    }
}

/// One line per resource released (`released "a" to "dirty"`) or not.
fn report(released: &hold::Released, owner: &str, to: &str, note: &str) {
    for lost in &released.lost {
        console::error(&format!("{COMMAND}: not released: {lost}"));
    }
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

/// The command's code, unless a lease turned out lost, or the command succeeded and a
/// release failed (see the module docs).
fn exit_code(command: u8, released: &hold::Released) -> u8 {
    if !released.lost.is_empty() {
        return exit::LEASE_LOST;
    }
    match released.failed.first() {
        Some((_, err)) if command == exit::OK => translate::exit_code(err, false),
        _ => command,
    }
}
