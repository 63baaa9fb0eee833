//! The CLI's own messages on stderr (`mason run: acquired "a-1"…`, the final error):
//! printed as they are in `--log-format text`, as flat JSON log lines in
//! `--log-format json`, so a log pipeline never meets a stray plain line. They are shown
//! whatever `--log-level` says: they are the command's output, not its logs.

use std::io::Write;

use tracing::Level;

use crate::logging::{self, LogFormat};

/// Something that happened (`acquired …`, `released …`).
pub(crate) fn note(text: &str) {
    line(Level::INFO, text);
}

/// Something the user should look at, though the command goes on.
pub(crate) fn warn(text: &str) {
    line(Level::WARN, text);
}

/// Why the command failed.
pub(crate) fn error(text: &str) {
    line(Level::ERROR, text);
}

fn line(level: Level, text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = match logging::format() {
        LogFormat::Text => writeln!(stderr, "{text}"),
        LogFormat::Json => writeln!(stderr, "{}", logging::json_line(level, text)),
    };
}
