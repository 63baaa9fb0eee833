//! `mason serve`: the Boskos-compatible lease server (upstream's `cmd/boskos`).
//!
//! Start-up changes nothing until it is sure to succeed: it reads and validates the
//! config, then binds every listener (`--listen-address:--port`, and the optional
//! `--metrics-port` and `--health-port`), and only then opens the store (`--store`, env
//! `MASON_STORE`, default `sqlite://mason.db`) and syncs the config into it. A missing
//! or invalid config or a port in use therefore leaves the store untouched. Any failure
//! is fatal, as upstream. It then serves while the config file is watched and synced
//! every `--sync-period`. The first SIGINT/SIGTERM shuts down gracefully (in-flight
//! requests finish, at most [`SHUTDOWN_DEADLINE`]) and exits 0; a second one, more than
//! a second later, exits at once (see `cli::signals`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use mason_server::{Listeners, ServerOptions};
use mason_store::StoreUrl;
use tokio::net::TcpListener;

use crate::cli::client_opts::go_duration;
use crate::cli::config_check;
use crate::cli::history_opts::HistoryOpts;
use crate::cli::lease_opts::LeaseOpts;
use crate::cli::runtime_opts::RuntimeOpts;
use crate::cli::signals::shutdown_on_signals;
use crate::cli::startup;
use crate::cli::store_opts::ServeStoreOpts;
use crate::cli::transport_opts::TransportOpts;
use crate::cmd::check_auth;
use crate::exit::{self, Exit};

/// How long in-flight requests and loops get to finish after the first signal.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(8);

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason serve --config boskos-resources.yaml                          # SQLite file mason.db here
mason serve --config resources.yaml --store postgres://mason@db/mason  # one of several replicas
mason serve --config resources.yaml --auth-file auth.yaml            # users, tokens and roles";

/// Options of `serve`. Defaults are upstream boskos' (it is a drop-in replacement);
/// `mason up`'s differ where one local process makes that better.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// The resource config file (Boskos YAML); watched and re-applied when it changes.
    /// Defaults to upstream's config.yaml (up has no default: it is started by hand).
    #[arg(long, value_name = "FILE", default_value = "config.yaml")]
    config: PathBuf,
    /// API port.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address the listeners bind to: every interface, as upstream's server (up binds
    /// 127.0.0.1, a local quick start).
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    listen_address: IpAddr,
    /// The store: sqlite://RELATIVE/PATH, sqlite:///ABSOLUTE/PATH, sqlite::memory: or postgres://….
    #[arg(
        long,
        env = "MASON_STORE",
        value_name = "URL",
        default_value = "sqlite://mason.db"
    )]
    store: StoreUrl,
    /// How long a request_id keeps its queue position without polling (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = go_duration)]
    request_ttl: Duration,
    /// Period of the full config sync (dynamic pool expiry and top-up), Go duration. A
    /// minute keeps syncs cheap on large shared pools (up syncs every 10s: one small
    /// local pool, where lifespans should expire promptly).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = go_duration)]
    sync_period: Duration,
    #[command(flatten)]
    lease: LeaseOpts,
    #[command(flatten)]
    runtime: RuntimeOpts,
    /// Also serve GET /metrics on this port (the API port always serves it).
    #[arg(long, value_name = "PORT")]
    metrics_port: Option<u16>,
    /// Also serve /healthz and /healthz/ready on this port (the API port always serves them).
    #[arg(long, value_name = "PORT")]
    health_port: Option<u16>,
    /// Users, tokens and roles (YAML, see `mason check-auth`); re-read when it changes.
    /// Without it the server is open to anyone who can reach it.
    #[arg(long, env = "MASON_AUTH_FILE", value_name = "FILE")]
    auth_file: Option<PathBuf>,
    #[command(flatten)]
    store_flags: ServeStoreOpts,
    #[command(flatten)]
    transport: TransportOpts,
    #[command(flatten)]
    history: HistoryOpts,
}

/// Run the server until a signal.
impl Opts {
    /// The runtime's worker count, when `--worker-threads` sets one.
    pub(crate) fn worker_threads(&self) -> Option<usize> {
        self.runtime.workers()
    }
}

pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    if opts.sync_period.is_zero() || opts.lease.max_lease_ttl.is_zero() {
        return Err(Exit::new(
            exit::USAGE,
            "mason serve: --sync-period and --max-lease-ttl must be more than 0",
        )
        .into());
    }
    // Everything that can fail without side effects comes first.
    config_check::preload(&opts.config, "mason serve")?;
    let auth = opts
        .auth_file
        .as_deref()
        .map(|path| check_auth::load(path, "mason serve"))
        .transpose()?;
    let (transport, tls) = opts.transport.prepare("serve")?;
    let listeners = Listeners {
        api: bind(
            opts.listen_address,
            opts.port,
            "API",
            opts.transport.scheme(),
        )
        .await?,
        metrics: bind_opt(opts.listen_address, opts.metrics_port, "metrics").await?,
        health: bind_opt(opts.listen_address, opts.health_port, "health").await?,
    };

    // From here on SIGINT/SIGTERM stop the server gracefully: a signal while the store
    // opens (a supervisor stopping a slow start) is a clean stop, never the default kill.
    let shutdown = shutdown_on_signals()?;
    let (store, state) = startup::open_and_sync(
        &opts.store,
        &opts.store_flags,
        opts.request_ttl,
        &opts.config,
        auth,
        "mason serve",
    )
    .await?;
    opts.lease.apply(state.lease());
    let _pruner = opts.history.start_pruner(store.clone());

    let options = ServerOptions {
        sync_period: opts.sync_period,
        transport,
        tls,
        ..ServerOptions::default()
    };
    let server = mason_server::run(state, listeners, options, shutdown.clone());
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result.context("server failed")?,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(SHUTDOWN_DEADLINE).await } => {
            tracing::warn!(deadline = ?SHUTDOWN_DEADLINE, "graceful shutdown took too long; exiting");
        }
    }
    tracing::info!("stopped");
    Ok(exit::OK)
}

async fn bind(ip: IpAddr, port: u16, what: &str, scheme: &str) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    let listener =
        startup::listen(addr).with_context(|| format!("cannot listen on {addr} ({what})"))?;
    let local = listener.local_addr().context("listener address")?;
    tracing::info!("{what} listening on {scheme}://{local}");
    Ok(listener)
}

async fn bind_opt(
    ip: IpAddr,
    port: Option<u16>,
    what: &str,
) -> anyhow::Result<Option<TcpListener>> {
    match port {
        Some(p) => bind(ip, p, what, "http").await.map(Some),
        None => Ok(None),
    }
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
        let w = Wrapper::try_parse_from(["serve"]).unwrap();
        assert_eq!(w.opts.port, 8080);
        assert_eq!(w.opts.config, PathBuf::from("config.yaml"));
        assert_eq!(w.opts.request_ttl, Duration::from_secs(30));
        assert_eq!(w.opts.sync_period, Duration::from_secs(60));
        assert_eq!(w.opts.lease.max_lease_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(w.opts.lease.disconnect_grace, Duration::ZERO);
        assert_eq!(w.opts.metrics_port, None);
        assert_eq!(w.opts.listen_address.to_string(), "0.0.0.0");
    }

    #[test]
    fn parses_go_durations_and_store_urls() {
        let w = Wrapper::try_parse_from([
            "serve",
            "--request-ttl",
            "1m30s",
            "--sync-period",
            "10s",
            "--max-lease-ttl",
            "2h",
            "--disconnect-grace",
            "1500ms",
            "--store",
            "sqlite:///var/lib/mason.db",
        ])
        .unwrap();
        assert_eq!(w.opts.request_ttl, Duration::from_secs(90));
        assert_eq!(w.opts.sync_period, Duration::from_secs(10));
        assert_eq!(w.opts.lease.max_lease_ttl, Duration::from_secs(7200));
        assert_eq!(w.opts.lease.disconnect_grace, Duration::from_millis(1500));
        assert_eq!(w.opts.store.to_string(), "sqlite:///var/lib/mason.db");
        let err = Wrapper::try_parse_from(["serve", "--request-ttl", "banana"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("time: invalid duration \"banana\""),
            "{err}"
        );
        let err = Wrapper::try_parse_from(["serve", "--store", "mysql://x"]).unwrap_err();
        assert!(err.to_string().contains("unsupported store URL"), "{err}");
    }
}
