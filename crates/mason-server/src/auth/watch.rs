//! [`reload_loop`]: keeps the auth file in force. The file's directory is watched (so
//! editors and Kubernetes secrets that replace the file by renaming are seen) and the file
//! is re-read at least every [`POLL`] for filesystems without events; a burst of events is
//! let settle for 200 ms so a half-written file is not read. A change is in force
//! well within two seconds.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::gate::AuthGate;
use crate::config_watch::watch;

/// The longest time between two reads of the file.
pub const POLL: Duration = Duration::from_secs(1);
/// Quiet time after a file event before the file is read.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Re-read the auth file on change until `shutdown`.
pub async fn reload_loop(gate: Arc<AuthGate>, shutdown: CancellationToken) {
    let Some(path) = gate.path().map(|p| p.to_path_buf()) else {
        return;
    };
    let wake = Arc::new(Notify::new());
    // Held for the loop's lifetime: dropping the watcher stops the events.
    let _watcher = watch(&path, wake.clone());
    loop {
        let woken = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(POLL) => false,
            _ = wake.notified() => true,
        };
        if woken {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(DEBOUNCE) => {}
            }
        }
        // One read and a comparison when nothing changed; parsing is cheap (argon2 runs
        // only when a request is checked), so it stays on this task.
        gate.reload();
    }
    tracing::debug!("auth reload loop stopped");
}
