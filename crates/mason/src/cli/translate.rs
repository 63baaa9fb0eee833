//! Client errors told as what happened. The server's texts are upstream's and stay as
//! they are on the wire, but they can mislead: releasing a free resource answers "owner
//! mismatch … currently owned by " (blank), a missing name "no available resource zzz,
//! try again later". The CLI knows what it asked, so it says what that answer means and
//! keeps the server's text at the end: `"zzz" does not exist (server: …)`. Each error
//! also maps to one documented exit code ([`exit_code`]).

use mason_client::Error;

use crate::exit::{self, Exit};

/// What was asked, for the explanation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Asked<'a> {
    /// An acquire of `rtype` in `state`.
    Acquire {
        /// Resource type.
        rtype: &'a str,
        /// State asked for.
        state: &'a str,
    },
    /// A release, update or heartbeat of `name` by `owner`.
    Named {
        /// Resource name.
        name: &'a str,
        /// Who asked.
        owner: &'a str,
        /// What for (`release`, `update`).
        verb: &'a str,
    },
    /// The metrics of `rtype`.
    Metric {
        /// Resource type.
        rtype: &'a str,
    },
    /// Anything else.
    Other,
}

/// The exit code for a client error. `acquiring`: whether "nothing free" means "no
/// resource" (acquire, run) rather than a plain failure (release of an unknown name...).
pub(crate) fn exit_code(err: &Error, acquiring: bool) -> u8 {
    match err {
        Error::Unreachable(_) => exit::UNREACHABLE,
        Error::BadRequest(_) | Error::UnknownPath { .. } => exit::USAGE,
        Error::NotFound(_) | Error::Timeout { .. } if acquiring => exit::NO_RESOURCE,
        Error::Cancelled => exit::SIGINT,
        _ => exit::FAILURE,
    }
}

/// `<context>: <what happened> (server: <its text>)` with the error's exit code.
pub(crate) fn fail(context: impl std::fmt::Display, err: &Error, asked: Asked<'_>) -> Exit {
    let acquiring = matches!(asked, Asked::Acquire { .. });
    Exit::new(
        exit_code(err, acquiring),
        format!("{context}: {}", explain(err, asked)),
    )
}

/// What `err` means for what was asked, with the server's text at the end.
pub(crate) fn explain(err: &Error, asked: Asked<'_>) -> String {
    let (what, server) = match (err, asked) {
        (Error::NotFound(text), Asked::Acquire { rtype, state }) => (
            format!("no {rtype:?} resource is unowned in state {state:?} right now"),
            Some(text),
        ),
        (Error::NotFound(text), Asked::Named { name, .. }) => {
            (format!("there is no resource named {name:?}"), Some(text))
        }
        (Error::NotFound(text), Asked::Metric { rtype }) => (
            format!("the server has no resources of type {rtype:?}"),
            Some(text),
        ),
        (Error::TypeNotFound(text), Asked::Acquire { rtype, .. } | Asked::Metric { rtype }) => (
            format!("the server has no resource type {rtype:?}"),
            Some(text),
        ),
        (
            Error::OwnerMismatch(text),
            Asked::Named {
                name, owner, verb, ..
            },
        ) => (owner_mismatch(text, name, owner, verb), Some(text)),
        (Error::StateMismatch(text), Asked::Named { name, .. }) => {
            (state_mismatch(text, name), Some(text))
        }
        (Error::Unreachable(text), _) => (unreachable(text), None),
        (Error::BadRequest(text), _) => ("the server refused the request".into(), Some(text)),
        (
            Error::Status {
                status, message, ..
            },
            _,
        ) => (format!("the server answered HTTP {status}"), Some(message)),
        _ => return err.to_string(),
    };
    match server.map(|t| t.trim()).filter(|t| !t.is_empty()) {
        Some(text) => format!("{what} (server: {text})"),
        None => what,
    }
}

/// mason-client's `<METHOD> <URL>: <cause>` as `server not reachable at <URL>: <cause>`.
fn unreachable(text: &str) -> String {
    match text.split_once(": ") {
        Some((request, cause)) => {
            let url = request.split_once(' ').map_or(request, |(_, url)| url);
            format!("server not reachable at {url}: {cause}")
        }
        None => format!("server not reachable: {text}"),
    }
}

/// Upstream: `owner mismatch request by <asker>, currently owned by <owner>`.
fn owner_mismatch(text: &str, name: &str, asker: &str, verb: &str) -> String {
    let holder = text
        .rsplit_once("currently owned by")
        .map(|(_, owner)| owner.trim());
    match holder {
        Some("") => format!("{name:?} is not leased by anyone, so {asker:?} cannot {verb} it"),
        Some(holder) => format!("{name:?} is leased by {holder:?}, not by {asker:?}"),
        None => format!("{name:?} is not leased by {asker:?}"),
    }
}

/// Upstream's update: `state mismatch - expected <actual>, current <requested>` (the two
/// are swapped on the wire).
fn state_mismatch(text: &str, name: &str) -> String {
    let parsed = text
        .rsplit_once("expected ")
        .and_then(|(_, rest)| rest.split_once(", current "));
    match parsed {
        Some((actual, asked)) => {
            format!(
                "{name:?} is in state {:?}, not {:?}",
                actual.trim(),
                asked.trim()
            )
        }
        None => format!("{name:?} is in another state"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named<'a>(verb: &'a str) -> Asked<'a> {
        Asked::Named {
            name: "solo-1",
            owner: "me",
            verb,
        }
    }

    #[test]
    fn release_of_a_free_resource_says_nobody_holds_it() {
        // The client keeps the server's text without its trailing whitespace.
        let err = Error::OwnerMismatch(
            "Done failed: solo-1 - dirty (from me): owner mismatch request by me, currently owned by"
                .into(),
        );
        let text = explain(&err, named("release"));
        assert!(
            text.starts_with("\"solo-1\" is not leased by anyone, so \"me\" cannot release it (server: Done failed"),
            "{text}"
        );
        let err =
            Error::OwnerMismatch("owner mismatch request by me, currently owned by bob".into());
        assert!(explain(&err, named("release"))
            .starts_with("\"solo-1\" is leased by \"bob\", not by \"me\""));
    }

    #[test]
    fn missing_names_and_types_are_named() {
        let err =
            Error::NotFound("Done failed: no available resource zzz, try again later.".into());
        let text = explain(&err, named("release"));
        assert!(
            text.starts_with("there is no resource named \"solo-1\" (server: Done failed"),
            "{text}"
        );
        let text = explain(
            &Error::NotFound("no available resource ghost, try again later.".into()),
            Asked::Metric { rtype: "ghost" },
        );
        assert!(
            text.starts_with("the server has no resources of type \"ghost\""),
            "{text}"
        );
        let text = explain(
            &Error::TypeNotFound("Acquire failed: resource type \"ghost\" does not exist".into()),
            Asked::Acquire {
                rtype: "ghost",
                state: "free",
            },
        );
        assert!(
            text.starts_with("the server has no resource type \"ghost\" (server: "),
            "{text}"
        );
    }

    #[test]
    fn swapped_state_mismatch_reads_right() {
        let err = Error::StateMismatch(
            "Update failed: state mismatch - expected busy, current free".into(),
        );
        assert!(explain(&err, named("update"))
            .starts_with("\"solo-1\" is in state \"busy\", not \"free\""));
    }

    #[test]
    fn unreachable_names_no_url_itself() {
        let err = Error::Unreachable(
            "POST http://h:1/acquire: Connection refused (os error 111) (after 4 attempts)".into(),
        );
        assert_eq!(
            explain(&err, Asked::Other),
            "server not reachable at http://h:1/acquire: Connection refused (os error 111) (after 4 attempts)"
        );
    }

    #[test]
    fn exit_codes_tell_failures_apart() {
        let nf = Error::NotFound("x".into());
        assert_eq!(exit_code(&nf, true), exit::NO_RESOURCE);
        assert_eq!(exit_code(&nf, false), exit::FAILURE);
        assert_eq!(
            exit_code(&Error::Unreachable("x".into()), true),
            exit::UNREACHABLE
        );
        assert_eq!(
            exit_code(&Error::BadRequest("x".into()), false),
            exit::USAGE
        );
        assert_eq!(
            exit_code(&Error::UnknownPath { url: "u".into() }, false),
            exit::USAGE
        );
        assert_eq!(
            exit_code(&Error::TypeNotFound("x".into()), true),
            exit::FAILURE
        );
        assert_eq!(
            exit_code(&Error::OwnerMismatch("x".into()), false),
            exit::FAILURE
        );
    }
}
