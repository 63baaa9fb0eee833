//! Which resource types a controller (reaper, janitor) works on: a fixed list (upstream's
//! `--resource-type a,b`), the types of a Boskos config file (`--resource-type-from-config`),
//! or the union of both — sorted and deduplicated.
//!
//! The config file is watched (notify, on its directory, so editors' atomic renames and
//! Kubernetes ConfigMap symlink swaps are seen) and re-read at the next
//! [`TypeSource::types`] call after a change. A file that cannot be read or does not
//! validate keeps the previous types in force and is logged once per change; at start-up
//! it is an error instead, so a typo is caught before the controller runs. When the
//! watcher cannot be set up the file is simply re-read at every call.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mason_types::BoskosConfig;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use crate::runner::Waker;

/// Why the types could not be determined at start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TypesError {
    /// Neither a type list nor a config file was given.
    #[error("no resource types: give --resource-type and/or --resource-type-from-config")]
    Missing,
    /// An entry of the list is empty (e.g. `a,,b`).
    #[error("empty resource type in the list {0:?}")]
    EmptyType(String),
    /// The config file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not a valid Boskos config.
    #[error("invalid config {}: {}", path.display(), problems.join("; "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problems: Vec<String>,
    },
}

/// Parse a comma-separated type list (`a,b`); blanks around names are ignored.
pub fn parse_type_list(list: &str) -> Result<Vec<String>, TypesError> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|t| match t.trim() {
            "" => Err(TypesError::EmptyType(list.to_string())),
            t => Ok(t.to_string()),
        })
        .collect()
}

/// The current resource types of a controller.
pub struct TypeSource {
    /// Types given on the command line; always included.
    fixed: Vec<String>,
    /// The watched config file, if any.
    file: Option<WatchedFile>,
    /// Leave out dynamic pools the builder builds (those with a `config.type`).
    skip_built: bool,
    /// The union in force (sorted, deduplicated).
    current: Vec<String>,
}

impl std::fmt::Debug for TypeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypeSource")
            .field("fixed", &self.fixed)
            .field("file", &self.file.as_ref().map(|w| &w.path))
            .field("current", &self.current)
            .finish()
    }
}

struct WatchedFile {
    path: PathBuf,
    /// Set by the watcher when the file may have changed.
    changed: Arc<AtomicBool>,
    /// Keeps the watcher alive; `None` means "re-read every time".
    watcher: Option<RecommendedWatcher>,
}

impl TypeSource {
    /// Only the given types.
    pub fn fixed(types: Vec<String>) -> Result<Self, TypesError> {
        Self::new(types, None, None)
    }

    /// The union of `fixed` and the types of the config file at `config` (if given). At
    /// least one type source is required; the file must load and validate now. `waker`,
    /// when given, is woken whenever the file changes.
    pub fn new(
        fixed: Vec<String>,
        config: Option<&Path>,
        waker: Option<Waker>,
    ) -> Result<Self, TypesError> {
        if fixed.is_empty() && config.is_none() {
            return Err(TypesError::Missing);
        }
        if fixed.iter().any(|t| t.trim().is_empty()) {
            return Err(TypesError::EmptyType(fixed.join(",")));
        }
        let file = config.map(|path| WatchedFile::watch(path, waker));
        let mut source = Self {
            fixed,
            file,
            skip_built: false,
            current: Vec::new(),
        };
        source.current = source.union(source.file_types()?);
        Ok(source)
    }

    /// Leave out the config file's dynamic pools that name a builder converter
    /// (`config.type`): their dirty resources are the builder's to recycle, not a
    /// janitor's. Types given explicitly are always kept.
    pub fn excluding_built_pools(mut self) -> Self {
        self.skip_built = true;
        let from_file = self.file_types().unwrap_or_default();
        self.current = self.union(from_file);
        self
    }

    fn file_types(&self) -> Result<Vec<String>, TypesError> {
        match &self.file {
            Some(file) => Ok(config_types(&file.load()?, self.skip_built)),
            None => Ok(Vec::new()),
        }
    }

    /// The types in force, re-reading the config file first if it changed.
    pub fn types(&mut self) -> &[String] {
        if let Some(file) = &self.file {
            if file.should_reload() {
                match file.load() {
                    Ok(config) => {
                        let union = union(&self.fixed, config_types(&config, self.skip_built));
                        if union != self.current {
                            tracing::info!(types = ?union, "resource types changed");
                            self.current = union;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, kept = ?self.current, "config reload failed; keeping the previous resource types");
                    }
                }
            }
        }
        &self.current
    }

    fn union(&self, from_file: Vec<String>) -> Vec<String> {
        union(&self.fixed, from_file)
    }
}

fn config_types(config: &BoskosConfig, skip_built: bool) -> Vec<String> {
    if !skip_built {
        return config.types();
    }
    let built: Vec<&str> = config
        .resources
        .iter()
        .filter(|e| e.is_dynamic() && !e.config.ctype.is_empty())
        .map(|e| e.rtype.as_str())
        .collect();
    config
        .types()
        .into_iter()
        .filter(|t| !built.contains(&t.as_str()))
        .collect()
}

fn union(fixed: &[String], from_file: Vec<String>) -> Vec<String> {
    let mut all: Vec<String> = fixed.iter().cloned().chain(from_file).collect();
    all.sort();
    all.dedup();
    all
}

impl WatchedFile {
    fn watch(path: &Path, waker: Option<Waker>) -> Self {
        let changed = Arc::new(AtomicBool::new(false));
        let flag = changed.clone();
        let name = path.file_name().map(|n| n.to_os_string());
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let relevant = match &event {
                Ok(ev) => {
                    ev.paths.iter().any(|p| p.file_name().map(|n| n.to_os_string()) == name)
                    // ConfigMap mounts swap a `..data` symlink next to the file.
                    || ev.paths.iter().any(|p| p.file_name().is_some_and(|n| n == "..data"))
                }
                Err(_) => true,
            };
            if relevant {
                flag.store(true, Ordering::SeqCst);
                if let Some(w) = &waker {
                    w.wake();
                }
            }
        })
        .and_then(|mut w| {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w)
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot watch the config file; it will be re-read on every pass");
                None
            }
        };
        Self {
            path: path.to_path_buf(),
            changed,
            watcher,
        }
    }

    fn should_reload(&self) -> bool {
        self.watcher.is_none() || self.changed.swap(false, Ordering::SeqCst)
    }

    /// Read and validate the file.
    fn load(&self) -> Result<BoskosConfig, TypesError> {
        let text = std::fs::read_to_string(&self.path).map_err(|source| TypesError::Read {
            path: self.path.clone(),
            source,
        })?;
        let config = BoskosConfig::parse_and_validate(&text).map_err(|e| TypesError::Invalid {
            path: self.path.clone(),
            problems: e.problems(),
        })?;
        Ok(config)
    }
}

/// The flag name a janitor passes a resource under: the part of the type after its last
/// `-` (`gce-project` → `project`), or the whole type when it has no `-`.
pub fn janitor_flag_suffix(rtype: &str) -> &str {
    rtype.rsplit('-').next().unwrap_or(rtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG_A: &str =
        "resources:\n- type: b-type\n  names: [b1]\n- type: a-type\n  names: [a1]\n";
    const CONFIG_B: &str = "resources:\n- type: c-type\n  names: [c1]\n";

    #[test]
    fn type_lists_parse_strictly() {
        assert_eq!(parse_type_list("a, b").unwrap(), vec!["a", "b"]);
        assert!(parse_type_list("").unwrap().is_empty());
        assert!(matches!(
            parse_type_list("a,,b"),
            Err(TypesError::EmptyType(_))
        ));
    }

    #[test]
    fn suffix_is_after_last_dash() {
        assert_eq!(janitor_flag_suffix("gce-project"), "project");
        assert_eq!(janitor_flag_suffix("aws-account-x"), "x");
        assert_eq!(janitor_flag_suffix("workdir"), "workdir");
        assert_eq!(janitor_flag_suffix("odd-"), "");
    }

    #[test]
    fn one_source_is_required() {
        assert!(matches!(
            TypeSource::new(vec![], None, None),
            Err(TypesError::Missing)
        ));
    }

    #[test]
    fn union_sorted_dedup_and_invalid_reload_keeps_previous() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boskos.yaml");
        std::fs::write(&path, CONFIG_A).unwrap();
        let mut source =
            TypeSource::new(vec!["z".into(), "a-type".into()], Some(&path), None).unwrap();
        assert_eq!(source.types(), ["a-type", "b-type", "z"]);

        // Force a reload regardless of the watcher's timing.
        let mark = |s: &TypeSource| {
            s.file
                .as_ref()
                .unwrap()
                .changed
                .store(true, Ordering::SeqCst)
        };
        std::fs::write(&path, "resources:\n- type: x\n  max-count: 0\n").unwrap();
        mark(&source);
        assert_eq!(source.types(), ["a-type", "b-type", "z"]);
        std::fs::write(&path, CONFIG_B).unwrap();
        mark(&source);
        assert_eq!(source.types(), ["a-type", "c-type", "z"]);
    }

    #[tokio::test]
    async fn a_change_on_disk_wakes_and_is_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boskos.yaml");
        std::fs::write(&path, CONFIG_A).unwrap();
        let waker = Waker::new();
        let mut source = TypeSource::new(vec![], Some(&path), Some(waker.clone())).unwrap();
        assert_eq!(source.types(), ["a-type", "b-type"]);
        // Replace the file the way editors do: write a sibling, rename over.
        let tmp = dir.path().join("boskos.yaml.tmp");
        std::fs::write(&tmp, CONFIG_B).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), waker.notified())
            .await
            .expect("the watcher reports the change");
        assert_eq!(source.types(), ["c-type"]);
    }

    #[test]
    fn built_pools_can_be_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boskos.yaml");
        let config = "resources:\n- type: phys\n  names: [p1]\n- type: virt\n  min-count: 1\n  max-count: 1\n  needs: {phys: 1}\n  config: {type: exec, content: 'command: [./b.sh]'}\n- type: plain\n  min-count: 1\n  max-count: 1\n";
        std::fs::write(&path, config).unwrap();
        let mut all = TypeSource::new(vec![], Some(&path), None).unwrap();
        assert_eq!(all.types(), ["phys", "plain", "virt"]);
        let mut janitor = TypeSource::new(vec![], Some(&path), None)
            .unwrap()
            .excluding_built_pools();
        assert_eq!(janitor.types(), ["phys", "plain"]);
    }

    #[test]
    fn invalid_at_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boskos.yaml");
        assert!(matches!(
            TypeSource::new(vec![], Some(&path), None),
            Err(TypesError::Read { .. })
        ));
        std::fs::write(&path, "resources:\n- type: x\n  max-count: 0\n").unwrap();
        let err = TypeSource::new(vec![], Some(&path), None).unwrap_err();
        assert!(err.to_string().starts_with("invalid config "), "{err}");
    }
}
