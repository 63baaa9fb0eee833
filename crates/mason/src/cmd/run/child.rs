//! Running the command: spawn it with the resource's environment, forward SIGINT and
//! SIGTERM to it, and turn how it ended into an exit code (its own code, or 128 + the
//! signal that killed it, as shells do).
//!
//! The command stays in `mason run`'s process group so it can use the terminal. A Ctrl-C
//! typed at the terminal therefore reaches it directly *and* through `mason run`'s
//! forwarding; commands that treat a second SIGINT as "abort at once" may notice.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use rustix::process::{kill_process, Pid, Signal};
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};

/// SIGINT and SIGTERM, received by `mason run`.
pub(super) struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Start catching SIGINT and SIGTERM (from now on they no longer kill `mason run`).
    pub(super) fn catch() -> std::io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// The next signal received.
    pub(super) async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::INT,
            _ = self.term.recv() => Signal::TERM,
        }
    }
}

/// Why the command could not start, with the shell's exit code for it.
pub(super) struct SpawnError {
    pub(super) code: u8,
    pub(super) message: String,
}

/// Run `argv` with `env` added, forwarding signals until it exits; its exit code.
pub(super) async fn run_command(
    argv: &[String],
    env: Vec<(String, String)>,
    signals: &mut Signals,
) -> Result<u8, SpawnError> {
    let (program, args) = argv.split_first().ok_or_else(|| SpawnError {
        code: crate::exit::USAGE,
        message: "no command given".to_string(),
    })?;
    let mut child = mason_controllers::spawn::spawn(Command::new(program).args(args).envs(env))
        .await
        .map_err(|e| SpawnError {
            // The shell's codes: 127 = not found, 126 = found but not runnable.
            code: if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            },
            message: format!("cannot run {program:?}: {e}"),
        })?;
    let pid = child.id().and_then(|id| Pid::from_raw(id as i32));
    loop {
        tokio::select! {
            status = child.wait() => {
                return Ok(match status {
                    Ok(status) => exit_code(status),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot wait for the command");
                        crate::exit::FAILURE
                    }
                });
            }
            sig = signals.recv() => {
                if let Some(pid) = pid {
                    tracing::info!(signal = ?sig, "forwarding signal to the command");
                    if let Err(e) = kill_process(pid, sig) {
                        tracing::warn!(error = %e, "cannot forward the signal");
                    }
                }
            }
        }
    }
}

/// The command's exit code, or 128 + the signal number when a signal killed it.
pub(super) fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => 128u8.wrapping_add(sig as u8),
        (None, None) => crate::exit::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_like_a_shell() {
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
    }
}
