//! A strict reading of a config file, beyond upstream's validation: keys the format does
//! not know (with a "did you mean"), keys that have no effect where they are, and dynamic
//! pools that no builder can ever build.
//!
//! Upstream reads the file leniently (unknown keys are dropped), so `life-span: 2m` gives
//! a pool without a lifespan and `nmes: [a]` a dynamic pool. `mason check-config` turns
//! every [`Finding`] into an error; `mason serve` still loads such a file, as upstream
//! does, and logs each finding as a warning. Each finding names its YAML path
//! (`resources[1].life-span`) and says how to fix it.

use std::collections::BTreeSet;
use std::fmt;

use serde_yaml_ng::Value;

use super::suggest::did_you_mean;
use super::{BoskosConfig, ConfigError};
use crate::state;

/// The keys of the top level.
pub const TOP_KEYS: &[&str] = &["resources"];
/// The keys of one `resources:` entry.
pub const ENTRY_KEYS: &[&str] = &[
    "type",
    "state",
    "names",
    "max-count",
    "min-count",
    "lifespan",
    "config",
    "needs",
    "lease-ttl",
    "lease-expired-state",
];
/// The keys of an entry's `config:`.
pub const CONFIG_KEYS: &[&str] = &["type", "content"];

/// One problem found by the strict reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where, as a YAML path: `resources[1].config.type`.
    pub path: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl Finding {
    /// A finding at `path`.
    pub fn new(
        path: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.path, self.problem, self.fix)
    }
}

/// Which converters (`config.type`) a builder serves, for [`lint_pools`].
#[derive(Debug, Clone, Copy)]
pub enum Converters<'a> {
    /// Not known here (`mason serve`: the builders run elsewhere); converter names are not
    /// checked.
    Unknown,
    /// Exactly these.
    Known(&'a [&'a str]),
}

/// Keys of `text` that the config format does not know, each with a "did you mean" when
/// one is close. `Err` only when `text` is not YAML at all.
pub fn lint_keys(text: &str) -> Result<Vec<Finding>, ConfigError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let root: Value =
        serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
    let mut findings = Vec::new();
    let Value::Mapping(top) = root else {
        return Ok(findings);
    };
    check_mapping(&top, "", TOP_KEYS, &mut findings);
    if let Some(Value::Sequence(entries)) = top.get("resources") {
        for (i, entry) in entries.iter().enumerate() {
            let Value::Mapping(entry) = entry else {
                continue;
            };
            let at = format!("resources[{i}]");
            check_mapping(entry, &at, ENTRY_KEYS, &mut findings);
            if let Some(Value::Mapping(config)) = entry.get("config") {
                check_mapping(config, &format!("{at}.config"), CONFIG_KEYS, &mut findings);
            }
        }
    }
    Ok(findings)
}

/// Top-level keys of the YAML mapping `text` that are not in `known`, reported under
/// `path` (for converter content such as `exec`'s). `Err` with the parser's message when
/// `text` is not YAML; a text that is not a mapping has no keys to check.
pub fn lint_content_keys(text: &str, known: &[&str], path: &str) -> Result<Vec<Finding>, String> {
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let mut findings = Vec::new();
    if let Value::Mapping(map) = value {
        check_mapping(&map, path, known, &mut findings);
    }
    Ok(findings)
}

fn check_mapping(map: &serde_yaml_ng::Mapping, at: &str, known: &[&str], out: &mut Vec<Finding>) {
    for key in map.keys() {
        let Some(key) = key.as_str() else {
            out.push(Finding::new(
                join(at, &format!("{key:?}")),
                "a key that is not a string",
                format!("use one of: {}", known.join(", ")),
            ));
            continue;
        };
        if known.contains(&key) {
            continue;
        }
        let fix = match did_you_mean(key, known) {
            Some(close) => format!("did you mean \"{close}\"?"),
            None if known.len() == 1 => format!("the only key here is \"{}\"", known[0]),
            None => format!("known keys here: {}", known.join(", ")),
        };
        out.push(Finding::new(
            join(at, key),
            format!("unknown key \"{key}\" (ignored)"),
            fix,
        ));
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// Pools that cannot work as written: settings with no effect on a static pool, needs of
/// a type no pool has, converters no builder serves, and dynamic pools a builder never
/// builds because their new resources do not start `dirty`.
pub fn lint_pools(config: &BoskosConfig, converters: Converters<'_>) -> Vec<Finding> {
    let types: BTreeSet<&str> = config.resources.iter().map(|e| e.rtype.as_str()).collect();
    let type_list: Vec<&str> = types.iter().copied().collect();
    let mut findings = Vec::new();
    for (i, entry) in config.resources.iter().enumerate() {
        let at = format!("resources[{i}]");
        let rtype = &entry.rtype;
        if !entry.is_dynamic() {
            let unused = [
                ("lifespan", entry.lifespan.is_some()),
                ("needs", !entry.needs.is_empty()),
                ("config", !entry.config.is_empty()),
            ];
            for (key, _) in unused.iter().filter(|(_, set)| *set) {
                findings.push(Finding::new(
                    format!("{at}.{key}"),
                    format!(
                        "\"{rtype}\" is a static pool (it has names), where {key} has no effect"
                    ),
                    "remove it, or remove names to make a dynamic pool",
                ));
            }
            continue;
        }
        for needed in entry.needs.keys() {
            if types.contains(needed.as_str()) {
                continue;
            }
            if let Some(close) = did_you_mean(needed, &type_list) {
                findings.push(Finding::new(
                    format!("{at}.needs.{needed}"),
                    format!("no pool has type \"{needed}\""),
                    format!("did you mean \"{close}\"?"),
                ));
            }
        }
        let converter = entry.config.ctype.as_str();
        if converter.is_empty() {
            if !entry.needs.is_empty() {
                findings.push(Finding::new(
                    format!("{at}.needs"),
                    format!(
                        "\"{rtype}\" names no converter (config.type), so no builder builds it \
                         and what it needs is never taken"
                    ),
                    "add config: {type: exec, content: ...}, or remove needs",
                ));
            }
            continue;
        }
        if let Converters::Known(known) = converters {
            if !known.contains(&converter) {
                let fix = match did_you_mean(converter, known) {
                    Some(close) => format!("did you mean \"{close}\"?"),
                    None => format!("known converters: {}", known.join(", ")),
                };
                findings.push(Finding::new(
                    format!("{at}.config.type"),
                    format!(
                        "no builder serves converter \"{converter}\", so \"{rtype}\" resources \
                         are never built and stay {} forever",
                        entry.initial_state()
                    ),
                    fix,
                ));
            }
        }
        if entry.initial_state() != state::DIRTY {
            findings.push(Finding::new(
                format!("{at}.state"),
                format!(
                    "new \"{rtype}\" resources start \"{}\", but a builder only builds \"dirty\" \
                     ones, so they are handed out unbuilt",
                    entry.initial_state()
                ),
                "set state: dirty",
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        lint_keys(text)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn pools(text: &str, converters: Converters<'_>) -> Vec<String> {
        let config = BoskosConfig::from_yaml(text).unwrap();
        lint_pools(&config, converters)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn unknown_keys_with_paths_and_suggestions() {
        assert_eq!(
            keys("resources:\n- type: a\n  nmes: [x]\n"),
            ["resources[0].nmes: unknown key \"nmes\" (ignored); did you mean \"names\"?"]
        );
        assert_eq!(
            keys("resources:\n- type: a\n  names: [x]\n- type: d\n  max-count: 2\n  life-span: 2m\n  need: {a: 1}\n"),
            [
                "resources[1].life-span: unknown key \"life-span\" (ignored); did you mean \"lifespan\"?",
                "resources[1].need: unknown key \"need\" (ignored); did you mean \"needs\"?",
            ]
        );
        assert_eq!(
            keys("foo: bar\n"),
            ["foo: unknown key \"foo\" (ignored); the only key here is \"resources\""]
        );
        assert_eq!(
            keys("resources:\n- type: d\n  max-count: 1\n  config: {typ: exec}\n"),
            ["resources[0].config.typ: unknown key \"typ\" (ignored); did you mean \"type\"?"]
        );
        assert_eq!(
            keys("resources:\n- type: d\n  max-count: 1\n  colour: red\n"),
            [
                "resources[0].colour: unknown key \"colour\" (ignored); known keys here: \
              type, state, names, max-count, min-count, lifespan, config, needs, lease-ttl, \
              lease-expired-state"
            ]
        );
    }

    #[test]
    fn the_key_lists_are_the_formats_keys() {
        use std::collections::BTreeMap;
        use std::time::Duration;

        use crate::{ConfigType, ResourceEntry};
        // Every field set, so serialising writes every key the format has.
        let entry = ResourceEntry {
            rtype: "t".into(),
            state: "s".into(),
            names: vec!["n".into()],
            max_count: 1,
            min_count: 1,
            lifespan: Some(Duration::from_secs(1)),
            config: ConfigType {
                ctype: "exec".into(),
                content: "c".into(),
            },
            needs: BTreeMap::from([("p".to_string(), 1)]),
            lease_ttl: Some(Duration::from_secs(1)),
            lease_expired_state: "dirty".into(),
        };
        let keys = |value: Value| -> Vec<String> {
            match value {
                Value::Mapping(map) => map
                    .keys()
                    .map(|k| k.as_str().unwrap().to_string())
                    .collect(),
                other => panic!("{other:?}"),
            }
        };
        let written = serde_yaml_ng::to_value(&entry).unwrap();
        let mut got = keys(written.clone());
        got.sort();
        let mut want: Vec<String> = ENTRY_KEYS.iter().map(ToString::to_string).collect();
        want.sort();
        assert_eq!(got, want, "ENTRY_KEYS must follow ResourceEntry");
        let config = written.get("config").cloned().unwrap();
        assert_eq!(keys(config), CONFIG_KEYS);
        let top = serde_yaml_ng::to_value(BoskosConfig {
            resources: vec![entry],
        })
        .unwrap();
        assert_eq!(keys(top), TOP_KEYS);
    }

    #[test]
    fn known_keys_and_odd_shapes_pass() {
        let spec = "resources:\n- type: aws-account\n  state: free\n  names: [acct-1]\n\
                    - type: aws-cluster\n  state: dirty\n  min-count: 1\n  max-count: 2\n  \
                    lifespan: 48h\n  needs:\n    aws-account: 1\n  config:\n    type: X\n    content: \"...\"\n";
        assert!(keys(spec).is_empty());
        assert!(keys("").is_empty());
        assert!(keys("resources:\n").is_empty());
        assert!(
            keys("- a\n- b\n").is_empty(),
            "not a mapping: validation says why"
        );
        assert!(lint_keys("resources: [\n").is_err());
    }

    #[test]
    fn content_keys() {
        let found = lint_content_keys(
            "commnd: [./b.sh]\ntimeout: 1m\n",
            &["command", "timeout", "env"],
            "resources[0].config.content",
        )
        .unwrap();
        assert_eq!(
            found[0].to_string(),
            "resources[0].config.content.commnd: unknown key \"commnd\" (ignored); did you mean \"command\"?"
        );
        assert!(lint_content_keys("just text", &["command"], "x")
            .unwrap()
            .is_empty());
        assert!(lint_content_keys("a: [", &["command"], "x").is_err());
    }

    #[test]
    fn pools_that_cannot_work() {
        let exec: &[&str] = &["exec"];
        assert_eq!(
            pools("resources:\n- type: d\n  state: dirty\n  max-count: 1\n  config: {type: exce}\n", Converters::Known(exec)),
            ["resources[0].config.type: no builder serves converter \"exce\", so \"d\" resources \
              are never built and stay dirty forever; did you mean \"exec\"?"]
        );
        assert_eq!(
            pools(
                "resources:\n- type: d\n  state: dirty\n  max-count: 1\n  config: {type: Other}\n",
                Converters::Unknown
            ),
            Vec::<String>::new(),
            "serve does not know the builders' converters"
        );
        assert_eq!(
            pools("resources:\n- type: d\n  max-count: 1\n  config: {type: exec}\n", Converters::Known(exec)),
            ["resources[0].state: new \"d\" resources start \"free\", but a builder only builds \
              \"dirty\" ones, so they are handed out unbuilt; set state: dirty"]
        );
        assert_eq!(
            pools("resources:\n- type: p\n  names: [p1]\n  lifespan: 2m\n- type: d\n  max-count: 1\n  needs: {p: 1}\n", Converters::Unknown),
            [
                "resources[0].lifespan: \"p\" is a static pool (it has names), where lifespan has \
                 no effect; remove it, or remove names to make a dynamic pool",
                "resources[1].needs: \"d\" names no converter (config.type), so no builder builds \
                 it and what it needs is never taken; add config: {type: exec, content: ...}, or remove needs",
            ]
        );
        assert_eq!(
            pools("resources:\n- type: scratch-dir\n  names: [s1]\n- type: d\n  state: dirty\n  max-count: 1\n  needs: {scratch-dirs: 1}\n  config: {type: exec}\n", Converters::Known(exec)),
            ["resources[1].needs.scratch-dirs: no pool has type \"scratch-dirs\"; did you mean \"scratch-dir\"?"]
        );
    }

    #[test]
    fn a_sound_pool_has_no_findings() {
        let quickstart = "resources:\n- type: scratch-dir\n  names: [s1, s2]\n- type: sandbox\n  \
                          state: dirty\n  min-count: 1\n  max-count: 2\n  lifespan: 2m\n  needs:\n    \
                          scratch-dir: 1\n  config:\n    type: exec\n    content: |\n      command: [./b.sh]\n";
        assert!(keys(quickstart).is_empty());
        assert!(pools(quickstart, Converters::Known(&["exec"])).is_empty());
    }
}
