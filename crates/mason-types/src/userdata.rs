//! User data: the string→string map carried by every resource.
//!
//! On the wire it is a flat JSON object of strings (`null` or a missing key read as empty).
//! Updates follow upstream's merge rule: a non-empty value inserts or overwrites its key, an
//! empty value deletes it, keys not mentioned are kept. Structured values are stored as YAML
//! text inside the string (e.g. `leasedResources` holds `"- proj-1\n- proj-2\n"`).

use std::collections::BTreeMap;

use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize};

/// The user-data key under which the builder records a virtual resource's physical resources.
pub const LEASED_RESOURCES: &str = "leasedResources";

/// Errors reading structured values out of user data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserDataError {
    /// The key is absent (upstream's text).
    #[error("user data ID {0} does not exist")]
    NotFound(String),
    /// The value is not valid YAML for the expected type.
    #[error("user data ID {key} is not valid: {source}")]
    Invalid {
        /// The key that was read.
        key: String,
        /// Why it failed to parse.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// The value could not be encoded.
    #[error("cannot encode user data ID {key}: {source}")]
    Encode {
        /// The key that was written.
        key: String,
        /// Why it failed.
        #[source]
        source: serde_json::Error,
    },
}

/// A resource's user data. Keys iterate (and serialize) in lexicographic order, as Go does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct UserData(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for UserData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(UserData(
            Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default(),
        ))
    }
}

impl UserData {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Set `key` to `value` (no merge rule: an empty value is stored as is).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// Remove `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// The underlying map.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Consume into the underlying map.
    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }

    /// Iterate over `(key, value)` pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Apply upstream's merge rule: non-empty values set their key, empty values delete it.
    pub fn merge(&mut self, incoming: &UserData) {
        for (k, v) in &incoming.0 {
            if v.is_empty() {
                self.0.remove(k);
            } else {
                self.0.insert(k.clone(), v.clone());
            }
        }
    }

    /// Store `value` as YAML text under `key` (encoded through JSON like upstream, so an
    /// empty list becomes `"[]\n"`).
    pub fn set_yaml<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), UserDataError> {
        let json = serde_json::to_value(value).map_err(|source| UserDataError::Encode {
            key: key.to_string(),
            source,
        })?;
        let text = serde_yaml_ng::to_string(&json).map_err(|source| UserDataError::Invalid {
            key: key.to_string(),
            source,
        })?;
        self.0.insert(key.to_string(), text);
        Ok(())
    }

    /// Read the YAML text stored under `key`.
    pub fn extract_yaml<T: DeserializeOwned>(&self, key: &str) -> Result<T, UserDataError> {
        let text = self
            .0
            .get(key)
            .ok_or_else(|| UserDataError::NotFound(key.to_string()))?;
        serde_yaml_ng::from_str(text).map_err(|source| UserDataError::Invalid {
            key: key.to_string(),
            source,
        })
    }

    /// The names under [`LEASED_RESOURCES`]. A missing key, `null` and `[]` all mean none.
    pub fn leased_resources(&self) -> Result<Vec<String>, UserDataError> {
        match self.extract_yaml::<Option<Vec<String>>>(LEASED_RESOURCES) {
            Ok(list) => Ok(list.unwrap_or_default()),
            Err(UserDataError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Record `names` under [`LEASED_RESOURCES`] in upstream's YAML list encoding.
    pub fn set_leased_resources(&mut self, names: &[String]) {
        self.set_yaml(LEASED_RESOURCES, &names)
            .expect("a list of strings always encodes");
    }
}

impl From<BTreeMap<String, String>> for UserData {
    fn from(map: BTreeMap<String, String>) -> Self {
        UserData(map)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for UserData {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        UserData(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ud(pairs: &[(&str, &str)]) -> UserData {
        pairs.iter().copied().collect()
    }

    #[test]
    fn merge_rule() {
        let mut base = ud(&[("test", "old"), ("1", "1")]);
        base.merge(&ud(&[("test", "new"), ("2", "2"), ("1", "")]));
        assert_eq!(base, ud(&[("test", "new"), ("2", "2")]));
        base.merge(&UserData::new());
        assert_eq!(base, ud(&[("test", "new"), ("2", "2")]));
    }

    #[test]
    fn null_reads_as_empty() {
        let d: UserData = serde_json::from_str("null").unwrap();
        assert!(d.is_empty());
        assert!(serde_json::from_str::<UserData>(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn leased_resources_yaml_encoding() {
        let mut d = UserData::new();
        d.set_leased_resources(&["proj-1".into(), "proj-2".into()]);
        assert_eq!(d.get(LEASED_RESOURCES), Some("- proj-1\n- proj-2\n"));
        assert_eq!(d.leased_resources().unwrap(), vec!["proj-1", "proj-2"]);
        d.set_leased_resources(&[]);
        assert_eq!(d.get(LEASED_RESOURCES), Some("[]\n"));
        assert!(d.leased_resources().unwrap().is_empty());
        d.insert(LEASED_RESOURCES, "null\n");
        assert!(d.leased_resources().unwrap().is_empty());
        assert!(UserData::new().leased_resources().unwrap().is_empty());
        assert_eq!(
            UserData::new()
                .extract_yaml::<String>("x")
                .unwrap_err()
                .to_string(),
            "user data ID x does not exist"
        );
    }
}
