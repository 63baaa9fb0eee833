//! The read-only calls on SQLite: one resource, filtered listings, metrics, the dynamic
//! pools, the readiness ping and probe write. Metrics come from the kept counts
//! (`counts.rs`); the `GROUP BY` scans here answer only while those cannot be trusted (a
//! failed reload).

use mason_types::{DynamicResourceLifeCycle, Metric, ResourceV2};
use rusqlite::Connection;

use super::counts::SharedCounts;
use super::rows::{all_resources, get_resource};
use crate::lease::views::{fold_metrics, one_metric};
use crate::rows::{filtered_list, CountRow, Placeholder};
use crate::{Error, ResourceFilter, Result};

/// Per-group counts of one type, or of every type.
const COUNT_ONE: &str =
    "SELECT type, state, owner, count(*) FROM resources WHERE type = ?1 GROUP BY type, state, owner";
const COUNT_ALL: &str =
    "SELECT type, state, owner, count(*) FROM resources GROUP BY type, state, owner";

/// One resource by name, with its lease facts.
pub(super) fn get(tx: &Connection, name: &str) -> Result<ResourceV2> {
    get_resource(tx, name)?.ok_or_else(|| Error::ResourceNotFound(name.to_string()))
}

/// Resources matching `filter`, least recently updated first.
pub(super) fn list(tx: &Connection, filter: &ResourceFilter) -> Result<Vec<ResourceV2>> {
    let (sql, args) = filtered_list(filter, Placeholder::Question);
    all_resources(
        &mut tx.prepare_cached(&sql)?,
        rusqlite::params_from_iter(args),
    )
}

/// `GET /metric` for one type from the kept counts; `None` when they cannot be read.
pub(super) fn kept_metric(counts: &SharedCounts, rtype: &str) -> Option<Result<Metric>> {
    let groups = counts.groups(Some(rtype))?;
    Some(one_metric(rtype, fold_metrics(groups)))
}

/// Metrics of every type from the kept counts; `None` when they cannot be read.
pub(super) fn kept_metrics(counts: &SharedCounts) -> Option<Vec<Metric>> {
    counts.groups(None).map(fold_metrics)
}

/// `GET /metric` for one type, scanning the table.
pub(super) fn metric(tx: &Connection, rtype: &str) -> Result<Metric> {
    one_metric(rtype, counts(tx, COUNT_ONE, Some(rtype))?)
}

/// Metrics of every type, sorted by type, scanning the table.
pub(super) fn all_metrics(tx: &Connection) -> Result<Vec<Metric>> {
    counts(tx, COUNT_ALL, None)
}

fn counts(tx: &Connection, sql: &str, rtype: Option<&str>) -> Result<Vec<Metric>> {
    let groups = tx
        .prepare_cached(sql)?
        .query_map(rusqlite::params_from_iter(rtype), |r| {
            Ok(CountRow {
                rtype: r.get(0)?,
                state: r.get(1)?,
                owner: r.get(2)?,
                count: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(fold_metrics(groups))
}

/// The dynamic pools, by type.
pub(super) fn drlcs(tx: &Connection) -> Result<Vec<DynamicResourceLifeCycle>> {
    super::rows::all_drlcs(tx)
}

/// A trivial statement (readiness).
pub(super) fn ping(tx: &Connection) -> Result<()> {
    tx.query_row("SELECT 1", [], |_| Ok(()))?;
    Ok(())
}

/// A real write that changes nothing (the schema version, rewritten as it is): the
/// readiness probe while writes fail on the storage.
pub(super) fn probe_write(tx: &Connection) -> Result<()> {
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    tx.pragma_update(None, "user_version", version)?;
    Ok(())
}
