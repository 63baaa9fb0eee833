//! Start-up recovery: a builder killed at any point leaves resources owned by its name
//! (virtual ones in `cleaning`, physical ones in `leased`). When the server can list
//! resources by owner (a [`LeaseInventory`], e.g. `mason serve`'s
//! `GET /api/v2/resources?owner=`), a starting builder releases every one of them to
//! `dirty` before it begins: the virtual ones are rebuilt, the physical ones cleaned.
//! Without an inventory (upstream Boskos) the reaper recovers them once their
//! heartbeats stop.
//!
//! This assumes the owner name belongs to this builder alone: two builders running
//! with one owner name would release each other's work.

use async_trait::async_trait;
use mason_client::{BoskosApi, HttpClient, ResourceQuery};
use mason_types::{state, Resource};

/// Why the owned resources could not be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// The server has no such listing (upstream Boskos, or an older server).
    #[error("{0} cannot list resources by owner")]
    Unsupported(String),
    /// The listing failed.
    #[error("cannot list resources by owner: {0}")]
    Failed(String),
    /// The listing was abandoned because the builder is stopping
    /// ([`crate::shutdown::Guarded`]).
    #[error("stopped listing resources by owner at shutdown")]
    Cancelled,
}

/// Lists the resources a given owner holds.
#[async_trait]
pub trait LeaseInventory: Send + Sync {
    /// Every resource whose owner is `owner`.
    async fn owned_by(&self, owner: &str) -> Result<Vec<Resource>, InventoryError>;
}

/// `GET /api/v2/resources?owner=` on `mason serve` ([`HttpClient::resources`]); an
/// upstream server has no such route ([`InventoryError::Unsupported`]).
#[async_trait]
impl LeaseInventory for HttpClient {
    async fn owned_by(&self, owner: &str) -> Result<Vec<Resource>, InventoryError> {
        match self.resources(&ResourceQuery::new().owner(owner)).await {
            Ok(Some(owned)) => Ok(owned),
            Ok(None) => Err(InventoryError::Unsupported(self.base_url().to_string())),
            Err(e) => Err(InventoryError::Failed(e.to_string())),
        }
    }
}

/// Release everything `client.owner()` still holds to `dirty`; returns how many.
pub(crate) async fn recover(client: &dyn BoskosApi, inventory: &dyn LeaseInventory) -> u64 {
    let owner = client.owner();
    let owned = match inventory.owned_by(owner).await {
        Ok(owned) => owned,
        Err(InventoryError::Unsupported(what)) => {
            tracing::info!(%what, "cannot list leftovers of a previous run; the reaper will reclaim them");
            return 0;
        }
        Err(InventoryError::Cancelled) => return 0,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list leftovers of a previous run; the reaper will reclaim them");
            return 0;
        }
    };
    let mut released = 0;
    for r in owned.iter().filter(|r| r.owner == owner) {
        match client.release(&r.name, state::DIRTY).await {
            Ok(()) => {
                tracing::info!(resource = %r.name, rtype = %r.rtype, was = %r.state, "released a leftover of a previous run to dirty");
                released += 1;
            }
            // Shutdown (a guarded client): the next start finds the rest.
            Err(mason_client::Error::Cancelled) => break,
            Err(e) => {
                tracing::warn!(resource = %r.name, error = %e, "cannot release a leftover of a previous run")
            }
        }
    }
    released
}
