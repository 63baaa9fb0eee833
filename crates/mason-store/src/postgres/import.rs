//! Bulk import on PostgreSQL (`mason import`): one transaction that takes the sync lock
//! (no replica's config sync interleaves), locks both tables against writers (no lease
//! moves between the read and the write), reads what the store holds, lets
//! [`crate::rules::plan_import`] decide, and writes the plan with set-based statements.
//! A refused import, a failure or a dry run commits nothing. Every column is set
//! explicitly.

use deadpool_postgres::Object;

use super::error::PgResult;
use super::rows::{all_drlcs, execute, query, resources, Lock};
use super::sync::SYNC_LOCK;
use super::writes;
use crate::rows::{duration_micros, encode_drlc, resource_columns};
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
    let held: Vec<_> = resources(
        &query(
            &tx,
            concat!(
                "SELECT ",
                resource_columns!(),
                " FROM resources ORDER BY name"
            ),
            &[],
        )
        .await?,
    )?
    .into_iter()
    .map(|r| r.resource)
    .collect();
    let drlcs = all_drlcs(&tx, Lock::None).await?;
    let plan = rules::plan_import(&held, &drlcs, request)?;
    if request.dry_run {
        return Ok(plan.report);
    }
    if plan.clear {
        execute(&tx, "DELETE FROM resources", &[]).await?;
        execute(&tx, "DELETE FROM drlcs", &[]).await?;
    }
    if !plan.insert.is_empty() {
        let inserted = writes::insert(&tx, &plan.insert).await?;
        if inserted.len() != plan.insert.len() {
            // The tables are locked and the plan saw every name: this cannot happen.
            return Err(Error::backend("import: a planned name existed already").into());
        }
    }
    for d in &plan.insert_drlcs {
        let lifespan = d.lifespan.map(duration_micros);
        execute(
            &tx,
            "INSERT INTO drlcs (type, spec, lifespan_us) VALUES ($1, $2, $3)",
            &[&d.rtype, &encode_drlc(d)?, &lifespan],
        )
        .await?;
    }
    tx.commit().await?;
    if plan.insert.len() >= ANALYZE_AFTER {
        if let Err(e) = client.batch_execute("ANALYZE resources").await {
            tracing::warn!(error = %e, "could not refresh PostgreSQL statistics after an import");
        }
    }
    plan.report.log_written();
    Ok(plan.report)
}
