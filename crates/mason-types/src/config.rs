//! The Boskos resource config file (`resources:` YAML) and dynamic pools.
//!
//! A config entry with `names` is a static pool; one without is a dynamic pool, a
//! "DRLC" (dynamic resource life cycle) that the server keeps between `min-count` and
//! `max-count` resources with generated UUID names. Parsing is lenient like upstream
//! (unknown keys are ignored); [`validate`] applies upstream's rules and messages, and
//! [`lint`] is the strict reading on top (unknown keys with a "did you mean", pools that
//! can never be built) that `mason check-config` enforces and `mason serve` warns about.

mod lease;
pub mod lint;
mod suggest;
mod validate;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::{format_go_duration, parse_go_duration};
use crate::state;

pub use lease::LeasePolicy;
pub use suggest::did_you_mean;
pub(crate) use validate::dns1123_subdomain_problems;
pub use validate::{is_dns1123_subdomain, validate, ConfigError};

/// The whole config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoskosConfig {
    /// One entry per pool.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<ResourceEntry>,
}

/// Mason (builder) settings of a dynamic pool: which converter builds it and its input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigType {
    /// The converter name (e.g. `exec`).
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub ctype: String,
    /// Opaque text handed to the converter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
}

impl ConfigType {
    /// Whether neither field is set.
    pub fn is_empty(&self) -> bool {
        self.ctype.is_empty() && self.content.is_empty()
    }
}

/// One element of `resources:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceEntry {
    /// The resource type (required).
    #[serde(rename = "type", default)]
    pub rtype: String,
    /// Initial state; empty means `free`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state: String,
    /// Static resource names; empty for a dynamic pool.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub names: Vec<String>,
    /// Dynamic pools: the most resources kept.
    #[serde(rename = "max-count", default)]
    pub max_count: u32,
    /// Dynamic pools: the fewest resources kept.
    #[serde(rename = "min-count", default)]
    pub min_count: u32,
    /// Dynamic pools: how long a resource lives after each release.
    #[serde(
        default,
        with = "lifespan_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub lifespan: Option<Duration>,
    /// Builder settings.
    #[serde(default, skip_serializing_if = "ConfigType::is_empty")]
    pub config: ConfigType,
    /// Resources of other types needed to build one of these.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub needs: BTreeMap<String, u32>,
    /// Mason extension (`lease-ttl`): the server itself ends a lease of this type that its
    /// owner has not renewed for this long (see [`LeasePolicy`]).
    #[serde(
        rename = "lease-ttl",
        default,
        with = "crate::duration::go_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_ttl: Option<Duration>,
    /// Mason extension (`lease-expired-state`): the state a resource goes to when the
    /// server ends its lease at the deadline; empty means `dirty`.
    #[serde(
        rename = "lease-expired-state",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub lease_expired_state: String,
}

impl ResourceEntry {
    /// Whether this entry is a dynamic pool (upstream's `IsDRLC`: no names).
    pub fn is_dynamic(&self) -> bool {
        self.names.is_empty()
    }

    /// The initial state, `free` when unset.
    pub fn initial_state(&self) -> &str {
        if self.state.is_empty() {
            state::FREE
        } else {
            &self.state
        }
    }

    /// The dynamic pool this entry describes.
    pub fn to_drlc(&self) -> DynamicResourceLifeCycle {
        DynamicResourceLifeCycle {
            rtype: self.rtype.clone(),
            initial_state: self.initial_state().to_string(),
            min_count: self.min_count,
            max_count: self.max_count,
            lifespan: self.lifespan,
            config: self.config.clone(),
            needs: self.needs.clone(),
        }
    }
}

/// A dynamic pool as the server keeps it (JSON keys as upstream's DRLC; `lifespan` is
/// integer nanoseconds on this form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicResourceLifeCycle {
    /// The pool's resource type (also its identity).
    #[serde(rename = "type")]
    pub rtype: String,
    /// State of newly created resources.
    #[serde(rename = "state", default)]
    pub initial_state: String,
    /// The fewest resources kept.
    #[serde(rename = "min-count", default)]
    pub min_count: u32,
    /// The most resources kept.
    #[serde(rename = "max-count", default)]
    pub max_count: u32,
    /// Lifetime after each release.
    #[serde(
        default,
        with = "lifespan_nanos",
        skip_serializing_if = "Option::is_none"
    )]
    pub lifespan: Option<Duration>,
    /// Builder settings.
    #[serde(default, skip_serializing_if = "ConfigType::is_empty")]
    pub config: ConfigType,
    /// Resources of other types needed per resource.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub needs: BTreeMap<String, u32>,
}

impl BoskosConfig {
    /// Parse YAML text (lenient: unknown keys ignored). Does not validate.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml_ng::from_str::<Option<BoskosConfig>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Parse and validate.
    pub fn parse_and_validate(text: &str) -> Result<Self, ConfigError> {
        let config = Self::from_yaml(text)?;
        validate(&config)?;
        Ok(config)
    }

    /// Every distinct resource type named by the config, sorted.
    pub fn types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.resources.iter().map(|e| e.rtype.clone()).collect();
        types.sort();
        types.dedup();
        types
    }

    /// The dynamic pools, by type (the last entry wins when a type repeats).
    pub fn drlcs(&self) -> BTreeMap<String, DynamicResourceLifeCycle> {
        self.resources
            .iter()
            .filter(|e| e.is_dynamic())
            .map(|e| (e.rtype.clone(), e.to_drlc()))
            .collect()
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `lifespan` in the config file: a Go duration string or an integer of nanoseconds.
mod lifespan_serde {
    use super::*;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Nanos(i64),
        Text(String),
    }

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_go_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Nanos(n)) if n > 0 => Ok(Some(Duration::from_nanos(n as u64))),
            Some(Raw::Nanos(0)) => Ok(None),
            Some(Raw::Nanos(n)) => Err(serde::de::Error::custom(format!(
                "lifespan must not be negative, got {n}"
            ))),
            Some(Raw::Text(t)) if t.is_empty() => Ok(None),
            Some(Raw::Text(t)) => parse_go_duration(&t)
                .map(|d| (!d.is_zero()).then_some(d))
                .map_err(serde::de::Error::custom),
        }
    }
}

/// `lifespan` on the DRLC form: integer nanoseconds.
mod lifespan_nanos {
    use super::*;

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_i64(d.as_nanos().min(i64::MAX as u128) as i64),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?
            .filter(|n| *n > 0)
            .map(|n| Duration::from_nanos(n as u64)))
    }
}

#[cfg(test)]
mod tests;
