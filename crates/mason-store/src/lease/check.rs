//! The checks a transition makes on the row it changes, in upstream's order, and which
//! error each refusal is (SPEC §1.8): a missing row is `ResourceNotFound(name)` (404),
//! then — when the caller sends one — the fencing generation (409
//! `GenerationMismatch`: checked before the owner, so a holder whose lease ended and was
//! granted to someone else hears why rather than a bare owner mismatch), then the owner
//! (401), then the lease's TTL deadline (409 `LeaseExpired` once it has passed, see
//! [`super::ttl`]), then — where the caller names a state — the state (409).

use crate::{Error, Result};

/// What a caller expects of a resource it holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect<'a> {
    /// The resource, for the 404's text.
    pub(crate) name: &'a str,
    /// Its owner.
    pub(crate) owner: &'a str,
    /// Its state, when the call names one (update does, release does not).
    pub(crate) state: Option<&'a str>,
    /// The fencing generation the caller was granted, when it sends one.
    pub(crate) generation: Option<u64>,
}

/// A row as the checks see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held<'a> {
    /// The current owner (`""` when unowned).
    pub(crate) owner: &'a str,
    /// The current state.
    pub(crate) state: &'a str,
    /// The current fencing generation.
    pub(crate) generation: u64,
    /// The lease's TTL deadline (stored microseconds), if it has one.
    pub(crate) deadline: Option<i64>,
}

impl Expect<'_> {
    /// Whether `current` (the row, `None` when it does not exist) satisfies the caller at
    /// `now` (stored microseconds); otherwise the error to answer.
    pub(crate) fn check(&self, current: Option<Held<'_>>, now: i64) -> Result<()> {
        let Some(current) = current else {
            return Err(Error::ResourceNotFound(self.name.to_string()));
        };
        match self.generation {
            Some(given) if given != current.generation => {
                return Err(Error::GenerationMismatch {
                    name: self.name.to_string(),
                    given,
                    current: current.generation,
                })
            }
            _ => {}
        }
        if current.owner != self.owner {
            return Err(Error::OwnerNotMatch {
                request: self.owner.to_string(),
                owner: current.owner.to_string(),
            });
        }
        super::ttl::check_alive(self.name, current.deadline, now)?;
        match self.state {
            Some(state) if current.state != state => Err(Error::StateNotMatch {
                expect: current.state.to_string(),
                current: state.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000;

    const ME: Expect<'static> = Expect {
        name: "r",
        owner: "me",
        state: Some("busy"),
        generation: None,
    };

    #[test]
    fn missing_then_owner_then_state() {
        assert_eq!(
            ME.check(None, NOW).unwrap_err().to_string(),
            "no available resource r, try again later."
        );
        let other = Held {
            owner: "you",
            state: "free",
            generation: 1,
            deadline: None,
        };
        assert_eq!(
            ME.check(Some(other), NOW).unwrap_err().to_string(),
            "owner mismatch request by me, currently owned by you",
            "the owner is checked before the state"
        );
        let wrong_state = Held {
            owner: "me",
            state: "dirty",
            generation: 1,
            deadline: None,
        };
        assert_eq!(
            ME.check(Some(wrong_state), NOW).unwrap_err().to_string(),
            "state mismatch - expected dirty, current busy",
            "upstream's swapped fields: the actual state first"
        );
        let held = Held {
            owner: "me",
            state: "busy",
            generation: 1,
            deadline: None,
        };
        assert!(ME.check(Some(held), NOW).is_ok());
    }

    #[test]
    fn without_a_state_only_the_owner_counts() {
        let release = Expect { state: None, ..ME };
        let held = Held {
            owner: "me",
            state: "anything",
            generation: 1,
            deadline: None,
        };
        assert!(release.check(Some(held), NOW).is_ok());
        let unowned = Held {
            owner: "",
            state: "free",
            generation: 1,
            deadline: None,
        };
        assert!(matches!(
            release.check(Some(unowned), NOW),
            Err(Error::OwnerNotMatch { .. })
        ));
    }

    #[test]
    fn a_stale_generation_is_refused_before_the_owner_is_checked() {
        let fenced = Expect {
            generation: Some(4),
            ..ME
        };
        let regranted = Held {
            owner: "you",
            state: "busy",
            generation: 5,
            deadline: None,
        };
        assert_eq!(
            fenced.check(Some(regranted), NOW).unwrap_err().to_string(),
            "resource r: generation 4 is stale, the current generation is 5"
        );
        assert_eq!(
            fenced.check(Some(regranted), NOW).unwrap_err().status(),
            409
        );
        let mine = Held {
            owner: "me",
            state: "busy",
            generation: 4,
            deadline: None,
        };
        assert!(fenced.check(Some(mine), NOW).is_ok());
        assert!(
            matches!(fenced.check(None, NOW), Err(Error::ResourceNotFound(_))),
            "a missing resource is still a 404"
        );
    }

    #[test]
    fn a_passed_deadline_is_refused_after_the_owner_and_before_the_state() {
        let expired = Held {
            owner: "me",
            state: "busy",
            generation: 1,
            deadline: Some(NOW),
        };
        let refused = ME.check(Some(expired), NOW).unwrap_err();
        assert!(matches!(refused, Error::LeaseExpired { .. }), "{refused:?}");
        assert!(
            ME.check(Some(expired), NOW - 1).is_ok(),
            "alive until the deadline"
        );
        let theirs = Held {
            owner: "you",
            ..expired
        };
        assert!(matches!(
            ME.check(Some(theirs), NOW),
            Err(Error::OwnerNotMatch { .. })
        ));
        let elsewhere = Held {
            state: "dirty",
            ..expired
        };
        assert!(matches!(
            ME.check(Some(elsewhere), NOW),
            Err(Error::LeaseExpired { .. })
        ));
    }
}
