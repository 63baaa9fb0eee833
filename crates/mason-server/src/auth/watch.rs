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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::auth::secrets::token_hash;

    fn tokens(names: &[&str]) -> String {
        let mut text = String::from("tokens:\n");
        for name in names {
            text.push_str(&format!(
                "- name: {name}\n  token-hash: \"{}\"\n  role: read\n",
                token_hash(name)
            ));
        }
        text
    }

    /// How long (on the test's clock) until `gate` holds `tokens` tokens; at most 10 s.
    async fn in_force_after(gate: &AuthGate, tokens: usize) -> Duration {
        let start = Instant::now();
        while gate.file().counts().1 != tokens {
            assert!(start.elapsed() < Duration::from_secs(10), "never in force");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        start.elapsed()
    }

    // The clock is paused (it jumps whenever every task waits), so the bound below is the
    // loop's own schedule, not the speed of a busy machine: a change is read at the next
    // poll (at most POLL) or DEBOUNCE after a file event, whichever comes first.
    #[tokio::test(start_paused = true)]
    async fn a_change_is_in_force_within_two_seconds_and_a_broken_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.yaml");
        std::fs::write(&path, tokens(&["a"])).unwrap();
        let gate = Arc::new(AuthGate::load(&path).unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(reload_loop(gate.clone(), shutdown.clone()));

        for (round, names) in [&["a", "b"][..], &["a", "b", "c"], &["d"]]
            .into_iter()
            .enumerate()
        {
            // Written at different points of the poll cycle.
            tokio::time::sleep(Duration::from_millis(370 * round as u64)).await;
            std::fs::write(&path, tokens(names)).unwrap();
            let took = in_force_after(&gate, names.len()).await;
            assert!(took <= POLL + DEBOUNCE, "round {round}: {took:?}");
            assert!(took < Duration::from_secs(2));
        }

        // A broken file: counted once, the last good one stays in force.
        std::fs::write(
            &path,
            "tokens:\n- name: x\n  token-hash: \"md5:00\"\n  role: read\n",
        )
        .unwrap();
        tokio::time::sleep(POLL * 3).await;
        assert_eq!(gate.metrics().reload_errors(), 1);
        assert_eq!(gate.file().counts(), (0, 1));
        // Fixed again: in force as quickly.
        std::fs::write(&path, tokens(&["e", "f"])).unwrap();
        assert!(in_force_after(&gate, 2).await <= POLL + DEBOUNCE);

        shutdown.cancel();
        task.await.unwrap();
    }
}
