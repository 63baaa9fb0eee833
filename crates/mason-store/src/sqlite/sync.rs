//! Config sync and dynamic upkeep on SQLite: load a snapshot, plan with
//! [`crate::rules`], apply the plan with compare-and-set conditions, all in the caller's
//! transaction.
//!
//! Every change to an existing row is conditional on the row being unowned and unchanged
//! since the snapshot (state and `lastupdate`); a row that no longer matches is reported
//! as deferred, never forced. Inside one `BEGIN IMMEDIATE` transaction nothing can change
//! in between, but the conditions are written out anyway so the statements say what they
//! guarantee (and match what the PostgreSQL backend must do).

use mason_types::{state, BoskosConfig, DynamicResourceLifeCycle};
use rusqlite::{params, Connection};

use super::leases::insert_resource;
use super::{row_to_resource, to_micros, Ctx, RESOURCE_COLUMNS};
use crate::rules::{self, Snapshot, StoredResource, SyncPlan};
use crate::{Error, Result, SyncReport};

/// SPEC §2.3 phases A and B against `config`.
pub(super) fn sync_config(
    tx: &Connection,
    ctx: &Ctx<'_>,
    config: &BoskosConfig,
) -> Result<SyncReport> {
    let snapshot = load(tx, Scope::Everything)?;
    let plan = rules::plan_config_sync(&snapshot, config, ctx.now, rules::uuid_name);
    let report = apply(tx, ctx, &plan)?;
    rules::log_report("config sync", &plan, &report);
    Ok(report)
}

/// SPEC §2.3 phase B alone (§4.8 per pool).
pub(super) fn sync_dynamic(tx: &Connection, ctx: &Ctx<'_>) -> Result<SyncReport> {
    let snapshot = load(tx, Scope::PoolMembers)?;
    let plan = rules::plan_dynamic_upkeep(&snapshot, ctx.now, rules::uuid_name);
    let report = apply(tx, ctx, &plan)?;
    rules::log_report("dynamic upkeep", &plan, &report);
    Ok(report)
}

/// Which resources a snapshot needs.
#[derive(Clone, Copy)]
enum Scope {
    /// Every resource (config sync judges static names too).
    Everything,
    /// Only the non-static resources of pool types (all that upkeep looks at).
    PoolMembers,
}

fn load(tx: &Connection, scope: Scope) -> Result<Snapshot> {
    let filter = match scope {
        Scope::Everything => "",
        Scope::PoolMembers => "WHERE is_static = 0 AND type IN (SELECT type FROM drlcs)",
    };
    let sql = format!("SELECT {RESOURCE_COLUMNS}, is_static FROM resources {filter} ORDER BY name");
    let resources = tx
        .prepare_cached(&sql)?
        .query_map([], |row| {
            Ok(StoredResource {
                resource: row_to_resource(row)?,
                is_static: row.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let specs = tx
        .prepare_cached("SELECT spec FROM drlcs ORDER BY type")?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let drlcs = specs
        .iter()
        .map(|s| {
            serde_json::from_str::<DynamicResourceLifeCycle>(s)
                .map_err(|e| Error::backend_from("bad DRLC row", e))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Snapshot { resources, drlcs })
}

/// Apply `plan` in the order [`SyncPlan`] prescribes and report what really happened.
fn apply(tx: &Connection, ctx: &Ctx<'_>, plan: &SyncPlan) -> Result<SyncReport> {
    // Sync writes rows and pools in many ways; what the store keeps in memory is
    // reloaded once it commits.
    if !(plan.delete.is_empty()
        && plan.mark_to_be_deleted.is_empty()
        && plan.create.is_empty()
        && plan.upsert_drlcs.is_empty()
        && plan.delete_drlcs.is_empty())
    {
        ctx.reload_after_commit();
    }
    let now = to_micros(&ctx.now);
    let mut report = SyncReport {
        deferred: plan.deferred.clone(),
        ..Default::default()
    };

    let mut delete = tx.prepare_cached(
        "DELETE FROM resources WHERE name = ?1 AND owner = '' AND state = ?2 AND lastupdate = ?3",
    )?;
    for g in &plan.delete {
        let done = delete.execute(params![g.name, g.state, to_micros(&g.lastupdate)])? == 1;
        let list = if done {
            &mut report.deleted
        } else {
            &mut report.deferred
        };
        list.push(g.name.clone());
    }

    let mut mark = tx.prepare_cached(
        "UPDATE resources SET state = ?1, lastupdate = ?2 \
         WHERE name = ?3 AND owner = '' AND state = ?4 AND lastupdate = ?5",
    )?;
    for g in &plan.mark_to_be_deleted {
        let done = mark.execute(params![
            state::TO_BE_DELETED,
            now,
            g.name,
            g.state,
            to_micros(&g.lastupdate)
        ])? == 1;
        let list = if done {
            &mut report.marked_for_deletion
        } else {
            &mut report.deferred
        };
        list.push(g.name.clone());
    }

    let mut flag = tx.prepare_cached("UPDATE resources SET is_static = ?1 WHERE name = ?2")?;
    for f in &plan.set_static {
        flag.execute(params![f.is_static, f.name])?;
    }

    let mut exists =
        tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM resources WHERE name = ?1)")?;
    for c in &plan.create {
        if exists.query_row([&c.resource.name], |r| r.get::<_, bool>(0))? {
            // A moved name whose old row is still there (leased since the snapshot).
            report.deferred.push(c.resource.name.clone());
        } else {
            insert_resource(tx, &c.resource, c.is_static)?;
            report.created.push(c.resource.name.clone());
        }
    }

    let mut upsert = tx.prepare_cached(
        "INSERT INTO drlcs (type, spec) VALUES (?1, ?2) \
         ON CONFLICT (type) DO UPDATE SET spec = excluded.spec",
    )?;
    for d in &plan.upsert_drlcs {
        let spec =
            serde_json::to_string(d).map_err(|e| Error::backend_from("cannot encode a DRLC", e))?;
        upsert.execute(params![d.rtype, spec])?;
        report.drlcs_upserted.push(d.rtype.clone());
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
