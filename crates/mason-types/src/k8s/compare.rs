//! Comparing the dynamic pools read from upstream (`DRLCObject`s) with the dynamic pools
//! of a resource config, so a migration shows, before anything is written, every way the
//! config a Mason server will run with differs from what upstream was running.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::config::{BoskosConfig, DynamicResourceLifeCycle};
use crate::duration::format_go_duration;
use crate::state;

/// One way an input pool and the config's pools differ.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolDifference {
    /// A pool in the input that the config does not define as a dynamic pool.
    OnlyInInput {
        /// The pool's type.
        rtype: String,
        /// Whether the config lists the type as a static pool (with names).
        static_in_config: bool,
    },
    /// A dynamic pool of the config that the input does not have.
    OnlyInConfig {
        /// The pool's type.
        rtype: String,
    },
    /// A field with different values.
    Field {
        /// The pool's type.
        rtype: String,
        /// The `DRLCObject` field, e.g. `spec.max-count`.
        field: &'static str,
        /// The input's value, as text.
        input: String,
        /// The config's value, as text.
        config: String,
    },
}

impl fmt::Display for PoolDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolDifference::OnlyInInput {
                rtype,
                static_in_config,
            } => {
                write!(f, "pool {rtype:?}: in the input but ")?;
                if *static_in_config {
                    write!(f, "a static pool (with names) in the config")?;
                } else {
                    write!(f, "not in the config")?;
                }
                write!(
                    f,
                    "; a server on this config parks it at min-count = max-count = 0 and \
                     retires its unleased resources"
                )
            }
            PoolDifference::OnlyInConfig { rtype } => write!(
                f,
                "pool {rtype:?}: in the config but not in the input; a server on this config \
                 creates it"
            ),
            PoolDifference::Field {
                rtype,
                field,
                input,
                config,
            } => write!(
                f,
                "pool {rtype:?}: {field} is {input} in the input, {config} in the config"
            ),
        }
    }
}

/// Every difference between `drlcs` (read from upstream) and the dynamic pools of
/// `config`, by type. An empty initial state counts as `free` on both sides.
pub fn compare_pools(
    drlcs: &[DynamicResourceLifeCycle],
    config: &BoskosConfig,
) -> Vec<PoolDifference> {
    let wanted = config.drlcs();
    let static_types: BTreeSet<&str> = config
        .resources
        .iter()
        .filter(|e| !e.is_dynamic())
        .map(|e| e.rtype.as_str())
        .collect();
    let input: BTreeMap<&str, &DynamicResourceLifeCycle> =
        drlcs.iter().map(|d| (d.rtype.as_str(), d)).collect();
    let mut out = Vec::new();
    for (rtype, have) in &input {
        match wanted.get(*rtype) {
            None => out.push(PoolDifference::OnlyInInput {
                rtype: rtype.to_string(),
                static_in_config: static_types.contains(rtype),
            }),
            Some(want) => field_differences(have, want, &mut out),
        }
    }
    for rtype in wanted.keys() {
        if !input.contains_key(rtype.as_str()) {
            out.push(PoolDifference::OnlyInConfig {
                rtype: rtype.clone(),
            });
        }
    }
    out.sort_by(|a, b| type_of(a).cmp(type_of(b)));
    out
}

fn type_of(d: &PoolDifference) -> &str {
    match d {
        PoolDifference::OnlyInInput { rtype, .. }
        | PoolDifference::OnlyInConfig { rtype }
        | PoolDifference::Field { rtype, .. } => rtype,
    }
}

fn field_differences(
    have: &DynamicResourceLifeCycle,
    want: &DynamicResourceLifeCycle,
    out: &mut Vec<PoolDifference>,
) {
    let state = |d: &DynamicResourceLifeCycle| {
        if d.initial_state.is_empty() {
            state::FREE.to_string()
        } else {
            d.initial_state.clone()
        }
    };
    let lifespan = |d: &DynamicResourceLifeCycle| match d.lifespan {
        Some(l) => format_go_duration(l),
        None => "unset".to_string(),
    };
    let needs = |d: &DynamicResourceLifeCycle| {
        let pairs: Vec<String> = d.needs.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        format!("{{{}}}", pairs.join(", "))
    };
    let text = |s: &str| format!("{s:?}");
    let pairs: [(&'static str, String, String); 7] = [
        ("spec.state", text(&state(have)), text(&state(want))),
        (
            "spec.min-count",
            have.min_count.to_string(),
            want.min_count.to_string(),
        ),
        (
            "spec.max-count",
            have.max_count.to_string(),
            want.max_count.to_string(),
        ),
        ("spec.lifespan", lifespan(have), lifespan(want)),
        (
            "spec.config.type",
            text(&have.config.ctype),
            text(&want.config.ctype),
        ),
        (
            "spec.config.content",
            text(&have.config.content),
            text(&want.config.content),
        ),
        ("spec.needs", needs(have), needs(want)),
    ];
    for (field, input, config) in pairs {
        if input != config {
            out.push(PoolDifference::Field {
                rtype: have.rtype.clone(),
                field,
                input,
                config,
            });
        }
    }
}
