//! Store errors, and the one place that decides which HTTP status each one is.
//!
//! The display texts of the four lease errors are upstream's exact messages, which
//! clients match on (e.g. `resource type "<t>" does not exist`). [`Error::status`] is the
//! single store → HTTP mapping: the server, the in-process client and the load generator
//! all use it, so they can never disagree. A [`Error::Backend`] fault keeps its cause as
//! its [`source`](std::error::Error::source) (log it as `&dyn std::error::Error` to see
//! the whole chain).

/// The cause of a [`Error::Backend`] fault.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such resource, or nothing acquirable. Carries a name, a type or a state,
    /// depending on the call (as upstream does).
    #[error("no available resource {0}, try again later.")]
    ResourceNotFound(String),
    /// No resource of this type exists at all.
    #[error("resource type \"{0}\" does not exist")]
    ResourceTypeNotFound(String),
    /// The caller does not own the resource.
    #[error("owner mismatch request by {request}, currently owned by {owner}")]
    OwnerNotMatch {
        /// Who asked.
        request: String,
        /// Who owns it (`""` when nobody).
        owner: String,
    },
    /// The resource is not in the state the caller said. Upstream fills `expect` with the
    /// actual state and `current` with the requested one; so do we, for identical text.
    #[error("state mismatch - expected {expect}, current {current}")]
    StateNotMatch {
        /// The resource's actual state.
        expect: String,
        /// The state the caller gave.
        current: String,
    },
    /// The caller's fencing generation is not the resource's current one: the lease it
    /// was granted has ended (and the resource may have been granted again). Nothing
    /// changed.
    #[error("resource {name}: generation {given} is stale, the current generation is {current}")]
    GenerationMismatch {
        /// The resource.
        name: String,
        /// The generation the caller sent.
        given: u64,
        /// The resource's current generation.
        current: u64,
    },
    /// A multi-resource acquire found too few free resources for some items; nothing was
    /// granted. One [`Shortfall`](crate::Shortfall) per short item.
    #[error("not enough free resources: {}", list_shortfalls(.0))]
    Shortage(Vec<crate::Shortfall>),
    /// A multi-resource acquire asked for types that have no resource and no dynamic pool;
    /// nothing changed.
    #[error("{}", list_unknown_types(.0))]
    UnknownTypes(Vec<String>),
    /// The caller's user already holds as many leases of the type as its quota allows
    /// (`max-leases` in the auth file, over all the owners it acts as). Nothing changed.
    #[error("{}", quota_text(.user, *.held, *.max, .rtype, *.asked))]
    QuotaExceeded {
        /// The authenticated user (the lease holder).
        user: String,
        /// How many leases of `rtype` it holds now.
        held: u64,
        /// Its limit for `rtype`.
        max: u32,
        /// The resource type.
        rtype: String,
        /// How many more the refused call asked for (1 for an acquire).
        asked: u32,
    },
    /// The lease's TTL deadline passed without a renewal: it is over (the server ends it
    /// within a second), so it can be neither renewed nor released. Nothing changed.
    #[error("resource {name}: the lease expired at {}", .deadline.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))]
    LeaseExpired {
        /// The resource.
        name: String,
        /// The deadline that passed.
        deadline: mason_types::Timestamp,
    },
    /// A parameter the store cannot accept.
    #[error("{0}")]
    InvalidArgument(String),
    /// A bulk import that conflicts with what the store holds; nothing was written.
    #[error("{}", list_conflicts(.0))]
    ImportRefused(Vec<String>),
    /// The database cannot be reached right now; try again.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The storage under the store cannot take writes now: the disk is full, it fails
    /// with I/O errors or is read-only, a call missed its deadline, or the file is no
    /// longer the one the store opened. The text names the cause (and the path) in our
    /// own words, so the server shows it to clients; try again later.
    #[error("storage unavailable: {0}")]
    Storage(String),
    /// Any other database failure: what failed, and why (when there is a cause).
    #[error("database error: {context}")]
    Backend {
        /// What failed, readable on its own.
        context: String,
        /// The underlying failure, if any.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// A fault without an underlying error (a broken invariant, say).
    pub fn backend(context: impl Into<String>) -> Self {
        Error::Backend {
            context: context.into(),
            source: None,
        }
    }

    /// A fault caused by `source`.
    pub fn backend_from(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// The HTTP status a Boskos server answers for this error (SPEC §1.8 and §3.7): 404
    /// for both misses (and a set that is short), 401 for the wrong owner, 409 for the wrong
    /// state (and for an import that conflicts with the store, a stale fencing generation,
    /// an expired lease and a set naming unknown types), 400 for a bad parameter, 429 over
    /// a user's lease quota, 503 while the database is unreachable (so clients retry), 500
    /// for any other fault.
    pub fn status(&self) -> u16 {
        match self {
            Error::ResourceNotFound(_) | Error::ResourceTypeNotFound(_) | Error::Shortage(_) => 404,
            Error::OwnerNotMatch { .. } => 401,
            Error::StateNotMatch { .. }
            | Error::ImportRefused(_)
            | Error::GenerationMismatch { .. }
            | Error::UnknownTypes(_)
            | Error::LeaseExpired { .. } => 409,
            Error::InvalidArgument(_) => 400,
            Error::QuotaExceeded { .. } => 429,
            Error::Unavailable(_) | Error::Storage(_) => 503,
            Error::Backend { .. } => 500,
        }
    }

    /// Whether the error is the caller's to fix (a 4xx), as opposed to a server fault.
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status())
    }
}

fn list_shortfalls(short: &[crate::Shortfall]) -> String {
    let items: Vec<String> = short
        .iter()
        .map(|s| {
            format!(
                "{} in state {}: {} wanted, {} free",
                s.rtype, s.state, s.wanted, s.free
            )
        })
        .collect();
    items.join("; ")
}

fn list_unknown_types(types: &[String]) -> String {
    let quoted: Vec<String> = types.iter().map(|t| format!("{t:?}")).collect();
    match quoted.as_slice() {
        [one] => format!("resource type {one} does not exist"),
        many => format!("resource types {} do not exist", many.join(", ")),
    }
}

/// `user prow holds 10 of 10 gce-project leases`, and what a multi-resource call asked for
/// beyond one.
fn quota_text(user: &str, held: u64, max: u32, rtype: &str, asked: u32) -> String {
    let text = format!("user {user} holds {held} of {max} {rtype} leases");
    if asked > 1 {
        format!("{text} and asked for {asked} more")
    } else {
        text
    }
}

fn list_conflicts(conflicts: &[String]) -> String {
    match conflicts {
        [one] => one.clone(),
        many => format!("{} conflicts:\n  - {}", many.len(), many.join("\n  - ")),
    }
}

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_its_boskos_status() {
        let cases = [
            (Error::ResourceNotFound("t".into()), 404),
            (Error::ResourceTypeNotFound("t".into()), 404),
            (
                Error::OwnerNotMatch {
                    request: "a".into(),
                    owner: "b".into(),
                },
                401,
            ),
            (
                Error::StateNotMatch {
                    expect: "a".into(),
                    current: "b".into(),
                },
                409,
            ),
            (
                Error::LeaseExpired {
                    name: "r".into(),
                    deadline: chrono::DateTime::UNIX_EPOCH,
                },
                409,
            ),
            (Error::InvalidArgument("x".into()), 400),
            (Error::Shortage(Vec::new()), 404),
            (Error::UnknownTypes(vec!["x".into()]), 409),
            (
                Error::QuotaExceeded {
                    user: "prow".into(),
                    held: 10,
                    max: 10,
                    rtype: "gce-project".into(),
                    asked: 1,
                },
                429,
            ),
            (Error::Unavailable("locked".into()), 503),
            (Error::Storage("the disk is full".into()), 503),
            (Error::backend("disk full"), 500),
        ];
        for (err, status) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            assert_eq!(err.is_client_error(), status < 500, "{err:?}");
        }
    }

    #[test]
    fn set_refusals_name_every_short_and_unknown_type() {
        let short = Error::Shortage(vec![
            crate::Shortfall {
                rtype: "gce-project".into(),
                state: "free".into(),
                wanted: 2,
                free: 1,
                reserved: 0,
            },
            crate::Shortfall {
                rtype: "gke-cluster".into(),
                state: "free".into(),
                wanted: 1,
                free: 0,
                reserved: 0,
            },
        ]);
        assert_eq!(
            short.to_string(),
            "not enough free resources: gce-project in state free: 2 wanted, 1 free; gke-cluster in state free: 1 wanted, 0 free"
        );
        assert_eq!(
            Error::UnknownTypes(vec!["x".into()]).to_string(),
            "resource type \"x\" does not exist"
        );
        assert_eq!(
            Error::UnknownTypes(vec!["x".into(), "y".into()]).to_string(),
            "resource types \"x\", \"y\" do not exist"
        );
    }

    #[test]
    fn a_quota_refusal_names_the_user_the_count_and_the_type() {
        let refusal = |held, asked| Error::QuotaExceeded {
            user: "prow".into(),
            held,
            max: 10,
            rtype: "gce-project".into(),
            asked,
        };
        assert_eq!(
            refusal(10, 1).to_string(),
            "user prow holds 10 of 10 gce-project leases"
        );
        assert_eq!(
            refusal(9, 2).to_string(),
            "user prow holds 9 of 10 gce-project leases and asked for 2 more"
        );
    }

    #[test]
    fn a_backend_fault_keeps_its_cause() {
        let cause = std::io::Error::other("disk on fire");
        let err = Error::backend_from("writing the WAL", cause);
        assert_eq!(err.to_string(), "database error: writing the WAL");
        let source = std::error::Error::source(&err).expect("a source");
        assert_eq!(source.to_string(), "disk on fire");
        assert!(std::error::Error::source(&Error::backend("x")).is_none());
    }
}
