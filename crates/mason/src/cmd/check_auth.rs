//! `mason check-auth FILE`: parse and validate an auth file (`--auth-file` of `serve` and
//! `up`); silent success, or every problem on stderr and exit code 2. Also the one place
//! the binary loads an auth file, so `serve`, `up` and `check-auth` report problems alike.

use std::path::{Path, PathBuf};

use clap::Args;
use mason_server::auth::{AuthGate, AuthLoadError};

use crate::exit::{self, Exit};

/// Two typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason check-auth auth.yaml                      # silent when valid
mason check-auth /etc/mason/auth.yaml && systemctl reload mason";

/// Options of `check-auth`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// The auth file (YAML with users and tokens).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// Validate the file.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    load(&opts.file, "mason check-auth")?;
    Ok(exit::OK)
}

/// Load the auth file at `path` for `who` (`mason serve`, …); any problem exits with the
/// usage code and every problem listed.
pub(crate) fn load(path: &Path, who: &str) -> Result<AuthGate, Exit> {
    AuthGate::load(path).map_err(|e| {
        let text = match &e {
            AuthLoadError::Read { .. } => e.to_string(),
            AuthLoadError::Invalid { path, source } => {
                let problems = source
                    .problems()
                    .iter()
                    .map(|p| format!("  - {p}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                format!("invalid auth file {}:\n{problems}", path.display())
            }
        };
        Exit::new(exit::USAGE, format!("{who}: {text}"))
    })
}
