//! The load generator behind `mason bench`: load for any Boskos-compatible server, and
//! self-hosted benchmarks of Mason itself. The `mason` binary only parses [`Opts`], calls
//! [`run`] and maps the [`Error`] to an exit code, so the product binary does not link the
//! benchmark's own HTTP client, hello-world server or raw SQLite loops directly.
//!
//! - `--server-url URL`: N clients (one keep-alive connection each) loop acquire/release
//!   (or acquire-only, or heartbeats) on `--type` for `--duration` against that server.
//! - no `--server-url`: a static pool of `--pool-size` resources is generated, loaded into
//!   `--store` (a temp SQLite file by default), and served by an in-process `mason serve`
//!   on 127.0.0.1; `--layer store` drives the store directly instead, without HTTP.
//! - `--layer raw-http | raw-sqlite | raw-sqlite-async`: the machine's raw limits, through
//!   the same measuring code (see `raw`).
//! - `--layer long-poll`: held-open multi-acquire requests (`"wait"`), the time from a
//!   release to the waiting acquirer's answer, and the CPU cost of `--waiters` idle
//!   waiters (see `long_poll`).
//! - `--layer ttl-expiry`: `--pool-size` leases (default 100,000) whose deadlines are
//!   spread over `--spread`, ended by the server while clients cycle acquire/release:
//!   lateness and the cycles' throughput before, during and after (see `ttl_expiry`).
//! - `--layer cross-process`: `mason serve` started as another process (from
//!   `--server-bin`, default this executable; several binaries are compared A/B in one
//!   run) at each of `--pools`, measured with `--connections` clients: the no-op floor,
//!   lease cycles and their ratio, latencies and the longest stall (see `cross`).
//!
//! Every run prints ops/s, requests/s, p50/p90/p99/max per request kind, non-200 answers
//! by status, and the double-lease probe: how many releases (or heartbeats) the server
//! refused on a resource it had just granted to that very client. Any such refusal is an
//! [`Error::DoubleLease`].
//!
//! Layout: `load` (client loop, modes, stats), `histogram` (latencies), `http` (the lean
//! HTTP client), `store` (the store as a target), `pool` (self-hosted pool and server),
//! `raw` (baselines), `report` (output), `cross` (the cross-process mode: server
//! process, blocking wire client, thread-per-connection load, its report), [`error`].

mod cross;
pub mod error;
mod histogram;
mod http;
mod load;
mod long_poll;
mod pool;
mod raw;
mod report;
mod store;
mod ttl_expiry;

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

pub use error::{Error, Result};
use load::{Load, Mode, Stats};
use report::Setup;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layer {
    /// The full HTTP path (a `--server-url`, or an in-process `mason serve`).
    Http,
    /// `mason serve` in another process: floor, cycles, ratio, stalls, per pool size and
    /// connection count.
    CrossProcess,
    /// The store alone (self-hosted only).
    Store,
    /// A hello-world axum server: the cost of HTTP alone.
    RawHttp,
    /// A bare SQLite commit loop on one thread.
    RawSqlite,
    /// The same commits through `spawn_blocking` and a mutex, from `--clients` tasks.
    RawSqliteAsync,
    /// Held-open `POST /api/v2/acquire`: release → waiting acquirer's answer, over HTTP,
    /// with `--waiters` idle waiters (and their CPU cost); `--clients` pairs.
    LongPoll,
    /// `--pool-size` leases (default 100,000) expiring over `--spread` while `--clients`
    /// clients cycle: lateness, and the cycles' throughput before, during and after.
    TtlExpiry,
}

impl Layer {
    fn name(self) -> &'static str {
        match self {
            Layer::Http => "http",
            Layer::CrossProcess => "cross-process",
            Layer::Store => "store",
            Layer::RawHttp => "raw-http",
            Layer::RawSqlite => "raw-sqlite",
            Layer::RawSqliteAsync => "raw-sqlite-async",
            Layer::LongPoll => "long-poll",
            Layer::TtlExpiry => "ttl-expiry",
        }
    }
}

/// Whether the cross-process servers speak HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    /// Plain HTTP.
    Off,
    /// HTTPS with a generated CA (the server binary must know `--tls-cert`).
    On,
    /// Both, interleaved, to measure the cost of TLS.
    Both,
}

/// Whether the cross-process servers check credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// No auth file: the server is open.
    Off,
    /// `--auth-file` with a generated user; every request carries Basic credentials.
    On,
    /// Both, interleaved, to measure the cost of authentication.
    Both,
}

/// Whether the self-hosted servers and stores keep a history (SQLite only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryMode {
    /// As shipped: every change of state or owner writes an event.
    On,
    /// No event is written (the store's history triggers are replaced by inert ones on
    /// the fresh file, see `mason_store::sqlite::prepare_file_without_history`): the
    /// baseline of what the history costs.
    Off,
    /// Cross-process: both, interleaved, to measure the cost of the history.
    Both,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A short table.
    Text,
    /// One JSON object.
    Json,
}

/// Options of `bench`.
#[derive(Debug, Args)]
pub struct Opts {
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
    /// Output format (cross-process: JSON lines, one per run).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Cross-process: the mason binary to start as the server, `PATH` or `LABEL=PATH`;
    /// repeat to compare binaries in one run [default: this executable].
    #[arg(long = "server-bin", value_name = "[LABEL=]PATH")]
    server_bins: Vec<String>,
    /// Cross-process: pool sizes, comma-separated.
    #[arg(long, value_name = "N,..", value_delimiter = ',', default_value = "100,10000,100000",
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pools: Vec<u32>,
    /// Cross-process: connection counts, comma-separated.
    #[arg(long, value_name = "N,..", value_delimiter = ',', default_value = "1,8",
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    connections: Vec<u16>,
    /// Cross-process: rounds of the whole matrix, interleaved.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
    rounds: u16,
    /// Cross-process: plain HTTP, HTTPS, or both interleaved.
    #[arg(long, value_enum, default_value_t = TlsMode::Off)]
    tls: TlsMode,
    /// Cross-process: servers open, with an auth file (clients send Basic credentials),
    /// or both interleaved.
    #[arg(long, value_enum, default_value_t = AuthMode::Off)]
    auth: AuthMode,
    /// Self-hosted SQLite: keep the history (as shipped), keep none (the cost baseline),
    /// or, cross-process, both interleaved.
    #[arg(long, value_enum, default_value_t = HistoryMode::On)]
    history: HistoryMode,
    /// With --server-url: Basic-auth user name for a server with --auth-file.
    #[arg(long, value_name = "USER", requires_all = ["server_url", "password_file"])]
    username: Option<String>,
    /// With --server-url: file holding the Basic-auth password (whitespace trimmed).
    #[arg(long, value_name = "FILE", requires = "username")]
    password_file: Option<std::path::PathBuf>,
    /// Cross-process: skip the `/metric` and `/metrics` measurements.
    #[arg(long)]
    no_reads: bool,
    /// Long-poll: requests held open, idle, for a resource that never frees up.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    waiters: u32,
    /// TTL expiry: the deadlines are spread evenly over this.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    spread: Duration,
    /// Cross-process: also append every run's JSON line to this file.
    #[arg(long, value_name = "FILE")]
    json_out: Option<std::path::PathBuf>,
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

/// Run the benchmark and print the figures on stdout.
pub async fn run(opts: Opts) -> Result<()> {
    if opts.server_url.is_some() && opts.layer != Layer::Http {
        return Err(Error::Usage(format!(
            "--layer {} measures a self-hosted setup; drop --server-url",
            opts.layer.name()
        )));
    }
    if opts.layer == Layer::CrossProcess {
        return cross_process(&opts).await;
    }
    let history = match (opts.history, opts.layer) {
        (HistoryMode::On, _) => true,
        (HistoryMode::Off, Layer::Http | Layer::Store)
            if opts.server_url.is_none() && opts.store.is_none() =>
        {
            false
        }
        (mode, _) => {
            return Err(Error::Usage(format!(
                "--history {}: a history off is measured on the bench's own temp SQLite file (--layer store or a self-hosted http run without --store), both only with --layer cross-process",
                if mode == HistoryMode::Off { "off" } else { "both" }
            )))
        }
    };
    if opts.layer == Layer::LongPoll {
        let plan = long_poll::Plan {
            store: opts.store.clone(),
            waiters: opts.waiters as usize,
            pairs: usize::from(opts.clients),
            warmup: opts.warmup,
            duration: opts.duration,
        };
        return long_poll::run(&plan, opts.format).await;
    }
    if opts.layer == Layer::TtlExpiry {
        let plan = ttl_expiry::Plan {
            store: opts.store.clone(),
            leases: opts.pool_size.map_or(100_000, |n| n as usize),
            spread: opts.spread,
            clients: usize::from(opts.clients),
            duration: opts.duration,
        };
        return ttl_expiry::run(&plan, opts.format).await;
    }
    if opts.auth != AuthMode::Off {
        return Err(Error::Usage(
            "--auth starts servers with an auth file: it needs --layer cross-process (against a running server, give --username and --password-file)".into(),
        ));
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
        in_process: opts.server_url.is_none() && opts.layer == Layer::Http,
        mode: opts.mode,
        clients: load.clients,
    };
    let stats = match (&opts.server_url, opts.layer) {
        (Some(url), _) => {
            setup.target = url.clone();
            let mut target = http::HttpTarget::new(url)?;
            if let (Some(user), Some(file)) = (&opts.username, &opts.password_file) {
                let password = std::fs::read_to_string(file).map_err(Error::io(format!(
                    "cannot read password file {}",
                    file.display()
                )))?;
                target = target.with_authorization(cross::basic_header(user, password.trim()));
            }
            load::run(Arc::new(target), &load).await?
        }
        (None, Layer::Http) => {
            let config = pool::pool_config(&opts.rtype, &opts.state, pool_size);
            let store = pool::open_store(opts.store.as_deref(), history).await?;
            let server = pool::BenchServer::start(Arc::clone(&store.store), config).await?;
            setup.target = format!("{} on {}", server.url, store.url);
            let outcome = load::run(Arc::new(http::HttpTarget::new(&server.url)?), &load).await;
            server.stop().await?;
            outcome?
        }
        (None, Layer::Store) => {
            let config = pool::pool_config(&opts.rtype, &opts.state, pool_size);
            let store = pool::open_store(opts.store.as_deref(), history).await?;
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
        (None, Layer::CrossProcess | Layer::LongPoll | Layer::TtlExpiry) => {
            unreachable!("handled above")
        }
        (None, Layer::RawSqlite | Layer::RawSqliteAsync) => {
            let dir = tempfile::tempdir().map_err(Error::io("cannot create a temp directory"))?;
            let path = pool::raw_db_path(opts.store.as_deref(), dir.path());
            setup.target = format!("sqlite://{}", path.display());
            let _ = std::fs::remove_file(&path);
            let stats = if opts.layer == Layer::RawSqlite {
                raw::sqlite_commits(
                    &path,
                    pool_size,
                    raw::Span::timed(load.warmup, load.duration),
                )
                .await
            } else {
                raw::sqlite_commits_async(
                    &path,
                    pool_size,
                    load.clients,
                    raw::Span::timed(load.warmup, load.duration),
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

/// `--layer cross-process`: the matrix, printed as it goes, then the summary.
async fn cross_process(opts: &Opts) -> Result<()> {
    if opts.pool_size.is_some() || opts.store.is_some() {
        return Err(Error::Usage(
            "--layer cross-process starts its own servers on fresh SQLite files: use --pools, not --pool-size or --store".into(),
        ));
    }
    if opts.mode != Mode::Cycle {
        return Err(Error::Usage(
            "--layer cross-process measures acquire+release cycles only (--mode cycle)".into(),
        ));
    }
    let mut variants = Vec::new();
    for (label, binary) in cross::binaries(&opts.server_bins)? {
        let tls_choices: &[bool] = match opts.tls {
            TlsMode::Off => &[false],
            TlsMode::On => &[true],
            TlsMode::Both => &[false, true],
        };
        let auth_choices: &[bool] = match opts.auth {
            AuthMode::Off => &[false],
            AuthMode::On => &[true],
            AuthMode::Both => &[false, true],
        };
        let history_choices: &[bool] = match opts.history {
            HistoryMode::On => &[true],
            HistoryMode::Off => &[false],
            HistoryMode::Both => &[true, false],
        };
        for &tls in tls_choices {
            for &auth in auth_choices {
                for &history in history_choices {
                    variants.push(cross::Variant {
                        label: label.clone(),
                        binary: binary.clone(),
                        tls,
                        auth,
                        history,
                    });
                }
            }
        }
    }
    let plan = cross::Plan {
        variants,
        pools: opts.pools.iter().map(|&n| n as usize).collect(),
        connections: opts.connections.iter().map(|&n| usize::from(n)).collect(),
        rounds: usize::from(opts.rounds),
        warmup: opts.warmup,
        duration: opts.duration,
        rtype: opts.rtype.clone(),
        state: opts.state.clone(),
        dest: opts.dest.clone(),
        reads: !opts.no_reads,
    };
    let mut json_out = match &opts.json_out {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(Error::io(format!("cannot open {}", path.display())))?,
        ),
        None => None,
    };
    let format = opts.format;
    let cells = tokio::task::spawn_blocking(move || {
        cross::run(&plan, &mut |cell| {
            use std::io::Write as _;
            let line = cell.json().to_string();
            match format {
                Format::Text => println!("{}", cell.text()),
                Format::Json => println!("{line}"),
            }
            if let Some(f) = json_out.as_mut() {
                if let Err(e) = writeln!(f, "{line}") {
                    tracing::warn!(error = %e, "cannot append to --json-out");
                }
            }
        })
    })
    .await
    .map_err(Error::task)??;
    if format == Format::Text {
        print!("{}", cross::Summary::table(&cross::Summary::of(&cells)));
    }
    let refused: u64 = cells.iter().map(|c| c.outcome.refused_own).sum();
    if refused > 0 {
        return Err(Error::DoubleLease(refused));
    }
    if cells
        .iter()
        .any(|c| c.work == "cycle" && c.outcome.ops == 0)
    {
        return Err(Error::NothingSucceeded);
    }
    Ok(())
}

fn print(setup: &Setup, stats: &Stats, format: Format) {
    match format {
        Format::Text => print!("{}", report::text(setup, stats)),
        Format::Json => println!("{}", report::json(setup, stats)),
    }
}

/// A double-lease suspect, or a run where nothing at all succeeded, is an error.
fn verdict(stats: &Stats) -> Result<()> {
    if stats.refused_own > 0 {
        return Err(Error::DoubleLease(stats.refused_own));
    }
    if stats.ops == 0 {
        return Err(Error::NothingSucceeded);
    }
    Ok(())
}
