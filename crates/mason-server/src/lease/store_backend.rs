//! [`StoreBackend`]: the lease extension's calls ([`LeaseBackend`]) answered by a
//! [`Store`] — the all-or-nothing acquire of a set, the ending of leases whose deadline
//! passed ([`Store::expire_leases`], as is), and the store's "resources may be
//! available" signals. The server registers
//! one over its store at start-up ([`crate::LeaseControl::set_backend`]).

use std::sync::Arc;

use async_trait::async_trait;
use mason_store::{Error as StoreError, Store};
use tokio::sync::broadcast;

use super::backend::{
    Availability, ExpireReport, ExpireRequest, LeaseBackend, MultiAcquireRequest, MultiAcquired,
    SetRefused,
};

/// A [`Store`] as the lease extension's backend.
pub struct StoreBackend {
    store: Arc<dyn Store>,
}

impl StoreBackend {
    /// The extension's calls over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl LeaseBackend for StoreBackend {
    async fn acquire_many(&self, req: &MultiAcquireRequest) -> Result<MultiAcquired, SetRefused> {
        self.store.acquire_many(req).await.map_err(|e| match e {
            StoreError::Shortage(short) => SetRefused::Shortage(short),
            StoreError::UnknownTypes(types) => SetRefused::UnknownTypes(types),
            other => SetRefused::Store(other),
        })
    }

    async fn expire_leases(&self, req: &ExpireRequest) -> Result<ExpireReport, StoreError> {
        // With several replicas each lease is in exactly one call's report, so the
        // expiry loop counts and logs each once.
        self.store.expire_leases(req).await
    }

    fn availability(&self) -> broadcast::Receiver<Availability> {
        self.store.availability()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mason_store::{AcquireRequest, ManualClock};
    use mason_types::BoskosConfig;

    use super::*;

    #[tokio::test]
    async fn expiry_is_the_stores() {
        let clock = Arc::new(ManualClock::at_upstream_epoch());
        let store: Arc<dyn Store> =
            Arc::new(mason_store::sqlite::SqliteStore::in_memory(clock.clone()).unwrap());
        let config = BoskosConfig::parse_and_validate(
            "resources:\n- type: t\n  names: [r1]\n  lease-ttl: 2s\n",
        )
        .unwrap();
        store.sync_config(&config).await.unwrap();
        let backend = StoreBackend::new(store.clone());
        let granted = store
            .acquire(&AcquireRequest {
                rtype: "t".into(),
                state: "free".into(),
                dest: "busy".into(),
                owner: "me".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let report = backend
            .expire_leases(&ExpireRequest {
                now: clock.peek(),
                limit: 10,
            })
            .await
            .unwrap();
        assert!(report.expired.is_empty());
        assert_eq!(report.next_deadline, granted.lease.lease_deadline);
        clock.advance(Duration::from_secs(3));
        let report = backend
            .expire_leases(&ExpireRequest {
                now: clock.peek(),
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(report.expired.len(), 1);
        assert_eq!(report.expired[0].previous_owner, "me");
        assert_eq!(
            Some(report.expired[0].deadline),
            granted.lease.lease_deadline
        );
        assert_eq!(report.next_deadline, None);
        assert_eq!(store.get("r1").await.unwrap().state, "dirty");
    }
}
