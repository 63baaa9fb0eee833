//! Holding what `mason run` acquired while the command runs: one heartbeating
//! [`LeaseGuard`] per resource — the resource itself and, for a virtual resource, each of
//! its physical resources — all released together when the command ends.

use std::sync::Arc;
use std::time::Duration;

use mason_client::{BoskosApi, Error, LeaseGuard, VirtualLease};

/// The leases held for the command, the acquired resource first.
pub(super) struct Held {
    guards: Vec<LeaseGuard>,
}

/// How the final release went.
pub(super) struct Released {
    /// Names released, in order.
    pub(super) done: Vec<String>,
    /// Names that could not be released, with the reason.
    pub(super) failed: Vec<(String, Error)>,
}

impl Held {
    /// Start heartbeating every resource of `lease` every `period` (positive).
    pub(super) fn start(
        api: &Arc<dyn BoskosApi>,
        lease: VirtualLease,
        period: Duration,
    ) -> Result<Self, Error> {
        let guards = std::iter::once(lease.resource)
            .chain(lease.leased)
            .map(|r| LeaseGuard::start(Arc::clone(api), r, period))
            .collect::<Result<_, _>>()?;
        Ok(Self { guards })
    }

    /// The resources whose lease was lost meanwhile (reset or released by someone
    /// else; their heartbeats stopped), with the last heartbeat error.
    pub(super) fn lost(&self) -> Vec<(String, String)> {
        self.guards
            .iter()
            .filter_map(|g| {
                let status = g.status();
                status.lost.then(|| {
                    (
                        g.resource().name.clone(),
                        status.last_error.unwrap_or_default(),
                    )
                })
            })
            .collect()
    }

    /// Stop every heartbeat and release every resource to `dest`, each one attempted.
    pub(super) async fn release(self, dest: &str) -> Released {
        let mut out = Released {
            done: Vec::new(),
            failed: Vec::new(),
        };
        for guard in self.guards {
            let name = guard.resource().name.clone();
            match guard.release(dest).await {
                Ok(()) => out.done.push(name),
                Err(e) => out.failed.push((name, e)),
            }
        }
        out
    }
}
