//! The builder's and the cleaner's views of the store: [`StorePools`] (a
//! [`PoolSource`]) and [`StoreInventory`] (a [`LeaseInventory`]). Over HTTP the same views
//! come from `mason serve`'s `/api/v2/drlcs` and `/api/v2/resources?owner=` routes (through
//! [`mason_client::HttpClient`]).

use std::sync::Arc;

use async_trait::async_trait;
use mason_controllers::builder::{InventoryError, LeaseInventory, PoolSource, PoolSourceError};
use mason_store::{ResourceFilter, Store};
use mason_types::{DynamicResourceLifeCycle, Resource};

/// Dynamic pools as the store keeps them (also pools removed from the config whose last
/// resources are still being deleted).
#[derive(Clone)]
pub struct StorePools(pub Arc<dyn Store>);

impl std::fmt::Debug for StorePools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StorePools")
            .field(&self.0.backend())
            .finish()
    }
}

#[async_trait]
impl PoolSource for StorePools {
    fn describe(&self) -> String {
        format!("the {} store", self.0.backend())
    }

    async fn load(&self) -> Result<Vec<DynamicResourceLifeCycle>, PoolSourceError> {
        self.0.drlcs().await.map_err(|e| PoolSourceError::Server {
            url: self.describe(),
            message: e.to_string(),
        })
    }
}

/// Resources by owner, straight from the store (the builder's start-up recovery).
#[derive(Clone)]
pub struct StoreInventory(pub Arc<dyn Store>);

impl std::fmt::Debug for StoreInventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StoreInventory")
            .field(&self.0.backend())
            .finish()
    }
}

#[async_trait]
impl LeaseInventory for StoreInventory {
    async fn owned_by(&self, owner: &str) -> Result<Vec<Resource>, InventoryError> {
        let filter = ResourceFilter {
            owner: Some(owner.to_string()),
            ..ResourceFilter::default()
        };
        self.0
            .list(&filter)
            .await
            .map_err(|e| InventoryError::Failed(e.to_string()))
    }
}
