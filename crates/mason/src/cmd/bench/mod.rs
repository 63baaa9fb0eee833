//! `mason bench`: a load generator for any Boskos-compatible server, and a self-hosted
//! benchmark of Mason itself.
//!
//! - `--server-url URL`: N clients (one keep-alive connection each) loop acquire/release
//!   (or acquire-only, or heartbeats) on `--type` for `--duration` against that server.
//! - no `--server-url`: a static pool of `--pool-size` resources is generated, loaded into
//!   `--store` (a temp SQLite file by default), and served by an in-process `mason serve`
//!   on 127.0.0.1; `--layer store` drives the store directly instead, without HTTP.
//! - `--layer raw-http | raw-sqlite | raw-sqlite-async`: the machine's raw limits, through
//!   the same measuring code (see [`raw`]).
//!
//! Every run prints ops/s, requests/s, p50/p90/p99/max per request kind, non-200 answers
//! by status, and the double-lease probe: how many releases (or heartbeats) the server
//! refused on a resource it had just granted to that very client. Any such refusal makes
//! the command exit 1.
//!
//! Layout: [`load`] (client loop, modes, stats), [`histogram`] (latencies), [`http`] (the
//! lean HTTP client), [`store`] (the store as a target), [`pool`] (self-hosted pool and
//! server), [`raw`] (baselines), [`report`] (output).

mod histogram;
mod http;
mod load;
mod pool;
mod raw;
mod report;
mod store;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::exit::{self, Exit};
use load::{Load, Mode, Stats};
use report::Setup;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Layer {
    /// The full HTTP path (a `--server-url`, or an in-process `mason serve`).
    Http,
    /// The store alone (self-hosted only).
    Store,
    /// A hello-world axum server: the cost of HTTP alone.
    RawHttp,
    /// A bare SQLite commit loop on one thread.
    RawSqlite,
    /// The same commits through `spawn_blocking` and a mutex, from `--clients` tasks.
    RawSqliteAsync,
}

impl Layer {
    fn name(self) -> &'static str {
        match self {
            Layer::Http => "http",
            Layer::Store => "store",
            Layer::RawHttp => "raw-http",
            Layer::RawSqlite => "raw-sqlite",
            Layer::RawSqliteAsync => "raw-sqlite-async",
        }
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A short table.
    Text,
    /// One JSON object.
    Json,
}

/// Options of `bench`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// A Boskos-compatible server to load (`http://HOST:PORT`); without it, a pool of
    /// `--pool-size` resources is served in-process.
    #[arg(long, value_name = "URL")]
    server_url: Option<String>,
    /// Resource type to acquire.
    #[arg(long = "type", value_name = "T", default_value = "bench")]
    rtype: String,
    /// Concurrent clients, one connection each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=4096))]
    clients: u16,
    /// Measured run time (Go duration: `10s`, `1m`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured lead-in before the measured run.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// What each client loops on.
    #[arg(long, value_enum, default_value_t = Mode::Cycle)]
    mode: Mode,
    /// State to acquire from (and release back to).
    #[arg(long, default_value = "free")]
    state: String,
    /// State to hold resources in.
    #[arg(long, default_value = "busy")]
    dest: String,
    /// Owners are `<prefix>-<client number>`.
    #[arg(long, default_value = "mason-bench")]
    owner_prefix: String,
    /// Self-hosted: resources in the generated pool.
    #[arg(long, value_name = "N", conflicts_with = "server_url",
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pool_size: Option<u32>,
    /// Self-hosted: the store (`sqlite://PATH`, `postgres://…`); default a temp SQLite file.
    #[arg(long, value_name = "URL", conflicts_with = "server_url")]
    store: Option<String>,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Layer::Http)]
    layer: Layer,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = mason_types::parse_go_duration(s).map_err(|e| e.to_string())?;
    if d > Duration::from_secs(24 * 3600) {
        return Err("at most 24h".into());
    }
    Ok(d)
}

/// Default pool size of a self-hosted run.
const DEFAULT_POOL: usize = 100;

/// Run the benchmark and print the figures.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    if opts.server_url.is_some() && opts.layer != Layer::Http {
        return Err(Exit::new(
            exit::USAGE,
            format!(
                "--layer {} measures a self-hosted setup; drop --server-url",
                opts.layer.name()
            ),
        )
        .into());
    }
    let pool_size = opts.pool_size.map_or(DEFAULT_POOL, |n| n as usize);
    let load = Load {
        rtype: opts.rtype.clone(),
        state: opts.state.clone(),
        dest: opts.dest.clone(),
        mode: opts.mode,
        clients: usize::from(opts.clients),
        warmup: opts.warmup,
        duration: opts.duration,
        owner_prefix: opts.owner_prefix.clone(),
    };
    let mut setup = Setup {
        layer: opts.layer.name().to_string(),
        target: String::new(),
        rtype: opts.rtype.clone(),
        pool_size: opts.server_url.is_none().then_some(pool_size),
        mode: opts.mode,
        clients: load.clients,
    };
    let stats = match (&opts.server_url, opts.layer) {
        (Some(url), _) => {
            setup.target = url.clone();
            let target =
                http::HttpTarget::new(url).map_err(|e| Exit::new(exit::USAGE, e.to_string()))?;
            load::run(Arc::new(target), &load)
                .await
                .context("load against the server")?
        }
        (None, Layer::Http) => {
            let config = pool::pool_config(&opts.rtype, &opts.state, pool_size);
            let store = pool::open_store(opts.store.as_deref()).await?;
            let server = pool::BenchServer::start(Arc::clone(&store.store), config).await?;
            setup.target = format!("{} on {}", server.url, store.url);
            let outcome = load::run(Arc::new(http::HttpTarget::new(&server.url)?), &load).await;
            server.stop().await?;
            outcome?
        }
        (None, Layer::Store) => {
            let config = pool::pool_config(&opts.rtype, &opts.state, pool_size);
            let store = pool::open_store(opts.store.as_deref()).await?;
            store.load(&config).await?;
            setup.target = store.url.clone();
            load::run(
                Arc::new(store::StoreTarget(Arc::clone(&store.store))),
                &load,
            )
            .await?
        }
        (None, Layer::RawHttp) => {
            let raw = raw::RawHttp::start().await?;
            setup.target = raw.url.clone();
            setup.pool_size = None;
            let outcome = load::run(Arc::new(http::HttpTarget::new(&raw.url)?), &load).await;
            raw.stop().await?;
            outcome?
        }
        (None, Layer::RawSqlite | Layer::RawSqliteAsync) => {
            let dir = tempfile::tempdir()?;
            let path = pool::raw_db_path(opts.store.as_deref(), dir.path());
            setup.target = format!("sqlite://{}", path.display());
            let _ = std::fs::remove_file(&path);
            let stats = if opts.layer == Layer::RawSqlite {
                raw::sqlite_commits(&path, pool_size, load.warmup, load.duration).await
            } else {
                raw::sqlite_commits_async(
                    &path,
                    pool_size,
                    load.clients,
                    load.warmup,
                    load.duration,
                )
                .await
            };
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            stats?
        }
    };
    print(&setup, &stats, opts.format);
    verdict(&stats)
}

fn print(setup: &Setup, stats: &Stats, format: Format) {
    match format {
        Format::Text => print!("{}", report::text(setup, stats)),
        Format::Json => println!("{}", report::json(setup, stats)),
    }
}

/// Exit 1 on a double-lease suspect, or when nothing at all succeeded.
fn verdict(stats: &Stats) -> anyhow::Result<u8> {
    if stats.refused_own > 0 {
        return Err(Exit::new(
            exit::FAILURE,
            format!(
                "mason bench: the server refused {} release(s)/heartbeat(s) of a lease it had just granted (double lease?)",
                stats.refused_own
            ),
        )
        .into());
    }
    if stats.ops == 0 {
        return Err(Exit::new(
            exit::FAILURE,
            "mason bench: no operation succeeded (see errors above)",
        )
        .into());
    }
    Ok(exit::OK)
}
