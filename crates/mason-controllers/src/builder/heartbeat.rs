//! Heartbeats (upstream Mason's "sync" stage): the set of resources the builder holds
//! right now (virtual ones in `cleaning`, physical ones in `leased`) and the loop that
//! heartbeats them, so a reaper never takes a lease away from a build that is still
//! going.
//!
//! Heartbeats are plain `/update` calls with the resource's current state and no user
//! data. A resource is removed from the set just before it is released, so a late
//! heartbeat racing a release only produces a logged owner mismatch.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_client::BoskosApi;
use tokio_util::sync::CancellationToken;

use super::status::StatusBoard;

/// Names of held resources → the state they are held in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Held(Arc<Mutex<BTreeMap<String, String>>>);

impl Held {
    pub(crate) fn hold(&self, name: &str, state: &str) {
        self.0
            .lock()
            .expect("held lock")
            .insert(name.to_string(), state.to_string());
    }

    pub(crate) fn forget(&self, name: &str) {
        self.0.lock().expect("held lock").remove(name);
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.0.lock().expect("held lock").contains_key(name)
    }

    pub(crate) fn snapshot(&self) -> Vec<(String, String)> {
        let held = self.0.lock().expect("held lock");
        held.iter().map(|(n, s)| (n.clone(), s.clone())).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.lock().expect("held lock").len()
    }
}

/// Heartbeat every held resource once.
pub(crate) async fn heartbeat_once(client: &dyn BoskosApi, held: &Held, status: &StatusBoard) {
    for (name, state) in held.snapshot() {
        if let Err(e) = client.update(&name, &state, None).await {
            // Shutdown (a guarded client): the builds are releasing what they hold.
            if matches!(e, mason_client::Error::Cancelled) {
                break;
            }
            if held.contains(&name) {
                tracing::warn!(resource = %name, %state, error = %e, "heartbeat failed");
                status.update(|s| s.heartbeat_errors += 1);
            }
        }
    }
    status.update(|s| s.held = held.len() as u64);
}

/// Heartbeat every `period` until `cancel`.
pub(crate) async fn heartbeat_loop(
    client: Arc<dyn BoskosApi>,
    held: Held,
    status: StatusBoard,
    period: Duration,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        heartbeat_once(client.as_ref(), &held, &status).await;
    }
}
