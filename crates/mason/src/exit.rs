//! The documented exit codes, so scripts can tell failures apart. [`CODES`] is the one
//! table: the constants below are its rows, and every `--help` page lists the rows that
//! apply to its command ([`help`]).

use std::process::ExitCode;

/// Success.
pub(crate) const OK: u8 = 0;
/// A generic failure (server refused, unexpected state, internal error).
pub(crate) const FAILURE: u8 = 1;
/// Bad arguments or an invalid config file.
pub(crate) const USAGE: u8 = 2;
/// No resource became available within the timeout (or the type has none free).
pub(crate) const NO_RESOURCE: u8 = 3;
/// The server could not be reached.
pub(crate) const UNREACHABLE: u8 = 4;
/// The lease was lost while held (`mason run`, `mason heartbeat`): the server ended it,
/// or no heartbeat got through within its TTL.
pub(crate) const LEASE_LOST: u8 = 5;
/// Internal error (could not start the runtime).
pub(crate) const INTERNAL: u8 = 70;
/// `mason run`: the command was found but could not be started (the shell's code).
pub(crate) const CANNOT_EXECUTE: u8 = 126;
/// `mason run`: the command was not found (the shell's code).
pub(crate) const NOT_FOUND: u8 = 127;
/// Stopped by SIGINT (128 + 2, as shells report it).
pub(crate) const SIGINT: u8 = 130;
/// Stopped by SIGTERM (128 + 15, as shells report it).
pub(crate) const SIGTERM: u8 = 143;

/// Which commands a row of [`CODES`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every command.
    All,
    /// Commands that talk to a server as a client (acquire, release, run, …).
    Client,
    /// Commands that wait for a resource (acquire with --timeout, run).
    Waiting,
    /// Long-running commands (serve, up, builder, reaper, cleaner, janitor).
    Daemon,
    /// Commands that read a resource config file.
    Config,
    /// `mason run` only.
    Run,
    /// Commands that hold a lease while they run (run, heartbeat).
    Lease,
}

/// One documented exit code.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    /// The code.
    pub(crate) code: u8,
    /// What it means.
    pub(crate) meaning: &'static str,
    /// Where it can happen.
    pub(crate) scope: Scope,
    /// What it means for a daemon, when that differs (empty otherwise).
    pub(crate) daemon: &'static str,
}

/// Every exit code `mason` uses.
pub(crate) const CODES: &[Row] = &[
    Row {
        code: OK,
        meaning: "success",
        scope: Scope::All,
        daemon: "stopped cleanly after SIGINT or SIGTERM",
    },
    Row {
        code: FAILURE,
        meaning: "failure: refused by the server (wrong owner or state), or another error",
        scope: Scope::All,
        daemon: "",
    },
    Row {
        code: USAGE,
        meaning: "bad arguments, or an invalid config file",
        scope: Scope::All,
        daemon: "",
    },
    Row {
        code: NO_RESOURCE,
        meaning: "no resource became available (within --timeout)",
        scope: Scope::Waiting,
        daemon: "",
    },
    Row {
        code: UNREACHABLE,
        meaning: "the server could not be reached",
        scope: Scope::Client,
        daemon: "",
    },
    Row {
        code: LEASE_LOST,
        meaning: "the lease was lost while held: the server ended it (TTL expiry, reset, \
                  a release by someone else) or no heartbeat got through within --lease-ttl; \
                  mason run stopped its command (SIGTERM, SIGKILL after --kill-grace)",
        scope: Scope::Lease,
        daemon: "",
    },
    Row {
        code: INTERNAL,
        meaning: "internal error (the async runtime could not start)",
        scope: Scope::All,
        daemon: "",
    },
    Row {
        code: CANNOT_EXECUTE,
        meaning: "mason run: the command could not be started (nothing ran; the resource \
                  went back to the state it was acquired from)",
        scope: Scope::Run,
        daemon: "",
    },
    Row {
        code: NOT_FOUND,
        meaning: "mason run: the command was not found (nothing ran; the resource went back \
                  to the state it was acquired from)",
        scope: Scope::Run,
        daemon: "",
    },
    Row {
        code: SIGINT,
        meaning: "interrupted by SIGINT while waiting",
        scope: Scope::All,
        daemon: "a second signal (SIGINT), more than a second after the first, cut the \
                 shutdown short",
    },
    Row {
        code: SIGTERM,
        meaning: "interrupted by SIGTERM while waiting",
        scope: Scope::All,
        daemon: "the same for SIGTERM; the same signal twice within a second counts as one",
    },
];

/// What `mason run` exits with, beside the rows above (one line per entry).
const RUN_RULE: &[&str] = &[
    "  otherwise  mason run: the command's own exit code (128+N when signal N killed it).",
    "             When the command succeeded but a resource could not be released: 4 if",
    "             the server was unreachable, 1 if it refused, so the leak is not silent.",
];

/// The exit-code table for commands in `scopes` (always with the rows for every
/// command), as printed at the end of their `--help`.
pub(crate) fn help(scopes: &[Scope]) -> String {
    let mut text = String::from("Exit codes:\n");
    let daemon = scopes.contains(&Scope::Daemon);
    let only_daemons = !scopes.iter().any(|s| {
        matches!(
            s,
            Scope::Client | Scope::Waiting | Scope::Run | Scope::Lease
        )
    });
    for row in CODES
        .iter()
        .filter(|r| r.scope == Scope::All || scopes.contains(&r.scope))
    {
        let meaning = match (daemon && !row.daemon.is_empty(), only_daemons) {
            (false, _) => row.meaning.to_string(),
            (true, true) => row.daemon.to_string(),
            (true, false) => format!("{} (daemons: {})", row.meaning, row.daemon),
        };
        text.push_str(&format!("  {:<9}  {meaning}\n", row.code));
    }
    if scopes.contains(&Scope::Run) {
        for line in RUN_RULE {
            text.push_str(line);
            text.push('\n');
        }
    }
    text.trim_end().to_string()
}

/// The code for "stopped by signal number `signo`" (128 + N, as shells report it).
pub(crate) fn signalled(signo: i32) -> u8 {
    128u8.wrapping_add(signo as u8)
}

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

/// Turn a subcommand's outcome into the process exit code, reporting the error on stderr
/// (as a log line in `--log-format json`).
pub(crate) fn report(outcome: anyhow::Result<u8>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if let Some(exit) = err.downcast_ref::<Exit>() {
                if !exit.message.is_empty() {
                    crate::cli::console::error(&exit.message);
                }
                return ExitCode::from(exit.code);
            }
            crate::cli::console::error(&format!("mason: {err:#}"));
            ExitCode::from(FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_the_signal_codes_are_the_shells() {
        let mut codes: Vec<u8> = CODES.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CODES.len());
        assert_eq!(signalled(2), SIGINT);
        assert_eq!(signalled(15), SIGTERM);
    }

    #[test]
    fn help_lists_the_rows_of_its_scopes() {
        let serve = help(&[Scope::Daemon, Scope::Config]);
        assert!(
            serve.starts_with("Exit codes:\n  0          stopped cleanly"),
            "{serve}"
        );
        assert!(serve.contains("  143 "), "{serve}");
        assert!(!serve.contains("  3 "), "{serve}");
        assert!(!serve.contains("  127 "), "{serve}");
        assert!(!serve.contains("  5 "), "{serve}");
        let run = help(&[Scope::Client, Scope::Waiting, Scope::Run, Scope::Lease]);
        for code in ["  3 ", "  4 ", "  5 ", "  126 ", "  127 ", "otherwise"] {
            assert!(run.contains(code), "{code} in {run}");
        }
        assert!(!run.contains("daemons"), "{run}");
        let all = help(&[Scope::Client, Scope::Daemon]);
        assert!(
            all.contains("  0          success (daemons: stopped cleanly"),
            "{all}"
        );
    }
}
