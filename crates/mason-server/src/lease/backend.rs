//! [`LeaseBackend`]: the store calls the lease-safety extension needs beyond today's
//! [`mason_store::Store`] — the all-or-nothing acquire of a set, the ending of leases
//! whose deadline passed, and the "resources may be available" signal that wakes
//! long-poll waiters. The types follow the store contract agreed for issue 12 (store
//! schema v4, `briefs/issue12-store-api.md`); a store that implements it is handed to the
//! server with [`crate::LeaseControl::set_backend`]. Without one, `POST /api/v2/acquire`
//! answers 501 and no expiry loop runs.

use std::time::Duration;

use async_trait::async_trait;
use mason_store::Error as StoreError;
use mason_types::{ResourceV2, Timestamp};
use tokio::sync::broadcast;

/// One kind of resource wanted by a [`MultiAcquireRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultiAcquireItem {
    /// The resource type.
    pub rtype: String,
    /// The state the resources must be in.
    pub state: String,
    /// The state they are moved to.
    pub dest: String,
    /// How many (1 to 1,000; the server has checked).
    pub count: u32,
}

/// An all-or-nothing acquire of several resources, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultiAcquireRequest {
    /// Who will hold the resources.
    pub owner: String,
    /// The queue identity: the request holds its place in the queue of every
    /// (type, state) it asks for.
    pub request_id: Option<String>,
    /// Higher is served first; FIFO within a priority.
    pub priority: i32,
    /// Lease TTL of every resource granted (overrides the types' `lease-ttl`).
    pub lease_ttl: Option<Duration>,
    /// What to acquire.
    pub items: Vec<MultiAcquireItem>,
    /// While the server holds the request open, its queue places must not lapse before
    /// this time (plus the request TTL).
    pub queue_until: Option<Timestamp>,
}

/// A granted set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiAcquired {
    /// The resources, in item order, each with its new generation.
    pub resources: Vec<ResourceV2>,
    /// When the request was first seen (feeds the acquire-duration metric).
    pub requested_at: Timestamp,
}

/// An item the store could not fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    /// The resource type.
    pub rtype: String,
    /// The state asked for.
    pub state: String,
    /// How many were asked for.
    pub wanted: u32,
    /// How many this request could have had.
    pub free: u32,
}

/// Why a set was not granted.
#[derive(Debug, thiserror::Error)]
pub enum SetRefused {
    /// Some items are short (404); nothing was granted.
    #[error("not enough free resources: {}", shortfalls(.0))]
    Shortage(Vec<Shortfall>),
    /// Some types do not exist at all (409).
    #[error("{}", unknown_types(.0))]
    UnknownTypes(Vec<String>),
    /// Any other store answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn shortfalls(short: &[Shortfall]) -> String {
    short
        .iter()
        .map(|s| {
            format!(
                "{} in state {}: {} wanted, {} free",
                s.rtype, s.state, s.wanted, s.free
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn unknown_types(types: &[String]) -> String {
    let quoted: Vec<String> = types.iter().map(|t| format!("{t:?}")).collect();
    match quoted.as_slice() {
        [one] => format!("resource type {one} does not exist"),
        many => format!("resource types {} do not exist", many.join(", ")),
    }
}

/// One call's worth of lease expiry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpireRequest {
    /// Leases whose deadline is at or before this are ended.
    pub now: Timestamp,
    /// At most this many per call.
    pub limit: u32,
}

/// A lease the store ended because its deadline passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredLease {
    /// The resource.
    pub name: String,
    /// Its type.
    pub rtype: String,
    /// Who held it.
    pub previous_owner: String,
    /// The state it was in.
    pub previous_state: String,
    /// The state it went to (the type's `lease-expired-state`).
    pub state: String,
    /// The deadline that passed.
    pub deadline: Timestamp,
    /// The resource's new generation.
    pub generation: u64,
}

/// What one [`LeaseBackend::expire_leases`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpireReport {
    /// The leases this call ended (with several replicas, each lease is in exactly one
    /// replica's report).
    pub expired: Vec<ExpiredLease>,
    /// The earliest deadline still pending.
    pub next_deadline: Option<Timestamp>,
}

/// "Resources may be available", sent after a commit that freed resources or ended a
/// queue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Unowned resources of (type, state) appeared or a reservation on them ended.
    Changed {
        /// The type.
        rtype: String,
        /// The state.
        state: String,
    },
    /// Signals may have been missed: re-check everything.
    Unknown,
}

/// The store calls of the lease-safety extension; see the module docs.
#[async_trait]
pub trait LeaseBackend: Send + Sync {
    /// Grant every item in one transaction, or nothing.
    async fn acquire_many(&self, req: &MultiAcquireRequest) -> Result<MultiAcquired, SetRefused>;

    /// End at most `req.limit` leases whose deadline passed, oldest first.
    async fn expire_leases(&self, req: &ExpireRequest) -> Result<ExpireReport, StoreError>;

    /// A receiver of availability signals.
    fn availability(&self) -> broadcast::Receiver<Availability>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_every_short_and_unknown_type() {
        let short = SetRefused::Shortage(vec![
            Shortfall {
                rtype: "gce-project".into(),
                state: "free".into(),
                wanted: 2,
                free: 1,
            },
            Shortfall {
                rtype: "gke-cluster".into(),
                state: "free".into(),
                wanted: 1,
                free: 0,
            },
        ]);
        assert_eq!(
            short.to_string(),
            "not enough free resources: gce-project in state free: 2 wanted, 1 free; gke-cluster in state free: 1 wanted, 0 free"
        );
        assert_eq!(
            SetRefused::UnknownTypes(vec!["x".into()]).to_string(),
            "resource type \"x\" does not exist"
        );
        assert_eq!(
            SetRefused::UnknownTypes(vec!["x".into(), "y".into()]).to_string(),
            "resource types \"x\", \"y\" do not exist"
        );
    }
}
