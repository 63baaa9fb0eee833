//! The history of resources as `/api/v2/events` shows it: one [`Event`] per change of a
//! resource's state or owner, and per creation and deletion, with a store-wide
//! increasing `id`.
//!
//! ```json
//! {"id":42,"at":"2026-01-02T03:04:05.123456Z","kind":"acquire","type":"gce-project",
//!  "name":"gce-project-17","old_state":"free","new_state":"busy","old_owner":"",
//!  "new_owner":"ci-job-9","generation":7,"actor":"prow","request_id":"4f1c…"}
//! ```
//!
//! `old_state`/`old_owner` are `null` for a creation, `new_state`/`new_owner` for a
//! deletion; an owner of `""` means unowned, as everywhere in Boskos. `kind` is kept as
//! text so a reader built today understands a server that knows more kinds
//! ([`KINDS`] lists today's).

use serde::{Deserialize, Serialize};

use crate::resource::Timestamp;

/// Every kind of event a server writes today.
pub const KINDS: &[&str] = &[
    "acquire",
    "acquirebystate",
    "multi-acquire",
    "release",
    "update",
    "reset",
    "expire",
    "create",
    "delete",
    "to-be-deleted",
    "tombstone",
];

/// One change of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Store-wide, increasing; a reader resumes after the last id it saw.
    pub id: u64,
    /// When the change was committed.
    pub at: Timestamp,
    /// What happened (see [`KINDS`]).
    pub kind: String,
    /// The resource's type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// The resource's name.
    pub name: String,
    /// The state before (`None` for a creation).
    pub old_state: Option<String>,
    /// The state after (`None` for a deletion).
    pub new_state: Option<String>,
    /// The owner before (`""`: unowned; `None` for a creation).
    pub old_owner: Option<String>,
    /// The owner after (`""`: unowned; `None` for a deletion).
    pub new_owner: Option<String>,
    /// The lease generation after the change, where the resource has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Who made the change: the authenticated user, or a part of Mason (`server`,
    /// `reaper`, `builder`, …); `""` when unknown.
    #[serde(default)]
    pub actor: String,
    /// The caller's request id, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One page of `GET /api/v2/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    /// Matching events, oldest first.
    pub events: Vec<Event>,
    /// Pass as `after` to read on: the last event id this read covered (it may be past
    /// the last event shown, when later events did not match the filters).
    pub next: u64,
}

/// Whether `kind` is one of today's [`KINDS`].
pub fn is_known_kind(kind: &str) -> bool {
    KINDS.contains(&kind)
}
