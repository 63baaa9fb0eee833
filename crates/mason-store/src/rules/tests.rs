//! Unit tests of the planners: fixtures, a reference applier that does in memory what a
//! backend does in SQL (guards included), and one test per upstream scenario of SPEC
//! §4.11 ("SyncResources" in [`config_sync`], "UpdateAllDynamicResources" in [`dynamic`]).

mod config_sync;
mod dynamic;

use std::time::Duration;

use mason_types::{state, BoskosConfig, DynamicResourceLifeCycle, Resource, Timestamp};

use super::{plan_config_sync, plan_dynamic_upkeep, Snapshot, StoredResource, SyncPlan};

/// When the fixtures were last written (upstream's `startTime`).
fn t0() -> Timestamp {
    mason_types::resource::parse_wire_time("2024-03-01T10:00:00Z").expect("valid time")
}

/// When the sync runs (upstream's `fakeNow`).
fn now() -> Timestamp {
    t0() + Duration::from_secs(1)
}

/// A dynamic (non-static) resource last written at [`t0`].
fn dynamic(name: &str, rtype: &str, state: &str) -> StoredResource {
    StoredResource {
        resource: Resource::new(rtype, name, state, t0()),
        is_static: false,
    }
}

/// A static resource last written at [`t0`].
fn fixed(name: &str, rtype: &str, state: &str) -> StoredResource {
    StoredResource {
        resource: Resource::new(rtype, name, state, t0()),
        is_static: true,
    }
}

impl StoredResource {
    fn owned_by(mut self, owner: &str) -> Self {
        self.resource.owner = owner.to_string();
        self
    }

    fn expiring(mut self, at: Timestamp) -> Self {
        self.resource.expiration_date = Some(at);
        self
    }
}

/// A pool with the given counts and no initial state (so `free`).
fn drlc(rtype: &str, min: u32, max: u32) -> DynamicResourceLifeCycle {
    DynamicResourceLifeCycle {
        rtype: rtype.into(),
        min_count: min,
        max_count: max,
        ..Default::default()
    }
}

fn snapshot(resources: Vec<StoredResource>, drlcs: Vec<DynamicResourceLifeCycle>) -> Snapshot {
    Snapshot { resources, drlcs }
}

/// Deterministic names, as upstream's tests use: `new-dynamic-res-1`, `-2`, …
fn sequence() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("new-dynamic-res-{n}")
    }
}

fn config(yaml: &str) -> BoskosConfig {
    BoskosConfig::parse_and_validate(yaml).expect("test config is valid")
}

/// Apply `plan` to `before` the way a backend must: guarded deletes and marks, flags,
/// creations that skip existing names, pool upserts, guarded pool deletions.
fn apply(before: &Snapshot, plan: &SyncPlan) -> Snapshot {
    let mut after = before.clone();
    let matches = |r: &Resource, g: &super::RowGuard| {
        r.name == g.name && r.owner.is_empty() && r.state == g.state && r.lastupdate == g.lastupdate
    };
    for g in &plan.delete {
        after.resources.retain(|s| !matches(&s.resource, g));
    }
    for g in &plan.mark_to_be_deleted {
        for s in after
            .resources
            .iter_mut()
            .filter(|s| matches(&s.resource, g))
        {
            s.resource.state = state::TO_BE_DELETED.into();
            s.resource.lastupdate = now();
        }
    }
    for f in &plan.set_static {
        for s in after
            .resources
            .iter_mut()
            .filter(|s| s.resource.name == f.name)
        {
            s.is_static = f.is_static;
        }
    }
    for c in &plan.create {
        if !after
            .resources
            .iter()
            .any(|s| s.resource.name == c.resource.name)
        {
            after.resources.push(c.clone());
        }
    }
    for d in &plan.upsert_drlcs {
        after.drlcs.retain(|x| x.rtype != d.rtype);
        after.drlcs.push(d.clone());
    }
    for t in &plan.delete_drlcs {
        let in_use = after
            .resources
            .iter()
            .any(|s| !s.is_static && &s.resource.rtype == t);
        if !in_use {
            after.drlcs.retain(|x| &x.rtype != t);
        }
    }
    after
}

/// Resources as sorted `name type state owner when flag [exp=…]` lines, where `when` is
/// `t0`, `now` or the time itself, and `flag` is `S` (static) or `D` (dynamic).
fn rows(s: &Snapshot) -> Vec<String> {
    let when = |t: &Timestamp| match t {
        t if *t == t0() => "t0".to_string(),
        t if *t == now() => "now".to_string(),
        t => t.to_rfc3339(),
    };
    let mut out: Vec<String> = s
        .resources
        .iter()
        .map(|s| {
            let r = &s.resource;
            let owner = if r.owner.is_empty() { "-" } else { &r.owner };
            let flag = if s.is_static { "S" } else { "D" };
            let mut line = format!(
                "{} {} {} {owner} {} {flag}",
                r.name,
                r.rtype,
                r.state,
                when(&r.lastupdate)
            );
            if let Some(exp) = &r.expiration_date {
                line.push_str(&format!(" exp={}", when(exp)));
            }
            line
        })
        .collect();
    out.sort();
    out
}

/// Pools as sorted `type min/max` lines.
fn pools(s: &Snapshot) -> Vec<String> {
    let mut out: Vec<String> = s
        .drlcs
        .iter()
        .map(|d| format!("{} {}/{}", d.rtype, d.min_count, d.max_count))
        .collect();
    out.sort();
    out
}

/// Run a full config sync on `before` and apply it.
fn sync(before: &Snapshot, yaml: Option<&str>) -> (SyncPlan, Snapshot) {
    let cfg = yaml.map(config).unwrap_or_default();
    let plan = plan_config_sync(before, &cfg, now(), sequence());
    let after = apply(before, &plan);
    (plan, after)
}

/// Run dynamic upkeep on `before` and apply it.
fn upkeep(before: &Snapshot) -> (SyncPlan, Snapshot) {
    let plan = plan_dynamic_upkeep(before, now(), sequence());
    let after = apply(before, &plan);
    (plan, after)
}

/// Lines for [`rows`] comparisons.
fn lines(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}
