//! [`StoreBackend`]: the lease extension's calls ([`LeaseBackend`]) answered by a
//! [`Store`] — the all-or-nothing acquire of a set, the ending of leases whose deadline
//! passed, and the store's "resources may be available" signals. The server registers
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

    async fn expire_leases(&self, _req: &ExpireRequest) -> Result<ExpireReport, StoreError> {
        // Leases have no deadlines in this store yet (issue 12 part 1 adds them): nothing
        // expires and no deadline is pending.
        Ok(ExpireReport::default())
    }

    fn availability(&self) -> broadcast::Receiver<Availability> {
        self.store.availability()
    }
}
