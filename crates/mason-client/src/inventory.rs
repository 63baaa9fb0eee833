//! Listing resources, read from `GET /api/v2/resources?type=&state=&owner=`.
//!
//! This route is an extension served by `mason serve` (least recently updated first; an
//! unset filter matches everything, an empty `owner` means unowned). On a server without
//! it (upstream Boskos) [`HttpClient::resources`] returns `Ok(None)` instead of an error
//! (the rule is in `extension.rs`); callers then fall back (ask the user, or leave it to
//! the reaper).

use mason_types::Resource;

use crate::api::Result;
use crate::http::HttpClient;

/// The extension route listing resources.
pub const RESOURCES_ROUTE: &str = "api/v2/resources";

/// Which resources [`HttpClient::resources`] lists; an unset field matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceQuery {
    /// Only this type.
    pub rtype: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// Only this owner; `Some("")` lists unowned resources.
    pub owner: Option<String>,
}

impl ResourceQuery {
    /// Every resource.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only resources of `rtype`.
    pub fn rtype(mut self, rtype: impl Into<String>) -> Self {
        self.rtype = Some(rtype.into());
        self
    }

    /// Only resources in `state`.
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// Only resources held by `owner` (`""`: unowned ones).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    fn params(&self) -> Vec<(&str, &str)> {
        [
            ("type", &self.rtype),
            ("state", &self.state),
            ("owner", &self.owner),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

impl HttpClient {
    /// The resources matching `query`; `Ok(None)` when the server does not list resources
    /// (upstream Boskos).
    pub async fn resources(&self, query: &ResourceQuery) -> Result<Option<Vec<Resource>>> {
        self.get_extension(RESOURCES_ROUTE, query.params()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_filters_are_sent() {
        assert!(ResourceQuery::new().params().is_empty());
        let q = ResourceQuery::new().owner("").rtype("t");
        assert_eq!(q.params(), vec![("type", "t"), ("owner", "")]);
        let q = ResourceQuery::new().state("busy").owner("me");
        assert_eq!(q.params(), vec![("state", "busy"), ("owner", "me")]);
    }
}
