//! Bulk import on SQLite (`mason import`): read what the store holds, let
//! [`crate::rules::plan_import`] decide, and write the plan — all in the caller's one
//! `BEGIN IMMEDIATE` transaction, so a refused or failed import leaves nothing behind.
//! Every column is set explicitly. The acquire order and the pools' lifespans kept in
//! memory are rebuilt once the transaction commits.

use rusqlite::{params, Connection};

use super::rows::{all_drlcs, all_resources};
use super::txn::Ctx;
use super::writes;
use crate::rows::{encode_drlc, resource_columns};
use crate::rules::{self, ImportReport, ImportRequest};
use crate::Result;

/// Plan and (unless a dry run) write `request`.
pub(super) fn import(
    tx: &Connection,
    ctx: &Ctx<'_>,
    request: &ImportRequest,
) -> Result<ImportReport> {
    let mut stmt = tx.prepare_cached(concat!(
        "SELECT ",
        resource_columns!(),
        " FROM resources ORDER BY name"
    ))?;
    let resources: Vec<_> = all_resources(&mut stmt, [])?
        .into_iter()
        .map(|r| r.resource)
        .collect();
    let plan = rules::plan_import(&resources, &all_drlcs(tx)?, request)?;
    if request.dry_run {
        return Ok(plan.report);
    }
    ctx.reload_after_commit();
    if plan.clear {
        ctx.deleting_rows(tx)?;
        tx.execute("DELETE FROM resources", [])?;
        tx.execute("DELETE FROM drlcs", [])?;
    }
    for stored in &plan.insert {
        writes::insert(tx, ctx, stored)?;
    }
    let mut insert_drlc = tx.prepare_cached("INSERT INTO drlcs (type, spec) VALUES (?1, ?2)")?;
    for d in &plan.insert_drlcs {
        insert_drlc.execute(params![d.rtype, encode_drlc(d)?])?;
    }
    plan.report.log_written();
    Ok(plan.report)
}
