//! `mason serve`'s read-only extension routes, as the builder uses them:
//! `GET /api/v2/drlcs` (a [`PoolSource`]) and `GET /api/v2/resources?owner=` (a
//! [`LeaseInventory`]).
//!
//! An upstream Boskos server has neither route: its catch-all answers any unknown path
//! with `200` and an empty body (a proxy may answer `404`); both are reported as
//! "unsupported", so callers can fall back (config file, reaper).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use mason_client::Url;
use mason_types::{DynamicResourceLifeCycle, Resource};
use serde::de::DeserializeOwned;

use super::pools::{PoolSource, PoolSourceError};
use super::recover::{InventoryError, LeaseInventory};

/// The builder's view of `mason serve`'s `/api/v2` routes.
#[derive(Debug, Clone)]
pub struct ServerRoutes {
    http: reqwest::Client,
    base: Url,
    auth: Option<(String, PathBuf)>,
}

enum GetError {
    Unsupported,
    Failed(String),
}

impl ServerRoutes {
    /// Routes of the server at `base_url` (its path is kept as a prefix).
    pub fn new(base_url: &str) -> Result<Self, String> {
        let base = Url::parse(base_url.trim())
            .map_err(|e| format!("invalid server URL {base_url:?}: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!(
                "invalid server URL {base_url:?}: scheme must be http or https"
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self {
            http,
            base,
            auth: None,
        })
    }

    /// Send basic auth (for a fronting proxy) with the password read from `password_file`.
    pub fn with_basic_auth(
        mut self,
        username: impl Into<String>,
        password_file: impl Into<PathBuf>,
    ) -> Self {
        self.auth = Some((username.into(), password_file.into()));
        self
    }

    fn url(&self, route: &str) -> Url {
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{prefix}/{route}"));
        url
    }

    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, GetError> {
        let mut request = self.http.get(url);
        if let Some((user, file)) = &self.auth {
            let password = std::fs::read_to_string(file).map_err(|e| {
                GetError::Failed(format!("cannot read password file {}: {e}", file.display()))
            })?;
            request = request.basic_auth(user, Some(password.trim()));
        }
        let response = request
            .send()
            .await
            .map_err(|e| GetError::Failed(e.to_string()))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| GetError::Failed(e.to_string()))?;
        if status.as_u16() == 404
            || status.as_u16() == 405
            || (status.is_success() && body.trim().is_empty())
        {
            return Err(GetError::Unsupported);
        }
        if !status.is_success() {
            return Err(GetError::Failed(format!(
                "status {status}: {}",
                body.trim()
            )));
        }
        serde_json::from_str(&body).map_err(|e| GetError::Failed(format!("unexpected body: {e}")))
    }
}

#[async_trait]
impl PoolSource for ServerRoutes {
    fn describe(&self) -> String {
        self.url("api/v2/drlcs").to_string()
    }

    async fn load(&self) -> Result<Vec<DynamicResourceLifeCycle>, PoolSourceError> {
        let url = self.url("api/v2/drlcs");
        self.get(url.clone()).await.map_err(|e| match e {
            GetError::Unsupported => PoolSourceError::Unsupported(self.base.to_string()),
            GetError::Failed(message) => PoolSourceError::Server {
                url: url.to_string(),
                message,
            },
        })
    }
}

#[async_trait]
impl LeaseInventory for ServerRoutes {
    async fn owned_by(&self, owner: &str) -> Result<Vec<Resource>, InventoryError> {
        let mut url = self.url("api/v2/resources");
        url.query_pairs_mut().append_pair("owner", owner);
        self.get(url).await.map_err(|e| match e {
            GetError::Unsupported => InventoryError::Unsupported(self.base.to_string()),
            GetError::Failed(message) => InventoryError::Failed(message),
        })
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
