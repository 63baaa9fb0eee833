//! Logging set-up shared by every subcommand: `--log-level` and `--log-format text|json`.
//!
//! Logs go to stderr; stdout is for command output. The text format has colour only when
//! stderr is a terminal and `NO_COLOR` is unset or empty (<https://no-color.org>), so
//! `mason serve 2>log` writes no escape codes. Long-running commands (serve, up and the
//! controllers) write timestamped log lines; client commands (acquire, run, …) write
//! plain `mason run: …` lines, the same shape as their own messages ([`plain`]). The JSON
//! format is flat, as upstream's logrus writes it ([`flat_json`]), and the CLI's own
//! messages use it too (`cli::console`).

mod flat_json;
mod plain;

use std::io::IsTerminal;
use std::sync::OnceLock;

use clap::{Args, ValueEnum};
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::EnvFilter;

pub(crate) use flat_json::json_line;

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One flat JSON object per line, as upstream's logrus writes them: `time`, `level`
    /// (lowercase), `msg`, then each field with its JSON type.
    Json,
}

/// Global logging flags.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global")]
pub(crate) struct LogOpts {
    /// Log level or filter: error, warn, info, debug, or per module
    /// (mason_server=debug,info).
    #[arg(long, global = true, env = "MASON_LOG", default_value = "info")]
    log_level: String,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How text lines look.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Style {
    /// Timestamped log lines (servers and controllers).
    Log,
    /// `<prefix>: [warning: ]message (fields)` lines (client commands), like their own
    /// messages.
    Plain(&'static str),
}

/// The format chosen at start-up (text until [`init`] runs).
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// The format in force.
pub(crate) fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// Whether text output may use colour: stderr is a terminal and `NO_COLOR` is unset or
/// empty.
pub(crate) fn colour() -> bool {
    colour_for(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

fn colour_for(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Install the global subscriber.
pub(crate) fn init(opts: &LogOpts, style: Style) {
    let _ = FORMAT.set(opts.log_format);
    let filter = EnvFilter::try_new(&opts.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match (opts.log_format, style) {
        (LogFormat::Json, _) => builder
            .fmt_fields(JsonFields::new())
            .event_format(flat_json::FlatJson)
            .init(),
        (LogFormat::Text, Style::Log) => builder.with_ansi(colour()).init(),
        (LogFormat::Text, Style::Plain(prefix)) => builder
            .with_ansi(false)
            .event_format(plain::Plain { prefix })
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_for(true, None));
        assert!(colour_for(true, Some(OsStr::new(""))));
        assert!(!colour_for(true, Some(OsStr::new("1"))));
        assert!(!colour_for(false, None));
    }
}
