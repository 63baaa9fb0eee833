//! `mason`: one binary for every role. Each subcommand lives in its own file under
//! [`cmd`] with an `Opts` (clap) and a `run`; `main` only parses, sets up logging, runs,
//! and maps the outcome to a documented exit code (see [`exit`]).

// Doc comments on the clap structs are the `--help` text users read, written for a
// terminal (`--<suffix>=<name>`, `[default: …]`), not for rustdoc.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

/// mimalloc instead of glibc's malloc: a lease request allocates a few dozen small
/// buffers across hyper, axum and SQLite, and glibc's allocator was ~8 % of the CPU of a
/// one-client benchmark (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;
#[cfg(test)]
mod deploy_args;
mod exit;
mod logging;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Mason: Boskos-compatible leases for pooled test resources, and a builder of virtual ones.
#[derive(Debug, Parser)]
#[command(name = "mason", version, about, long_about = None, after_help = exit::HELP)]
struct Cli {
    #[command(flatten)]
    log: logging::LogOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load a Boskos-compatible server (or a self-hosted pool) and print throughput and latency.
    Bench(cmd::bench::Opts),
    /// Validate a resource config file: silent exit 0 when valid, every error listed otherwise.
    CheckConfig(cmd::check_config::Opts),
    /// Validate an auth file (--auth-file): silent exit 0 when valid, every error listed otherwise.
    CheckAuth(cmd::check_auth::Opts),
    /// Make the secrets of an auth file: password hashes and bearer tokens.
    Auth(cmd::auth::Opts),
    /// Build virtual resources out of leased physical ones (Mason), against any Boskos server.
    Builder(cmd::builder::Opts),
    /// Run the Boskos-compatible lease server (upstream's boskos).
    Serve(cmd::serve::Opts),
    /// Print a store as upstream Boskos' Kubernetes objects, for kubectl apply or mason import.
    Export(cmd::export::Opts),
    /// GET a URL once and exit 0 on a 2xx answer (the container's health check).
    Probe(cmd::probe::Opts),
    /// Run everything in one process: server, builder, reaper, cleaner (+ janitor).
    Up(cmd::up::Opts),
    /// Reset leases that stopped heartbeating back to dirty (upstream's reaper).
    Reaper(cmd::reaper::Opts),
    /// Tombstone toBeDeleted dynamic resources after freeing their parts (upstream's cleaner).
    Cleaner(cmd::cleaner::Opts),
    /// Clean dirty resources with a program, fairly across types (upstream's janitor).
    Janitor(cmd::janitor::Opts),
    /// Acquire a resource (with a virtual one's physical ones); print its JSON (boskosctl acquire).
    Acquire(cmd::acquire::Opts),
    /// Release a resource (with a virtual one's physical ones) by name (boskosctl release).
    Release(cmd::release::Opts),
    /// Keep a lease alive by sending heartbeats (boskosctl heartbeat).
    Heartbeat(cmd::heartbeat::Opts),
    /// Print the metric JSON of a resource type (boskosctl metrics).
    Metrics(cmd::metrics::Opts),
    /// Move stale owned resources of a type to another state and print them.
    Reset(cmd::reset::Opts),
    /// Heartbeat a leased resource and merge user data into it.
    Update(cmd::update::Opts),
    /// Lease a resource while a command runs: wait, export it, heartbeat, release.
    Run(cmd::run::Opts),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mason: cannot start the async runtime: {e}");
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
