//! Starting a program whose file may be busy for a moment.
//!
//! Linux refuses to execute a file that any process holds open for writing (`ETXTBSY`,
//! "Text file busy"). That state is usually transient:
//! - a script written by one thread while another thread forks: the forked child holds
//!   a copy of the write descriptor until its own `exec` closes it;
//! - an operator replacing a cleanup or construct script while a run starts.
//!
//! [`spawn`] therefore retries a spawn that failed with `ETXTBSY` a few times with a
//! short, growing backoff (about one second in all), then returns the real error. Every
//! other error is returned at once. The builder's `exec` converter, the janitor and
//! `mason run` start their programs through it.

use std::io;
use std::time::Duration;

use tokio::process::{Child, Command};

/// How many times a spawn is tried in all.
pub const BUSY_ATTEMPTS: u32 = 10;
/// The wait after the first busy attempt; it doubles after each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// Spawn `command`, retrying while its program file is busy (see the module docs).
pub async fn spawn(command: &mut Command) -> io::Result<Child> {
    retry_while_busy(|| command.spawn()).await
}

/// Call `attempt` until it returns anything but a busy-file error, at most
/// [`BUSY_ATTEMPTS`] times; the last result is returned as it is.
async fn retry_while_busy<T>(mut attempt: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut backoff = FIRST_BACKOFF;
    for tried in 1..BUSY_ATTEMPTS {
        match attempt() {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy => {
                tracing::debug!(attempt = tried, ?backoff, error = %e, "program file busy; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            other => return other,
        }
    }
    attempt()
}

#[cfg(test)]
mod tests {
    use std::fs::{File, OpenOptions};
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    use super::*;

    /// A script that exits 0, and a descriptor that holds it open for writing (which
    /// makes executing it fail with `ETXTBSY` while the descriptor is open).
    fn busy_script(dir: &Path) -> (PathBuf, File) {
        let path = dir.join("busy.sh");
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let writer = OpenOptions::new().write(true).open(&path).unwrap();
        (path, writer)
    }

    #[tokio::test]
    async fn a_busy_program_starts_once_the_writer_closes() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = busy_script(dir.path());
        let mut writer = Some(writer);
        let mut attempts = 0;
        let mut child = retry_while_busy(|| {
            attempts += 1;
            let result = Command::new(&path).spawn();
            if attempts == 1 {
                // The provocation works: the first attempt meets the open writer.
                let err = result
                    .as_ref()
                    .expect_err("exec of a file open for writing");
                assert_eq!(err.kind(), io::ErrorKind::ExecutableFileBusy, "{err}");
                writer = None;
            }
            result
        })
        .await
        .expect("started after the writer closed");
        assert_eq!(attempts, 2);
        assert!(writer.is_none());
        assert!(child.wait().await.unwrap().success());
    }

    #[tokio::test(start_paused = true)]
    async fn a_file_that_stays_busy_gives_the_real_error_after_bounded_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _writer) = busy_script(dir.path());
        let started = tokio::time::Instant::now();
        let mut attempts = 0;
        let err = retry_while_busy(|| {
            attempts += 1;
            Command::new(&path).spawn()
        })
        .await
        .expect_err("the file never stops being busy");
        assert_eq!(err.kind(), io::ErrorKind::ExecutableFileBusy, "{err}");
        assert_eq!(attempts, BUSY_ATTEMPTS);
        // Paused time: this is the sum of the backoffs, not wall-clock time.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(500) && waited <= Duration::from_secs(2),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn other_errors_are_returned_at_once() {
        let mut attempts = 0;
        let err = retry_while_busy(|| {
            attempts += 1;
            Command::new("/nonexistent/program").spawn()
        })
        .await
        .expect_err("no such program");
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert_eq!(attempts, 1);
    }
}
