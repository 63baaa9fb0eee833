//! Store errors. The display texts of the first four variants are upstream's exact
//! messages, which clients match on (e.g. `resource type "<t>" does not exist`).

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
    /// A parameter the store cannot accept.
    #[error("{0}")]
    InvalidArgument(String),
    /// The database cannot be reached right now; try again.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Backend(String),
}

impl Error {
    /// Whether the error is the caller's to fix (a 4xx), as opposed to a server fault.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Error::ResourceNotFound(_)
                | Error::ResourceTypeNotFound(_)
                | Error::OwnerNotMatch { .. }
                | Error::StateNotMatch { .. }
                | Error::InvalidArgument(_)
        )
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Error::Unavailable(e.to_string())
            }
            _ => Error::Backend(e.to_string()),
        }
    }
}

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
