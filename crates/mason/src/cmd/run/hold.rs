//! Holding what `mason run` acquired while the command runs: one heartbeating
//! [`LeaseGuard`] per resource — the resource itself and, for a virtual resource, each of
//! its physical resources — all released together (at once, so a lost server costs one
//! round of retries, not one per resource) when the command ends. When the command could
//! not start, [`give_back`] returns everything to where it was taken from instead.

use std::sync::Arc;
use std::time::Duration;

use mason_client::{BoskosApi, Error, LeaseGuard, VirtualLease};
use tokio::task::JoinSet;

/// The leases held for the command, the acquired resource first.
pub(super) struct Held {
    guards: Vec<LeaseGuard>,
}

/// How the final release went.
pub(super) struct Released {
    /// Names released, with the state each went to, in order.
    pub(super) done: Vec<(String, String)>,
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

    /// Stop every heartbeat and release every resource to `dest`, all at once.
    pub(super) async fn release(self, dest: &str) -> Released {
        let mut tasks = JoinSet::new();
        for (i, guard) in self.guards.into_iter().enumerate() {
            let dest = dest.to_string();
            tasks.spawn(async move {
                let name = guard.resource().name.clone();
                (i, name, dest.clone(), guard.release(&dest).await)
            });
        }
        collect(tasks).await
    }
}

/// The command could not start: give every resource of `lease` back untouched, to the
/// state it was acquired from — the resource to `origin`, each physical resource to the
/// state it was parked in (the virtual resource's name, where the builder left it).
pub(super) async fn give_back(
    api: &Arc<dyn BoskosApi>,
    lease: VirtualLease,
    origin: &str,
) -> Released {
    let parked = lease.resource.name.clone();
    let mut tasks = JoinSet::new();
    let items = std::iter::once((lease.resource, origin.to_string()))
        .chain(lease.leased.into_iter().map(|r| (r, parked.clone())));
    for (i, (resource, dest)) in items.enumerate() {
        let api = Arc::clone(api);
        tasks.spawn(async move {
            let outcome = api.release(&resource.name, &dest).await;
            (i, resource.name, dest, outcome)
        });
    }
    collect(tasks).await
}

/// The outcomes in the order the resources were given.
async fn collect(mut tasks: JoinSet<(usize, String, String, Result<(), Error>)>) -> Released {
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => tracing::error!(error = %e, "a release task failed"),
        }
    }
    outcomes.sort_by_key(|(i, ..)| *i);
    let mut out = Released {
        done: Vec::new(),
        failed: Vec::new(),
    };
    for (_, name, dest, outcome) in outcomes {
        match outcome {
            Ok(()) => out.done.push((name, dest)),
            Err(e) => out.failed.push((name, e)),
        }
    }
    out
}
