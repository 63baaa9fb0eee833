//! What a transition writes into a resource row, computed once here from the request and
//! the clock, then bound by each backend's `writes.rs` (the only code that changes a
//! resource row). A new column that every grant or every end of lease sets (a fencing
//! generation, a lease deadline, the holder, the last transition) gets its value here and
//! its `SET` in those statements.
//!
//! **The fencing generation.** Every grant and every end of a lease (release, reset)
//! gives the row a fresh generation: the next value of one store-wide counter, so a
//! value is never given out twice — not to another resource, not after a restart, not by
//! another replica, not after a name is deleted and created again. A holder that sends
//! the generation it was granted ([`ReleaseRequest::generation`],
//! [`UpdateRequest::generation`]) therefore can never act on a lease that has since
//! ended, whoever holds the resource now. A touch (update) keeps the generation. New
//! rows start at 0, which no grant ever gives. The counter is a sequence on PostgreSQL;
//! on SQLite, whose file one process owns, it lives in memory and starts above every
//! stored generation and the floor recorded whenever rows are deleted
//! (`sqlite/generations.rs`).

use mason_types::{ResourceV2, Timestamp};

use super::check::{Expect, Held};
use super::tag::Tag;
use crate::{rows, ReleaseRequest, Result, UpdateRequest};

/// A grant: an unowned resource becomes `owner`'s, in `state` (acquire, acquirebystate).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grant<'a> {
    /// The new owner.
    pub(crate) owner: &'a str,
    /// The state it moves to.
    pub(crate) state: &'a str,
    /// Its new `lastupdate` (stored microseconds).
    pub(crate) at: i64,
    /// Its label in the history (see [`Grant::tagged`]).
    pub(crate) tag: Tag<'a>,
    /// The authenticated user the lease is held by (see [`super::quota`]); `None`
    /// without authentication. Every end of a lease clears it.
    pub(crate) holder: Option<&'a str>,
    /// The TTL the request asks for (stored microseconds); `None`: the type's, if any
    /// (see [`super::ttl`]). The deadline is `at` + the TTL.
    pub(crate) lease_ttl: Option<i64>,
}

impl<'a> Grant<'a> {
    /// `owner` takes the resource into `dest` at `now`, with the type's lease TTL.
    pub(crate) fn new(owner: &'a str, dest: &'a str, now: Timestamp) -> Self {
        Self {
            owner,
            state: dest,
            at: rows::to_micros(&now),
            tag: Tag::default(),
            holder: None,
            lease_ttl: None,
        }
    }

    /// The same grant, recording `holder` (an empty name counts as none).
    pub(crate) fn held_by(self, holder: Option<&'a str>) -> Self {
        Self {
            holder: holder.filter(|h| !h.is_empty()),
            ..self
        }
    }

    /// The same grant, labelled `tag` in the history.
    pub(crate) fn tagged(self, tag: Tag<'a>) -> Self {
        Self { tag, ..self }
    }

    /// The same grant with the TTL the request asks for (refused when not positive).
    pub(crate) fn with_ttl(self, lease_ttl: Option<std::time::Duration>) -> Result<Self> {
        Ok(Self {
            lease_ttl: super::ttl::requested_ttl(lease_ttl)?,
            ..self
        })
    }
}

/// An end of lease: the resource becomes unowned, in `state` (release, reset, expiry),
/// without a lease TTL or deadline. What happens to its expiration date is
/// [`super::end::Expiration`]'s to say.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EndOfLease<'a> {
    /// The state it is left in.
    pub(crate) state: &'a str,
    /// Its new `lastupdate` (stored microseconds).
    pub(crate) at: i64,
    /// Its label in the history (see [`EndOfLease::tagged`]).
    pub(crate) tag: Tag<'a>,
}

impl<'a> EndOfLease<'a> {
    /// The lease ends at `now`, leaving the resource in `dest`.
    pub(crate) fn new(dest: &'a str, now: Timestamp) -> Self {
        Self {
            state: dest,
            at: rows::to_micros(&now),
            tag: Tag::new(super::tag::kind::RELEASE, &None),
        }
    }

    /// The same end of lease, labelled `tag` in the history.
    pub(crate) fn tagged(self, tag: Tag<'a>) -> Self {
        Self { tag, ..self }
    }
}

/// A touch: the holder heartbeats, optionally replacing the user data (update). A lease
/// with a TTL gets the deadline `at` + its TTL (the statement computes it from the
/// stored TTL; see [`super::ttl`]).
#[derive(Debug, Clone)]
pub(crate) struct Touch {
    /// The new `lastupdate` (stored microseconds).
    pub(crate) at: i64,
    /// The user data to store (encoded), `None` to keep it.
    pub(crate) userdata: Option<String>,
}

impl Touch {
    /// A heartbeat that changes no user data.
    #[cfg(feature = "postgres")]
    pub(crate) fn heartbeat(now: Timestamp) -> Self {
        Self {
            at: rows::to_micros(&now),
            userdata: None,
        }
    }

    /// The update `req` makes to `current` (the row as read, `None` when missing): the
    /// checks of [`Expect`] first, then the merged user data (SPEC §1.2).
    pub(crate) fn update(
        req: &UpdateRequest,
        current: Option<&ResourceV2>,
        now: Timestamp,
    ) -> Result<Self> {
        expect_held(req).check(current.map(held), rows::to_micros(&now))?;
        let userdata = match (&req.userdata, current) {
            (Some(incoming), Some(current)) => {
                let mut merged = current.resource.userdata.clone();
                merged.merge(incoming);
                Some(rows::encode_userdata(&merged)?)
            }
            _ => None,
        };
        Ok(Self {
            at: rows::to_micros(&now),
            userdata,
        })
    }
}

/// What `update` expects of the row: held by its owner, in its state.
pub(crate) fn expect_held(req: &UpdateRequest) -> Expect<'_> {
    Expect {
        name: &req.name,
        owner: &req.owner,
        state: Some(&req.state),
        generation: req.generation,
    }
}

/// What `release` expects of the row: held by its owner, in any state.
pub(crate) fn expect_owner(req: &ReleaseRequest) -> Expect<'_> {
    Expect {
        name: &req.name,
        owner: &req.owner,
        state: None,
        generation: req.generation,
    }
}

/// The checks' view of a resource.
pub(crate) fn held(r: &ResourceV2) -> Held<'_> {
    Held {
        owner: &r.resource.owner,
        state: &r.resource.state,
        generation: r.lease.generation,
        deadline: r.lease.lease_deadline.as_ref().map(rows::to_micros),
    }
}

#[cfg(test)]
mod tests {
    use mason_types::{Resource, UserData};

    use super::*;
    use crate::rows::from_micros;

    fn held_by(owner: &str, state: &str, pairs: &[(&str, &str)]) -> ResourceV2 {
        let mut r = Resource::new("t", "r", state, from_micros(1));
        r.owner = owner.into();
        for (k, v) in pairs {
            r.userdata.insert(*k, *v);
        }
        ResourceV2::new(
            r,
            mason_types::LeaseFacts {
                generation: 3,
                ..Default::default()
            },
        )
    }

    fn update(owner: &str, state: &str, userdata: Option<&[(&str, &str)]>) -> UpdateRequest {
        UpdateRequest {
            actor: None,
            name: "r".into(),
            owner: owner.into(),
            state: state.into(),
            userdata: userdata.map(|pairs| {
                let mut ud = UserData::new();
                for (k, v) in pairs {
                    ud.insert(*k, *v);
                }
                ud
            }),
            generation: None,
        }
    }

    #[test]
    fn an_update_checks_then_merges() {
        let now = from_micros(9);
        let current = held_by("me", "busy", &[("keep", "1"), ("drop", "x")]);
        let touch = Touch::update(
            &update("me", "busy", Some(&[("drop", ""), ("new", "2")])),
            Some(&current),
            now,
        )
        .unwrap();
        assert_eq!(touch.at, 9);
        assert_eq!(touch.userdata.as_deref(), Some(r#"{"keep":"1","new":"2"}"#));
        let heartbeat = Touch::update(&update("me", "busy", None), Some(&current), now).unwrap();
        assert_eq!(
            heartbeat.userdata, None,
            "no user data: keep what is stored"
        );
        assert!(Touch::update(&update("you", "busy", None), Some(&current), now).is_err());
        assert!(Touch::update(&update("me", "free", None), Some(&current), now).is_err());
        assert!(Touch::update(&update("me", "busy", None), None, now).is_err());
        let fenced = |generation| UpdateRequest {
            generation: Some(generation),
            ..update("me", "busy", None)
        };
        assert!(Touch::update(&fenced(3), Some(&current), now).is_ok());
        assert!(matches!(
            Touch::update(&fenced(2), Some(&current), now),
            Err(crate::Error::GenerationMismatch {
                given: 2,
                current: 3,
                ..
            })
        ));
    }

    #[test]
    fn grants_and_ends_stamp_the_time() {
        let now = from_micros(42);
        let grant = Grant::new("me", "busy", now);
        assert_eq!((grant.owner, grant.state, grant.at), ("me", "busy", 42));
        assert_eq!(grant.holder, None);
        assert_eq!(grant.held_by(Some("prow")).holder, Some("prow"));
        assert_eq!(grant.held_by(Some("")).holder, None);
        let end = EndOfLease::new("dirty", now);
        assert_eq!((end.state, end.at), ("dirty", 42));
        let release = ReleaseRequest {
            name: "r".into(),
            owner: "me".into(),
            ..Default::default()
        };
        let current = held_by("you", "busy", &[]);
        assert!(expect_owner(&release)
            .check(Some(held(&current)), 42)
            .is_err());
    }
}
