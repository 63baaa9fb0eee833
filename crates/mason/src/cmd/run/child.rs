//! Running the command: spawn it with the resource's environment, forward SIGINT and
//! SIGTERM to it, and turn how it ended into an exit code (its own code, or 128 + the
//! signal that killed it, as shells do).
//!
//! The command stays in `mason run`'s process group so it can use the terminal. A Ctrl-C
//! typed at the terminal therefore reaches it directly *and* through `mason run`'s
//! forwarding; commands that treat a second SIGINT as "abort at once" may notice. The
//! same signal twice within a second (a supervisor signalling the process and its group)
//! is forwarded once (see `cli::signals`).

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use mason_client::LostLease;

use rustix::process::{kill_process, Pid};
use tokio::process::{Child, Command};

use crate::cli::console;
use crate::cli::signals::Signals;
use crate::exit;

/// Why the command could not start, with the shell's exit code for it.
pub(super) struct SpawnError {
    pub(super) code: u8,
    pub(super) message: String,
}

/// Start `argv` with `env` added (retried while the program file is busy being written,
/// see `mason_controllers::spawn`).
pub(super) async fn spawn(
    argv: &[String],
    env: Vec<(String, String)>,
) -> Result<Child, SpawnError> {
    let (program, args) = argv.split_first().ok_or_else(|| SpawnError {
        code: exit::USAGE,
        message: "no command given".to_string(),
    })?;
    mason_controllers::spawn::spawn(Command::new(program).args(args).envs(env))
        .await
        .map_err(|e| SpawnError {
            // The shell's codes: 127 = not found, 126 = found but not runnable.
            code: if e.kind() == std::io::ErrorKind::NotFound {
                exit::NOT_FOUND
            } else {
                exit::CANNOT_EXECUTE
            },
            message: format!("cannot run {program:?}: {e}"),
        })
}

/// How the command ended.
pub(super) enum Ended {
    /// It exited by itself (or by a forwarded signal), with this code.
    Exited(u8),
    /// A lease was lost; the command was stopped (see `lost`).
    LeaseLost(LostLease),
}

/// Wait for `child`, forwarding signals until it exits, or stop it when `lost` resolves
/// (SIGTERM, SIGKILL after `grace`).
pub(super) async fn wait(
    mut child: Child,
    signals: &mut Signals,
    lost: impl std::future::Future<Output = LostLease>,
    grace: Duration,
) -> Ended {
    let pid = child.id().and_then(|id| Pid::from_raw(id as i32));
    tokio::pin!(lost);
    loop {
        tokio::select! {
            lost = &mut lost => {
                console::error(&format!("mason run: {lost}; stopping the command (SIGTERM)"));
                super::lost::terminate(&mut child, grace).await;
                return Ended::LeaseLost(lost);
            }
            status = child.wait() => {
                return Ended::Exited(match status {
                    Ok(status) => exit_code(status),
                    Err(e) => {
                        console::error(&format!("mason run: cannot wait for the command: {e}"));
                        exit::FAILURE
                    }
                });
            }
            sig = signals.next() => {
                if let Some(pid) = pid {
                    console::note(&format!("mason run: forwarding {} to the command", sig.name()));
                    if let Err(e) = kill_process(pid, sig.to_rustix()) {
                        console::warn(&format!("mason run: cannot forward {}: {e}", sig.name()));
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
        (None, Some(sig)) => exit::signalled(sig),
        (None, None) => exit::FAILURE,
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
