//! What a virtual resource is built by: the [`Masonable`] trait, the converters that turn
//! a pool's `config.content` into one, and the registry that maps a pool's `config.type`
//! to its converter.
//!
//! A converter is called once per pool definition (and again when the definition
//! changes), not once per build: a bad `content` is reported as soon as the pool is loaded.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mason_types::{format_go_duration, Resource, UserData};
use tokio_util::sync::CancellationToken;

/// The physical resources handed to a construct, by type.
pub type TypeToResources = BTreeMap<String, Vec<Resource>>;

/// Why a construct failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConstructError {
    /// The construct ran and reported a failure.
    #[error("{0}")]
    Failed(String),
    /// The builder asked the construct to stop (shutdown).
    #[error("construct was cancelled")]
    Cancelled,
    /// The construct ran longer than its timeout.
    #[error("construct timed out after {}", format_go_duration(*.0))]
    TimedOut(Duration),
}

impl ConstructError {
    /// A failure described by `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        ConstructError::Failed(message.into())
    }
}

/// Builds one virtual resource out of its leased physical resources.
///
/// Implementations receive copies: changing them has no effect. The returned user data is
/// merged into the virtual resource (an empty value deletes a key); the builder keeps
/// `leasedResources` for itself and ignores that key if returned.
#[async_trait]
pub trait Masonable: Send + Sync {
    /// Build `resource` from `leased`. Must return promptly once `cancel` is cancelled.
    async fn construct(
        &self,
        resource: &Resource,
        leased: &TypeToResources,
        cancel: CancellationToken,
    ) -> Result<UserData, ConstructError>;

    /// How long one construct may run; `None` uses the builder's default.
    fn timeout(&self) -> Option<Duration> {
        None
    }
}

/// A pool's `config.content` could not be turned into a [`Masonable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConvertError(pub String);

impl ConvertError {
    /// An error described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        ConvertError(message.into())
    }
}

/// Turns a pool's `config.content` into a [`Masonable`]. Plain functions
/// (`fn(&str) -> Result<Box<dyn Masonable>, ConvertError>`) and closures both fit.
pub type ConfigConverter =
    Arc<dyn Fn(&str) -> Result<Box<dyn Masonable>, ConvertError> + Send + Sync>;

/// Why a converter could not be registered or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The name is already taken (upstream's text).
    #[error("a converter for {0} already exists")]
    Duplicate(String),
    /// Converter names must not be empty.
    #[error("a converter name must not be empty")]
    EmptyName,
    /// No converter is registered for a pool's `config.type` (upstream's text).
    #[error("config type {0} is not supported")]
    Unsupported(String),
    /// The converter refused the pool's content.
    #[error("cannot read config of type {ctype}: {source}")]
    Convert {
        /// The pool's `config.type`.
        ctype: String,
        /// The converter's complaint.
        #[source]
        source: ConvertError,
    },
}

/// Converters by name (the `config.type` they serve).
#[derive(Clone, Default)]
pub struct ConverterRegistry {
    converters: BTreeMap<String, ConfigConverter>,
}

impl fmt::Debug for ConverterRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConverterRegistry")
            .field("names", &self.names())
            .finish()
    }
}

impl ConverterRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `converter` for pools whose `config.type` is `name`.
    pub fn register<F>(&mut self, name: &str, converter: F) -> Result<(), RegistryError>
    where
        F: Fn(&str) -> Result<Box<dyn Masonable>, ConvertError> + Send + Sync + 'static,
    {
        if name.is_empty() {
            return Err(RegistryError::EmptyName);
        }
        if self.converters.contains_key(name) {
            return Err(RegistryError::Duplicate(name.to_string()));
        }
        self.converters
            .insert(name.to_string(), Arc::new(converter));
        Ok(())
    }

    /// Whether a converter serves `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.converters.contains_key(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.converters.keys().cloned().collect()
    }

    /// Build the [`Masonable`] for a pool of config type `ctype` with `content`.
    pub fn convert(&self, ctype: &str, content: &str) -> Result<Arc<dyn Masonable>, RegistryError> {
        let converter = self
            .converters
            .get(ctype)
            .ok_or_else(|| RegistryError::Unsupported(ctype.to_string()))?;
        converter(content)
            .map(Arc::from)
            .map_err(|source| RegistryError::Convert {
                ctype: ctype.to_string(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(UserData);

    #[async_trait]
    impl Masonable for Fixed {
        async fn construct(
            &self,
            _resource: &Resource,
            _leased: &TypeToResources,
            _cancel: CancellationToken,
        ) -> Result<UserData, ConstructError> {
            Ok(self.0.clone())
        }
    }

    fn fixed(content: &str) -> Result<Box<dyn Masonable>, ConvertError> {
        if content == "bad" {
            return Err(ConvertError::new("content must not be bad"));
        }
        Ok(Box::new(Fixed(
            [("content", content)].into_iter().collect(),
        )))
    }

    #[tokio::test]
    async fn registered_converter_builds_a_masonable() {
        let mut reg = ConverterRegistry::new();
        reg.register("fixed", fixed).unwrap();
        assert!(reg.contains("fixed"));
        let m = reg.convert("fixed", "abc").unwrap();
        let r = Resource::new("v", "v-1", "cleaning", chrono_epoch());
        let out = m
            .construct(&r, &TypeToResources::new(), CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(out.get("content"), Some("abc"));
        assert_eq!(m.timeout(), None);
    }

    #[test]
    fn duplicate_and_empty_names_are_refused() {
        let mut reg = ConverterRegistry::new();
        reg.register("fixed", fixed).unwrap();
        let err = reg.register("fixed", fixed).unwrap_err();
        assert_eq!(err.to_string(), "a converter for fixed already exists");
        assert_eq!(
            reg.register("", fixed).unwrap_err(),
            RegistryError::EmptyName
        );
        // Closures capturing state are converters too.
        let prefix = String::from("p-");
        reg.register("closure", move |c: &str| fixed(&format!("{prefix}{c}")))
            .unwrap();
        assert_eq!(reg.names(), vec!["closure", "fixed"]);
    }

    #[test]
    fn unknown_type_and_bad_content_are_reported() {
        let mut reg = ConverterRegistry::new();
        reg.register("fixed", fixed).unwrap();
        let err = reg.convert("nope", "").err().unwrap();
        assert_eq!(err.to_string(), "config type nope is not supported");
        let err = reg.convert("fixed", "bad").err().unwrap();
        assert_eq!(
            err.to_string(),
            "cannot read config of type fixed: content must not be bad"
        );
    }

    fn chrono_epoch() -> mason_types::Timestamp {
        mason_types::Timestamp::UNIX_EPOCH
    }
}
