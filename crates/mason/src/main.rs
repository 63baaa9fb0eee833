//! `mason`: one binary for every role. Each subcommand lives in its own file under
//! [`cmd`] with an `Opts` (clap), `EXAMPLES` and a `run`; what they share (connection
//! flags, signals, messages, error translation) is in [`cli`]; `main` only parses, sets
//! up logging, runs, and maps the outcome to a documented exit code (see [`exit`]).

// Doc comments on the clap structs are the `--help` text users read, written for a
// terminal (`--<suffix>=<name>`, `[default: …]`), not for rustdoc.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

/// mimalloc instead of glibc's malloc: a lease request allocates a few dozen small
/// buffers across hyper, axum and SQLite, and glibc's allocator was ~8 % of the CPU of a
/// one-client benchmark (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod cmd;
#[cfg(test)]
mod deploy_args;
mod exit;
mod logging;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use exit::Scope;

/// Mason: Boskos-compatible leases for pooled test resources, and a builder of virtual ones.
#[derive(Debug, Parser)]
#[command(
    name = "mason",
    version,
    about,
    long_about = None,
    after_help = exit::help(&[
        Scope::Client,
        Scope::Waiting,
        Scope::Run,
        Scope::Lease,
        Scope::Daemon,
        Scope::Config
    ])
)]
struct Cli {
    #[command(flatten)]
    log: logging::LogOpts,
    #[command(subcommand)]
    command: Command,
}

const CLIENT: &[Scope] = &[Scope::Client];
const WAITING: &[Scope] = &[Scope::Client, Scope::Waiting];
const DAEMON: &[Scope] = &[Scope::Daemon, Scope::Config];
const CONTROLLER: &[Scope] = &[Scope::Daemon];

#[derive(Debug, Subcommand)]
enum Command {
    /// Load a Boskos-compatible server (or a self-hosted pool) and print throughput and latency.
    #[command(after_help = cli::help::after(cmd::bench::EXAMPLES, CLIENT))]
    Bench(cmd::bench::Opts),
    /// Check a resource config file strictly: silent exit 0 when sound, every problem
    /// with its path and fix otherwise.
    #[command(after_help = cli::help::after(cmd::check_config::EXAMPLES, &[Scope::Config]))]
    CheckConfig(cmd::check_config::Opts),
    /// Validate an auth file (--auth-file): silent exit 0 when valid, every error listed otherwise.
    #[command(after_help = cli::help::after(cmd::check_auth::EXAMPLES, &[Scope::Config]))]
    CheckAuth(cmd::check_auth::Opts),
    /// Make the secrets of an auth file: password hashes and bearer tokens.
    #[command(after_help = cli::help::after(cmd::auth::EXAMPLES, &[]))]
    Auth(cmd::auth::Opts),
    /// Build virtual resources out of leased physical ones (Mason), against any Boskos server.
    #[command(after_help = cli::help::after(cmd::builder::EXAMPLES, CONTROLLER))]
    Builder(cmd::builder::Opts),
    /// Run the Boskos-compatible lease server (upstream's boskos).
    #[command(after_help = cli::help::after(cmd::serve::EXAMPLES, DAEMON))]
    Serve(cmd::serve::Opts),
    /// Write upstream Boskos' Kubernetes objects (kubectl get -o yaml) into a store, all or nothing.
    #[command(after_help = cli::help::after(cmd::import::EXAMPLES, &[]))]
    Import(cmd::import::Opts),
    /// Print a store as upstream Boskos' Kubernetes objects, for kubectl apply or mason import.
    #[command(after_help = cli::help::after(cmd::export::EXAMPLES, &[]))]
    Export(cmd::export::Opts),
    /// GET a URL once and exit 0 on a 2xx answer (the container's health check).
    #[command(after_help = cli::help::after(cmd::probe::EXAMPLES, &[]))]
    Probe(cmd::probe::Opts),
    /// Run everything in one process: server, builder, reaper, cleaner (+ janitor).
    #[command(after_help = cli::help::after(cmd::up::EXAMPLES, DAEMON))]
    Up(cmd::up::Opts),
    /// Reset leases that stopped heartbeating back to dirty (upstream's reaper).
    #[command(after_help = cli::help::after(cmd::reaper::EXAMPLES, CONTROLLER))]
    Reaper(cmd::reaper::Opts),
    /// Tombstone toBeDeleted dynamic resources after freeing their parts (upstream's cleaner).
    #[command(after_help = cli::help::after(cmd::cleaner::EXAMPLES, CONTROLLER))]
    Cleaner(cmd::cleaner::Opts),
    /// Clean dirty resources with a program, fairly across types (upstream's janitor).
    #[command(after_help = cli::help::after(cmd::janitor::EXAMPLES, CONTROLLER))]
    Janitor(cmd::janitor::Opts),
    /// Acquire a resource (with a virtual one's physical ones); print its JSON (boskosctl acquire).
    #[command(after_help = cli::help::after(cmd::acquire::EXAMPLES, WAITING))]
    Acquire(cmd::acquire::Opts),
    /// Release a resource (with a virtual one's physical ones) by name (boskosctl release).
    #[command(after_help = cli::help::after(cmd::release::EXAMPLES, CLIENT))]
    Release(cmd::release::Opts),
    /// Keep a lease alive by sending heartbeats (boskosctl heartbeat).
    #[command(after_help = cli::help::after(cmd::heartbeat::EXAMPLES, &[Scope::Client, Scope::Lease]))]
    Heartbeat(cmd::heartbeat::Opts),
    /// Print the metric JSON of a resource type (boskosctl metrics).
    #[command(after_help = cli::help::after(cmd::metrics::EXAMPLES, CLIENT))]
    Metrics(cmd::metrics::Opts),
    /// Move stale owned resources of a type to another state and print them.
    #[command(after_help = cli::help::after(cmd::reset::EXAMPLES, CLIENT))]
    Reset(cmd::reset::Opts),
    /// Heartbeat a leased resource and merge user data into it.
    #[command(after_help = cli::help::after(cmd::update::EXAMPLES, CLIENT))]
    Update(cmd::update::Opts),
    /// Print the resource history (mason serve), as a table or JSON lines; --follow for live.
    #[command(after_help = cli::help::after(cmd::events::EXAMPLES, CLIENT))]
    Events(cmd::events::Opts),
    /// Show one resource as it is now and its last 20 events (mason serve).
    #[command(after_help = cli::help::after(cmd::describe::EXAMPLES, CLIENT))]
    Describe(cmd::describe::Opts),
    /// Lease a resource while a command runs: wait, export it, heartbeat, release.
    #[command(after_help = cli::help::after(
        cmd::run::EXAMPLES,
        &[Scope::Client, Scope::Waiting, Scope::Run, Scope::Lease]
    ))]
    Run(cmd::run::Opts),
}

impl Command {
    /// The async runtime's worker count: `--worker-threads` of the server commands (see
    /// `cli::runtime_opts`); otherwise Tokio's default.
    fn worker_threads(&self) -> Option<usize> {
        match self {
            Command::Serve(opts) => opts.worker_threads(),
            Command::Up(opts) => opts.worker_threads(),
            _ => None,
        }
    }

    /// How text log lines look: timestamped for daemons, plain `mason run: …` lines for
    /// client commands (the shape of their own messages).
    fn log_style(&self) -> logging::Style {
        use logging::Style::{Log, Plain};
        match self {
            Command::Bench(_) => Plain("mason bench"),
            Command::CheckConfig(_) => Plain("mason check-config"),
            Command::CheckAuth(_) => Plain("mason check-auth"),
            Command::Auth(_) => Plain("mason auth"),
            Command::Acquire(_) => Plain("mason acquire"),
            Command::Release(_) => Plain("mason release"),
            Command::Heartbeat(_) => Plain("mason heartbeat"),
            Command::Metrics(_) => Plain("mason metrics"),
            Command::Reset(_) => Plain("mason reset"),
            Command::Update(_) => Plain("mason update"),
            Command::Run(_) => Plain("mason run"),
            Command::Import(_) => Plain("mason import"),
            Command::Events(_) => Plain("mason events"),
            Command::Describe(_) => Plain("mason describe"),
            Command::Export(_) => Plain("mason export"),
            Command::Probe(_) => Plain("mason probe"),
            Command::Builder(_)
            | Command::Serve(_)
            | Command::Up(_)
            | Command::Reaper(_)
            | Command::Cleaner(_)
            | Command::Janitor(_) => Log,
        }
    }
}

fn main() -> ExitCode {
    // No transparent huge pages for this process: with THP on ("always" on many
    // distributions), mimalloc's arenas are backed by 2 MiB pages that freed memory never
    // leaves, so a burst of connections would keep the server's memory up for good (and
    // the idle footprint is ~30 % larger). Set before the runtime allocates much.
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("mason: cannot turn off transparent huge pages: {e}");
    }
    let cli = Cli::parse();
    logging::init(&cli.log, cli.command.log_style());
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = cli.command.worker_threads() {
        builder.worker_threads(workers);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            cli::console::error(&format!("mason: cannot start the async runtime: {e}"));
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Bench(opts) => cmd::bench::run(opts).await,
            Command::CheckConfig(opts) => cmd::check_config::run(opts).await,
            Command::CheckAuth(opts) => cmd::check_auth::run(opts).await,
            Command::Auth(opts) => cmd::auth::run(opts).await,
            Command::Builder(opts) => cmd::builder::run(opts).await,
            Command::Serve(opts) => cmd::serve::run(opts).await,
            Command::Import(opts) => cmd::import::run(opts).await,
            Command::Export(opts) => cmd::export::run(opts).await,
            Command::Probe(opts) => cmd::probe::run(opts).await,
            Command::Up(opts) => cmd::up::run(opts).await,
            Command::Reaper(opts) => cmd::reaper::run(opts).await,
            Command::Cleaner(opts) => cmd::cleaner::run(opts).await,
            Command::Janitor(opts) => cmd::janitor::run(opts).await,
            Command::Acquire(opts) => cmd::acquire::run(opts).await,
            Command::Release(opts) => cmd::release::run(opts).await,
            Command::Heartbeat(opts) => cmd::heartbeat::run(opts).await,
            Command::Metrics(opts) => cmd::metrics::run(opts).await,
            Command::Reset(opts) => cmd::reset::run(opts).await,
            Command::Update(opts) => cmd::update::run(opts).await,
            Command::Run(opts) => cmd::run::run(opts).await,
            Command::Events(opts) => cmd::events::run(opts).await,
            Command::Describe(opts) => cmd::describe::run(opts).await,
        }
    });
    exit::report(outcome)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_tree_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
