//! `mason serve`: the Boskos-compatible lease server (upstream's `cmd/boskos`).
//!
//! Opens the store (`--store`, env `MASON_STORE`, default `sqlite://mason.db`, created
//! when missing), loads and syncs the config (any failure here is fatal, as upstream),
//! then serves the API on `--listen-address:--port` (plus optional `--metrics-port` and
//! `--health-port` listeners) while the config file is watched and synced every
//! `--sync-period`. The first SIGINT/SIGTERM shuts down gracefully (in-flight requests
//! finish, at most [`SHUTDOWN_DEADLINE`]); a second one exits at once.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use mason_server::{AppState, ConfigSource, Error as ServerError, Listeners, ServerOptions};
use mason_store::open::StoreOptions;
use mason_store::{StoreUrl, SystemClock};
use mason_types::{parse_go_duration, DurationError};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cmd::check_auth;
use crate::exit::{self, Exit};

/// How long in-flight requests and loops get to finish after the first signal.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(8);

/// Exit code when a second signal cuts the graceful shutdown short (128 + SIGINT).
const FORCED: i32 = 130;

/// Options of `serve`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// The resource config file (Boskos YAML); watched and re-applied when it changes.
    #[arg(long, value_name = "FILE", default_value = "config.yaml")]
    config: PathBuf,
    /// API port.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address the listeners bind to.
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
    /// Period of the full config sync (dynamic pool expiry and top-up), Go duration.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = go_duration)]
    sync_period: Duration,
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
}

/// Run the server until a signal.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    if opts.sync_period.is_zero() {
        return Err(Exit::new(
            exit::USAGE,
            "mason serve: --sync-period must be more than 0",
        )
        .into());
    }
    let auth = opts
        .auth_file
        .as_deref()
        .map(|path| check_auth::load(path, "mason serve"))
        .transpose()?;
    let store = mason_store::open(
        &opts.store,
        StoreOptions {
            request_ttl: opts.request_ttl,
            clock: Arc::new(SystemClock),
        },
    )
    .await
    .with_context(|| format!("cannot open store {}", opts.store))?;
    tracing::info!(store = %opts.store, backend = store.backend(), "store opened");

    let mut state = AppState::new(
        store,
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
            return Err(Exit::new(exit::USAGE, format!("mason serve: {e}")).into());
        }
        Err(e) => return Err(anyhow::Error::new(e).context("initial config sync failed")),
    }

    let listeners = Listeners {
        api: bind(opts.listen_address, opts.port, "API").await?,
        metrics: bind_opt(opts.listen_address, opts.metrics_port, "metrics").await?,
        health: bind_opt(opts.listen_address, opts.health_port, "health").await?,
    };
    let options = ServerOptions {
        sync_period: opts.sync_period,
        ..ServerOptions::default()
    };
    let shutdown = shutdown_on_signals()?;
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

/// clap value parser for Go durations (`30s`, `1m30s`).
fn go_duration(text: &str) -> Result<Duration, DurationError> {
    parse_go_duration(text)
}

async fn bind(ip: IpAddr, port: u16, what: &str) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({what})"))?;
    let local = listener.local_addr().context("listener address")?;
    tracing::info!("{what} listening on http://{local}");
    Ok(listener)
}

async fn bind_opt(
    ip: IpAddr,
    port: Option<u16>,
    what: &str,
) -> anyhow::Result<Option<TcpListener>> {
    match port {
        Some(p) => bind(ip, p, what).await.map(Some),
        None => Ok(None),
    }
}

/// A token cancelled by the first SIGINT/SIGTERM; a second signal exits immediately.
fn shutdown_on_signals() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let token = CancellationToken::new();
    let fire = token.clone();
    tokio::spawn(async move {
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        tracing::info!("shutting down (signal again to exit at once)");
        fire.cancel();
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        tracing::warn!("second signal: exiting now");
        std::process::exit(FORCED);
    });
    Ok(token)
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
            "--store",
            "sqlite:///var/lib/mason.db",
        ])
        .unwrap();
        assert_eq!(w.opts.request_ttl, Duration::from_secs(90));
        assert_eq!(w.opts.sync_period, Duration::from_secs(10));
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
