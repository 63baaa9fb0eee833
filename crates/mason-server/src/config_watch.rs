//! Waking a reload loop when the file it follows may have changed: the config file, and
//! the auth file (`auth::watch`), each through its own watch.
//!
//! The file's *directory* is watched, since editors and Kubernetes ConfigMaps replace the
//! file by renaming (a ConfigMap swaps a `..data` symlink next to it), which a watch on
//! the file itself would miss. That directory often holds the SQLite store as well
//! (`mason serve`'s defaults put `config.yaml` and `mason.db` side by side), so the watch
//! must not wake on the store's writes: every commit writes the WAL, and a watch that
//! listened for every modification woke a thread per commit and re-read the config five
//! times a second under load (measured: 3,516 → 6,538 cycles/s with one client when the
//! config moved to a directory of its own).
//!
//! On Linux the watch is an inotify stream on the runtime (no thread) that listens only
//! for files being closed after writing, created, deleted or renamed, and wakes the loop
//! only for the config file's name or a `..`-prefixed ConfigMap entry. Elsewhere the
//! `notify` crate's watcher does the same filtering by name. A missed event only delays
//! a reload until the loop's next poll.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Notify;

/// The directory to watch and the file name that matters.
fn dir_and_name(path: &Path) -> (PathBuf, Option<std::ffi::OsString>) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    (dir, path.file_name().map(|n| n.to_os_string()))
}

/// Whether a change to `name` in the directory can change the config.
fn relevant(name: Option<&std::ffi::OsStr>, config: Option<&std::ffi::OsStr>) -> bool {
    match name {
        // An event about the directory itself, or without a name: be safe.
        None => true,
        Some(n) => Some(n) == config || n.to_string_lossy().starts_with(".."),
    }
}

/// A running watch; dropping it stops the events.
pub(crate) struct ConfigWatch {
    #[cfg(target_os = "linux")]
    task: tokio::task::JoinHandle<()>,
    #[cfg(not(target_os = "linux"))]
    _watcher: notify::RecommendedWatcher,
}

impl Drop for ConfigWatch {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        self.task.abort();
    }
}

/// Watch `path`'s directory and call `wake.notify_one()` on relevant changes. `None`
/// (logged) when the platform refuses a watch: the loop's poll still notices changes.
/// Must be called inside the Tokio runtime.
pub(crate) fn watch(path: &Path, wake: Arc<Notify>) -> Option<ConfigWatch> {
    let (dir, config) = dir_and_name(path);
    match start(&dir, config, wake) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the config directory; polling only");
            None
        }
    }
}

#[cfg(target_os = "linux")]
fn start(
    dir: &Path,
    config: Option<std::ffi::OsString>,
    wake: Arc<Notify>,
) -> std::io::Result<ConfigWatch> {
    use futures::StreamExt;
    use inotify::{EventMask, Inotify, WatchMask};

    let inotify = Inotify::init()?;
    // No MODIFY, OPEN or ATTRIB: a SQLite store in the same directory writes its WAL on
    // every commit. A writer's last step is a close or a rename, which are here.
    inotify.watches().add(
        dir,
        WatchMask::CLOSE_WRITE
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF,
    )?;
    let mut events = inotify.into_event_stream([0u8; 4096])?;
    let task = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let wanted = match &event {
                Ok(e) => {
                    e.mask.contains(EventMask::Q_OVERFLOW)
                        || relevant(e.name.as_deref(), config.as_deref())
                }
                Err(_) => true,
            };
            if wanted {
                wake.notify_one();
            }
            if event.is_err() {
                tracing::warn!("config directory watch failed; polling only");
                return;
            }
        }
    });
    Ok(ConfigWatch { task })
}

#[cfg(not(target_os = "linux"))]
fn start(
    dir: &Path,
    config: Option<std::ffi::OsString>,
    wake: Arc<Notify>,
) -> notify::Result<ConfigWatch> {
    use notify::{RecursiveMode, Watcher};

    let handler = move |event: notify::Result<notify::Event>| {
        let wanted = match &event {
            Ok(e) => {
                e.paths.is_empty()
                    || e.paths
                        .iter()
                        .any(|p| relevant(p.file_name(), config.as_deref()))
            }
            Err(_) => true,
        };
        if wanted {
            wake.notify_one();
        }
    };
    let mut watcher = notify::recommended_watcher(handler)?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(ConfigWatch { _watcher: watcher })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_the_config_and_configmap_entries_matter() {
        let config = Some(std::ffi::OsStr::new("config.yaml"));
        assert!(relevant(Some("config.yaml".as_ref()), config));
        assert!(relevant(Some("..data".as_ref()), config));
        assert!(relevant(Some("..2026_12_02_10_00_00.123".as_ref()), config));
        assert!(relevant(None, config));
        assert!(!relevant(Some("mason.db-wal".as_ref()), config));
        assert!(!relevant(Some("config.yaml.swp".as_ref()), config));
    }

    #[tokio::test]
    async fn store_writes_beside_the_config_do_not_wake_but_a_rename_does() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, "resources: []\n").unwrap();
        let wake = Arc::new(Notify::new());
        let _watch = watch(&config, wake.clone()).expect("a watch");

        // A store file written in place, as SQLite writes its WAL.
        use std::io::Write as _;
        let mut wal = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("mason.db-wal"))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The creation of that other file does not wake either.
        for _ in 0..100 {
            wal.write_all(&[0u8; 1024]).unwrap();
            wal.flush().unwrap();
        }
        let woken = tokio::time::timeout(Duration::from_millis(500), wake.notified()).await;
        assert!(woken.is_err(), "woken by the store's writes");

        // The config replaced by a rename, as editors and ConfigMaps do.
        let tmp = dir.path().join("config.yaml.tmp");
        std::fs::write(&tmp, "resources: []\n# changed\n").unwrap();
        std::fs::rename(&tmp, &config).unwrap();
        tokio::time::timeout(Duration::from_secs(10), wake.notified())
            .await
            .expect("woken by the rename");
    }
}
