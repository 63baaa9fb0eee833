//! Upstream's config validation rules, with its messages. Every problem is reported at
//! once: one error prints bare, several print as `[e1, e2, …]`.
//!
//! Choices where upstream is loose: duplicate `type` entries stay accepted (upstream's
//! check is dead code and real configs split one type over two static entries); dynamic
//! entries are checked against generated placeholder names only for the capacity count.

use std::collections::{BTreeMap, HashSet};

use super::BoskosConfig;

/// Why a config file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The YAML could not be read.
    #[error("cannot parse config: {0}")]
    Parse(String),
    /// The config breaks one or more rules.
    #[error("{}", format_list(.0))]
    Invalid(Vec<String>),
}

impl ConfigError {
    /// The individual problems (one item for a parse error).
    pub fn problems(&self) -> Vec<String> {
        match self {
            ConfigError::Parse(e) => vec![format!("cannot parse config: {e}")],
            ConfigError::Invalid(list) => list.clone(),
        }
    }
}

fn format_list(errors: &[String]) -> String {
    if errors.len() == 1 {
        errors[0].clone()
    } else {
        format!("[{}]", errors.join(", "))
    }
}

/// Check a parsed config against upstream's rules.
pub fn validate(config: &BoskosConfig) -> Result<(), ConfigError> {
    if config.resources.is_empty() {
        return Err(ConfigError::Invalid(vec!["empty config".to_string()]));
    }
    let mut errors = Vec::new();
    let mut required: BTreeMap<&str, u64> = BTreeMap::new();
    let mut available: BTreeMap<&str, u64> = BTreeMap::new();
    let mut seen_names: HashSet<&str> = HashSet::new();

    for (i, entry) in config.resources.iter().enumerate() {
        if entry.rtype.is_empty() {
            errors.push(format!(".{i}.type: must be set"));
        }
        if entry.is_dynamic() {
            if entry.max_count == 0 {
                errors.push(format!(".{i}.max-count: must be >0"));
            }
            if entry.min_count > entry.max_count {
                errors.push(format!(".{i}.min-count: must be <= .{i}.max-count"));
            }
            for (t, n) in &entry.needs {
                *required.entry(t.as_str()).or_default() +=
                    u64::from(*n) * u64::from(entry.max_count);
            }
            *available.entry(entry.rtype.as_str()).or_default() += u64::from(entry.max_count);
        } else {
            if entry.min_count != 0 {
                errors.push(format!(
                    ".{i}.min-count must be unset when the names property is set"
                ));
            }
            if entry.max_count != 0 {
                errors.push(format!(
                    ".{i}.max-count must be unset when the names property is set"
                ));
            }
            *available.entry(entry.rtype.as_str()).or_default() += entry.names.len() as u64;
            for (j, name) in entry.names.iter().enumerate() {
                let reasons = dns1123_subdomain_problems(name);
                if !reasons.is_empty() {
                    errors.push(format!(
                        ".{i}.names.{j}({name}) is invalid: [{}]",
                        reasons.join(", ")
                    ));
                }
                if !seen_names.insert(name.as_str()) {
                    errors.push(format!(".{i}.names.{j}({name}) is a duplicate"));
                }
            }
        }
    }
    errors.extend(super::lease::problems(config));
    for (t, need) in &required {
        match available.get(t) {
            None => errors.push(format!("need for resource {t} that does not exist")),
            Some(have) if need > have => {
                errors.push(format!("not enough resource of type {t} for provisioning"))
            }
            Some(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(errors))
    }
}

/// Whether `name` is a DNS-1123 subdomain (what Kubernetes accepts as an object name).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    dns1123_subdomain_problems(name).is_empty()
}

/// Kubernetes' wording for why a name is not a DNS-1123 subdomain.
pub(crate) fn dns1123_subdomain_problems(name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if name.len() > 253 {
        problems.push("must be no more than 253 characters".to_string());
    }
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
    };
    if !name.split('.').all(label_ok) {
        problems.push(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character (e.g. \
             'example.com', regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                .to_string(),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<(), String> {
        BoskosConfig::parse_and_validate(yaml)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn empty_config_is_rejected() {
        assert_eq!(check("resources: []").unwrap_err(), "empty config");
        assert_eq!(check("").unwrap_err(), "empty config");
    }

    #[test]
    fn single_error_prints_bare() {
        assert_eq!(
            check("resources:\n- names: [a]\n").unwrap_err(),
            ".0.type: must be set"
        );
    }

    #[test]
    fn errors_are_aggregated() {
        let err = check(
            "resources:\n- type: d\n  max-count: 0\n- type: e\n  min-count: 3\n  max-count: 2\n- type: s\n  names: [x]\n  min-count: 1\n  max-count: 1\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "[.0.max-count: must be >0, .1.min-count: must be <= .1.max-count, \
             .2.min-count must be unset when the names property is set, \
             .2.max-count must be unset when the names property is set]"
        );
    }

    #[test]
    fn names_must_be_dns1123_and_unique() {
        let err =
            check("resources:\n- type: a\n  names: [ok-1, Bad_Name]\n- type: b\n  names: [ok-1]\n")
                .unwrap_err();
        assert!(
            err.contains(".0.names.1(Bad_Name) is invalid: [a lowercase RFC 1123 subdomain"),
            "{err}"
        );
        assert!(err.contains(".1.names.0(ok-1) is a duplicate"), "{err}");
    }

    #[test]
    fn needs_capacity_is_checked() {
        assert_eq!(
            check("resources:\n- type: v\n  max-count: 2\n  needs: {p: 1}\n").unwrap_err(),
            "need for resource p that does not exist"
        );
        assert_eq!(
            check("resources:\n- type: p\n  names: [p1]\n- type: v\n  max-count: 2\n  needs: {p: 1}\n")
                .unwrap_err(),
            "not enough resource of type p for provisioning"
        );
        check("resources:\n- type: p\n  names: [p1, p2]\n- type: v\n  max-count: 2\n  needs: {p: 1}\n")
            .unwrap();
    }

    #[test]
    fn duplicate_types_are_accepted() {
        check("resources:\n- type: a\n  names: [a1]\n- type: a\n  state: dirty\n  names: [a2]\n")
            .unwrap();
    }
}
