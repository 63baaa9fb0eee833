//! How SQLite failures map onto the store's [`Error`]: a busy or locked database is
//! [`Error::Unavailable`]; a full disk, an I/O error or read-only storage is
//! [`Error::Storage`] with a message naming the cause (all three 503 with `Retry-After`:
//! they pass, and a retry then succeeds); everything else a [`Error::Backend`] fault that
//! keeps the driver's error as its source.

use std::path::Path;

use crate::Error;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        if is_busy(&e) {
            Error::Unavailable(e.to_string())
        } else if let Some(cause) = storage_cause(&e) {
            Error::Storage(format!("{cause} (SQLite: {e})"))
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

/// What a failure of the storage under the database means, in words; `None` for any
/// other failure.
fn storage_cause(e: &rusqlite::Error) -> Option<&'static str> {
    let rusqlite::Error::SqliteFailure(f, _) = e else {
        return None;
    };
    match f.code {
        rusqlite::ErrorCode::DiskFull => Some("the disk holding the SQLite store is full"),
        rusqlite::ErrorCode::SystemIoFailure => {
            Some("the disk holding the SQLite store fails with I/O errors")
        }
        rusqlite::ErrorCode::ReadOnly => {
            Some("the SQLite store has become read-only (its file or file system)")
        }
        _ => None,
    }
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
        let failure = |code| {
            Error::from(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        for (code, cause) in [
            (
                rusqlite::ffi::SQLITE_FULL,
                "the disk holding the SQLite store is full",
            ),
            (rusqlite::ffi::SQLITE_IOERR, "fails with I/O errors"),
            (rusqlite::ffi::SQLITE_READONLY, "has become read-only"),
        ] {
            let err = failure(code);
            assert_eq!(err.status(), 503, "{err}");
            assert!(
                matches!(&err, Error::Storage(t) if t.contains(cause)),
                "{err}"
            );
        }
        let other = Error::from(rusqlite::Error::InvalidQuery);
        assert_eq!(other.status(), 500);
        let source = std::error::Error::source(&other).expect("the driver error");
        assert!(source.is::<rusqlite::Error>());
    }
}
