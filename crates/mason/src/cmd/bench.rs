//! `mason bench`: a thin subcommand over the `mason-bench` crate, which holds the load
//! generator; here its errors become exit codes.

use mason_bench::Error;

use crate::exit::{self, Exit};

/// Examples for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason bench --pool-size 10000 --clients 8            # self-hosted: SQLite + HTTP on 127.0.0.1
mason bench --layer store --pool-size 10000          # the store alone, no HTTP
mason bench --server-url http://boskos:8080 --type t  # load a running server";

/// Options of `bench` (defined by `mason-bench`).
pub(crate) type Opts = mason_bench::Opts;

/// Run the benchmark; bad options exit 2, a double-lease suspect or a failed run exit 1.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    match mason_bench::run(opts).await {
        Ok(()) => Ok(exit::OK),
        Err(Error::Usage(message)) => Err(Exit::new(exit::USAGE, message).into()),
        Err(e @ (Error::DoubleLease(_) | Error::NothingSucceeded)) => {
            Err(Exit::new(exit::FAILURE, format!("mason bench: {e}")).into())
        }
        Err(e) => Err(anyhow::Error::new(e).context("mason bench")),
    }
}
