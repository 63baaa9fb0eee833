//! How SQLite failures map onto the store's [`Error`]: a busy or locked database is
//! [`Error::Unavailable`] (the server answers 503), everything else a
//! [`Error::Backend`] fault that keeps the driver's error as its source.

use std::path::Path;

use crate::Error;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        if is_busy(&e) {
            Error::Unavailable(e.to_string())
        } else {
            Error::backend_from("SQLite call failed", e)
        }
    }
}

/// Whether another connection holds the lock `e` waited for.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if matches!(
            f.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        )
    )
}

/// The error of opening `path` while another process holds it.
pub(super) fn in_use(e: rusqlite::Error, path: &Path) -> Error {
    if is_busy(&e) {
        Error::Unavailable(format!(
            "the SQLite store {} is in use by another process (a store file serves one \
             mason at a time; stop the other one, or use PostgreSQL for replicas)",
            path.display()
        ))
    } else {
        e.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_unavailable_and_other_failures_keep_the_driver_error() {
        let busy = || {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                None,
            )
        };
        assert!(matches!(Error::from(busy()), Error::Unavailable(_)));
        let held = in_use(busy(), Path::new("/x/mason.db")).to_string();
        assert!(
            held.contains("/x/mason.db is in use by another process"),
            "{held}"
        );
        let other = Error::from(rusqlite::Error::InvalidQuery);
        assert_eq!(other.status(), 500);
        let source = std::error::Error::source(&other).expect("the driver error");
        assert!(source.is::<rusqlite::Error>());
    }
}
