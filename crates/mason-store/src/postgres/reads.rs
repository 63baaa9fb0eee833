//! The read-only calls on PostgreSQL: one resource, filtered listings, metrics (from the
//! kept counts), the dynamic pools, and the readiness ping.

use deadpool_postgres::Object;
use mason_types::{DynamicResourceLifeCycle, Metric, ResourceV2};
use tokio_postgres::types::ToSql;

use super::error::PgResult;
use super::rows::{all_drlcs, get_resource, query, resources, Lock};
use crate::lease::views::{fold_metrics, one_metric};
use crate::rows::{filtered_list, CountRow, Placeholder};
use crate::{Error, ResourceFilter};

/// Per-group counts of one type, or of every type, from the kept counts (`counts.rs`:
/// a table kept by triggers in each writing transaction, summed over its shards), so a
/// read costs the number of groups, not of resources.
const COUNT_ONE: &str = "SELECT type, state, owner, sum(n)::BIGINT FROM resource_counts \
     WHERE type = $1 GROUP BY type, state, owner HAVING sum(n) <> 0";
const COUNT_ALL: &str = "SELECT type, state, owner, sum(n)::BIGINT FROM resource_counts \
     GROUP BY type, state, owner HAVING sum(n) <> 0";

/// One resource by name, with its lease facts.
pub(super) async fn get(client: &mut Object, name: &str) -> PgResult<ResourceV2> {
    get_resource(&*client, name, Lock::None)
        .await?
        .ok_or_else(|| Error::ResourceNotFound(name.to_string()).into())
}

/// Resources matching `filter`, least recently updated first.
pub(super) async fn list(
    client: &mut Object,
    filter: &ResourceFilter,
) -> PgResult<Vec<ResourceV2>> {
    let (sql, args) = filtered_list(filter, Placeholder::Dollar);
    let args: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    resources(&query(&*client, &sql, &args).await?)
}

/// `GET /metric` for one type.
pub(super) async fn metric(client: &mut Object, rtype: &str) -> PgResult<Metric> {
    Ok(one_metric(
        rtype,
        counts(client, COUNT_ONE, &[&rtype]).await?,
    )?)
}

/// Metrics of every type, sorted by type.
pub(super) async fn all_metrics(client: &mut Object) -> PgResult<Vec<Metric>> {
    counts(client, COUNT_ALL, &[]).await
}

async fn counts(
    client: &mut Object,
    sql: &str,
    args: &[&(dyn ToSql + Sync)],
) -> PgResult<Vec<Metric>> {
    let groups = query(&*client, sql, args)
        .await?
        .iter()
        .map(|r| {
            Ok(CountRow {
                rtype: r.try_get(0)?,
                state: r.try_get(1)?,
                owner: r.try_get(2)?,
                count: r.try_get(3)?,
            })
        })
        .collect::<PgResult<Vec<_>>>()?;
    Ok(fold_metrics(groups))
}

/// The dynamic pools, by type.
pub(super) async fn drlcs(client: &mut Object) -> PgResult<Vec<DynamicResourceLifeCycle>> {
    all_drlcs(&*client, Lock::None).await
}

/// A trivial round trip (readiness).
pub(super) async fn ping(client: &mut Object) -> PgResult<()> {
    client.simple_query("SELECT 1").await?;
    Ok(())
}
