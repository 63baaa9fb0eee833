//! Config sync and dynamic upkeep on SQLite: load a snapshot, plan with
//! [`crate::rules`], apply the plan through [`super::writes`], all in the caller's
//! transaction.
//!
//! Every change to an existing row is conditional on the row being unowned and unchanged
//! since the snapshot (state and `lastupdate`); a row that no longer matches is reported
//! as deferred, never forced. Inside one `BEGIN IMMEDIATE` transaction nothing can change
//! in between, but the conditions are written out anyway so the statements say what they
//! guarantee (and match what the PostgreSQL backend must do).

use mason_types::BoskosConfig;
use rusqlite::{params, Connection};

use super::rows::{all_drlcs, resource};
use super::txn::Ctx;
use super::writes;
use crate::rows::{encode_drlc, RESOURCE_COLUMNS};
use crate::rules::{self, Snapshot, StoredResource, SyncPlan};
use crate::{Result, SyncReport};

/// SPEC §2.3 phases A and B against `config`.
pub(super) fn sync_config(
    tx: &Connection,
    ctx: &Ctx<'_>,
    config: &BoskosConfig,
) -> Result<SyncReport> {
    let snapshot = load(tx, rules::Scope::Everything)?;
    let plan = rules::plan_config_sync(&snapshot, config, ctx.now, rules::uuid_name);
    let report = apply(tx, ctx, &plan)?;
    super::ttl::store_policies(tx, &crate::lease::ttl::policies(config))?;
    rules::log_report("config sync", &plan, &report);
    Ok(report)
}

/// SPEC §2.3 phase B alone (§4.8 per pool).
pub(super) fn sync_dynamic(tx: &Connection, ctx: &Ctx<'_>) -> Result<SyncReport> {
    let snapshot = load(tx, rules::Scope::PoolMembers)?;
    let plan = rules::plan_dynamic_upkeep(&snapshot, ctx.now, rules::uuid_name);
    let report = apply(tx, ctx, &plan)?;
    rules::log_report("dynamic upkeep", &plan, &report);
    Ok(report)
}

/// The resources `scope` asks for (with their `is_static` flag), and every pool.
fn load(tx: &Connection, scope: rules::Scope) -> Result<Snapshot> {
    let filter = match scope {
        rules::Scope::Everything => "",
        rules::Scope::PoolMembers => "WHERE is_static = 0 AND type IN (SELECT type FROM drlcs)",
    };
    let sql = format!("SELECT {RESOURCE_COLUMNS}, is_static FROM resources {filter} ORDER BY name");
    let resources = tx
        .prepare_cached(&sql)?
        .query_map([], |row| {
            let is_static: bool = row.get(crate::rows::LAST_RESOURCE_COLUMN + 1)?;
            Ok(resource(row)?.map(|row| StoredResource {
                resource: row.resource,
                is_static,
            }))
        })?
        .map(|row| row?)
        .collect::<Result<Vec<_>>>()?;
    Ok(Snapshot {
        resources,
        drlcs: all_drlcs(tx)?,
    })
}

/// Apply `plan` in the order [`SyncPlan`] prescribes and report what really happened.
fn apply(tx: &Connection, ctx: &Ctx<'_>, plan: &SyncPlan) -> Result<SyncReport> {
    // Sync writes rows and pools in many ways; what the store keeps in memory is
    // reloaded once it commits.
    if !plan.is_empty() {
        ctx.reload_after_commit();
    }
    let mut report = SyncReport {
        deferred: plan.deferred.clone(),
        ..Default::default()
    };
    for guard in &plan.delete {
        let list = if writes::delete_guarded(tx, ctx, guard)? {
            &mut report.deleted
        } else {
            &mut report.deferred
        };
        list.push(guard.name.clone());
    }
    for guard in &plan.mark_to_be_deleted {
        let list = if writes::mark_to_be_deleted(tx, ctx, guard)? {
            &mut report.marked_for_deletion
        } else {
            &mut report.deferred
        };
        list.push(guard.name.clone());
    }
    for change in &plan.set_static {
        writes::set_static(tx, change)?;
    }
    let mut exists =
        tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM resources WHERE name = ?1)")?;
    for new in &plan.create {
        if exists.query_row([&new.resource.name], |r| r.get::<_, bool>(0))? {
            // A moved name whose old row is still there (leased since the snapshot).
            report.deferred.push(new.resource.name.clone());
        } else {
            writes::insert(tx, ctx, new)?;
            report.created.push(new.resource.name.clone());
        }
    }
    let mut upsert = tx.prepare_cached(
        "INSERT INTO drlcs (type, spec) VALUES (?1, ?2) \
         ON CONFLICT (type) DO UPDATE SET spec = excluded.spec",
    )?;
    for drlc in &plan.upsert_drlcs {
        upsert.execute(params![drlc.rtype, encode_drlc(drlc)?])?;
        report.drlcs_upserted.push(drlc.rtype.clone());
    }
    let mut drop_pool = tx.prepare_cached(
        "DELETE FROM drlcs WHERE type = ?1 \
         AND NOT EXISTS (SELECT 1 FROM resources WHERE type = ?1 AND is_static = 0)",
    )?;
    for rtype in &plan.delete_drlcs {
        if drop_pool.execute([rtype])? == 1 {
            report.drlcs_deleted.push(rtype.clone());
        }
    }
    Ok(rules::finish_report(report))
}
