//! Row decoding for SQLite, and the point reads every transition starts from.

use mason_types::{DynamicResourceLifeCycle, ResourceV2};
use rusqlite::{CachedStatement, Connection, OptionalExtension, Params, Row};

use crate::rows::{decode_drlc, resource_columns, ResourceRow};
use crate::Result;

/// Decode a row selected with [`resource_columns!`] (possibly followed by more columns).
/// The outer result is the driver's, the inner one the decoding's.
pub(super) fn resource(row: &Row<'_>) -> rusqlite::Result<Result<ResourceV2>> {
    let userdata: String = row.get(5)?;
    Ok(ResourceRow {
        name: row.get(0)?,
        rtype: row.get(1)?,
        state: row.get(2)?,
        owner: row.get(3)?,
        lastupdate: row.get(4)?,
        userdata: &userdata,
        expiration: row.get(6)?,
        generation: row.get(7)?,
        lease_ttl: row.get(8)?,
        lease_deadline: row.get(9)?,
    }
    .decode())
}

/// The one resource `stmt` returns, if any.
pub(super) fn one_resource(
    stmt: &mut CachedStatement<'_>,
    params: impl Params,
) -> Result<Option<ResourceV2>> {
    stmt.query_row(params, resource).optional()?.transpose()
}

/// Every resource `stmt` returns.
pub(super) fn all_resources(
    stmt: &mut CachedStatement<'_>,
    params: impl Params,
) -> Result<Vec<ResourceV2>> {
    stmt.query_map(params, resource)?.map(|row| row?).collect()
}

/// One resource by name, if present.
pub(super) fn get_resource(tx: &Connection, name: &str) -> Result<Option<ResourceV2>> {
    let mut stmt = tx.prepare_cached(concat!(
        "SELECT ",
        resource_columns!(),
        " FROM resources WHERE name = ?1"
    ))?;
    one_resource(&mut stmt, [name])
}

/// The dynamic pool of `rtype`, if any.
pub(super) fn get_drlc(tx: &Connection, rtype: &str) -> Result<Option<DynamicResourceLifeCycle>> {
    let spec: Option<String> = tx
        .prepare_cached("SELECT spec FROM drlcs WHERE type = ?1")?
        .query_row([rtype], |r| r.get(0))
        .optional()?;
    spec.as_deref().map(decode_drlc).transpose()
}

/// Every dynamic pool, by type.
pub(super) fn all_drlcs(tx: &Connection) -> Result<Vec<DynamicResourceLifeCycle>> {
    let specs = tx
        .prepare_cached("SELECT spec FROM drlcs ORDER BY type")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    specs.iter().map(|s| decode_drlc(s)).collect()
}
