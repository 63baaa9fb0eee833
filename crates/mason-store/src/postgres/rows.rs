//! Row decoding for PostgreSQL, the cached-statement helpers every module uses, and the
//! point reads every transition starts from.

use deadpool_postgres::GenericClient;
use mason_types::{DynamicResourceLifeCycle, ResourceV2};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::error::PgResult;
use crate::rows::{decode_drlc, resource_columns, ResourceRow};

/// Bind arguments of a statement.
pub(super) type Args<'a> = [&'a (dyn ToSql + Sync)];

/// Decode a row selected with [`resource_columns!`] (possibly followed by more columns).
pub(super) fn resource(row: &Row) -> PgResult<ResourceV2> {
    Ok(ResourceRow {
        name: row.try_get(0)?,
        rtype: row.try_get(1)?,
        state: row.try_get(2)?,
        owner: row.try_get(3)?,
        lastupdate: row.try_get(4)?,
        userdata: row.try_get(5)?,
        expiration: row.try_get(6)?,
        generation: row.try_get(7)?,
        lease_ttl: row.try_get(8)?,
        lease_deadline: row.try_get(9)?,
    }
    .decode()?)
}

/// Decode every row of a resource query.
pub(super) fn resources(rows: &[Row]) -> PgResult<Vec<ResourceV2>> {
    rows.iter().map(resource).collect()
}

/// Run a cached statement and return its only row, if any.
pub(super) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    args: &Args<'_>,
) -> PgResult<Option<Row>> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&stmt, args).await?)
}

/// Run a cached statement and return every row.
pub(super) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    args: &Args<'_>,
) -> PgResult<Vec<Row>> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query(&stmt, args).await?)
}

/// Run a cached statement and return how many rows it changed.
pub(super) async fn execute<C: GenericClient>(c: &C, sql: &str, args: &Args<'_>) -> PgResult<u64> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.execute(&stmt, args).await?)
}

/// One resource by name, if present (`FOR UPDATE` locks it for the transaction).
pub(super) async fn get_resource<C: GenericClient>(
    c: &C,
    name: &str,
    lock: Lock,
) -> PgResult<Option<ResourceV2>> {
    let sql = match lock {
        Lock::None => concat!(
            "SELECT ",
            resource_columns!(),
            " FROM resources WHERE name = $1"
        ),
        Lock::ForUpdate => concat!(
            "SELECT ",
            resource_columns!(),
            " FROM resources WHERE name = $1 FOR UPDATE"
        ),
    };
    query_opt(c, sql, &[&name])
        .await?
        .as_ref()
        .map(resource)
        .transpose()
}

/// Whether a read locks the rows it returns until the transaction ends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Lock {
    /// A plain read.
    None,
    /// `FOR UPDATE`.
    ForUpdate,
}

/// The dynamic pool of `rtype`, if any, locked for the transaction (replicas growing the
/// same pool at once then count one after the other).
pub(super) async fn lock_drlc<C: GenericClient>(
    c: &C,
    rtype: &str,
) -> PgResult<Option<DynamicResourceLifeCycle>> {
    let row = query_opt(
        c,
        "SELECT spec FROM drlcs WHERE type = $1 FOR UPDATE",
        &[&rtype],
    )
    .await?;
    match row {
        Some(row) => Ok(Some(decode_drlc(row.try_get(0)?)?)),
        None => Ok(None),
    }
}

/// Every dynamic pool, by type (`FOR UPDATE` locks them for the transaction).
pub(super) async fn all_drlcs<C: GenericClient>(
    c: &C,
    lock: Lock,
) -> PgResult<Vec<DynamicResourceLifeCycle>> {
    let sql = match lock {
        Lock::None => "SELECT spec FROM drlcs ORDER BY type",
        Lock::ForUpdate => "SELECT spec FROM drlcs ORDER BY type FOR UPDATE",
    };
    query(c, sql, &[])
        .await?
        .iter()
        .map(|r| Ok(decode_drlc(r.try_get(0)?)?))
        .collect()
}
