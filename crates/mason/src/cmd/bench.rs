//! `mason bench`: a thin subcommand over the `mason-bench` crate, which holds the load
//! generator; here its errors become exit codes.

use mason_bench::Error;

use crate::exit::{self, Exit};

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
