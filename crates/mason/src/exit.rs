//! Documented exit codes, so scripts can tell failures apart.

use std::process::ExitCode;

/// Success.
#[allow(dead_code)]
pub(crate) const OK: u8 = 0;
/// A generic failure (server refused, unexpected state, internal error).
pub(crate) const FAILURE: u8 = 1;
/// Bad arguments or an invalid config file.
pub(crate) const USAGE: u8 = 2;
#[allow(dead_code)]
/// No resource became available within the timeout (or the type has none free).
pub(crate) const NO_RESOURCE: u8 = 3;
#[allow(dead_code)]
/// The server could not be reached.
pub(crate) const UNREACHABLE: u8 = 4;
/// Internal error (could not start the runtime).
pub(crate) const INTERNAL: u8 = 70;

/// The exit-code table shown at the end of `--help`.
pub(crate) const HELP: &str = "\
Exit codes:
  0  success
  1  failure (refused by the server, wrong owner or state, other errors)
  2  bad arguments or invalid config file
  3  no resource available (within --timeout)
  4  server unreachable
  130/143  interrupted by SIGINT/SIGTERM while waiting
  (mason run exits with the command's own exit code: 128+N when a signal N killed it,
   127 when it could not be started)";

/// A failure that carries its exit code.
#[derive(Debug)]
pub(crate) struct Exit {
    /// The process exit code.
    pub(crate) code: u8,
    /// What to print on stderr (nothing when empty).
    pub(crate) message: String,
}

impl Exit {
    /// A failure with `code` and `message`.
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Turn a subcommand's outcome into the process exit code, printing the error.
pub(crate) fn report(outcome: anyhow::Result<u8>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if let Some(exit) = err.downcast_ref::<Exit>() {
                if !exit.message.is_empty() {
                    eprintln!("{}", exit.message);
                }
                return ExitCode::from(exit.code);
            }
            eprintln!("mason: {err:#}");
            ExitCode::from(FAILURE)
        }
    }
}
