//! Mason's lease keys on a `resources:` entry (extensions; upstream files never have them
//! and behave exactly as before):
//!
//! - `lease-ttl: DURATION` (Go syntax, more than 0): the server ends a lease of this type
//!   that its owner has not renewed (`/update`) for this long;
//! - `lease-expired-state: STATE` (default `dirty`): where the resource goes when that
//!   happens.
//!
//! Both keys may be set on static and dynamic entries. A type split over several entries
//! must give the same values on each (or leave them unset on all but one), so that "the
//! lease policy of a type" is well defined.

use std::collections::BTreeMap;
use std::time::Duration;

use super::BoskosConfig;
use crate::duration::format_go_duration;
use crate::state;

/// How the server treats the leases of one resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasePolicy {
    /// The lease TTL of the type (`lease-ttl`); `None`: leases live until released (or
    /// reaped), as upstream.
    pub ttl: Option<Duration>,
    /// The state a resource goes to when the server ends its lease
    /// (`lease-expired-state`, default `dirty`).
    pub expired_state: String,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        Self {
            ttl: None,
            expired_state: state::DIRTY.to_string(),
        }
    }
}

impl BoskosConfig {
    /// The lease policy of every type in the config (types without lease keys get the
    /// default: no TTL, expiry to `dirty`). Assumes a validated config; on a conflict the
    /// first entry that sets a key wins.
    pub fn lease_policies(&self) -> BTreeMap<String, LeasePolicy> {
        let mut policies: BTreeMap<String, LeasePolicy> = BTreeMap::new();
        let mut state_set: BTreeMap<&str, bool> = BTreeMap::new();
        for entry in &self.resources {
            let policy = policies.entry(entry.rtype.clone()).or_default();
            if policy.ttl.is_none() {
                policy.ttl = entry.lease_ttl;
            }
            let set = state_set.entry(entry.rtype.as_str()).or_default();
            if !*set && !entry.lease_expired_state.is_empty() {
                policy.expired_state = entry.lease_expired_state.clone();
                *set = true;
            }
        }
        policies
    }

    /// The lease policy of `rtype`, `None` when the config has no such type.
    pub fn lease_policy(&self, rtype: &str) -> Option<LeasePolicy> {
        self.resources
            .iter()
            .any(|e| e.rtype == rtype)
            .then(|| self.lease_policies().remove(rtype).unwrap_or_default())
    }
}

/// The lease-key problems of `config`, in upstream's `.<index>.<key>` style.
pub(super) fn problems(config: &BoskosConfig) -> Vec<String> {
    let mut errors = Vec::new();
    // The first entry (index, value) that set each key, per type.
    let mut ttl_by_type: BTreeMap<&str, (usize, Duration)> = BTreeMap::new();
    let mut state_by_type: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for (i, entry) in config.resources.iter().enumerate() {
        if let Some(ttl) = entry.lease_ttl {
            if ttl.is_zero() {
                errors.push(format!(".{i}.lease-ttl: must be >0"));
            }
            match ttl_by_type.get(entry.rtype.as_str()) {
                Some((j, first)) if *first != ttl => errors.push(format!(
                    ".{i}.lease-ttl: {} differs from .{j}.lease-ttl {} for the same type {}",
                    format_go_duration(ttl),
                    format_go_duration(*first),
                    entry.rtype
                )),
                Some(_) => {}
                None => {
                    ttl_by_type.insert(&entry.rtype, (i, ttl));
                }
            }
        }
        let expired = entry.lease_expired_state.as_str();
        if expired.is_empty() {
            continue;
        }
        if expired.trim() != expired {
            errors.push(format!(
                ".{i}.lease-expired-state: {expired:?} must not start or end with whitespace"
            ));
        }
        match state_by_type.get(entry.rtype.as_str()) {
            Some((j, first)) if *first != expired => errors.push(format!(
                ".{i}.lease-expired-state: {expired} differs from .{j}.lease-expired-state {first} for the same type {}",
                entry.rtype
            )),
            Some(_) => {}
            None => {
                state_by_type.insert(&entry.rtype, (i, expired));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<BoskosConfig, String> {
        BoskosConfig::parse_and_validate(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn keys_are_optional_and_default_to_no_ttl_and_dirty() {
        let config = check("resources:\n- type: a\n  names: [a1]\n").unwrap();
        assert_eq!(config.resources[0].lease_ttl, None);
        assert_eq!(config.lease_policy("a"), Some(LeasePolicy::default()));
        assert_eq!(config.lease_policy("a").unwrap().expired_state, "dirty");
        assert_eq!(config.lease_policy("nope"), None);
        // Serialising an upstream entry adds no key.
        let yaml = serde_yaml_ng::to_string(&config.resources[0]).unwrap();
        assert!(!yaml.contains("lease"), "{yaml}");
    }

    #[test]
    fn static_and_dynamic_entries_take_both_keys() {
        let config = check(
            "resources:\n- type: a\n  names: [a1]\n  lease-ttl: 30m\n  lease-expired-state: cleaning\n\
             - type: d\n  min-count: 1\n  max-count: 2\n  lease-ttl: 1h30m\n",
        )
        .unwrap();
        assert_eq!(
            config.lease_policy("a"),
            Some(LeasePolicy {
                ttl: Some(Duration::from_secs(1800)),
                expired_state: "cleaning".into()
            })
        );
        let d = config.lease_policy("d").unwrap();
        assert_eq!(d.ttl, Some(Duration::from_secs(5400)));
        assert_eq!(d.expired_state, "dirty");
        let yaml = serde_yaml_ng::to_string(&config.resources[0]).unwrap();
        assert!(yaml.contains("lease-ttl: 30m0s"), "{yaml}");
        assert_eq!(
            BoskosConfig::from_yaml(&format!("resources:\n- {}", yaml.replace('\n', "\n  ")))
                .unwrap()
                .resources[0],
            config.resources[0]
        );
    }

    #[test]
    fn a_type_split_over_entries_may_set_keys_once_or_equally() {
        let config = check(
            "resources:\n- type: a\n  names: [a1]\n  lease-ttl: 10m\n- type: a\n  names: [a2]\n\
             - type: a\n  names: [a3]\n  lease-ttl: 10m\n  lease-expired-state: x\n",
        )
        .unwrap();
        assert_eq!(
            config.lease_policies()["a"],
            LeasePolicy {
                ttl: Some(Duration::from_secs(600)),
                expired_state: "x".into()
            }
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_place() {
        assert_eq!(
            check("resources:\n- type: a\n  names: [a1]\n  lease-ttl: 0s\n").unwrap_err(),
            ".0.lease-ttl: must be >0"
        );
        assert_eq!(
            check(
                "resources:\n- type: a\n  names: [a1]\n  lease-ttl: 10m\n- type: a\n  names: [a2]\n  lease-ttl: 1h\n  lease-expired-state: x\n- type: a\n  names: [a3]\n  lease-expired-state: y\n"
            )
            .unwrap_err(),
            "[.1.lease-ttl: 1h0m0s differs from .0.lease-ttl 10m0s for the same type a, \
             .2.lease-expired-state: y differs from .1.lease-expired-state x for the same type a]"
        );
        assert!(
            check("resources:\n- type: a\n  names: [a1]\n  lease-expired-state: ' x'\n")
                .unwrap_err()
                .contains("whitespace")
        );
        for bad in ["-1m", "10", "1d", "soon", "''"] {
            let err = check(&format!(
                "resources:\n- type: a\n  names: [a1]\n  lease-ttl: {bad}\n"
            ))
            .unwrap_err();
            assert!(err.starts_with("cannot parse config:"), "{bad}: {err}");
            assert!(err.contains("duration"), "{bad}: {err}");
        }
    }
}
