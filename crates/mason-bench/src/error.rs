//! The one error type of `mason bench`. The binary maps [`Error::Usage`] to its usage exit
//! code and everything else to a plain failure; [`Error::DoubleLease`] is the verdict of
//! the run itself, not a fault of the tool.

/// A benchmark that could not run, or whose run proves a fault of the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad options (the caller's to fix).
    #[error("{0}")]
    Usage(String),
    /// The target could not be reached, or a load thread could not connect.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// Address or URL.
        target: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// A file, socket or process operation failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The store refused to open or to load the pool.
    #[error("{what}")]
    Store {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: mason_store::Error,
    },
    /// The in-process server failed.
    #[error("{what}")]
    Server {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: mason_server::Error,
    },
    /// A raw SQLite baseline failed.
    #[error("{what}")]
    Sqlite {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The server under test misbehaved (a wrong answer, a process that died).
    #[error("{0}")]
    Target(String),
    /// The server refused a release or heartbeat of a lease it had just granted to the
    /// same client: a double-lease suspect.
    #[error("the server refused {0} release(s)/heartbeat(s) of a lease it had just granted (double lease?)")]
    DoubleLease(u64),
    /// Not a single operation succeeded.
    #[error("no operation succeeded (see errors above)")]
    NothingSucceeded,
}

impl Error {
    /// An [`Error::Io`] saying what was being done.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    /// An [`Error::Sqlite`] saying what was being done.
    pub(crate) fn sqlite(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
        let what = what.into();
        move |source| Error::Sqlite { what, source }
    }

    /// A background task that panicked or was cancelled.
    pub(crate) fn task(e: tokio::task::JoinError) -> Error {
        Error::Target(format!("a benchmark task failed: {e}"))
    }
}

/// Result with the bench's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
