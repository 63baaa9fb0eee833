//! Bulk import on PostgreSQL (`mason import`): one transaction that takes the sync lock
//! (no replica's config sync interleaves), locks both tables against writers (no lease
//! moves between the read and the write), reads what the store holds, lets
//! [`crate::rules::plan_import`] decide, and writes the plan with set-based statements.
//! A refused import, a failure or a dry run commits nothing. Every column is set
//! explicitly.

use deadpool_postgres::Object;

use super::error::PgResult;
use super::leases::{execute, parse_drlc, query, row_to_resource, to_micros, RESOURCE_COLUMNS};
use super::sync::SYNC_LOCK;
use crate::rules::{self, ImportReport, ImportRequest};
use crate::Error;

/// Rows written beyond which the planner statistics are refreshed at once.
const ANALYZE_AFTER: usize = 1000;

/// Plan and (unless a dry run) write `request`.
pub(super) async fn import(client: &mut Object, request: &ImportRequest) -> PgResult<ImportReport> {
    let tx = client.transaction().await?;
    execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&SYNC_LOCK]).await?;
    execute(
        &tx,
        "LOCK TABLE resources, drlcs IN SHARE ROW EXCLUSIVE MODE",
        &[],
    )
    .await?;
    let resources = query(
        &tx,
        &format!("SELECT {RESOURCE_COLUMNS} FROM resources ORDER BY name"),
        &[],
    )
    .await?
    .iter()
    .map(row_to_resource)
    .collect::<PgResult<Vec<_>>>()?;
    let drlcs = query(&tx, "SELECT spec FROM drlcs ORDER BY type", &[])
        .await?
        .iter()
        .map(|r| parse_drlc(r.try_get(0)?))
        .collect::<PgResult<Vec<_>>>()?;
    let plan = rules::plan_import(&resources, &drlcs, request)?;
    if request.dry_run {
        return Ok(plan.report);
    }
    if plan.clear {
        execute(&tx, "DELETE FROM resources", &[]).await?;
        execute(&tx, "DELETE FROM drlcs", &[]).await?;
    }
    if !plan.insert.is_empty() {
        let rs: Vec<_> = plan.insert.iter().map(|s| &s.resource).collect();
        let userdata = rs
            .iter()
            .map(|r| serde_json::to_string(&r.userdata))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::backend_from("could not encode an imported row", e))?;
        execute(
            &tx,
            "INSERT INTO resources (name, type, state, owner, lastupdate, userdata, expiration, is_static) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                                  $6::text[], $7::bigint[], $8::bool[])",
            &[
                &rs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
                &rs.iter().map(|r| r.rtype.as_str()).collect::<Vec<_>>(),
                &rs.iter().map(|r| r.state.as_str()).collect::<Vec<_>>(),
                &rs.iter().map(|r| r.owner.as_str()).collect::<Vec<_>>(),
                &rs.iter().map(|r| to_micros(&r.lastupdate)).collect::<Vec<_>>(),
                &userdata,
                &rs.iter().map(|r| r.expiration_date.as_ref().map(to_micros)).collect::<Vec<_>>(),
                &plan.insert.iter().map(|s| s.is_static).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    for d in &plan.insert_drlcs {
        let spec = serde_json::to_string(d)
            .map_err(|e| Error::backend_from("could not encode an imported row", e))?;
        let lifespan = d
            .lifespan
            .map(|l| i64::try_from(l.as_micros()).unwrap_or(i64::MAX));
        execute(
            &tx,
            "INSERT INTO drlcs (type, spec, lifespan_us) VALUES ($1, $2, $3)",
            &[&d.rtype, &spec, &lifespan],
        )
        .await?;
    }
    tx.commit().await?;
    if plan.insert.len() >= ANALYZE_AFTER {
        if let Err(e) = client.batch_execute("ANALYZE resources").await {
            tracing::warn!(error = %e, "could not refresh PostgreSQL statistics after an import");
        }
    }
    tracing::info!(
        added = plan.report.added.len(),
        removed = plan.report.removed.len(),
        drlcs_added = plan.report.drlcs_added.len(),
        "import wrote the store"
    );
    Ok(plan.report)
}
