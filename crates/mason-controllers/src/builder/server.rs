//! `mason serve`'s read-only extension routes, as the builder uses them:
//! `GET /api/v2/drlcs` (a [`PoolSource`]) and `GET /api/v2/resources?owner=` (a
//! [`LeaseInventory`]).
//!
//! An upstream Boskos server has neither route: its catch-all answers any unknown path
//! with `200` and an empty body (a proxy may answer `404`); both are reported as
//! "unsupported", so callers can fall back (config file, reaper).

use std::time::Duration;

use async_trait::async_trait;
use mason_client::{HttpClient, RetryPolicy, Url};
use mason_types::{DynamicResourceLifeCycle, Resource};

use super::pools::{PoolSource, PoolSourceError};
use super::recover::{InventoryError, LeaseInventory};

/// The builder's view of `mason serve`'s `/api/v2` routes, over a [`HttpClient`] (so the
/// same credentials and CA as the lease calls apply).
#[derive(Debug, Clone)]
pub struct ServerRoutes {
    client: HttpClient,
}

impl ServerRoutes {
    /// Routes of the server at `base_url` (its path is kept as a prefix), without
    /// credentials, one attempt per call and a 30 s limit.
    pub fn new(base_url: &str) -> Result<Self, String> {
        let client = HttpClient::builder(base_url, "mason")
            .retry(RetryPolicy::none())
            .request_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }

    /// Routes reached through `client` (its URL, credentials, CA and timeouts).
    pub fn with_client(client: HttpClient) -> Self {
        Self { client }
    }

    fn url(&self, route: &str) -> Url {
        let base = self.client.base_url();
        let mut url = base.clone();
        let prefix = base.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{prefix}/{route}"));
        url
    }
}

#[async_trait]
impl PoolSource for ServerRoutes {
    fn describe(&self) -> String {
        self.url("api/v2/drlcs").to_string()
    }

    async fn load(&self) -> Result<Vec<DynamicResourceLifeCycle>, PoolSourceError> {
        match self.client.dynamic_pools().await {
            Ok(Some(pools)) => Ok(pools),
            Ok(None) => Err(PoolSourceError::Unsupported(
                self.client.base_url().to_string(),
            )),
            Err(e) => Err(PoolSourceError::Server {
                url: self.describe(),
                message: e.to_string(),
            }),
        }
    }
}

#[async_trait]
impl LeaseInventory for ServerRoutes {
    async fn owned_by(&self, owner: &str) -> Result<Vec<Resource>, InventoryError> {
        let query = mason_client::ResourceQuery::new().owner(owner);
        match self.client.resources(&query).await {
            Ok(Some(resources)) => Ok(resources),
            Ok(None) => Err(InventoryError::Unsupported(
                self.client.base_url().to_string(),
            )),
            Err(e) => Err(InventoryError::Failed(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_keep_the_base_path() {
        let r = ServerRoutes::new("http://127.0.0.1:8080/boskos/").unwrap();
        assert_eq!(
            r.url("api/v2/drlcs").as_str(),
            "http://127.0.0.1:8080/boskos/api/v2/drlcs"
        );
        let r = ServerRoutes::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            r.url("api/v2/drlcs").as_str(),
            "http://127.0.0.1:8080/api/v2/drlcs"
        );
        assert!(ServerRoutes::new("ftp://x").is_err());
        assert!(ServerRoutes::new("not a url").is_err());
    }
}
