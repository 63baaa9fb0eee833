//! Logging set-up shared by every subcommand: `--log-level` and `--log-format text|json`.

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (like upstream's logrus JSON output).
    Json,
}

/// Global logging flags.
#[derive(Debug, Args)]
pub(crate) struct LogOpts {
    /// Log level or filter (`info`, `debug`, `mason_server=debug,info`); env `MASON_LOG`.
    #[arg(long, global = true, env = "MASON_LOG", default_value = "info")]
    log_level: String,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// Install the global subscriber (logs go to stderr; stdout is for command output).
pub(crate) fn init(opts: &LogOpts) {
    let filter = EnvFilter::try_new(&opts.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match opts.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
