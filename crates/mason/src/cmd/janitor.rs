//! `mason janitor --command PROGRAM [-- ARGS]`: upstream's `cmd/janitor` contract — for
//! each dirty resource of the given types run `PROGRAM --<suffix>=<name> ARGS` (suffix:
//! the type after its last `-`), release it `free` on exit 0 and `dirty` otherwise,
//! heartbeating it meanwhile; types are served round-robin so a busy type cannot starve
//! another (see `mason_controllers::janitor`). At shutdown running programs are killed
//! and their resources released to `dirty`.
//!
//! With `--resource-type-from-config`, dynamic pools that the builder builds (those with
//! a `config.type`) are left out: freeing a dirty virtual resource without rebuilding it
//! would hand out a resource with no parts. Types named in `--resource-type` are always
//! served.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use mason_controllers::janitor::{Janitor, JanitorOptions, JANITOR_OWNER};
use tokio_util::task::TaskTracker;

use crate::cli::client_opts::go_duration;
use crate::cli::controller_opts::{run_loop, ConnectOpts, TypeOpts};
use crate::cli::program;
use crate::cli::status_opts::StatusOpts;
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason janitor --server-url http://boskos:8080 --resource-type gcp-project --command ./clean.py
                # runs ./clean.py --project=<name> for each dirty gcp-project
mason janitor --server-url http://boskos:8080 --resource-type-from-config resources.yaml \\
              --command /usr/local/bin/janitor -- --hours=0 --dry-run
";

/// Options of `janitor`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    types: TypeOpts,
    /// The cleanup program. For each dirty resource it runs PROGRAM --<suffix>=<name>
    /// ARGS..., where <suffix> is the resource type after its last '-' (type
    /// gcp-project, resource p-1: PROGRAM --project=p-1), as upstream's janitor. Exit 0
    /// frees the resource; anything else leaves it dirty for a later try.
    #[arg(long, alias = "janitor-path", value_name = "PROGRAM")]
    command: PathBuf,
    /// Programs running at once.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pool_size: usize,
    /// Heartbeat period of a resource being cleaned, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = go_duration)]
    update_frequency: Duration,
    /// Pause when no type has a dirty resource, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = go_duration)]
    idle_wait: Duration,
    /// How long a resource whose cleaning failed is left alone, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = go_duration)]
    retry_failed_after: Duration,
    /// Extra arguments passed to every run of the program.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
    #[command(flatten)]
    status: StatusOpts,
    #[command(flatten)]
    connect: ConnectOpts,
}

impl Opts {
    fn options(&self) -> JanitorOptions {
        JanitorOptions {
            command: self.command.clone(),
            args: self.args.clone(),
            pool_size: self.pool_size,
            update_frequency: self.update_frequency,
            idle_wait: self.idle_wait,
            retry_failed_after: self.retry_failed_after,
        }
    }
}

/// Run the janitor until a signal.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    // Dirty virtual resources are the builder's to rebuild, never a janitor's to free.
    program::locate(&opts.command, std::path::Path::new("."))
        .map_err(|why| Exit::new(exit::USAGE, format!("mason janitor: --command: {why}")))?;
    let types = opts.types.source()?.excluding_built_pools();
    let shutdown = opts.connect.shutdown()?;
    let client = opts.connect.client(JANITOR_OWNER, &shutdown)?;
    let options = opts.options();
    tracing::info!(
        server = %opts.connect.server_url()?, owner = %client.owner(), ?types,
        command = %options.command.display(), args = ?options.args,
        pool_size = options.pool_size, "janitor starting"
    );
    let tracker = TaskTracker::new();
    let token = shutdown.token().child_token();
    let janitor = Janitor::new(client, types, options, tracker.clone(), token)
        .map_err(|e| Exit::new(exit::USAGE, format!("mason janitor: {e}")))?;
    run_loop(janitor, tracker, &shutdown, &opts.status).await
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
    fn defaults_and_trailing_args() {
        let w = Wrapper::try_parse_from([
            "janitor",
            "--server-url=http://b",
            "--resource-type=gce-project",
            "--janitor-path=/bin/clean.py",
            "--",
            "--hours=0",
            "--dry-run",
        ])
        .unwrap();
        let o = w.opts.options();
        assert_eq!(o.command, PathBuf::from("/bin/clean.py"));
        assert_eq!(o.args, ["--hours=0", "--dry-run"]);
        assert_eq!(o.pool_size, 20);
        assert_eq!(o.update_frequency, Duration::from_secs(300));
        assert_eq!(o.idle_wait, Duration::from_secs(60));
    }

    #[test]
    fn the_command_is_required() {
        assert!(
            Wrapper::try_parse_from(["janitor", "--server-url=http://b", "--resource-type=a"])
                .is_err()
        );
    }
}
