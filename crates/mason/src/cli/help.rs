//! The end of every `--help` page: two or three examples, then the exit codes that apply
//! to the command (from the one table in `exit`). Each subcommand keeps its examples
//! beside its flags, as `EXAMPLES`.

use crate::exit::{self, Scope};

/// `Examples:` with `examples` (one command per line, comments allowed), then the exit
/// codes of `scopes`.
pub(crate) fn after(examples: &str, scopes: &[Scope]) -> String {
    let examples: String = examples
        .trim()
        .lines()
        .map(|l| format!("  {}\n", l.trim_end()))
        .collect();
    format!("Examples:\n{examples}\n{}", exit::help(scopes))
}

/// `mason bench`'s examples (kept here while the load generator moves to its own crate).
pub(crate) const BENCH_EXAMPLES: &str = "\
mason bench --pool-size 10000 --clients 8            # self-hosted: SQLite + HTTP on 127.0.0.1
mason bench --layer store --pool-size 10000          # the store alone, no HTTP
mason bench --server-url http://boskos:8080 --type t  # load a running server";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_then_exit_codes() {
        let text = after("mason a\nmason b   # why\n", &[Scope::Client]);
        assert!(
            text.starts_with("Examples:\n  mason a\n  mason b   # why\n\nExit codes:\n"),
            "{text}"
        );
    }
}
