//! `mason up --config FILE`: the whole system in one process — the lease server, the
//! builder, the reaper, the cleaner and (with `--janitor-command`) a janitor — on one
//! store (SQLite by default) and one config file. It is the quick start and the
//! small-team deployment.
//!
//! The controllers talk to the store through [`InProcessClient`]s (no loopback HTTP),
//! each as its upstream owner name (`mason`, `Reaper`, `cleaner`, `Janitor`); outside
//! users reach the same server over HTTP. One cancellation tree stops everything: the
//! first SIGINT/SIGTERM cancels the root token, every part holds a child token and runs
//! on one [`TaskTracker`], and the process waits for them at most [`SHUTDOWN_DEADLINE`]
//! (builds and cleanings in progress release their resources to `dirty`); a second
//! signal exits at once.
//!
//! `GET /api/v2/status` on the API port shows every part's loop: the server's config
//! sync and request GC, the builder (with its pools), the reaper, cleaner and janitor.
//!
//! With `--auth-file` the HTTP API checks credentials exactly as `mason serve` does. The
//! in-process parts are not HTTP clients and need no credentials: they act on the store
//! directly and can only be reached from inside this process; what they do is recorded
//! under their owner names.
//!
//! Defaults differ from the standalone commands where a single process makes polling
//! cheap: the full config sync runs every 10 s (lifespans expire promptly) and the
//! cleaner and janitor look for work every 5 s. Heartbeats of the builder and the
//! janitor are kept under a third of `--reaper-expire`, so a short expiry in a demo
//! never reaps live work.

mod parts;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use mason_server::{AppState, ConfigSource, Error as ServerError, InProcessClient};
use mason_store::open::StoreOptions;
use mason_store::{StoreUrl, SystemClock};
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::cmd::check_auth;
use crate::cmd::client_opts::go_duration;
use crate::cmd::controller_opts::{shutdown_on_signals, wait_for_shutdown, SHUTDOWN_DEADLINE};
use crate::exit::{self, Exit};

/// Options of `up`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// The resource config file (Boskos YAML); watched and re-applied when it changes.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// API port (0 picks a free one; the URL is printed on stdout).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address the API binds to.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    listen_address: IpAddr,
    /// The store: sqlite://RELATIVE/PATH, sqlite:///ABSOLUTE/PATH, sqlite::memory: or postgres://….
    #[arg(
        long,
        env = "MASON_STORE",
        value_name = "URL",
        default_value = "sqlite://mason.db"
    )]
    store: StoreUrl,
    /// Period of the full config sync (lifespan expiry, min-count top-up), Go duration.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = go_duration)]
    sync_period: Duration,
    /// Constructs the builder runs at once (upstream Mason's --cleaner-count).
    #[arg(long, value_name = "N", default_value_t = 4)]
    build_workers: usize,
    /// Leases not heartbeated for this long go back to dirty, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = go_duration)]
    reaper_expire: Duration,
    /// Time between reaper sweeps, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = go_duration)]
    reaper_period: Duration,
    /// Resources the cleaner tombstones at once.
    #[arg(long, value_name = "N", default_value_t = 15)]
    cleaner_count: usize,
    /// Pause of the cleaner when nothing is marked for deletion, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = go_duration)]
    cleaner_period: Duration,
    /// Run a janitor: PROGRAM --<suffix>=<name> [ARGS after --] cleans each dirty resource.
    #[arg(long, value_name = "PROGRAM")]
    janitor_command: Option<PathBuf>,
    /// Types the janitor cleans [default: every type of the config except pools the
    /// builder builds].
    #[arg(long, value_name = "TYPES", requires = "janitor_command")]
    janitor_resource_type: Option<String>,
    /// Janitor programs running at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    janitor_pool_size: usize,
    /// Pause of the janitor when nothing is dirty, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = go_duration)]
    janitor_idle_wait: Duration,
    /// Users, tokens and roles for the HTTP API (YAML, see `mason check-auth`); re-read
    /// when it changes. The in-process parts do not use it (see the module docs).
    #[arg(long, env = "MASON_AUTH_FILE", value_name = "FILE")]
    auth_file: Option<PathBuf>,
    /// Extra arguments for every janitor run.
    #[arg(last = true, value_name = "JANITOR_ARGS", requires = "janitor_command")]
    janitor_args: Vec<String>,
}

/// Run everything until a signal.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let usage = |what: String| Exit::new(exit::USAGE, format!("mason up: {what}"));
    if opts.sync_period.is_zero() || opts.reaper_period.is_zero() || opts.reaper_expire.is_zero() {
        return Err(usage("periods and --reaper-expire must be more than 0".into()).into());
    }
    let auth = opts
        .auth_file
        .as_deref()
        .map(|path| check_auth::load(path, "mason up"))
        .transpose()?;
    let store = mason_store::open(
        &opts.store,
        StoreOptions {
            request_ttl: mason_store::DEFAULT_REQUEST_TTL,
            clock: Arc::new(SystemClock),
        },
    )
    .await
    .with_context(|| format!("cannot open store {}", opts.store))?;
    tracing::info!(store = %opts.store, backend = store.backend(), "store opened");

    let mut state = AppState::new(
        store.clone(),
        Arc::new(SystemClock),
        ConfigSource::File(opts.config.clone()),
    );
    if let Some(gate) = auth {
        state = state.with_auth(gate);
    }
    match state.initial_sync().await {
        Ok(report) => tracing::info!(
            config = %opts.config.display(),
            created = report.created.len(),
            deleted = report.deleted.len(),
            "config loaded and synced"
        ),
        Err(e @ (ServerError::ConfigRead { .. } | ServerError::ConfigInvalid { .. })) => {
            return Err(usage(e.to_string()).into());
        }
        Err(e) => return Err(anyhow::Error::new(e).context("initial config sync failed")),
    }

    let addr = SocketAddr::new(opts.listen_address, opts.port);
    let api = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let url = format!("http://{}", api.local_addr().context("listener address")?);

    let token = shutdown_on_signals()?;
    let tracker = TaskTracker::new();
    let client = |owner: &str| Arc::new(InProcessClient::new(store.clone(), owner));
    let board = state.status().clone();
    board.set_process("up");
    let plan = parts::Plan {
        opts: &opts,
        store: store.clone(),
        client: &client,
        status: &board,
    };
    let failed = parts::spawn_server(&tracker, &token, state, api, opts.sync_period);
    let summary = plan.spawn_controllers(&tracker, &token).map_err(usage)?;
    parts::spawn_pool_log(&tracker, &token, store);

    println!("mason up: Boskos API on {url}");
    for line in summary {
        println!("  {line}");
    }
    let credentials = if opts.auth_file.is_some() {
        " --username USER --password-file FILE"
    } else {
        ""
    };
    println!("  try: mason acquire --server-url {url}{credentials} --owner-name me --type TYPE --state free --target-state busy");
    println!("  stop with Ctrl-C (resources in progress go back to dirty)");

    token.cancelled().await;
    tracing::info!(deadline = ?SHUTDOWN_DEADLINE, "stopping every part");
    wait_for_shutdown(&tracker, &token).await;
    if failed.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(exit::FAILURE);
    }
    tracing::info!("stopped");
    Ok(exit::OK)
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
    fn defaults() {
        let w = Wrapper::try_parse_from(["up", "--config", "c.yaml"]).unwrap();
        assert_eq!(w.opts.port, 8080);
        assert_eq!(w.opts.listen_address.to_string(), "127.0.0.1");
        assert_eq!(w.opts.reaper_expire, Duration::from_secs(1800));
        assert_eq!(w.opts.sync_period, Duration::from_secs(10));
        assert_eq!(w.opts.janitor_command, None);
        assert!(
            Wrapper::try_parse_from(["up"]).is_err(),
            "--config is required"
        );
    }

    #[test]
    fn janitor_args_need_a_janitor() {
        let w = Wrapper::try_parse_from([
            "up",
            "--config=c.yaml",
            "--janitor-command=./j.sh",
            "--",
            "--fast",
        ])
        .unwrap();
        assert_eq!(w.opts.janitor_args, ["--fast"]);
        assert!(Wrapper::try_parse_from(["up", "--config=c.yaml", "--", "--fast"]).is_err());
        assert!(
            Wrapper::try_parse_from(["up", "--config=c.yaml", "--janitor-resource-type=a"])
                .is_err()
        );
    }
}
