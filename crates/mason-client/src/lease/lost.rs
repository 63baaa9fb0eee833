//! How a lease ends when its holder did not end it: [`LostLease`] and its
//! [`LostReason`], and [`LeaseOutcome`], what [`super::LeaseGuard::finish`] reports.
//!
//! A lost lease is the server's verdict (or, with a lease TTL, the clock's): heartbeating
//! or releasing it again cannot succeed, and whatever the holder does with the resource
//! from now on may collide with its next holder. That is a different thing from a failing
//! heartbeat (the server is unreachable or answers 5xx), after which the lease may well
//! still be alive; the two are never mixed up.

use std::time::Duration;

use mason_types::format_go_duration;

use crate::api::Error;

/// Why a lease is no longer the holder's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LostReason {
    /// 409: the lease has moved on (the generation sent is stale: it expired, was reset
    /// or released and maybe granted again), or the resource is in another state.
    Conflict,
    /// 401: the resource is owned by someone else, or by nobody.
    OwnerMismatch,
    /// 404: the resource no longer exists.
    Gone,
    /// No renewal got through for a whole lease TTL: the server has ended the lease (or
    /// is about to), whether or not it can be reached to say so.
    Expired,
}

impl std::fmt::Display for LostReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LostReason::Conflict => "the lease moved on (409)",
            LostReason::OwnerMismatch => "the resource is owned by someone else (401)",
            LostReason::Gone => "the resource no longer exists (404)",
            LostReason::Expired => "no renewal got through within the lease TTL",
        })
    }
}

/// A lease that ended without its holder ending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostLease {
    /// The resource.
    pub name: String,
    /// Why.
    pub reason: LostReason,
    /// The server's message, or what the client observed.
    pub message: String,
}

impl LostLease {
    /// The lost lease `err` (a heartbeat's or release's answer) tells of, if it is one.
    pub fn from_error(name: &str, err: &Error) -> Option<Self> {
        let reason = match err {
            Error::StateMismatch(_) => LostReason::Conflict,
            Error::OwnerMismatch(_) => LostReason::OwnerMismatch,
            Error::NotFound(_) => LostReason::Gone,
            _ => return None,
        };
        Some(Self {
            name: name.to_string(),
            reason,
            message: err.to_string(),
        })
    }

    /// The lease of `name` ran out: nothing renewed it for `ttl`; `last` is the last
    /// heartbeat failure, if any.
    pub fn expired(name: &str, ttl: Duration, last: Option<&str>) -> Self {
        let mut message = format!(
            "no heartbeat was accepted within the lease TTL of {}",
            format_go_duration(ttl)
        );
        if let Some(last) = last {
            message.push_str(&format!(" (last error: {last})"));
        }
        Self {
            name: name.to_string(),
            reason: LostReason::Expired,
            message,
        }
    }
}

impl std::fmt::Display for LostLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the lease on {:?} is lost: {}: {}",
            self.name, self.reason, self.message
        )
    }
}

/// How a guarded lease ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum LeaseOutcome {
    /// Released by its holder, as intended.
    Released,
    /// It was no longer the holder's (nothing was released).
    Lost(LostLease),
    /// The release failed for another reason (server unreachable, 5xx after retries);
    /// the lease may still be held.
    Failed(Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_verdicts_are_lost_leases() {
        let lost = |e: Error| LostLease::from_error("r", &e).map(|l| l.reason);
        assert_eq!(
            lost(Error::StateMismatch("stale".into())),
            Some(LostReason::Conflict)
        );
        assert_eq!(
            lost(Error::OwnerMismatch("x".into())),
            Some(LostReason::OwnerMismatch)
        );
        assert_eq!(lost(Error::NotFound("x".into())), Some(LostReason::Gone));
        assert_eq!(lost(Error::Unreachable("refused".into())), None);
        assert_eq!(lost(Error::from_status(503, "x")), None);
    }

    #[test]
    fn messages_say_what_happened() {
        let e = LostLease::expired("r1", Duration::from_secs(2), Some("timed out"));
        assert_eq!(
            e.to_string(),
            "the lease on \"r1\" is lost: no renewal got through within the lease TTL: \
             no heartbeat was accepted within the lease TTL of 2s (last error: timed out)"
        );
        let c = LostLease::from_error("r1", &Error::StateMismatch("generation 4 is stale".into()))
            .unwrap();
        assert_eq!(
            c.to_string(),
            "the lease on \"r1\" is lost: the lease moved on (409): state mismatch: generation 4 is stale"
        );
    }
}
