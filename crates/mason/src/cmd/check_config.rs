//! `mason check-config FILE`: upstream's `checkconfig` — parse and validate a resource
//! config; silent success, or every problem on stderr and exit code 2.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use mason_types::BoskosConfig;

use crate::exit::{self, Exit};

/// Options of `check-config`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// The resource config file (Boskos YAML).
    #[arg(value_name = "FILE", default_value = "config.yaml")]
    file: PathBuf,
}

/// Validate the file.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&opts.file)
        .with_context(|| format!("cannot read {}", opts.file.display()))
        .map_err(|e| Exit::new(exit::USAGE, format!("{e:#}")))?;
    match BoskosConfig::parse_and_validate(&text) {
        Ok(_) => Ok(exit::OK),
        Err(e) => {
            let problems = e
                .problems()
                .iter()
                .map(|p| format!("  - {p}"))
                .collect::<Vec<_>>()
                .join("\n");
            Err(Exit::new(
                exit::USAGE,
                format!("{}: invalid config:\n{problems}", opts.file.display()),
            )
            .into())
        }
    }
}
