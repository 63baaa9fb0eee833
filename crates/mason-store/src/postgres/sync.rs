//! Config sync and dynamic upkeep on PostgreSQL: load a snapshot, plan with
//! [`crate::rules`], apply the plan with compare-and-set conditions — all in one
//! transaction that first takes a transaction-scoped advisory lock, so however many
//! replicas run sync at once, they run it one after the other.
//!
//! The pools' rows are locked (`FOR UPDATE`) before the snapshot is read: an acquire that
//! grows a pool for a new request id locks its pool's row too, so the counts the planner
//! sees cannot move under it. Resource rows are not locked; every change to one is
//! conditional on the row being unowned and unchanged since the snapshot (state and
//! `lastupdate`), and a row that no longer matches (say, acquired in the meantime) is
//! reported as deferred, never forced. Each kind of change is one set-based statement
//! over `UNNEST`ed arrays, so a large sync costs a handful of round trips.

use deadpool_postgres::Object;
use mason_types::{state, BoskosConfig};

use super::error::PgResult;
use super::leases::{execute, parse_drlc, query, row_to_resource, to_micros};
use super::Ctx;
use crate::rules::{self, Snapshot, StoredResource, SyncPlan};
use crate::{Error, SyncReport};

/// `pg_advisory_xact_lock` key serialising sync and upkeep across replicas ("mason-sy").
pub(super) const SYNC_LOCK: i64 = 0x6d61_736f_6e2d_7379;

/// SPEC §2.3 phases A and B against `config`.
pub(super) async fn sync_config(
    client: &mut Object,
    ctx: &Ctx,
    config: &BoskosConfig,
) -> PgResult<SyncReport> {
    let tx = client.transaction().await?;
    let snapshot = load(&tx, Scope::Everything).await?;
    let plan = rules::plan_config_sync(&snapshot, config, ctx.now, rules::uuid_name);
    let report = apply(&tx, ctx, &plan).await?;
    tx.commit().await?;
    refresh_statistics(client, &report).await;
    rules::log_report("config sync", &plan, &report);
    Ok(report)
}

/// SPEC §2.3 phase B alone (§4.8 per pool).
pub(super) async fn sync_dynamic(client: &mut Object, ctx: &Ctx) -> PgResult<SyncReport> {
    let tx = client.transaction().await?;
    let snapshot = load(&tx, Scope::PoolMembers).await?;
    let plan = rules::plan_dynamic_upkeep(&snapshot, ctx.now, rules::uuid_name);
    let report = apply(&tx, ctx, &plan).await?;
    tx.commit().await?;
    refresh_statistics(client, &report).await;
    rules::log_report("dynamic upkeep", &plan, &report);
    Ok(report)
}

/// Rows created or deleted by one sync beyond which the planner statistics are refreshed
/// at once rather than whenever autovacuum gets to it (a freshly loaded pool of 100k
/// resources must be served at full speed from the first acquire).
const ANALYZE_AFTER: usize = 1000;

/// `ANALYZE resources` after a large sync. Best effort: the sync has committed already.
async fn refresh_statistics(client: &Object, report: &SyncReport) {
    if report.created.len() + report.deleted.len() < ANALYZE_AFTER {
        return;
    }
    if let Err(e) = client.batch_execute("ANALYZE resources").await {
        tracing::warn!(error = %e, "could not refresh PostgreSQL statistics after a large sync");
    }
}

/// Which resources a snapshot needs.
#[derive(Clone, Copy)]
enum Scope {
    /// Every resource (config sync judges static names too).
    Everything,
    /// Only the non-static resources of pool types (all that upkeep looks at).
    PoolMembers,
}

/// Take the sync lock, lock the pools, and read the snapshot.
async fn load(tx: &deadpool_postgres::Transaction<'_>, scope: Scope) -> PgResult<Snapshot> {
    execute(tx, "SELECT pg_advisory_xact_lock($1)", &[&SYNC_LOCK]).await?;
    let drlcs = query(tx, "SELECT spec FROM drlcs ORDER BY type FOR UPDATE", &[])
        .await?
        .iter()
        .map(|r| parse_drlc(r.try_get(0)?))
        .collect::<PgResult<Vec<_>>>()?;
    let filter = match scope {
        Scope::Everything => "",
        Scope::PoolMembers => "WHERE NOT is_static AND type IN (SELECT type FROM drlcs)",
    };
    let sql = format!(
        "SELECT name, type, state, owner, lastupdate, userdata, expiration, is_static \
         FROM resources {filter} ORDER BY name"
    );
    let resources = query(tx, &sql, &[])
        .await?
        .iter()
        .map(|row| {
            Ok(StoredResource {
                resource: row_to_resource(row)?,
                is_static: row.try_get(7)?,
            })
        })
        .collect::<PgResult<Vec<_>>>()?;
    Ok(Snapshot { resources, drlcs })
}

/// Column arrays of a list of row guards, for `UNNEST`.
fn guard_arrays(guards: &[rules::RowGuard]) -> (Vec<&str>, Vec<&str>, Vec<i64>) {
    (
        guards.iter().map(|g| g.name.as_str()).collect(),
        guards.iter().map(|g| g.state.as_str()).collect(),
        guards.iter().map(|g| to_micros(&g.lastupdate)).collect(),
    )
}

/// Names in `planned` that are not in `done`.
fn missing(planned: impl Iterator<Item = String>, done: &[String]) -> Vec<String> {
    let done: std::collections::HashSet<&str> = done.iter().map(String::as_str).collect();
    planned.filter(|n| !done.contains(n.as_str())).collect()
}

/// Apply `plan` in the order [`SyncPlan`] prescribes and report what really happened.
async fn apply(
    tx: &deadpool_postgres::Transaction<'_>,
    ctx: &Ctx,
    plan: &SyncPlan,
) -> PgResult<SyncReport> {
    let now = to_micros(&ctx.now);
    let mut report = SyncReport {
        deferred: plan.deferred.clone(),
        ..Default::default()
    };
    let names = |rows: Vec<tokio_postgres::Row>| -> PgResult<Vec<String>> {
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    };

    if !plan.delete.is_empty() {
        let (n, s, l) = guard_arrays(&plan.delete);
        let rows = query(
            tx,
            "DELETE FROM resources r USING UNNEST($1::text[], $2::text[], $3::bigint[]) \
                 AS g(name, state, lastupdate) \
             WHERE r.name = g.name AND r.owner = '' AND r.state = g.state \
               AND r.lastupdate = g.lastupdate \
             RETURNING r.name",
            &[&n, &s, &l],
        )
        .await?;
        report.deleted = names(rows)?;
        report.deferred.extend(missing(
            plan.delete.iter().map(|g| g.name.clone()),
            &report.deleted,
        ));
    }

    if !plan.mark_to_be_deleted.is_empty() {
        let (n, s, l) = guard_arrays(&plan.mark_to_be_deleted);
        let rows = query(
            tx,
            "UPDATE resources r SET state = $4, lastupdate = $5 \
             FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS g(name, state, lastupdate) \
             WHERE r.name = g.name AND r.owner = '' AND r.state = g.state \
               AND r.lastupdate = g.lastupdate \
             RETURNING r.name",
            &[&n, &s, &l, &state::TO_BE_DELETED, &now],
        )
        .await?;
        report.marked_for_deletion = names(rows)?;
        report.deferred.extend(missing(
            plan.mark_to_be_deleted.iter().map(|g| g.name.clone()),
            &report.marked_for_deletion,
        ));
    }

    if !plan.set_static.is_empty() {
        let n: Vec<&str> = plan.set_static.iter().map(|f| f.name.as_str()).collect();
        let f: Vec<bool> = plan.set_static.iter().map(|f| f.is_static).collect();
        execute(
            tx,
            "UPDATE resources r SET is_static = f.is_static \
             FROM UNNEST($1::text[], $2::bool[]) AS f(name, is_static) WHERE r.name = f.name",
            &[&n, &f],
        )
        .await?;
    }

    if !plan.create.is_empty() {
        let rs: Vec<_> = plan.create.iter().map(|c| &c.resource).collect();
        let userdata = rs
            .iter()
            .map(|r| serde_json::to_string(&r.userdata))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::backend_from("cannot encode userdata", e))?;
        let rows = query(
            tx,
            "INSERT INTO resources (name, type, state, owner, lastupdate, userdata, expiration, is_static) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                                  $6::text[], $7::bigint[], $8::bool[]) \
             ON CONFLICT (name) DO NOTHING RETURNING name",
            &[
                &rs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
                &rs.iter().map(|r| r.rtype.as_str()).collect::<Vec<_>>(),
                &rs.iter().map(|r| r.state.as_str()).collect::<Vec<_>>(),
                &rs.iter().map(|r| r.owner.as_str()).collect::<Vec<_>>(),
                &rs.iter().map(|r| to_micros(&r.lastupdate)).collect::<Vec<_>>(),
                &userdata,
                &rs.iter().map(|r| r.expiration_date.as_ref().map(to_micros)).collect::<Vec<_>>(),
                &plan.create.iter().map(|c| c.is_static).collect::<Vec<_>>(),
            ],
        )
        .await?;
        report.created = names(rows)?;
        // A moved name whose old row is still there (leased since the snapshot).
        report
            .deferred
            .extend(missing(rs.iter().map(|r| r.name.clone()), &report.created));
    }

    for d in &plan.upsert_drlcs {
        let spec =
            serde_json::to_string(d).map_err(|e| Error::backend_from("cannot encode a DRLC", e))?;
        let lifespan = d
            .lifespan
            .map(|l| i64::try_from(l.as_micros()).unwrap_or(i64::MAX));
        execute(
            tx,
            "INSERT INTO drlcs (type, spec, lifespan_us) VALUES ($1, $2, $3) \
             ON CONFLICT (type) DO UPDATE SET spec = excluded.spec, lifespan_us = excluded.lifespan_us",
            &[&d.rtype, &spec, &lifespan],
        )
        .await?;
        report.drlcs_upserted.push(d.rtype.clone());
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
