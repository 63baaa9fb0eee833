//! The store file on disk, before and after SQLite opens it: a mistaken path becomes an
//! error naming the path and the operating system's reason, and a new store is announced.
//!
//! - The parent directory must exist. It is never created: a typo in a path would
//!   otherwise start an empty store, and look as if every lease had vanished.
//! - An existing file must open for reading and writing: a read-only file (or file
//!   system) fails here with its reason, not later as SQLite's "disk I/O error".
//! - A missing file is created here, so an unwritable directory fails with its reason
//!   rather than SQLite's "unable to open database file". Once the store is open this
//!   logs "created a new empty store at PATH"; when opening it fails, the file is removed
//!   again, so a failed start leaves nothing behind.
//! - A missing file where a store was initialised before (its lock file is there, see
//!   `identity.rs`) is a lost store: an error, unless a new empty store is asked for.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::Path;

use super::identity::{lock_path, with_suffix};
use crate::{Error, Result};

/// What [`prepare`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prepared {
    /// The file was there, and is writable.
    Existing,
    /// The file was missing and has been created (empty).
    Created,
}

/// Check that the directory of `path` exists (before anything is created in it).
pub(super) fn check_directory(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        let problem = if dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(Error::backend(format!(
            "{}: the directory {} {problem} (the store file is created when missing, its \
             directory never is: check the path, or create the directory first)",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Check (or create) the file at `path` before SQLite opens it. `had_store`: a store
/// was initialised at this path before (its lock file was there); then a missing file
/// is created only when `create` says so.
pub(super) fn prepare(path: &Path, had_store: bool, create: bool) -> Result<Prepared> {
    check_directory(path)?;
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(_) => Ok(Prepared::Existing),
        Err(e) if e.kind() == ErrorKind::NotFound && had_store && !create => {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            Err(Error::backend(format!(
                "the SQLite store {} is missing, but {} records that a store was created \
                 there: it was deleted or moved, and starting would silently replace every \
                 lease with an empty store. Restore the file, or pass --create to start a \
                 new empty store at this path",
                path.display(),
                lock_path(&path).display()
            )))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| Error::backend_from(format!("cannot create {}", path.display()), e))?;
            Ok(Prepared::Created)
        }
        Err(e) => Err(Error::backend_from(
            format!("cannot open {} for writing", path.display()),
            e,
        )),
    }
}

/// After SQLite opened (or failed to open) a file [`prepare`] created: announce the new
/// store, or remove the file again.
pub(super) fn settle<T>(path: &Path, prepared: Prepared, opened: Result<T>) -> Result<T> {
    if prepared == Prepared::Created {
        match &opened {
            Ok(_) => {
                let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
                tracing::info!("created a new empty store at {}", shown.display());
            }
            Err(_) => {
                for leftover in [path.to_path_buf(), with_suffix(path, "-wal")] {
                    let _ = std::fs::remove_file(leftover);
                }
            }
        }
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_named_and_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("typo/m.db");
        let err = prepare(&path, false, false).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "the directory {} does not exist",
                dir.path().join("typo").display()
            )),
            "{err}"
        );
        assert!(!dir.path().join("typo").exists());
    }

    #[test]
    fn a_created_file_is_removed_when_opening_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        assert_eq!(prepare(&path, false, false).unwrap(), Prepared::Created);
        assert!(path.is_file());
        let failed: Result<()> = Err(Error::backend("no"));
        assert!(settle(&path, Prepared::Created, failed).is_err());
        assert!(!path.exists());
        std::fs::write(&path, b"").unwrap();
        assert_eq!(prepare(&path, true, false).unwrap(), Prepared::Existing);
        let failed: Result<()> = Err(Error::backend("no"));
        assert!(settle(&path, Prepared::Existing, failed).is_err());
        assert!(path.exists(), "a file that was there stays");
    }

    #[test]
    fn a_lost_store_is_an_error_unless_a_new_one_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let err = prepare(&path, true, false).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{} is missing", path.display())),
            "{err}"
        );
        assert!(err.contains("--create"), "{err}");
        assert!(!path.exists());
        assert_eq!(prepare(&path, true, true).unwrap(), Prepared::Created);
    }
}
