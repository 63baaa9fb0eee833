//! The resource config: where it comes from ([`ConfigSource`]) and the one in force
//! ([`ConfigHolder`]). Reloading reads the file, compares it with the text last seen, and
//! parses + validates only when it changed; an invalid file never replaces a valid config.
//!
//! Like upstream, a file with keys the format does not know still loads (upstream's own
//! configs may carry them); each such key, and each pool that can never be built, is
//! logged as one warning with its YAML path and the fix (see
//! [`mason_types::config::lint`]), whenever a new text is loaded.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use mason_types::config::lint::{self, Converters};
use mason_types::BoskosConfig;

use crate::{Error, Result};

/// Where the resource config comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A Boskos YAML file, watched for changes.
    File(PathBuf),
    /// A config given in code (tests, embedding); never reloaded.
    Fixed(BoskosConfig),
}

/// What a reload found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// Same text as last time (or a fixed config): nothing to do.
    Unchanged,
    /// A new valid config is now in force.
    Changed(Arc<BoskosConfig>),
    /// The new text could not be read or is invalid; the old config stays.
    Rejected(String),
}

/// What the file looked like the last time it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Text(String),
    Unreadable(String),
}

/// The config source and the config currently in force.
#[derive(Debug)]
pub struct ConfigHolder {
    /// Where to read from.
    source: ConfigSource,
    /// The valid config in force (`None` before the initial load).
    current: RwLock<Option<Arc<BoskosConfig>>>,
    /// The file's last observed state, so an unchanged (or unchanged invalid) file is
    /// neither re-parsed nor reported again.
    seen: Mutex<Option<Seen>>,
}

impl ConfigHolder {
    /// A holder with nothing loaded yet.
    pub fn new(source: ConfigSource) -> Self {
        Self {
            source,
            current: RwLock::new(None),
            seen: Mutex::new(None),
        }
    }

    /// The config in force, if loaded.
    pub fn current(&self) -> Option<Arc<BoskosConfig>> {
        self.current.read().expect("config lock").clone()
    }

    /// The watched file, if the source is a file.
    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            ConfigSource::File(p) => Some(p),
            ConfigSource::Fixed(_) => None,
        }
    }

    /// The file name for logs, or `(inline)`.
    pub fn origin(&self) -> String {
        match &self.source {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::Fixed(_) => "(inline)".into(),
        }
    }

    /// Load the config at start-up; any problem is an error.
    pub(crate) fn load_initial(&self) -> Result<Arc<BoskosConfig>> {
        let config = match &self.source {
            ConfigSource::Fixed(config) => {
                mason_types::config::validate(config).map_err(|source| Error::ConfigInvalid {
                    origin: self.origin(),
                    source,
                })?;
                Arc::new(config.clone())
            }
            ConfigSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
                    path: path.clone(),
                    source,
                })?;
                let config = BoskosConfig::parse_and_validate(&text).map_err(|source| {
                    Error::ConfigInvalid {
                        origin: self.origin(),
                        source,
                    }
                })?;
                warn_findings(&self.origin(), &text, &config);
                *self.seen.lock().expect("config lock") = Some(Seen::Text(text));
                Arc::new(config)
            }
        };
        *self.current.write().expect("config lock") = Some(config.clone());
        Ok(config)
    }

    /// Re-read the source. Cheap when nothing changed (one file read and a comparison).
    pub fn reload(&self) -> Reload {
        let ConfigSource::File(path) = &self.source else {
            return Reload::Unchanged;
        };
        let observed = match std::fs::read_to_string(path) {
            Ok(text) => Seen::Text(text),
            Err(e) => Seen::Unreadable(format!("cannot read config file {}: {e}", path.display())),
        };
        let mut seen = self.seen.lock().expect("config lock");
        if seen.as_ref() == Some(&observed) {
            return Reload::Unchanged;
        }
        *seen = Some(observed.clone());
        drop(seen);
        match observed {
            Seen::Unreadable(problem) => Reload::Rejected(problem),
            Seen::Text(text) => match BoskosConfig::parse_and_validate(&text) {
                Ok(config) => {
                    warn_findings(&self.origin(), &text, &config);
                    let config = Arc::new(config);
                    let mut current = self.current.write().expect("config lock");
                    if current.as_deref() == Some(&*config) {
                        // Only formatting or comments changed.
                        return Reload::Unchanged;
                    }
                    *current = Some(config.clone());
                    Reload::Changed(config)
                }
                Err(e) => Reload::Rejected(format!("invalid config {}: {e}", path.display())),
            },
        }
    }
}

/// One warning per strict-reading finding of a config that loaded: keys the format does
/// not know and pools that cannot work (converter names are not checked: the builders
/// run elsewhere).
fn warn_findings(origin: &str, text: &str, config: &BoskosConfig) {
    let keys = lint::lint_keys(text).unwrap_or_default();
    for finding in keys
        .iter()
        .chain(&lint::lint_pools(config, Converters::Unknown))
    {
        tracing::warn!(config = %origin, "{finding}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "resources:\n- type: t\n  names: [a, b]\n";

    #[test]
    fn reload_keeps_old_config_on_invalid_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, VALID).unwrap();
        let holder = ConfigHolder::new(ConfigSource::File(path.clone()));
        let first = holder.load_initial().unwrap();
        assert_eq!(holder.reload(), Reload::Unchanged);

        std::fs::write(&path, "resources:\n- names: [a]\n").unwrap();
        assert!(matches!(holder.reload(), Reload::Rejected(m) if m.contains("type: must be set")));
        assert_eq!(holder.current(), Some(first.clone()));
        // The same invalid text is reported once only.
        assert_eq!(holder.reload(), Reload::Unchanged);

        std::fs::write(&path, format!("# comment\n{VALID}")).unwrap();
        assert_eq!(holder.reload(), Reload::Unchanged, "same config, new text");

        std::fs::write(&path, "resources:\n- type: t\n  names: [a, b, c]\n").unwrap();
        assert!(matches!(holder.reload(), Reload::Changed(c) if c.resources[0].names.len() == 3));
    }

    #[test]
    fn fixed_source_never_changes() {
        let config = BoskosConfig::parse_and_validate(VALID).unwrap();
        let holder = ConfigHolder::new(ConfigSource::Fixed(config.clone()));
        assert!(holder.path().is_none());
        assert_eq!(*holder.load_initial().unwrap(), config);
        assert_eq!(holder.reload(), Reload::Unchanged);
    }

    #[test]
    fn initial_load_reports_problems() {
        let holder = ConfigHolder::new(ConfigSource::File("/nonexistent/mason.yaml".into()));
        assert!(matches!(
            holder.load_initial(),
            Err(Error::ConfigRead { .. })
        ));
        let holder = ConfigHolder::new(ConfigSource::Fixed(BoskosConfig::default()));
        let err = holder.load_initial().unwrap_err();
        assert_eq!(err.to_string(), "invalid config (inline): empty config");
    }
}
