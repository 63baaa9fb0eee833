//! Config sync and dynamic upkeep on PostgreSQL: load a snapshot, plan with
//! [`crate::rules`], apply the plan through [`super::writes`] — all in one transaction
//! that first takes a transaction-scoped advisory lock, so however many replicas run sync
//! at once, they run it one after the other.
//!
//! The pools' rows are locked (`FOR UPDATE`) before the snapshot is read: an acquire that
//! grows a pool for a new request id locks its pool's row too, so the counts the planner
//! sees cannot move under it. Resource rows are not locked; every change to one is
//! conditional on the row being unowned and unchanged since the snapshot (state and
//! `lastupdate`), and a row that no longer matches (say, acquired in the meantime) is
//! reported as deferred, never forced. Each kind of change is one set-based statement
//! over `UNNEST`ed arrays, so a large sync costs a handful of round trips.

use deadpool_postgres::{Object, Transaction};
use mason_types::BoskosConfig;

use super::error::PgResult;
use super::rows::{all_drlcs, execute, query, resource, Lock};
use super::txn::Ctx;
use super::writes;
use crate::rows::{duration_micros, encode_drlc, resource_columns, to_micros};
use crate::rules::{self, Snapshot, StoredResource, SyncPlan};
use crate::SyncReport;

/// `pg_advisory_xact_lock` key serialising sync and upkeep across replicas ("mason-sy").
pub(super) const SYNC_LOCK: i64 = 0x6d61_736f_6e2d_7379;

/// Rows created or deleted by one sync beyond which the planner statistics are refreshed
/// at once rather than whenever autovacuum gets to it (a freshly loaded pool of 100k
/// resources must be served at full speed from the first acquire).
const ANALYZE_AFTER: usize = 1000;

/// SPEC §2.3 phases A and B against `config`.
pub(super) async fn sync_config(
    client: &mut Object,
    ctx: &Ctx,
    config: &BoskosConfig,
) -> PgResult<SyncReport> {
    let tx = client.transaction().await?;
    let snapshot = load(&tx, rules::Scope::Everything).await?;
    let plan = rules::plan_config_sync(&snapshot, config, ctx.now, rules::uuid_name);
    let report = apply(&tx, ctx, &plan).await?;
    super::ttl::store_policies(&tx, &crate::lease::ttl::policies(config)).await?;
    tx.commit().await?;
    refresh_statistics(client, &report).await;
    super::counts::prune(client).await;
    rules::log_report("config sync", &plan, &report);
    Ok(report)
}

/// SPEC §2.3 phase B alone (§4.8 per pool).
pub(super) async fn sync_dynamic(client: &mut Object, ctx: &Ctx) -> PgResult<SyncReport> {
    let tx = client.transaction().await?;
    let snapshot = load(&tx, rules::Scope::PoolMembers).await?;
    let plan = rules::plan_dynamic_upkeep(&snapshot, ctx.now, rules::uuid_name);
    let report = apply(&tx, ctx, &plan).await?;
    tx.commit().await?;
    refresh_statistics(client, &report).await;
    super::counts::prune(client).await;
    rules::log_report("dynamic upkeep", &plan, &report);
    Ok(report)
}

/// `ANALYZE resources` after a large sync. Best effort: the sync has committed already.
async fn refresh_statistics(client: &Object, report: &SyncReport) {
    if report.created.len() + report.deleted.len() < ANALYZE_AFTER {
        return;
    }
    if let Err(e) = client.batch_execute("ANALYZE resources").await {
        tracing::warn!(error = %e, "could not refresh PostgreSQL statistics after a large sync");
    }
}

/// Take the sync lock, lock the pools, and read the snapshot.
async fn load(tx: &Transaction<'_>, scope: rules::Scope) -> PgResult<Snapshot> {
    execute(tx, "SELECT pg_advisory_xact_lock($1)", &[&SYNC_LOCK]).await?;
    let drlcs = all_drlcs(tx, Lock::ForUpdate).await?;
    let sql = match scope {
        rules::Scope::Everything => concat!(
            "SELECT ",
            resource_columns!(),
            ", is_static FROM resources ORDER BY name"
        ),
        rules::Scope::PoolMembers => concat!(
            "SELECT ",
            resource_columns!(),
            ", is_static FROM resources \
             WHERE NOT is_static AND type IN (SELECT type FROM drlcs) ORDER BY name"
        ),
    };
    let resources = query(tx, sql, &[])
        .await?
        .iter()
        .map(|row| {
            Ok(StoredResource {
                resource: resource(row)?.resource,
                is_static: row.try_get(crate::rows::LAST_RESOURCE_COLUMN + 1)?,
            })
        })
        .collect::<PgResult<Vec<_>>>()?;
    Ok(Snapshot { resources, drlcs })
}

/// Names in `planned` that are not in `done`.
fn missing<'a>(planned: impl Iterator<Item = &'a String>, done: &[String]) -> Vec<String> {
    let done: std::collections::HashSet<&str> = done.iter().map(String::as_str).collect();
    planned
        .filter(|n| !done.contains(n.as_str()))
        .cloned()
        .collect()
}

/// Apply `plan` in the order [`SyncPlan`] prescribes and report what really happened.
async fn apply(tx: &Transaction<'_>, ctx: &Ctx, plan: &SyncPlan) -> PgResult<SyncReport> {
    let mut report = SyncReport {
        deferred: plan.deferred.clone(),
        ..Default::default()
    };
    if !plan.delete.is_empty() {
        report.deleted = writes::delete_guarded(tx, &plan.delete).await?;
        let planned = plan.delete.iter().map(|g| &g.name);
        report.deferred.extend(missing(planned, &report.deleted));
    }
    if !plan.mark_to_be_deleted.is_empty() {
        let now = to_micros(&ctx.now);
        report.marked_for_deletion =
            writes::mark_to_be_deleted(tx, &plan.mark_to_be_deleted, now).await?;
        let planned = plan.mark_to_be_deleted.iter().map(|g| &g.name);
        report
            .deferred
            .extend(missing(planned, &report.marked_for_deletion));
    }
    if !plan.set_static.is_empty() {
        writes::set_static(tx, &plan.set_static).await?;
    }
    if !plan.create.is_empty() {
        report.created = writes::insert(tx, &plan.create).await?;
        // A moved name whose old row is still there (leased since the snapshot).
        let planned = plan.create.iter().map(|c| &c.resource.name);
        report.deferred.extend(missing(planned, &report.created));
    }
    for drlc in &plan.upsert_drlcs {
        let lifespan = drlc.lifespan.map(duration_micros);
        execute(
            tx,
            "INSERT INTO drlcs (type, spec, lifespan_us) VALUES ($1, $2, $3) \
             ON CONFLICT (type) DO UPDATE SET spec = excluded.spec, lifespan_us = excluded.lifespan_us",
            &[&drlc.rtype, &encode_drlc(drlc)?, &lifespan],
        )
        .await?;
        report.drlcs_upserted.push(drlc.rtype.clone());
    }
    for rtype in &plan.delete_drlcs {
        let deleted = execute(
            tx,
            "DELETE FROM drlcs WHERE type = $1 \
             AND NOT EXISTS (SELECT 1 FROM resources WHERE type = $1 AND NOT is_static)",
            &[rtype],
        )
        .await?;
        if deleted == 1 {
            report.drlcs_deleted.push(rtype.clone());
        }
    }
    Ok(rules::finish_report(report))
}
