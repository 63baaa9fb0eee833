//! Import planning (`mason import`): decide, from what the store holds and what is to be
//! imported, exactly which rows a bulk import writes — or refuse it as a whole. Pure: the
//! backends load the snapshot and apply the plan inside one transaction.
//!
//! Rules:
//! - The request is checked first (names, types and states set, no duplicates, no NUL
//!   characters, pools with `min-count <= max-count`): the store keeps its invariants
//!   whoever calls it. Every problem is listed in one [`Error::InvalidArgument`].
//! - [`ImportMode::Empty`]: the store must hold no resource and no pool.
//! - [`ImportMode::Merge`]: what the store lacks is added; what it holds identically is
//!   left alone; anything it holds differently refuses the whole import, listing every
//!   difference ([`Error::ImportRefused`]).
//! - [`ImportMode::Replace`]: every resource and pool is removed first.
//! - Imported resources keep every field as given (times included). A resource counts as
//!   static when its type is no dynamic pool's (the pools imported, and in a merge those
//!   the store keeps), as config sync judges it; the next sync corrects the flag against
//!   the config anyway.

use std::collections::{BTreeMap, HashSet};

use mason_types::{DynamicResourceLifeCycle, Resource};

use super::plan::StoredResource;
use crate::{Error, Result};

/// What an import does with what the store holds already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImportMode {
    /// The store must be empty.
    #[default]
    Empty,
    /// Add what is missing; identical rows are left alone, a different one refuses all.
    Merge,
    /// Remove everything first.
    Replace,
}

/// An all-or-nothing bulk import ([`crate::Store::import`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRequest {
    /// Resources, written with every field as given.
    pub resources: Vec<Resource>,
    /// Dynamic pools.
    pub drlcs: Vec<DynamicResourceLifeCycle>,
    /// How to treat what the store holds.
    pub mode: ImportMode,
    /// Decide and report, but write nothing.
    pub dry_run: bool,
}

/// What an import wrote (or, in a dry run, would write). Names are sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Resources written.
    pub added: Vec<String>,
    /// Resources the store held identically (merge).
    pub unchanged: Vec<String>,
    /// Resources removed first (replace).
    pub removed: Vec<String>,
    /// Pools written.
    pub drlcs_added: Vec<String>,
    /// Pools the store held identically (merge).
    pub drlcs_unchanged: Vec<String>,
    /// Pools removed first (replace).
    pub drlcs_removed: Vec<String>,
}

impl ImportReport {
    /// Log what a committed import wrote (once, by whichever backend ran it).
    pub(crate) fn log_written(&self) {
        tracing::info!(
            added = self.added.len(),
            removed = self.removed.len(),
            drlcs_added = self.drlcs_added.len(),
            "import wrote the store"
        );
    }
}

/// The rows an import writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    /// Remove every resource and pool first.
    pub clear: bool,
    /// Resources to insert (none of them exists after `clear`).
    pub insert: Vec<StoredResource>,
    /// Pools to insert.
    pub insert_drlcs: Vec<DynamicResourceLifeCycle>,
    /// What the plan does, for the caller.
    pub report: ImportReport,
}

/// Plan importing `request` into a store holding `resources` and `drlcs`.
pub fn plan_import(
    resources: &[Resource],
    drlcs: &[DynamicResourceLifeCycle],
    request: &ImportRequest,
) -> Result<ImportPlan> {
    check_request(request)?;
    let mut plan = ImportPlan::default();
    let mut refused = Vec::new();
    let (kept, kept_drlcs): (Vec<&Resource>, Vec<&DynamicResourceLifeCycle>) = match request.mode {
        ImportMode::Empty => {
            if !resources.is_empty() || !drlcs.is_empty() {
                return Err(Error::ImportRefused(vec![format!(
                    "the store is not empty: it holds {} and {}",
                    counted(resources.len(), "resource"),
                    counted(drlcs.len(), "dynamic pool")
                )]));
            }
            (Vec::new(), Vec::new())
        }
        ImportMode::Merge => (resources.iter().collect(), drlcs.iter().collect()),
        ImportMode::Replace => {
            plan.clear = true;
            plan.report.removed = resources.iter().map(|r| r.name.clone()).collect();
            plan.report.drlcs_removed = drlcs.iter().map(|d| d.rtype.clone()).collect();
            (Vec::new(), Vec::new())
        }
    };

    let stored_drlcs: BTreeMap<&str, &DynamicResourceLifeCycle> =
        kept_drlcs.iter().map(|d| (d.rtype.as_str(), *d)).collect();
    for d in &request.drlcs {
        match stored_drlcs.get(d.rtype.as_str()) {
            None => {
                plan.insert_drlcs.push(d.clone());
                plan.report.drlcs_added.push(d.rtype.clone());
            }
            Some(s) if *s == d => plan.report.drlcs_unchanged.push(d.rtype.clone()),
            Some(_) => refused.push(format!(
                "dynamic pool {:?} is in the store with another definition",
                d.rtype
            )),
        }
    }
    let dynamic_types: HashSet<&str> = stored_drlcs
        .keys()
        .copied()
        .chain(request.drlcs.iter().map(|d| d.rtype.as_str()))
        .collect();

    let stored: BTreeMap<&str, &Resource> = kept.iter().map(|r| (r.name.as_str(), *r)).collect();
    for r in &request.resources {
        match stored.get(r.name.as_str()) {
            None => {
                plan.insert.push(StoredResource {
                    resource: r.clone(),
                    is_static: !dynamic_types.contains(r.rtype.as_str()),
                });
                plan.report.added.push(r.name.clone());
            }
            Some(s) if *s == r => plan.report.unchanged.push(r.name.clone()),
            Some(s) => refused.push(format!(
                "resource {:?} is in the store with another {}",
                r.name,
                differences(s, r).join(", ")
            )),
        }
    }
    if !refused.is_empty() {
        return Err(Error::ImportRefused(refused));
    }
    for list in [
        &mut plan.report.added,
        &mut plan.report.unchanged,
        &mut plan.report.removed,
        &mut plan.report.drlcs_added,
        &mut plan.report.drlcs_unchanged,
        &mut plan.report.drlcs_removed,
    ] {
        list.sort();
    }
    Ok(plan)
}

/// `1 resource`, `2 resources`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The fields in which two versions of a resource differ.
fn differences(a: &Resource, b: &Resource) -> Vec<&'static str> {
    let mut out = Vec::new();
    if a.rtype != b.rtype {
        out.push("type");
    }
    if a.state != b.state {
        out.push("state");
    }
    if a.owner != b.owner {
        out.push("owner");
    }
    if a.lastupdate != b.lastupdate {
        out.push("lastupdate");
    }
    if a.userdata != b.userdata {
        out.push("userdata");
    }
    if a.expiration_date != b.expiration_date {
        out.push("expiration date");
    }
    out
}

/// The store's own invariants on imported rows, every problem at once.
fn check_request(request: &ImportRequest) -> Result<()> {
    let mut problems = Vec::new();
    let mut names = HashSet::new();
    for r in &request.resources {
        let what = format!("resource {:?}", r.name);
        if r.name.is_empty() {
            problems.push("a resource has no name".to_string());
        } else if !names.insert(r.name.as_str()) {
            problems.push(format!("{what} is given twice"));
        }
        for (field, value) in [("type", &r.rtype), ("state", &r.state)] {
            if value.is_empty() {
                problems.push(format!("{what}: {field} must be set"));
            }
        }
        let has_nul = [&r.name, &r.rtype, &r.state, &r.owner]
            .iter()
            .any(|s| s.contains('\0'))
            || r.userdata
                .iter()
                .any(|(k, v)| k.contains('\0') || v.contains('\0'));
        if has_nul {
            problems.push(format!("{what}: contains a NUL character"));
        }
    }
    let mut types = HashSet::new();
    for d in &request.drlcs {
        let what = format!("dynamic pool {:?}", d.rtype);
        if d.rtype.is_empty() {
            problems.push("a dynamic pool has no type".to_string());
        } else if !types.insert(d.rtype.as_str()) {
            problems.push(format!("{what} is given twice"));
        }
        let has_nul = [
            &d.rtype,
            &d.initial_state,
            &d.config.ctype,
            &d.config.content,
        ]
        .iter()
        .any(|s| s.contains('\0'))
            || d.needs.keys().any(|k| k.contains('\0'));
        if has_nul {
            problems.push(format!("{what}: contains a NUL character"));
        }
        if d.min_count > d.max_count {
            problems.push(format!(
                "{what}: min-count {} is more than max-count {}",
                d.min_count, d.max_count
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid import: {}",
            problems.join("; ")
        )))
    }
}
