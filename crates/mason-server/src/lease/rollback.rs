//! Grants whose client went away (issue 17): an acquire (`/acquire`, `/acquirebystate`,
//! `POST /api/v2/acquire`) whose client disconnected before the answer was written must
//! not leave a resource leased to an owner that never learned of it.
//!
//! [`guarded`] runs the store call that grants on a task of its own and hands its answer
//! to the handler through a channel. When the client disconnects, hyper drops the
//! handler (and with it the receiving end); the store call still finishes — a call
//! already sent to the store cannot be taken back — and finds nobody to hand its grant
//! to. The grant is then rolled back ([`roll_back`]), after `--disconnect-grace`
//! (default 0: at once):
//!
//! - each resource is released back to the state it was granted from, by the server
//!   (history: kind `release`, actor `server`), with a fresh generation, as any release;
//! - only if it is still exactly as granted: the same owner, the generation of the grant
//!   (where the store reported one) and the `lastupdate` of the grant — so a lease that
//!   was renewed (an update moves `lastupdate`), released, expired or granted again
//!   since is left alone. The release itself is fenced with the generation it read, so
//!   nothing that happens between the read and the release can be undone by it;
//! - each rollback is logged (warn, with the name, the owner and the route) and counted
//!   in `mason_acquires_rolled_back_total{type}`;
//! - a rollback the store refuses for want of storage (503) is tried again, backing off
//!   from 100 ms to 5 s, for up to 10 minutes; a retried release that already took
//!   effect is answered as done (see `mason_store`'s retry safety), so a retry never
//!   makes things worse. A lease with a TTL ends at its deadline in any case.
//!
//! What this cannot see: a client that disconnects after the handler produced its answer
//! but before hyper wrote it out (the answer is then lost in the kernel's buffers, a
//! window of microseconds), and a server killed between the grant and the rollback.
//! Those leases live until they are released, reset or reach their TTL deadline, as
//! upstream's do.

use std::future::Future;
use std::time::Duration;

use mason_store::{Acquired, Error as StoreError, MultiAcquireRequest, MultiAcquired};
use mason_store::{ReleaseRequest, Store};
use mason_types::{Resource, Timestamp};
use tokio::sync::oneshot;

use crate::state::AppState;

/// The actor a rollback is recorded with in the history.
pub(crate) const ACTOR: &str = "server";

/// How long a rollback the store refuses for want of storage is tried again.
const RETRY_FOR: Duration = Duration::from_secs(600);

/// A lease as it was granted, for its rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Granted {
    /// The resource.
    pub(crate) name: String,
    /// Its type (the metric's label).
    pub(crate) rtype: String,
    /// The owner it was granted to.
    pub(crate) owner: String,
    /// The state it was granted from: where a rollback puts it back.
    pub(crate) from: String,
    /// The generation of the grant, when the store reported it.
    pub(crate) generation: Option<u64>,
    /// Its `lastupdate` after the grant.
    pub(crate) at: Timestamp,
}

impl Granted {
    /// A resource granted from `from`, without its generation.
    pub(crate) fn of(resource: &Resource, from: &str) -> Self {
        Self {
            name: resource.name.clone(),
            rtype: resource.rtype.clone(),
            owner: resource.owner.clone(),
            from: from.to_string(),
            generation: None,
            at: resource.lastupdate,
        }
    }

    /// The grant of an `/acquire` from `from`.
    pub(crate) fn acquired(acquired: &Acquired, from: &str) -> Vec<Self> {
        vec![Self {
            generation: Some(acquired.lease.generation),
            ..Self::of(&acquired.resource, from)
        }]
    }

    /// A resource granted from `from`, with the generation of its grant.
    pub(crate) fn leased(resource: &mason_types::ResourceV2, from: &str) -> Self {
        Self {
            generation: Some(resource.lease.generation),
            ..Self::of(&resource.resource, from)
        }
    }

    /// The grants of a set: resources come in item order, `count` per item.
    pub(crate) fn set(req: &MultiAcquireRequest, granted: &MultiAcquired) -> Vec<Self> {
        let mut from = req
            .items
            .iter()
            .flat_map(|item| std::iter::repeat_n(item, item.count as usize));
        granted
            .resources
            .iter()
            .map(|r| {
                let state = from
                    .next()
                    .filter(|item| item.rtype == r.resource.rtype)
                    .or_else(|| req.items.iter().find(|i| i.rtype == r.resource.rtype))
                    .map_or(r.resource.state.as_str(), |item| item.state.as_str());
                Self {
                    generation: Some(r.lease.generation),
                    ..Self::of(&r.resource, state)
                }
            })
            .collect()
    }
}

/// Run `grant` (a store call that grants leases) so that its leases are rolled back when
/// the caller is gone before it hears the answer; see the module docs. `leases` says
/// what a successful answer granted. Answers what `grant` answers.
pub(crate) async fn guarded<T, E, F, L>(
    state: &AppState,
    route: &'static str,
    grant: F,
    leases: L,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    L: FnOnce(&T) -> Vec<Granted> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    let (answer, answered) = oneshot::channel();
    let task_state = state.clone();
    tokio::spawn(async move {
        let outcome = grant.await;
        if let Err(Ok(unheard)) = answer.send(outcome) {
            let leases = leases(&unheard);
            let grace = task_state.lease().disconnect_grace();
            if !grace.is_zero() {
                tokio::time::sleep(grace).await;
            }
            for lease in leases {
                roll_back(&task_state, route, &lease).await;
            }
        }
    });
    match answered.await {
        Ok(outcome) => outcome,
        Err(_) => Err(StoreError::backend(format!(
            "{route}: the grant's task ended without an answer"
        ))
        .into()),
    }
}

/// What a rollback did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RolledBack {
    /// Released back to the state it was granted from.
    Released,
    /// Left alone: it is no longer as granted (renewed, ended, granted again) or gone.
    Untouched,
    /// The store kept refusing.
    Failed,
}

/// Release `lease` back to where it was granted from, if it is still exactly as
/// granted; logged and counted.
pub(crate) async fn roll_back(state: &AppState, route: &str, lease: &Granted) -> RolledBack {
    let outcome = roll_back_in(state.store().as_ref(), lease).await;
    match outcome {
        RolledBack::Released => {
            state.metrics().lease().acquire_rolled_back(&lease.rtype);
            tracing::warn!(
                name = %lease.name,
                owner = %lease.owner,
                state = %lease.from,
                route,
                "the client went away before the answer to its acquire: the grant was rolled back"
            );
        }
        RolledBack::Untouched => tracing::info!(
            name = %lease.name,
            owner = %lease.owner,
            route,
            "the client went away before the answer to its acquire; the lease has changed since, left as it is"
        ),
        RolledBack::Failed => tracing::error!(
            name = %lease.name,
            owner = %lease.owner,
            route,
            "the client went away before the answer to its acquire, and the store kept refusing to roll it back: the lease stays until it is released, reset or expires"
        ),
    }
    outcome
}

/// [`roll_back`] on `store`, without the log and the count.
pub(crate) async fn roll_back_in(store: &dyn Store, lease: &Granted) -> RolledBack {
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut pause = Duration::from_millis(100);
    loop {
        match try_roll_back(store, lease).await {
            Ok(outcome) => return outcome,
            Err(e) if e.status() == 503 && tokio::time::Instant::now() + pause < deadline => {
                tracing::debug!(name = %lease.name, error = %e, "rolling back a grant: trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::debug!(name = %lease.name, error = %e, "rolling back a grant failed");
                return RolledBack::Failed;
            }
        }
    }
}

async fn try_roll_back(store: &dyn Store, lease: &Granted) -> Result<RolledBack, StoreError> {
    let current = match store.get_v2(&lease.name).await {
        Ok(current) => current,
        Err(StoreError::ResourceNotFound(_)) => return Ok(RolledBack::Untouched),
        Err(e) => return Err(e),
    };
    let unchanged = current.resource.owner == lease.owner
        && current.resource.lastupdate == lease.at
        && lease
            .generation
            .is_none_or(|g| g == current.lease.generation);
    if !unchanged {
        return Ok(RolledBack::Untouched);
    }
    let release = ReleaseRequest {
        name: lease.name.clone(),
        dest: lease.from.clone(),
        owner: lease.owner.clone(),
        generation: Some(current.lease.generation),
        actor: Some(ACTOR.to_string()),
    };
    match store.release(&release).await {
        Ok(_) => Ok(RolledBack::Released),
        Err(e) if e.status() == 503 => Err(e),
        // Changed between the read and the release (a 401, 404 or 409): left alone.
        Err(_) => Ok(RolledBack::Untouched),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mason_store::{AcquireRequest, ManualClock, UpdateRequest};
    use mason_types::BoskosConfig;

    use super::*;

    async fn store() -> (Arc<dyn Store>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::at_upstream_epoch());
        let store: Arc<dyn Store> =
            Arc::new(mason_store::sqlite::SqliteStore::in_memory(clock.clone()).unwrap());
        let config =
            BoskosConfig::parse_and_validate("resources:\n- type: t\n  names: [r1, r2]\n").unwrap();
        store.sync_config(&config).await.unwrap();
        (store, clock)
    }

    async fn acquire(store: &dyn Store, owner: &str) -> Acquired {
        store
            .acquire(&AcquireRequest {
                rtype: "t".into(),
                state: "free".into(),
                dest: "busy".into(),
                owner: owner.into(),
                ..Default::default()
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_grant_as_granted_goes_back_where_it_came_from() {
        let (store, clock) = store().await;
        let acquired = acquire(&*store, "me").await;
        let lease = &Granted::acquired(&acquired, "free")[0];
        clock.advance(Duration::from_secs(1));
        assert_eq!(roll_back_in(&*store, lease).await, RolledBack::Released);
        let now = store.get_v2(&lease.name).await.unwrap();
        assert_eq!(
            (now.resource.owner.as_str(), now.resource.state.as_str()),
            ("", "free")
        );
        assert!(now.lease.generation > acquired.lease.generation);
        assert_eq!(
            roll_back_in(&*store, lease).await,
            RolledBack::Untouched,
            "once"
        );
    }

    #[tokio::test]
    async fn a_renewed_or_regranted_lease_is_left_alone() {
        let (store, clock) = store().await;
        let acquired = acquire(&*store, "me").await;
        let lease = &Granted::acquired(&acquired, "free")[0];
        clock.advance(Duration::from_secs(1));
        store
            .update(&UpdateRequest {
                name: lease.name.clone(),
                owner: "me".into(),
                state: "busy".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(roll_back_in(&*store, lease).await, RolledBack::Untouched);
        assert_eq!(store.get(&lease.name).await.unwrap().owner, "me");

        let (store, clock) = self::store().await;
        let acquired = acquire(&*store, "me").await;
        let lease = &Granted::acquired(&acquired, "free")[0];
        clock.advance(Duration::from_secs(1));
        store
            .release(&ReleaseRequest {
                name: lease.name.clone(),
                dest: "free".into(),
                owner: "me".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(roll_back_in(&*store, lease).await, RolledBack::Untouched);
        clock.advance(Duration::from_secs(1));
        store
            .acquire_by_state(&mason_store::AcquireByStateRequest {
                state: "free".into(),
                dest: "busy".into(),
                owner: "me".into(),
                names: vec![lease.name.clone()],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            roll_back_in(&*store, lease).await,
            RolledBack::Untouched,
            "granted again to the same owner: another lease"
        );
        assert_eq!(store.get(&lease.name).await.unwrap().owner, "me");
    }
}
