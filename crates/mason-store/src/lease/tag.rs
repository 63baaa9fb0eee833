//! The label of a transition in the history: its kind, who made it and under which
//! request id. A backend binds it into the `last_kind`, `last_actor` and
//! `last_request_id` columns of the row a grant or an end of lease writes; the `events`
//! triggers on `resources` copy it into the event that write produces (see
//! [`crate::history`]).
//!
//! Only grants and ends of a lease carry a tag. Every other change of state or owner
//! (config sync, dynamic upkeep, import, and any statement that does not set a tag) is
//! still recorded by the triggers, with a kind inferred from the change itself
//! (with actor `server`): the tag names a transition, it is never what makes
//! one recorded.

use mason_types::state;

use crate::{
    AcquireByStateRequest, AcquireRequest, MultiAcquireRequest, ReleaseRequest, ResetRequest,
};

/// The event kinds the store writes (the wire names of [`mason_types::event::KINDS`]).
pub(crate) mod kind {
    /// A grant by `acquire`.
    pub(crate) const ACQUIRE: &str = "acquire";
    /// A grant by `acquirebystate`.
    pub(crate) const ACQUIRE_BY_STATE: &str = "acquirebystate";
    /// A grant by a multi-resource acquire.
    pub(crate) const MULTI_ACQUIRE: &str = "multi-acquire";
    /// An end of lease by `release`.
    pub(crate) const RELEASE: &str = "release";
    /// An end of lease by `reset`.
    pub(crate) const RESET: &str = "reset";
    /// A release into the `tombstone` state.
    pub(crate) const TOMBSTONE: &str = "tombstone";
    /// An end of lease by the server, at the lease's TTL deadline.
    pub(crate) const EXPIRE: &str = "expire";
}

/// A transition's label, as bound into a grant or an end of lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag<'a> {
    /// One of [`kind`].
    pub(crate) kind: &'static str,
    /// Who asked (`""`: unknown).
    pub(crate) actor: &'a str,
    /// The caller's request id, if any.
    pub(crate) request_id: Option<&'a str>,
}

impl<'a> Tag<'a> {
    /// A tag of `kind` by `actor`.
    pub(crate) fn new(kind: &'static str, actor: &'a Option<String>) -> Self {
        Self {
            kind,
            actor: actor.as_deref().unwrap_or_default(),
            request_id: None,
        }
    }

    /// The grant of an `acquire`.
    pub(crate) fn acquire(req: &'a AcquireRequest) -> Self {
        Self {
            request_id: req.request_id.as_deref().filter(|id| !id.is_empty()),
            ..Self::new(kind::ACQUIRE, &req.actor)
        }
    }

    /// The grants of an `acquirebystate`.
    pub(crate) fn acquire_by_state(req: &'a AcquireByStateRequest) -> Self {
        Self::new(kind::ACQUIRE_BY_STATE, &req.actor)
    }

    /// The grants of a multi-resource acquire.
    pub(crate) fn multi_acquire(req: &'a MultiAcquireRequest) -> Self {
        Self {
            request_id: req.request_id.as_deref().filter(|id| !id.is_empty()),
            ..Self::new(kind::MULTI_ACQUIRE, &req.actor)
        }
    }

    /// The end of a `release` (`tombstone` when it leaves the resource in that state).
    pub(crate) fn release(req: &'a ReleaseRequest) -> Self {
        let kind = if req.dest == state::TOMBSTONE {
            kind::TOMBSTONE
        } else {
            kind::RELEASE
        };
        Self::new(kind, &req.actor)
    }

    /// The ends of a `reset`.
    pub(crate) fn reset(req: &'a ResetRequest) -> Self {
        Self::new(kind::RESET, &req.actor)
    }

    /// An end of lease at its TTL deadline, by the server itself.
    pub(crate) fn expire() -> Self {
        Self {
            kind: kind::EXPIRE,
            actor: "server",
            request_id: None,
        }
    }
}

impl Default for Tag<'_> {
    /// An acquire by nobody in particular (what a grant says before it is tagged).
    fn default() -> Self {
        Self {
            kind: kind::ACQUIRE,
            actor: "",
            request_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use mason_types::event::is_known_kind;

    use super::*;

    #[test]
    fn tags_name_known_kinds_and_carry_actor_and_request_id() {
        let acquire = AcquireRequest {
            request_id: Some("r-1".into()),
            actor: Some("alice".into()),
            ..Default::default()
        };
        let tag = Tag::acquire(&acquire);
        assert_eq!(
            (tag.kind, tag.actor, tag.request_id),
            ("acquire", "alice", Some("r-1"))
        );
        let anonymous = AcquireRequest {
            request_id: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(Tag::acquire(&anonymous).request_id, None);
        assert_eq!(Tag::acquire(&anonymous).actor, "");
        let to_tombstone = ReleaseRequest {
            dest: state::TOMBSTONE.into(),
            ..Default::default()
        };
        assert_eq!(Tag::release(&to_tombstone).kind, "tombstone");
        assert_eq!(Tag::release(&ReleaseRequest::default()).kind, "release");
        for k in [
            kind::ACQUIRE,
            kind::ACQUIRE_BY_STATE,
            kind::MULTI_ACQUIRE,
            kind::RELEASE,
            kind::RESET,
            kind::TOMBSTONE,
        ] {
            assert!(is_known_kind(k), "{k}");
        }
    }
}
