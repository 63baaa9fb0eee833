//! Bulk import on SQLite (`mason import`): read what the store holds, let
//! [`crate::rules::plan_import`] decide, and write the plan — all in the caller's one
//! `BEGIN IMMEDIATE` transaction, so a refused or failed import leaves nothing behind.
//! Every column is set explicitly. The acquire order and the pools' lifespans kept in
//! memory are rebuilt once the transaction commits.

use mason_types::DynamicResourceLifeCycle;
use rusqlite::{params, Connection};

use super::leases::insert_resource;
use super::{row_to_resource, Ctx, RESOURCE_COLUMNS};
use crate::rules::{self, ImportReport, ImportRequest};
use crate::{Error, Result};

/// Plan and (unless a dry run) write `request`.
pub(super) fn import(
    tx: &Connection,
    ctx: &Ctx<'_>,
    request: &ImportRequest,
) -> Result<ImportReport> {
    let resources = tx
        .prepare_cached(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources ORDER BY name"
        ))?
        .query_map([], row_to_resource)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let drlcs = load_drlcs(tx)?;
    let plan = rules::plan_import(&resources, &drlcs, request)?;
    if request.dry_run {
        return Ok(plan.report);
    }
    if plan.clear {
        tx.execute("DELETE FROM resources", [])?;
        tx.execute("DELETE FROM drlcs", [])?;
    }
    for stored in &plan.insert {
        insert_resource(tx, &stored.resource, stored.is_static)?;
    }
    let mut insert_drlc = tx.prepare_cached("INSERT INTO drlcs (type, spec) VALUES (?1, ?2)")?;
    for d in &plan.insert_drlcs {
        let spec = serde_json::to_string(d)
            .map_err(|e| Error::backend_from("could not encode an imported row", e))?;
        insert_drlc.execute(params![d.rtype, spec])?;
    }
    ctx.reload_after_commit();
    tracing::info!(
        added = plan.report.added.len(),
        removed = plan.report.removed.len(),
        drlcs_added = plan.report.drlcs_added.len(),
        "import wrote the store"
    );
    Ok(plan.report)
}

fn load_drlcs(tx: &Connection) -> Result<Vec<DynamicResourceLifeCycle>> {
    let specs = tx
        .prepare_cached("SELECT spec FROM drlcs ORDER BY type")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    specs
        .iter()
        .map(|s| serde_json::from_str(s).map_err(|e| Error::backend_from("bad DRLC row", e)))
        .collect()
}
