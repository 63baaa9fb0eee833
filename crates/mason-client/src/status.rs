//! Turning a non-200 answer into a typed [`Error`].
//!
//! The mapping follows the server's status codes (SPEC §3.7): 404 → [`Error::NotFound`],
//! or [`Error::TypeNotFound`] when the body carries upstream's
//! `resource type "<type>" does not exist` (also on a 409, which is how `mason serve`'s
//! multi-resource acquire answers unknown types); 401 → [`Error::OwnerMismatch`]; 409 →
//! [`Error::StateMismatch`]; 400 → [`Error::BadRequest`]; anything else →
//! [`Error::Status`]. The message kept is the server's body without its trailing newline.
//! Upstream's client only tells the two 404s apart when asked to; this one always does.

use crate::api::Error;

/// The typed error for `status` with response `body`.
pub(crate) fn error_for(status: u16, body: &str) -> Error {
    let message = body.trim_end().to_string();
    match status {
        404 | 409 if names_missing_type(&message) => Error::TypeNotFound(message),
        404 => Error::NotFound(message),
        401 => Error::OwnerMismatch(message),
        409 => Error::StateMismatch(message),
        400 => Error::BadRequest(message),
        _ => Error::Status { status, message },
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
    use super::*;

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
            (500, "boom", "Status"),
        ];
        for (status, body, kind) in cases {
            let err = error_for(status, body);
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
                Error::Status { status: s, message } => {
                    assert_eq!((*s, message.as_str()), (status, body.trim_end()));
                    "Status"
                }
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(got, kind, "{status} {body}");
        }
    }
}
