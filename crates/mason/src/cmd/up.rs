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
//! signal exits at once. The controllers' store calls are guarded as the standalone
//! controllers' HTTP calls are (`mason_controllers::shutdown`): one the store has not
//! answered within [`SHUTDOWN_GRACE`] of the signal is abandoned.
//!
//! `GET /api/v2/status` on the API port shows every part's loop: the server's config
//! sync and request GC, the builder (with its pools), the reaper, cleaner and janitor.
//!
//! Start-up changes nothing until it is sure to succeed: the config (and the auth file,
//! if any) is read and validated, the janitor program found, and the API port bound
//! before the store is opened or written (so a typo or a port in use leaves `mason.db` as
//! it was, or absent).
//!
//! With `--auth-file` the HTTP API checks credentials exactly as `mason serve` does. The
//! in-process parts are not HTTP clients and need no credentials: they act on the store
//! directly and can only be reached from inside this process; what they do is recorded
//! under their owner names.
//!
//! Defaults differ from the standalone commands where a single process makes polling
//! cheap: the full config sync runs every 10 s (lifespans expire promptly) and the
//! cleaner and janitor look for work every 5 s. The API listens on 127.0.0.1 (a local
//! quick start), and `--config` has no default. Heartbeats of the builder and the
//! janitor are kept under a third of `--reaper-expire`, so a short expiry in a demo
//! never reaps live work.

mod tasks;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use mason_client::BoskosApi;
use mason_controllers::shutdown::Shutdown;
use mason_controllers::types_source::parse_type_list;
use mason_inprocess::InProcessClient;
use mason_server::ServerOptions;
use mason_store::StoreUrl;
use tokio_util::task::TaskTracker;

use crate::cli::client_opts::go_duration;
use crate::cli::config_check;
use crate::cli::controller_opts::{wait_for_shutdown, SHUTDOWN_DEADLINE, SHUTDOWN_GRACE};
use crate::cli::history_opts::HistoryOpts;
use crate::cli::lease_opts::LeaseOpts;
use crate::cli::program;
use crate::cli::runtime_opts::RuntimeOpts;
use crate::cli::signals::shutdown_on_signals;
use crate::cli::startup;
use crate::cli::store_opts::ServeStoreOpts;
use crate::cli::transport_opts::TransportOpts;
use crate::cmd::check_auth;
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason up --config examples/quickstart.yaml --janitor-command examples/quickstart/janitor.sh
mason up --config pools.yaml --port 0 --reaper-expire 1m   # prints the URL it picked
mason up --config pools.yaml --store postgres://mason@db/mason";

/// Options of `up`. Where defaults differ from `serve`, the flag says why.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// The resource config file (Boskos YAML); watched and re-applied when it changes.
    /// Required: up is started by hand on a file you name (serve defaults to
    /// upstream's config.yaml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// API port (0 picks a free one; the URL is printed on stdout).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address the API binds to: loopback only, as a local quick start should (serve
    /// binds 0.0.0.0, as upstream's server).
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
    /// 10s: one small local pool syncs cheaply and lifespans expire promptly (serve: 1m,
    /// for large shared pools).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = go_duration)]
    sync_period: Duration,
    #[command(flatten)]
    lease: LeaseOpts,
    #[command(flatten)]
    runtime: RuntimeOpts,
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
    /// Run a janitor: for each dirty resource it runs PROGRAM --<suffix>=<name> [ARGS
    /// after --], where <suffix> is the resource type after its last '-' (type
    /// scratch-dir, resource s-1: PROGRAM --dir=s-1), as upstream's janitor; exit 0
    /// frees the resource, anything else leaves it dirty.
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
    #[command(flatten)]
    store_flags: ServeStoreOpts,
    #[command(flatten)]
    transport: TransportOpts,
    #[command(flatten)]
    history: HistoryOpts,
    /// Extra arguments for every janitor run.
    #[arg(last = true, value_name = "JANITOR_ARGS", requires = "janitor_command")]
    janitor_args: Vec<String>,
}

/// Run everything until a signal.
impl Opts {
    /// The runtime's worker count, when `--worker-threads` sets one.
    pub(crate) fn worker_threads(&self) -> Option<usize> {
        self.runtime.workers()
    }
}

pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let usage = |what: String| Exit::new(exit::USAGE, format!("mason up: {what}"));
    if opts.sync_period.is_zero()
        || opts.reaper_period.is_zero()
        || opts.reaper_expire.is_zero()
        || opts.lease.max_lease_ttl.is_zero()
    {
        return Err(usage(
            "periods, --reaper-expire and --max-lease-ttl must be more than 0".into(),
        )
        .into());
    }
    // Everything that can fail without side effects comes first.
    let config = config_check::preload(&opts.config, "mason up")?;
    let (transport, tls) = opts.transport.prepare("up")?;
    check_janitor(&opts).map_err(usage)?;
    let auth = opts
        .auth_file
        .as_deref()
        .map(|path| check_auth::load(path, "mason up"))
        .transpose()?;
    let base = config_check::base_dir(&opts.config);
    for finding in config_check::builder_findings(&config, &base) {
        tracing::warn!(config = %opts.config.display(), "{finding}");
    }
    let addr = SocketAddr::new(opts.listen_address, opts.port);
    let api = startup::listen(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let url = format!(
        "{}://{}",
        opts.transport.scheme(),
        api.local_addr().context("listener address")?
    );

    // Signals are caught before the store opens: a stop during start-up is graceful.
    let token = shutdown_on_signals()?;
    let (store, state) = startup::open_and_sync(
        &opts.store,
        &opts.store_flags,
        mason_store::DEFAULT_REQUEST_TTL,
        &opts.config,
        auth,
        "mason up",
    )
    .await?;
    opts.lease.apply(state.lease());
    let _pruner = opts.history.start_pruner(store.clone());

    let tracker = TaskTracker::new();
    // Store calls of the controllers give way to the shutdown (a hung PostgreSQL).
    let shutdown = Shutdown::new(token.clone(), SHUTDOWN_GRACE);
    let client = |owner: &str| -> Arc<dyn BoskosApi> {
        Arc::new(shutdown.guard(Arc::new(InProcessClient::new(store.clone(), owner))))
    };
    let board = state.status().clone();
    board.set_process("up");
    let plan = tasks::Plan {
        opts: &opts,
        store: store.clone(),
        client: &client,
        shutdown: &shutdown,
        status: &board,
    };
    let server_options = ServerOptions {
        sync_period: opts.sync_period,
        transport,
        tls,
        ..ServerOptions::default()
    };
    let failed = tasks::spawn_server(&tracker, &token, state, api, server_options);
    let summary = plan.spawn_controllers(&tracker, &token).map_err(usage)?;
    tasks::spawn_pool_log(&tracker, &token, store);

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

/// The janitor's settings, checked before anything starts: its program exists (found as
/// a shell would, relative to the working directory) and its type list parses.
fn check_janitor(opts: &Opts) -> Result<(), String> {
    let Some(command) = &opts.janitor_command else {
        return Ok(());
    };
    program::locate(command, std::path::Path::new("."))
        .map_err(|why| format!("--janitor-command: {why}"))?;
    parse_type_list(opts.janitor_resource_type.as_deref().unwrap_or(""))
        .map_err(|e| format!("--janitor-resource-type: {e}"))?;
    if opts.janitor_pool_size == 0 {
        return Err("--janitor-pool-size must be at least 1".into());
    }
    Ok(())
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
        assert_eq!(w.opts.lease.max_lease_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(w.opts.lease.disconnect_grace, Duration::ZERO, "as serve's");
        assert_eq!(w.opts.janitor_command, None);
        assert!(
            Wrapper::try_parse_from(["up"]).is_err(),
            "--config is required"
        );
    }

    #[test]
    fn takes_serves_lease_flags() {
        let w = Wrapper::try_parse_from([
            "up",
            "--config=c.yaml",
            "--disconnect-grace",
            "1500ms",
            "--max-lease-ttl=2h",
        ])
        .unwrap();
        assert_eq!(w.opts.lease.disconnect_grace, Duration::from_millis(1500));
        assert_eq!(w.opts.lease.max_lease_ttl, Duration::from_secs(7200));
        let err = Wrapper::try_parse_from(["up", "--config=c.yaml", "--disconnect-grace=later"])
            .unwrap_err();
        assert!(
            err.to_string().contains("time: invalid duration \"later\""),
            "{err}"
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
