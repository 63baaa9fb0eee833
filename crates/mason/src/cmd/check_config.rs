//! `mason check-config FILE`: upstream's `checkconfig`, made strict. It fails (exit 2)
//! on everything upstream's validation refuses and on everything that would load but not
//! work: unknown keys (with the YAML path and a "did you mean"), settings that have no
//! effect, converters no builder serves, `exec` content that cannot run (its keys, its
//! timeout, a command that does not exist relative to the config file), and dynamic
//! pools that are never built (see `cli::config_check`). A config it accepts prints
//! nothing and exits 0.
//!
//! A custom builder's converters are declared with `--converter NAME` (repeatable).

use std::path::PathBuf;

use clap::Args;

use crate::cli::config_check::{self, BUILT_IN};
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason check-config examples/quickstart.yaml
mason check-config --converter GKECluster boskos-resources.yaml   # pools a custom builder builds";

/// Options of `check-config`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// The resource config file (Boskos YAML).
    #[arg(value_name = "FILE", default_value = "config.yaml")]
    file: PathBuf,
    /// A converter (`config.type`) served by a custom builder, known in addition to the
    /// built-in `exec` (repeatable).
    #[arg(long = "converter", value_name = "NAME")]
    converters: Vec<String>,
}

/// Check the file.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&opts.file).map_err(|e| {
        Exit::new(
            exit::USAGE,
            format!(
                "mason check-config: cannot read {}: {e}",
                opts.file.display()
            ),
        )
    })?;
    let mut converters: Vec<&str> = BUILT_IN.to_vec();
    converters.extend(opts.converters.iter().map(String::as_str));
    let report = config_check::check(&text, &config_check::base_dir(&opts.file), &converters);
    if report.is_clean() {
        return Ok(exit::OK);
    }
    let lines = report.lines();
    let list: String = lines.iter().map(|l| format!("\n  - {l}")).collect();
    let count = match lines.len() {
        1 => "1 problem".to_string(),
        n => format!("{n} problems"),
    };
    Err(Exit::new(
        exit::USAGE,
        format!("{}: {count}:{list}", opts.file.display()),
    )
    .into())
}
