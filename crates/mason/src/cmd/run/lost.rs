//! What `mason run` does when a lease is lost while its command runs (the server ended
//! it — TTL expiry, a reset, a release by someone else — or, with `--lease-ttl`, no
//! heartbeat got through for a whole TTL): the command must stop using the resource, so
//! `mason run` says why on stderr, sends SIGTERM to the command, sends SIGKILL if it is
//! still running after `--kill-grace`, and exits with `exit::LEASE_LOST`
//! whatever the command's own code. Nothing is released: the lease is not ours any more.
//!
//! Only the command itself is signalled (it shares `mason run`'s process group, so the
//! group cannot be): a command that starts children of its own should pass SIGTERM on.

use std::time::Duration;

use rustix::process::{kill_process, Pid, Signal};
use tokio::process::Child;

/// Stop `child`: SIGTERM now, SIGKILL after `grace`. Returns once it has exited.
pub(super) async fn terminate(child: &mut Child, grace: Duration) {
    let Some(pid) = child.id().and_then(|id| Pid::from_raw(id as i32)) else {
        return; // already reaped
    };
    if let Err(e) = kill_process(pid, Signal::TERM) {
        tracing::warn!(error = %e, "cannot send SIGTERM to the command");
    }
    if tokio::time::timeout(grace, child.wait()).await.is_ok() {
        return;
    }
    crate::cli::console::warn(&format!(
        "mason run: the command is still running {} after SIGTERM; sending SIGKILL",
        mason_types::format_go_duration(grace)
    ));
    if let Err(e) = child.start_kill() {
        tracing::warn!(error = %e, "cannot send SIGKILL to the command");
    }
    let _ = child.wait().await;
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::process::Command;

    use super::*;

    #[tokio::test]
    async fn sigterm_stops_a_command_that_honours_it() {
        let mut child = Command::new("sleep")
            .arg("60")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let start = Instant::now();
        terminate(&mut child, Duration::from_secs(30)).await;
        assert!(start.elapsed() < Duration::from_secs(20));
        assert!(child.try_wait().unwrap().is_some());
    }

    #[tokio::test]
    async fn sigkill_follows_after_the_grace() {
        // A command that ignores SIGTERM.
        let mut child = Command::new("sh")
            .args(["-c", "trap '' TERM; echo ready; exec sleep 60"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Wait until the trap is set.
        let mut out = child.stdout.take().unwrap();
        let mut buf = [0u8; 6];
        tokio::io::AsyncReadExt::read_exact(&mut out, &mut buf)
            .await
            .unwrap();
        let start = Instant::now();
        terminate(&mut child, Duration::from_millis(300)).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(20), "{took:?}");
        let status = child.try_wait().unwrap().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    }
}
