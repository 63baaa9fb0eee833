//! Where the builder learns which dynamic pools exist: a [`PoolSource`].
//!
//! - [`FilePools`]: the Boskos config file the server also reads (its dynamic entries),
//!   re-read on every reload so edits apply within a second; an unreadable or invalid
//!   file keeps the pools last loaded in force (the error is logged and shown in the
//!   status). This works against any Boskos server, upstream included.
//! - [`HttpClient`]: `GET /api/v2/drlcs` on `mason serve` ([`HttpClient::drlcs`]), so the
//!   builder needs no copy of the config; an upstream server has no such route
//!   ([`PoolSourceError::Unsupported`]).
//! - [`StaticPools`]: a fixed list, for embedding and tests.
//!
//! Anyone may implement the trait (`mason up` reads the store directly, through
//! `mason-inprocess`).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use mason_client::HttpClient;
use mason_types::config::ConfigError;
use mason_types::{BoskosConfig, DynamicResourceLifeCycle};

/// Why pool definitions could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolSourceError {
    /// The config file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not a valid Boskos config.
    #[error("invalid config {}: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: ConfigError,
    },
    /// The server does not publish its pools (not `mason serve`, or too old).
    #[error("{0} does not publish dynamic pools (GET /api/v2/drlcs); give the builder the config file instead")]
    Unsupported(String),
    /// The server answered with an error or something unreadable.
    #[error("cannot load pools from {url}: {message}")]
    Server {
        /// What was asked.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The load was abandoned because the controller is stopping
    /// ([`crate::shutdown::Guarded`]).
    #[error("stopped waiting for the pool definitions at shutdown")]
    Cancelled,
}

/// Supplies the current dynamic pool definitions.
#[async_trait]
pub trait PoolSource: Send + Sync {
    /// Where the pools come from, for logs.
    fn describe(&self) -> String;

    /// Every dynamic pool currently defined (the builder keeps those whose
    /// `config.type` has a registered converter).
    async fn load(&self) -> Result<Vec<DynamicResourceLifeCycle>, PoolSourceError>;
}

/// The dynamic entries of a Boskos config file.
#[derive(Debug, Clone)]
pub struct FilePools {
    path: PathBuf,
}

impl FilePools {
    /// Pools from the config file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory relative `exec` programs are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}

#[async_trait]
impl PoolSource for FilePools {
    fn describe(&self) -> String {
        format!("config file {}", self.path.display())
    }

    async fn load(&self) -> Result<Vec<DynamicResourceLifeCycle>, PoolSourceError> {
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .map_err(|source| PoolSourceError::Read {
                path: self.path.clone(),
                source,
            })?;
        let config =
            BoskosConfig::parse_and_validate(&text).map_err(|source| PoolSourceError::Invalid {
                path: self.path.clone(),
                source,
            })?;
        Ok(config.drlcs().into_values().collect())
    }
}

#[async_trait]
impl PoolSource for HttpClient {
    fn describe(&self) -> String {
        format!("{}{}", self.base_url(), mason_client::drlcs::DRLCS_ROUTE)
    }

    async fn load(&self) -> Result<Vec<DynamicResourceLifeCycle>, PoolSourceError> {
        match self.drlcs().await {
            Ok(Some(pools)) => Ok(pools),
            Ok(None) => Err(PoolSourceError::Unsupported(self.base_url().to_string())),
            Err(e) => Err(PoolSourceError::Server {
                url: PoolSource::describe(self),
                message: e.to_string(),
            }),
        }
    }
}

/// A fixed list of pools.
#[derive(Debug, Clone, Default)]
pub struct StaticPools(pub Vec<DynamicResourceLifeCycle>);

#[async_trait]
impl PoolSource for StaticPools {
    fn describe(&self) -> String {
        format!("{} pools given in code", self.0.len())
    }

    async fn load(&self) -> Result<Vec<DynamicResourceLifeCycle>, PoolSourceError> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
resources:
- type: phys
  names: [p-1, p-2]
- type: virt
  state: dirty
  min-count: 1
  max-count: 2
  needs: {phys: 1}
  config: {type: exec, content: 'command: [./b.sh]'}
";

    #[tokio::test]
    async fn file_pools_are_the_dynamic_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boskos.yaml");
        std::fs::write(&path, CONFIG).unwrap();
        let source = FilePools::new(&path);
        assert_eq!(source.base_dir(), dir.path());
        let pools = source.load().await.unwrap();
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0].rtype, "virt");
        assert_eq!(pools[0].initial_state, "dirty");
        assert_eq!(pools[0].needs.get("phys"), Some(&1));
        assert_eq!(pools[0].config.ctype, "exec");
        assert_eq!(FilePools::new("boskos.yaml").base_dir(), PathBuf::from("."));
    }

    #[tokio::test]
    async fn unreadable_and_invalid_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boskos.yaml");
        let err = FilePools::new(&path).load().await.unwrap_err();
        assert!(err.to_string().starts_with("cannot read "), "{err}");
        std::fs::write(&path, "resources:\n- type: v\n  max-count: 0\n").unwrap();
        let err = FilePools::new(&path).load().await.unwrap_err();
        assert!(err.to_string().contains("max-count: must be >0"), "{err}");
    }
}
