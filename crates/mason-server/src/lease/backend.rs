//! [`LeaseBackend`]: the store calls the lease-safety extension needs beyond today's
//! [`mason_store::Store`] — the all-or-nothing acquire of a set, the ending of leases
//! whose deadline passed, and the "resources may be available" signal that wakes
//! long-poll waiters. The types follow the store contract agreed for issue 12 (store
//! schema v4, `briefs/issue12-store-api.md`); a store that implements it is handed to the
//! server with [`crate::LeaseControl::set_backend`]. Without one, `POST /api/v2/acquire`
//! answers 501 and no expiry loop runs.

use async_trait::async_trait;
use mason_store::Error as StoreError;
use tokio::sync::broadcast;

/// The set types are the store's own (`mason_store`'s request, answer and shortfall of
/// [`mason_store::Store::acquire_many`]), so the adapter over a store passes them through.
pub use mason_store::{MultiAcquireItem, MultiAcquireRequest, MultiAcquired, Shortfall};

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

/// Lease expiry is the store's call, with the store's types: one call's worth
/// ([`ExpireRequest`]), a lease ended ([`ExpiredLease`]) and what the call did
/// ([`ExpireReport`]).
pub use mason_store::{ExpireReport, ExpireRequest, ExpiredLease};

/// "Resources may be available" signals are the store's
/// ([`mason_store::Store::availability`]).
pub use mason_store::Availability;

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
                reserved: 0,
            },
            Shortfall {
                rtype: "gke-cluster".into(),
                state: "free".into(),
                wanted: 1,
                free: 0,
                reserved: 0,
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
