//! Dynamic pools, read from `GET /api/v2/drlcs` (a `mason serve` extension): the dynamic
//! resource life cycles the server keeps, including pools removed from its config whose
//! last resources are still being deleted. The builder and the cleaner read pool
//! definitions here, so they need no copy of the server's config file.
//!
//! An upstream Boskos server does not have the route; [`HttpClient::drlcs`] then returns
//! `Ok(None)` (the rule is in `extension.rs`).

use mason_types::DynamicResourceLifeCycle;

use crate::api::Result;
use crate::http::HttpClient;

/// The extension route listing the dynamic pools.
pub const DRLCS_ROUTE: &str = "api/v2/drlcs";

impl HttpClient {
    /// Every dynamic pool the server keeps; `Ok(None)` when the server does not publish
    /// them (upstream Boskos).
    pub async fn drlcs(&self) -> Result<Option<Vec<DynamicResourceLifeCycle>>> {
        self.get_extension(DRLCS_ROUTE, Vec::new()).await
    }
}
