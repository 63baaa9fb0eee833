//! Retry safety (issue 17): **after a 503, a retry never makes things worse.**
//!
//! A call whose answer was lost — a 503 after the store had committed it (a store
//! deadline missed by a write that then went through, PostgreSQL resuming after a
//! pause), a dropped connection, a proxy that gave up — leaves the caller not knowing
//! whether it took effect. Retrying it with the same parameters must be safe:
//!
//! - **update** is a no-op on repeat by itself: it changes neither owner nor state nor
//!   generation, and merging the same user data twice gives the same map. A repeat while
//!   the lease still holds is a 200 with the same row.
//! - **release** ends the lease, so a repeat would meet an unowned resource and be
//!   upstream's 401 "owner mismatch … currently owned by" for a release that happened.
//!   Every end of a lease therefore records whose lease it ended and that lease's
//!   generation (`ended_owner`, `ended_generation`, next to `last_kind`, the tag of
//!   [`super::tag`]), and a release that the checks of [`super::check`] refuse is
//!   answered 200, changing nothing, when it is **exactly a repeat of the resource's last
//!   transition** ([`is_repeat_release`]):
//!   - the resource is unowned, and its last transition was a release (`last_kind` is the
//!     kind this release would write: `release`, or `tombstone` for that state);
//!   - that release ended the lease of this caller's `owner`;
//!   - it left the resource in this caller's `dest` (still its state);
//!   - when the caller sends a fencing generation, it is the generation of the lease that
//!     release ended;
//!   - and it happened at most [`REPEAT_WINDOW`] ago (its `lastupdate`).
//!
//!   Any later transition of the resource — a grant, a reset, an expiry, a release by
//!   anyone else, a move by config sync — changes the owner, the kind, the ended owner or
//!   the state, so the repeat no longer matches and the caller gets upstream's error,
//!   with upstream's text. A release that did not happen can never be answered 200 this
//!   way: the row must say that this owner's lease was ended by a release to this state.
//!   (A deleted resource — a dynamic one released to `tombstone` and replaced — is the
//!   404 it always was.)
//!
//! - **acquire** is made safe by the server rather than here: a grant whose client went
//!   away before its answer was written is released again (see the server's
//!   `lease::rollback`).

use std::time::Duration;

use super::check::Held;
use super::tag::Tag;
use super::transition::expect_owner;
use crate::{rows, Error, ReleaseRequest, Result};

/// How long after a release its exact repeat is still answered 200. Long enough for a
/// client to retry after the store deadline (5 s by default), a PostgreSQL pause or a
/// proxy's timeout with its backoff; after it, a repeat gets upstream's 401 again.
pub(crate) const REPEAT_WINDOW: Duration = Duration::from_secs(300);

/// What a resource row records of its last transition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LastEnd<'a> {
    /// The current owner (`""` when unowned).
    pub(crate) owner: &'a str,
    /// The current state.
    pub(crate) state: &'a str,
    /// The kind of the last tagged transition (`last_kind`).
    pub(crate) kind: Option<&'a str>,
    /// Whose lease the last end of lease ended (`ended_owner`).
    pub(crate) ended_owner: Option<&'a str>,
    /// The generation of the lease it ended (`ended_generation`).
    pub(crate) ended_generation: Option<u64>,
    /// The row's `lastupdate` (stored microseconds): the time of that end of lease while
    /// nothing has changed the row since.
    pub(crate) at: i64,
}

/// What a release reads of its resource row to decide: what the checks of
/// [`super::check`] see ([`Held`]) and what the row records of its last transition
/// ([`LastEnd`]). Each backend selects these columns and decodes them into it; the
/// decision is [`check_release`]'s.
#[derive(Debug, Clone)]
pub(crate) struct ReleaseRow {
    /// `owner` (`""` when unowned).
    pub(crate) owner: String,
    /// `state`.
    pub(crate) state: String,
    /// `generation`, the fencing generation.
    pub(crate) generation: i64,
    /// `lease_deadline`, the lease's TTL deadline (stored microseconds), if any.
    pub(crate) deadline: Option<i64>,
    /// `last_kind`.
    pub(crate) kind: Option<String>,
    /// `ended_owner`.
    pub(crate) ended_owner: Option<String>,
    /// `ended_generation`.
    pub(crate) ended_generation: Option<i64>,
    /// `lastupdate` (stored microseconds).
    pub(crate) at: i64,
}

impl ReleaseRow {
    /// The row as the checks see it.
    fn held(&self) -> Held<'_> {
        Held {
            owner: &self.owner,
            state: &self.state,
            generation: u64::try_from(self.generation).unwrap_or_default(),
            deadline: self.deadline,
        }
    }

    /// What the row records of its last transition.
    fn last_end(&self) -> LastEnd<'_> {
        LastEnd {
            owner: &self.owner,
            state: &self.state,
            kind: self.kind.as_deref(),
            ended_owner: self.ended_owner.as_deref(),
            ended_generation: self.ended_generation.and_then(|g| u64::try_from(g).ok()),
            at: self.at,
        }
    }
}

/// What a release does once it has read its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReleaseCheck {
    /// The caller holds the lease: end it.
    End,
    /// The checks refused it, but it is exactly a repeat of the last release: answer
    /// with the row as it is, writing nothing.
    Repeat,
}

/// A release's checks on its row (`None` when the resource does not exist) at `now`
/// (stored microseconds): the owner checks of [`super::check`] in their order, then a
/// refusal that is a repeat of the last release ([`is_repeat_release`]) is
/// [`ReleaseCheck::Repeat`]; any other refusal is the error to answer.
pub(crate) fn check_release(
    req: &ReleaseRequest,
    row: Option<&ReleaseRow>,
    now: i64,
) -> Result<ReleaseCheck> {
    match expect_owner(req).check(row.map(ReleaseRow::held), now) {
        Ok(()) => Ok(ReleaseCheck::End),
        Err(refused) => {
            unless_repeat(req, row.map(ReleaseRow::last_end), now, refused)?;
            Ok(ReleaseCheck::Repeat)
        }
    }
}

/// Whether `req` is exactly a repeat of the release that was `last`'s last transition,
/// within [`REPEAT_WINDOW`] of `now` (stored microseconds). See the module docs.
pub(crate) fn is_repeat_release(req: &ReleaseRequest, last: &LastEnd<'_>, now: i64) -> bool {
    let window = rows::duration_micros(REPEAT_WINDOW);
    last.owner.is_empty()
        && !req.owner.is_empty()
        && last.kind == Some(Tag::release(req).kind)
        && last.ended_owner == Some(req.owner.as_str())
        && last.state == req.dest
        && req
            .generation
            .is_none_or(|given| last.ended_generation == Some(given))
        && now.saturating_sub(last.at) <= window
}

/// A release the checks refused with `refused`: `Ok` when it is a repeat of the
/// resource's last transition (answer 200, write nothing), else the refusal unchanged.
fn unless_repeat(
    req: &ReleaseRequest,
    last: Option<LastEnd<'_>>,
    now: i64,
    refused: Error,
) -> Result<()> {
    match last {
        Some(last) if is_repeat_release(req, &last, now) => {
            tracing::debug!(
                name = %req.name,
                owner = %req.owner,
                dest = %req.dest,
                "a repeat of the last release: answered as done, nothing changed"
            );
            Ok(())
        }
        _ => Err(refused),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: i64 = 1_000_000;

    fn released() -> LastEnd<'static> {
        LastEnd {
            owner: "",
            state: "dirty",
            kind: Some("release"),
            ended_owner: Some("me"),
            ended_generation: Some(7),
            at: AT,
        }
    }

    fn release(owner: &str, dest: &str, generation: Option<u64>) -> ReleaseRequest {
        ReleaseRequest {
            name: "r".into(),
            owner: owner.into(),
            dest: dest.into(),
            generation,
            actor: None,
        }
    }

    #[test]
    fn only_an_exact_repeat_of_the_last_release_matches() {
        let last = released();
        assert!(is_repeat_release(&release("me", "dirty", None), &last, AT));
        assert!(is_repeat_release(
            &release("me", "dirty", Some(7)),
            &last,
            AT + 1
        ));
        assert!(
            !is_repeat_release(&release("me", "dirty", Some(8)), &last, AT),
            "another lease's generation"
        );
        assert!(
            !is_repeat_release(&release("you", "dirty", None), &last, AT),
            "another owner"
        );
        assert!(
            !is_repeat_release(&release("me", "free", None), &last, AT),
            "another dest"
        );
        assert!(!is_repeat_release(&release("", "dirty", None), &last, AT));
        let regranted = LastEnd {
            owner: "you",
            kind: Some("acquire"),
            ..last
        };
        assert!(!is_repeat_release(
            &release("me", "dirty", None),
            &regranted,
            AT
        ));
        let reset = LastEnd {
            kind: Some("reset"),
            ..last
        };
        assert!(!is_repeat_release(
            &release("me", "dirty", None),
            &reset,
            AT
        ));
        let moved = LastEnd {
            state: "toBeDeleted",
            ..last
        };
        assert!(!is_repeat_release(
            &release("me", "dirty", None),
            &moved,
            AT
        ));
        let never = LastEnd {
            kind: None,
            ended_owner: None,
            ended_generation: None,
            ..last
        };
        assert!(!is_repeat_release(
            &release("me", "dirty", None),
            &never,
            AT
        ));
    }

    #[test]
    fn a_tombstone_release_repeats_as_tombstone() {
        let last = LastEnd {
            state: "tombstone",
            kind: Some("tombstone"),
            ..released()
        };
        assert!(is_repeat_release(
            &release("me", "tombstone", None),
            &last,
            AT
        ));
    }

    #[test]
    fn the_window_closes() {
        let last = released();
        let window = rows::duration_micros(REPEAT_WINDOW);
        assert!(is_repeat_release(
            &release("me", "dirty", None),
            &last,
            AT + window
        ));
        assert!(!is_repeat_release(
            &release("me", "dirty", None),
            &last,
            AT + window + 1
        ));
    }

    fn row(owner: &str, kind: Option<&str>) -> ReleaseRow {
        ReleaseRow {
            owner: owner.into(),
            state: "dirty".into(),
            generation: 7,
            deadline: None,
            kind: kind.map(Into::into),
            ended_owner: Some("me".into()),
            ended_generation: Some(7),
            at: AT,
        }
    }

    #[test]
    fn a_release_ends_a_held_lease_or_answers_a_repeat() {
        let mine = row("me", Some("acquire"));
        let check = check_release(&release("me", "dirty", Some(7)), Some(&mine), AT);
        assert_eq!(check.unwrap(), ReleaseCheck::End);
        let stale = check_release(&release("me", "dirty", Some(6)), Some(&mine), AT);
        assert!(matches!(stale, Err(Error::GenerationMismatch { .. })));
        let released = row("", Some("release"));
        let check = check_release(&release("me", "dirty", Some(7)), Some(&released), AT);
        assert_eq!(check.unwrap(), ReleaseCheck::Repeat);
        let theirs = check_release(&release("you", "dirty", None), Some(&released), AT);
        assert!(matches!(theirs, Err(Error::OwnerNotMatch { .. })));
        let missing = check_release(&release("me", "dirty", None), None, AT);
        assert!(matches!(missing, Err(Error::ResourceNotFound(_))));
    }

    #[test]
    fn a_refusal_that_is_no_repeat_is_kept() {
        let refused = Error::OwnerNotMatch {
            request: "you".into(),
            owner: String::new(),
        };
        let kept = unless_repeat(
            &release("you", "dirty", None),
            Some(released()),
            AT,
            refused,
        )
        .unwrap_err();
        assert_eq!(
            kept.to_string(),
            "owner mismatch request by you, currently owned by "
        );
        let missing = Error::ResourceNotFound("r".into());
        assert!(unless_repeat(&release("me", "dirty", None), None, AT, missing).is_err());
        let refused = Error::OwnerNotMatch {
            request: "me".into(),
            owner: String::new(),
        };
        assert!(
            unless_repeat(&release("me", "dirty", None), Some(released()), AT, refused).is_ok()
        );
    }
}
