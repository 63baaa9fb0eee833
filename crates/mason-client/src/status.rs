//! The one status → client error mapping: [`Error::from_status`].
//!
//! It follows the server's status codes (SPEC §3.7): 404 → [`Error::NotFound`], or
//! [`Error::TypeNotFound`] when the text is upstream's `resource type "<type>" does not
//! exist` (also on a 409, which is how `mason serve`'s multi-resource acquire answers
//! unknown types); 401 → [`Error::OwnerMismatch`]; 403 → [`Error::Forbidden`]; 429 →
//! [`Error::TooManyRequests`]; 409 → [`Error::StateMismatch`]; 400 →
//! [`Error::BadRequest`]; anything else → [`Error::Status`]. Upstream's client only tells
//! the two 404s apart when asked to; this one always does. A 401 that carries a
//! `WWW-Authenticate` challenge (the auth gate's, or a proxy's) is
//! [`Error::Unauthenticated`] instead ([`Error::from_challenged_status`]): the server
//! wants credentials, whereas upstream's owner mismatch is a 401 without one.
//!
//! The HTTP client maps every non-200 answer through it, and an in-process client (one
//! that calls a store directly) maps the status the server would have answered through
//! it, so both produce the same variants for the same refusal.

use crate::api::Error;

impl Error {
    /// The typed error for an answer with `status` and text `message` (a trailing newline,
    /// as servers send it, is dropped).
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let mut message = message.into();
        message.truncate(message.trim_end().len());
        match status {
            404 | 409 if names_missing_type(&message) => Error::TypeNotFound(message),
            404 => Error::NotFound(message),
            401 => Error::OwnerMismatch(message),
            403 => Error::Forbidden(message),
            429 => Error::TooManyRequests(message),
            409 => Error::StateMismatch(message),
            400 => Error::BadRequest(message),
            _ => Error::Status {
                status,
                message,
                source: None,
            },
        }
    }

    /// [`Error::from_status`] for an HTTP answer; `challenged`: it carried a
    /// `WWW-Authenticate` header, which makes a 401 [`Error::Unauthenticated`].
    pub fn from_challenged_status(
        status: u16,
        message: impl Into<String>,
        challenged: bool,
    ) -> Self {
        match Self::from_status(status, message) {
            Error::OwnerMismatch(message) if challenged => Error::Unauthenticated(message),
            other => other,
        }
    }

    /// Keep `cause` as the [`std::error::Error::source`] of an [`Error::Status`] (a
    /// server fault, whose cause is worth logging); the other variants say all there is in
    /// their message and are returned unchanged.
    pub fn caused_by(self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        match self {
            Error::Status {
                status, message, ..
            } => Error::Status {
                status,
                message,
                source: Some(Box::new(cause)),
            },
            other => other,
        }
    }
}

/// Whether a body is upstream's `resource type "<t>" does not exist` (or `mason serve`'s
/// `resource types "<a>", "<b>" do not exist`).
fn names_missing_type(message: &str) -> bool {
    let one = message
        .find("resource type \"")
        .is_some_and(|at| message[at..].contains("\" does not exist"));
    let several = message
        .find("resource types \"")
        .is_some_and(|at| message[at..].contains("\" do not exist"));
    one || several
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_challenge_tells_authentication_from_owner_mismatch() {
        assert!(matches!(
            Error::from_challenged_status(401, "unauthorized: wrong user name or password\n", true),
            Error::Unauthenticated(m) if m == "unauthorized: wrong user name or password"
        ));
        assert!(matches!(
            Error::from_challenged_status(401, "owner mismatch\n", false),
            Error::OwnerMismatch(_)
        ));
    }

    #[test]
    fn maps_each_status_like_the_spec() {
        let cases = [
            (
                404,
                "Acquire failed: no available resource t1, try again later.\n",
                "NotFound",
            ),
            (
                404,
                "Acquire failed: resource type \"nope\" does not exist\n",
                "TypeNotFound",
            ),
            (
                401,
                "Done failed: owner mismatch request by a, currently owned by b\n",
                "Owner",
            ),
            (
                409,
                "Update failed: state mismatch - expected busy, current free\n",
                "State",
            ),
            (
                409,
                "Acquire failed: resource type \"nope\" does not exist\n",
                "TypeNotFound",
            ),
            (
                409,
                "Done failed: r - d (from o): resource r: generation 4 is stale, the current generation is 5\n",
                "State",
            ),
            (
                409,
                "Acquire failed: resource types \"a\", \"b\" do not exist\n",
                "TypeNotFound",
            ),
            (400, "Type must be set in the request.\n", "BadRequest"),
            (405, "/metric only accepts GET\n", "Status"),
            (403, "forbidden: user a may not POST /reset\n", "Forbidden"),
            (
                429,
                "user prow holds 10 of 10 gce-project leases\n",
                "TooMany",
            ),
            (500, "boom", "Status"),
        ];
        for (status, body, kind) in cases {
            let err = Error::from_status(status, body);
            let got = match &err {
                Error::NotFound(m) | Error::TypeNotFound(m) => {
                    assert_eq!(m, body.trim_end());
                    if matches!(err, Error::NotFound(_)) {
                        "NotFound"
                    } else {
                        "TypeNotFound"
                    }
                }
                Error::OwnerMismatch(_) => "Owner",
                Error::StateMismatch(_) => "State",
                Error::BadRequest(_) => "BadRequest",
                Error::Forbidden(m) | Error::TooManyRequests(m) => {
                    assert_eq!(m, body.trim_end());
                    if matches!(err, Error::Forbidden(_)) {
                        "Forbidden"
                    } else {
                        "TooMany"
                    }
                }
                Error::Status {
                    status: s, message, ..
                } => {
                    assert_eq!((*s, message.as_str()), (status, body.trim_end()));
                    "Status"
                }
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(got, kind, "{status} {body}");
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("disk full")]
    struct DiskFull;

    #[test]
    fn a_server_fault_keeps_its_cause() {
        let err = Error::from_status(500, "database error: disk full\n").caused_by(DiskFull);
        assert_eq!(err.to_string(), "status 500: database error: disk full");
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("disk full")
        );
        // A refusal says everything in its message; no cause is attached.
        let err = Error::from_status(409, "state mismatch").caused_by(DiskFull);
        assert!(matches!(err, Error::StateMismatch(_)) && err.source().is_none());
    }
}
