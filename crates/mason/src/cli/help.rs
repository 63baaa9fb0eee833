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
