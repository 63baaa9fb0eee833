//! Queue visibility: who waits for which (type, state), read from `GET /api/v2/queue`.
//!
//! This route is an extension served by `mason serve`. On a server without it (upstream
//! Boskos) [`HttpClient::queue`] returns `Ok(None)` instead of an error (the rule is in
//! `extension.rs`); callers then show no rank.

use mason_types::Timestamp;
use serde::Deserialize;

use crate::api::Result;
use crate::http::HttpClient;

/// The extension route listing the waiting acquire requests.
pub const QUEUE_ROUTE: &str = "api/v2/queue";

/// One waiting acquire request, as `GET /api/v2/queue` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct QueueEntry {
    /// Requested resource type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// Requested source state.
    pub state: String,
    /// The caller's request ID.
    pub request_id: String,
    /// Position in the (type, state) queue, 1 = next served (higher priority first, then
    /// first come, first served).
    pub rank: u64,
    /// The request's priority (0 unless a set asked for more; absent from older servers).
    #[serde(default)]
    pub priority: i32,
    /// How many resources of this (type, state) the request waits for (1 for `/acquire`).
    #[serde(default = "one")]
    pub count: u32,
    /// When the request first polled.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// When the request is forgotten unless it polls again.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

fn one() -> u32 {
    1
}

impl HttpClient {
    /// The waiting requests, optionally only those for `rtype`; `Ok(None)` when the server
    /// does not offer queue visibility (upstream Boskos).
    pub async fn queue(&self, rtype: Option<&str>) -> Result<Option<Vec<QueueEntry>>> {
        let params: Vec<(&str, &str)> = rtype.map(|t| vec![("type", t)]).unwrap_or_default();
        let Some(mut entries) = self
            .get_extension::<Vec<QueueEntry>>(QUEUE_ROUTE, params)
            .await?
        else {
            return Ok(None);
        };
        if let Some(rtype) = rtype {
            entries.retain(|e| e.rtype == rtype);
        }
        Ok(Some(entries))
    }

    /// The rank of `request_id` in the queue: `Ok(None)` when the server cannot tell or the
    /// request is not (or no longer) queued.
    pub async fn rank_of(&self, rtype: &str, request_id: &str) -> Result<Option<u64>> {
        Ok(self
            .queue(Some(rtype))
            .await?
            .and_then(|entries| entries.into_iter().find(|e| e.request_id == request_id))
            .map(|e| e.rank))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_entries_with_and_without_timestamps() {
        let entries: Vec<QueueEntry> = serde_json::from_str(
            r#"[{"type":"t","state":"free","request_id":"a","rank":1,
                 "created_at":"2024-03-01T10:20:30Z","expires_at":"2024-03-01T10:21:00Z","x":1},
                {"type":"t","state":"free","request_id":"b","rank":2}]"#,
        )
        .unwrap();
        assert_eq!(entries[0].rank, 1);
        assert_eq!((entries[1].priority, entries[1].count), (0, 1), "defaults");
        assert!(entries[0].created_at.is_some() && entries[0].expires_at.is_some());
        assert_eq!(
            (entries[1].request_id.as_str(), entries[1].created_at),
            ("b", None)
        );
    }
}
