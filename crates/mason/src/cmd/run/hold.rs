//! Holding what `mason run` acquired while the command runs: one heartbeating
//! [`LeaseGuard`] per resource — each resource asked for and, for a virtual resource, each
//! of its physical resources — all released together (at once, so a lost server costs one
//! round of retries, not one per resource) when the command ends. With `--lease-ttl` each
//! guard knows the TTL, so a lease none of whose heartbeats get through is known lost
//! ([`Held::first_lost`]) even while the server cannot be reached. A lost lease is never
//! released (it is not ours any more). When the command could not start, [`give_back`]
//! returns everything to where it was taken from instead.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use mason_client::lease::LeaseOutcome;
use mason_client::{BoskosApi, Error, LeaseGuard, LostLease, VirtualLease};
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
    /// Leases found lost (not released).
    pub(super) lost: Vec<LostLease>,
}

impl Held {
    /// Start heartbeating every resource of `leases` every `period` (positive, shorter
    /// than `ttl` when there is one).
    pub(super) fn start(
        api: &Arc<dyn BoskosApi>,
        leases: Vec<VirtualLease>,
        period: Duration,
        ttl: Option<Duration>,
    ) -> Result<Self, Error> {
        let guards = leases
            .into_iter()
            .flat_map(|lease| std::iter::once(lease.resource).chain(lease.leased))
            .map(|r| LeaseGuard::start_with_ttl(Arc::clone(api), r, period, ttl))
            .collect::<Result<_, _>>()?;
        Ok(Self { guards })
    }

    /// Resolves with the first lease lost; never while all are held.
    pub(super) async fn first_lost(&self) -> LostLease {
        type Lost<'a> = Pin<Box<dyn Future<Output = LostLease> + Send + 'a>>;
        let mut all: Vec<Lost<'_>> = self
            .guards
            .iter()
            .map(|g| Box::pin(g.lost()) as Lost<'_>)
            .collect();
        std::future::poll_fn(|cx| {
            for lost in &mut all {
                if let Poll::Ready(lost) = lost.as_mut().poll(cx) {
                    return Poll::Ready(lost);
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Stop every heartbeat and release every resource still ours to `dest`, all at once.
    pub(super) async fn release(self, dest: &str) -> Released {
        let mut tasks = JoinSet::new();
        for (i, guard) in self.guards.into_iter().enumerate() {
            let dest = dest.to_string();
            tasks.spawn(async move {
                let name = guard.resource().name.clone();
                let outcome = match guard.finish(&dest).await {
                    LeaseOutcome::Released => Ok(()),
                    LeaseOutcome::Lost(lost) => Err(Ending::Lost(lost)),
                    LeaseOutcome::Failed(e) => Err(Ending::Failed(e)),
                    other => Err(Ending::Failed(Error::Local(format!("{other:?}")))),
                };
                (i, name, dest.clone(), outcome)
            });
        }
        collect(tasks).await
    }
}

/// Why a resource was not released.
enum Ending {
    Failed(Error),
    Lost(LostLease),
}

/// The command could not start: give every resource of `leases` back untouched, to the
/// state it was acquired from — each resource to `origin`, each physical resource to the
/// state it was parked in (its virtual resource's name, where the builder left it).
pub(super) async fn give_back(
    api: &Arc<dyn BoskosApi>,
    leases: Vec<VirtualLease>,
    origin: &str,
) -> Released {
    let mut tasks = JoinSet::new();
    let items = leases.into_iter().flat_map(|lease| {
        let parked = lease.resource.name.clone();
        std::iter::once((lease.resource, origin.to_string()))
            .chain(lease.leased.into_iter().map(move |r| (r, parked.clone())))
    });
    for (i, (resource, dest)) in items.enumerate() {
        let api = Arc::clone(api);
        tasks.spawn(async move {
            let outcome = api.release(&resource.name, &dest).await;
            (i, resource.name, dest, outcome.map_err(Ending::Failed))
        });
    }
    collect(tasks).await
}

/// The outcomes in the order the resources were given.
async fn collect(mut tasks: JoinSet<(usize, String, String, Result<(), Ending>)>) -> Released {
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
        lost: Vec::new(),
    };
    for (_, name, dest, outcome) in outcomes {
        match outcome {
            Ok(()) => out.done.push((name, dest)),
            Err(Ending::Failed(e)) => out.failed.push((name, e)),
            Err(Ending::Lost(lost)) => out.lost.push(lost),
        }
    }
    out
}
