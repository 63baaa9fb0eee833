//! How PostgreSQL failures map onto the store's [`Error`]: lost connections and pool
//! exhaustion become [`Error::Unavailable`] (the server answers 503 and the pool
//! reconnects by itself), serialization failures and deadlocks are retried by the caller,
//! everything else is a [`Error::Backend`] fault.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::Error;

/// A failure inside one attempt of a PostgreSQL transaction.
#[derive(Debug)]
pub(crate) enum PgError {
    /// A store-level outcome decided by the transition itself (not found, mismatch…).
    Store(Error),
    /// The database or the connection failed.
    Db(tokio_postgres::Error),
}

impl From<Error> for PgError {
    fn from(e: Error) -> Self {
        PgError::Store(e)
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        PgError::Db(e)
    }
}

/// Result of one attempt.
pub(crate) type PgResult<T> = std::result::Result<T, PgError>;

impl PgError {
    /// Whether running the whole transaction again may succeed (serialization failure or
    /// deadlock; PostgreSQL rolled the transaction back).
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            PgError::Db(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED
            ),
            PgError::Store(_) => false,
        }
    }

    /// Whether the connection this attempt ran on must not be reused.
    pub(crate) fn is_connection_lost(&self) -> bool {
        match self {
            PgError::Db(e) => is_connection_error(e),
            PgError::Store(_) => false,
        }
    }

    /// The error callers see.
    pub(crate) fn into_store(self) -> Error {
        match self {
            PgError::Store(e) => e,
            PgError::Db(e) => db_error(e),
        }
    }
}

/// Whether `e` means the server or the connection is gone (as opposed to a statement
/// the server rejected).
fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            // Class 08: connection exception; 57P01-03: shutdown / not yet accepting;
            // 53300: too many connections.
            c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "53300")
        }
        // No SQLSTATE: an IO error, a protocol error or a connect failure.
        None => {
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                if s.is::<std::io::Error>() {
                    return true;
                }
                source = s.source();
            }
            false
        }
    }
}

/// Map a driver error to the store's error.
pub(crate) fn db_error(e: tokio_postgres::Error) -> Error {
    if is_connection_error(&e) {
        return Error::Unavailable(format!("PostgreSQL connection failed: {}", describe(&e)));
    }
    let context = match e.code() {
        Some(code) => format!("PostgreSQL statement failed (SQLSTATE {})", code.code()),
        None => "PostgreSQL call failed".to_string(),
    };
    Error::backend_from(context, e)
}

/// Map a pool checkout failure to the store's error.
pub(crate) fn pool_error(e: PoolError) -> Error {
    match e {
        PoolError::Timeout(_) => Error::Unavailable(
            "PostgreSQL did not answer in time (no free connection in the pool)".into(),
        ),
        PoolError::Backend(e) => {
            Error::Unavailable(format!("cannot connect to PostgreSQL: {}", describe(&e)))
        }
        PoolError::Closed => Error::Unavailable("the PostgreSQL pool is closed".into()),
        other => Error::backend_from("PostgreSQL pool failed", other),
    }
}

/// The driver's message plus its most specific cause (tokio-postgres' own `Display`
/// often says only "error connecting to server" or "db error").
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
