//! The lease transitions on PostgreSQL: acquire (with the shared request queue and
//! on-demand dynamic creation), acquire-by-state, release, update, reset, metrics and
//! listings.
//!
//! The hot paths are single conditional statements (one round trip, their own
//! transaction): an acquire without `request_id`, a release, a heartbeat without user
//! data, a reset. The others run a short explicit transaction.
//!
//! **Acquire under concurrency.** The pick is
//! `… ORDER BY lastupdate, name LIMIT 1 [OFFSET k] FOR UPDATE SKIP LOCKED`, where `k` is
//! the number of live queue entries ahead of the caller (upstream's rank − 1; when it is
//! 0, the usual case, the statement has no offset at all and one round trip does the
//! whole acquire). With `SKIP LOCKED`, rows that another transaction holds are neither
//! counted by the offset nor returned, and the `k` rows walked past are locked by this
//! statement until it ends. So concurrent acquirers take different resources without
//! waiting on each other, and the offset is counted over the resources nobody else is
//! moving right now. The effect is conservative: a request never takes a resource
//! reserved for an older live request in the queue snapshot it read, but under
//! contention it may see "no resource" where a one-at-a-time execution would have served
//! it (it polls again, as every Boskos client does). The row is locked by the pick, so the
//! `UPDATE … WHERE owner = '' AND state = $` that follows in the same statement cannot
//! lose; should it ever match nothing the caller just gets a 404 and polls again — a
//! resource is never given to two owners.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use deadpool_postgres::{GenericClient, Object};
use mason_types::{state, DynamicResourceLifeCycle, Metric, Resource, UserData};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::error::{PgError, PgResult};
use super::Ctx;
use crate::{AcquireRequest, Acquired, Error, QueuedRequest, ResourceFilter, Result};

/// The columns every resource query selects, in [`row_to_resource`]'s order.
pub(crate) const RESOURCE_COLUMNS: &str =
    "name, type, state, owner, lastupdate, userdata, expiration";

/// How often a transition re-runs after losing a race it can detect (a compare-and-set
/// that matched no row although the diagnosis says it should have).
const CAS_ATTEMPTS: usize = 8;

/// Microseconds since the epoch, as stored.
pub(crate) fn to_micros(t: &mason_types::Timestamp) -> i64 {
    t.timestamp_micros()
}

/// Back from stored microseconds.
pub(crate) fn from_micros(us: i64) -> mason_types::Timestamp {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Decode a row selected with [`RESOURCE_COLUMNS`] (possibly followed by more columns).
pub(crate) fn row_to_resource(row: &Row) -> PgResult<Resource> {
    let userdata: &str = row.try_get(5)?;
    let userdata: UserData = serde_json::from_str(userdata)
        .map_err(|e| Error::backend_from("bad userdata in the database", e))?;
    Ok(Resource {
        name: row.try_get(0)?,
        rtype: row.try_get(1)?,
        state: row.try_get(2)?,
        owner: row.try_get(3)?,
        lastupdate: from_micros(row.try_get(4)?),
        userdata,
        expiration_date: row.try_get::<_, Option<i64>>(6)?.map(from_micros),
    })
}

/// Run a cached statement and return its only row, if any.
pub(crate) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> PgResult<Option<Row>> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&stmt, params).await?)
}

/// Run a cached statement and return every row.
pub(crate) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> PgResult<Vec<Row>> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query(&stmt, params).await?)
}

/// Run a cached statement and return how many rows it changed.
pub(crate) async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> PgResult<u64> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.execute(&stmt, params).await?)
}

/// One resource by name, if present.
pub(crate) async fn get_resource<C: GenericClient>(
    c: &C,
    name: &str,
) -> PgResult<Option<Resource>> {
    let sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE name = $1");
    query_opt(c, &sql, &[&name])
        .await?
        .as_ref()
        .map(row_to_resource)
        .transpose()
}

/// Decode a `drlcs.spec` column.
pub(crate) fn parse_drlc(spec: &str) -> PgResult<DynamicResourceLifeCycle> {
    serde_json::from_str(spec).map_err(|e| PgError::Store(Error::backend_from("bad DRLC row", e)))
}

/// The common case in one statement: nobody is queued ahead (`$6` bounds the queue
/// entries that count as ahead: the caller's own `seq`, or `i64::MAX` without a request
/// id), so lease the least recently updated unlocked free resource. The queue check is an
/// uncorrelated `NOT EXISTS`, evaluated once; with a constant `LIMIT 1` and no `OFFSET`
/// the planner walks the `resources_pick` index whatever the pool size.
const ACQUIRE_FIRST: &str = "WITH picked AS ( \
        SELECT name FROM resources \
        WHERE type = $1 AND state = $2 AND owner = '' \
          AND NOT EXISTS (SELECT 1 FROM requests \
                          WHERE type = $1 AND state = $2 AND seq < $6 AND expires_at >= $5) \
        ORDER BY lastupdate, name LIMIT 1 \
        FOR UPDATE SKIP LOCKED) \
    UPDATE resources r SET owner = $3, state = $4, lastupdate = $5 \
    FROM picked WHERE r.name = picked.name AND r.owner = '' AND r.state = $2 \
    RETURNING r.name, r.type, r.state, r.owner, r.lastupdate, r.userdata, r.expiration";

/// With `$6` live requests ahead: skip that many unlocked free resources (they are
/// reserved for the older requests) and lease the next. The offset is a bind parameter
/// rather than a subquery so the planner sees its value and keeps the index walk.
const ACQUIRE_RANKED: &str = "WITH picked AS ( \
        SELECT name FROM resources \
        WHERE type = $1 AND state = $2 AND owner = '' \
        ORDER BY lastupdate, name LIMIT 1 OFFSET $6 \
        FOR UPDATE SKIP LOCKED) \
    UPDATE resources r SET owner = $3, state = $4, lastupdate = $5 \
    FROM picked WHERE r.name = picked.name AND r.owner = '' AND r.state = $2 \
    RETURNING r.name, r.type, r.state, r.owner, r.lastupdate, r.userdata, r.expiration";

/// How many live requests are ahead of `$3` (a `seq` bound), and whether the type has
/// any resource at all (which 404 a miss answers).
const AHEAD_AND_TYPE: &str = "SELECT \
        (SELECT count(*) FROM requests \
         WHERE type = $1 AND state = $2 AND seq < $3 AND expires_at >= $4), \
        EXISTS (SELECT 1 FROM resources WHERE type = $1)";

/// What a pick came back with.
enum Pick {
    /// Leased.
    Got(Resource),
    /// Nothing for this caller; `type_exists` decides between the two 404s.
    Miss { type_exists: bool },
}

/// Lease the resource due to a caller with every live request older than `before_seq`
/// ahead of it: one statement when nobody is ahead (the common case), otherwise a count
/// and a ranked pick.
async fn pick<C: GenericClient>(
    c: &C,
    req: &AcquireRequest,
    now: i64,
    before_seq: i64,
) -> PgResult<Pick> {
    let (t, s, o, d) = (&req.rtype, &req.state, &req.owner, &req.dest);
    if let Some(row) = query_opt(c, ACQUIRE_FIRST, &[t, s, o, d, &now, &before_seq]).await? {
        return Ok(Pick::Got(row_to_resource(&row)?));
    }
    let Some(row) = query_opt(c, AHEAD_AND_TYPE, &[t, s, &before_seq, &now]).await? else {
        return Ok(Pick::Miss { type_exists: false });
    };
    let (ahead, type_exists): (i64, bool) = (row.try_get(0)?, row.try_get(1)?);
    if ahead > 0 {
        if let Some(row) = query_opt(c, ACQUIRE_RANKED, &[t, s, o, d, &now, &ahead]).await? {
            return Ok(Pick::Got(row_to_resource(&row)?));
        }
    }
    Ok(Pick::Miss { type_exists })
}

/// The 404 of a miss.
fn miss(rtype: &str, type_exists: bool) -> Error {
    if type_exists {
        Error::ResourceNotFound(rtype.to_string())
    } else {
        Error::ResourceTypeNotFound(rtype.to_string())
    }
}

/// SPEC §4.1. Without a request id and with nobody queued this is a single statement;
/// with a request id, a transaction that also records the queue entry and may grow a
/// dynamic pool. The outer result is the database's; the inner one is the caller's (a
/// failed acquire still commits its queue entry and any resource it created).
pub(super) async fn acquire(
    client: &mut Object,
    ctx: &Ctx,
    req: &AcquireRequest,
) -> PgResult<Result<Acquired>> {
    let now = to_micros(&ctx.now);
    let request_id = req.request_id.as_deref().filter(|id| !id.is_empty());
    let Some(id) = request_id else {
        return Ok(match pick(&*client, req, now, i64::MAX).await? {
            Pick::Got(resource) => Ok(Acquired {
                resource,
                requested_at: ctx.now,
            }),
            Pick::Miss { type_exists } => Err(miss(&req.rtype, type_exists)),
        });
    };

    let expires =
        now.saturating_add(i64::try_from(ctx.request_ttl.as_micros()).unwrap_or(i64::MAX));
    let tx = client.transaction().await?;
    // 1. Queue position: first poll inserts, later polls keep their seq and extend the TTL.
    let mut entry = None;
    for _ in 0..CAS_ATTEMPTS {
        if let Some(row) = query_opt(
            &tx,
            "INSERT INTO requests (type, state, request_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (type, state, request_id) DO NOTHING \
             RETURNING seq, created_at",
            &[&req.rtype, &req.state, &id, &now, &expires],
        )
        .await?
        {
            entry = Some((row.try_get::<_, i64>(0)?, row.try_get::<_, i64>(1)?, true));
            break;
        }
        if let Some(row) = query_opt(
            &tx,
            "UPDATE requests SET expires_at = $4 \
             WHERE type = $1 AND state = $2 AND request_id = $3 RETURNING seq, created_at",
            &[&req.rtype, &req.state, &id, &expires],
        )
        .await?
        {
            entry = Some((row.try_get::<_, i64>(0)?, row.try_get::<_, i64>(1)?, false));
            break;
        }
        // Another replica removed the entry between the two statements: insert again.
    }
    let Some((seq, created_at, is_new)) = entry else {
        return Err(Error::backend(format!("request {id} keeps vanishing from the queue")).into());
    };

    // 2. The pick, counting only live entries older than ours.
    let type_exists = match pick(&tx, req, now, seq).await? {
        Pick::Got(resource) => {
            execute(&tx, "DELETE FROM requests WHERE seq = $1", &[&seq]).await?;
            tx.commit().await?;
            return Ok(Ok(Acquired {
                resource,
                requested_at: from_micros(created_at),
            }));
        }
        Pick::Miss { type_exists } => type_exists,
    };

    // 3. Nothing acquirable: a new request id may grow the dynamic pool by one. The 404
    //    kind was decided before that (upstream reports "type does not exist" on the
    //    first acquire of an empty pool even though it just created a resource).
    if is_new {
        grow_dynamic_pool(&tx, ctx, &req.rtype).await?;
    }
    tx.commit().await?;
    Ok(Err(miss(&req.rtype, type_exists)))
}

/// Create one resource of `rtype` when it has a dynamic pool below max-count. The pool's
/// row is locked first, so replicas growing the same pool at once count one after the
/// other and never exceed max-count.
async fn grow_dynamic_pool<C: GenericClient>(c: &C, ctx: &Ctx, rtype: &str) -> PgResult<()> {
    let Some(row) = query_opt(
        c,
        "SELECT spec FROM drlcs WHERE type = $1 FOR UPDATE",
        &[&rtype],
    )
    .await?
    else {
        return Ok(());
    };
    let drlc = parse_drlc(row.try_get(0)?)?;
    let max = i64::from(drlc.max_count);
    let count: i64 = query_opt(
        c,
        "SELECT count(*) FROM (SELECT 1 FROM resources WHERE type = $1 LIMIT $2) AS t",
        &[&rtype, &max],
    )
    .await?
    .map_or(Ok(0), |r| r.try_get(0))?;
    if count < max {
        let initial = if drlc.initial_state.is_empty() {
            state::FREE
        } else {
            drlc.initial_state.as_str()
        };
        let name = uuid::Uuid::new_v4().to_string();
        insert_resource(c, &Resource::new(rtype, &name, initial, ctx.now), false).await?;
        tracing::info!(%rtype, %name, "created dynamic resource for a new request");
    }
    Ok(())
}

/// Insert a new resource row.
pub(crate) async fn insert_resource<C: GenericClient>(
    c: &C,
    r: &Resource,
    is_static: bool,
) -> PgResult<()> {
    let userdata = serde_json::to_string(&r.userdata)
        .map_err(|e| Error::backend_from("cannot encode userdata", e))?;
    execute(
        c,
        "INSERT INTO resources (name, type, state, owner, lastupdate, userdata, expiration, is_static) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &r.name,
            &r.rtype,
            &r.state,
            &r.owner,
            &to_micros(&r.lastupdate),
            &userdata,
            &r.expiration_date.as_ref().map(to_micros),
            &is_static,
        ],
    )
    .await?;
    Ok(())
}

/// SPEC §4.3, made atomic: the named rows are locked (in name order, so two callers
/// cannot deadlock), checked, and moved together — or the transaction rolls back.
pub(super) async fn acquire_by_state(
    client: &mut Object,
    ctx: &Ctx,
    state: &str,
    dest: &str,
    owner: &str,
    names: &[String],
) -> PgResult<Vec<Resource>> {
    let unique: Vec<&str> = {
        let mut seen = HashSet::new();
        names
            .iter()
            .map(String::as_str)
            .filter(|n| seen.insert(*n))
            .collect()
    };
    let tx = client.transaction().await?;
    let locked = query(
        &tx,
        "SELECT name, lastupdate FROM resources \
         WHERE name = ANY($1) AND owner = '' AND state = $2 ORDER BY name FOR UPDATE",
        &[&unique, &state],
    )
    .await?;
    if locked.len() != unique.len() {
        return Err(Error::ResourceNotFound(state.to_string()).into());
    }
    let sql = format!(
        "UPDATE resources SET owner = $1, state = $2, lastupdate = $3 \
         WHERE name = ANY($4) AND owner = '' AND state = $5 RETURNING {RESOURCE_COLUMNS}"
    );
    let rows = query(
        &tx,
        &sql,
        &[&owner, &dest, &to_micros(&ctx.now), &unique, &state],
    )
    .await?;
    if rows.len() != unique.len() {
        return Err(Error::ResourceNotFound(state.to_string()).into());
    }
    tx.commit().await?;
    // Answer in least-recently-updated order (as before the move), like SQLite.
    let before: BTreeMap<String, i64> = locked
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<PgResult<_>>()?;
    let mut out = rows
        .iter()
        .map(row_to_resource)
        .collect::<PgResult<Vec<_>>>()?;
    out.sort_by_key(|r| (before.get(&r.name).copied(), r.name.clone()));
    Ok(out)
}

/// SPEC §4.4 in one statement: the expiration date comes from the type's dynamic pool
/// (lifespan set → now + lifespan; pool without lifespan → unchanged; no pool → cleared).
pub(super) async fn release(
    client: &mut Object,
    ctx: &Ctx,
    name: &str,
    dest: &str,
    owner: &str,
) -> PgResult<Resource> {
    let sql = format!(
        "UPDATE resources r SET owner = '', state = $2, lastupdate = $3, \
           expiration = (SELECT CASE WHEN d.type IS NULL THEN NULL \
                                     WHEN d.lifespan_us IS NULL THEN r.expiration \
                                     ELSE $3 + d.lifespan_us END \
                         FROM (SELECT 1) AS one LEFT JOIN drlcs d ON d.type = r.type) \
         WHERE r.name = $1 AND r.owner = $4 RETURNING {RESOURCE_COLUMNS}"
    );
    let now = to_micros(&ctx.now);
    for _ in 0..CAS_ATTEMPTS {
        if let Some(row) = query_opt(&*client, &sql, &[&name, &dest, &now, &owner]).await? {
            return row_to_resource(&row);
        }
        let current = query_opt(
            &*client,
            "SELECT owner FROM resources WHERE name = $1",
            &[&name],
        )
        .await?;
        match current {
            None => return Err(Error::ResourceNotFound(name.to_string()).into()),
            Some(row) => {
                let current: String = row.try_get(0)?;
                if current != owner {
                    return Err(Error::OwnerNotMatch {
                        request: owner.to_string(),
                        owner: current,
                    }
                    .into());
                }
                // It became ours between the two statements: try again.
            }
        }
    }
    Err(Error::backend(format!("release of {name} kept racing")).into())
}

/// SPEC §4.5. A heartbeat without user data is one conditional statement; a user-data
/// merge locks the row, merges in Rust and writes it back in one transaction.
pub(super) async fn update(
    client: &mut Object,
    ctx: &Ctx,
    name: &str,
    owner: &str,
    state: &str,
    userdata: Option<&UserData>,
) -> PgResult<Resource> {
    let now = to_micros(&ctx.now);
    let Some(incoming) = userdata else {
        let sql = format!(
            "UPDATE resources SET lastupdate = $2 WHERE name = $1 AND owner = $3 AND state = $4 \
             RETURNING {RESOURCE_COLUMNS}"
        );
        for _ in 0..CAS_ATTEMPTS {
            if let Some(row) = query_opt(&*client, &sql, &[&name, &now, &owner, &state]).await? {
                return row_to_resource(&row);
            }
            let current = get_resource(&*client, name).await?;
            check_owner_state(current, name, owner, state)?;
        }
        return Err(Error::backend(format!("update of {name} kept racing")).into());
    };
    let tx = client.transaction().await?;
    let sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE name = $1 FOR UPDATE");
    let current = query_opt(&tx, &sql, &[&name])
        .await?
        .as_ref()
        .map(row_to_resource)
        .transpose()?;
    let mut current = check_owner_state(current, name, owner, state)?;
    current.userdata.merge(incoming);
    let encoded = serde_json::to_string(&current.userdata)
        .map_err(|e| Error::backend_from("cannot encode userdata", e))?;
    let sql = format!(
        "UPDATE resources SET userdata = $2, lastupdate = $3 \
         WHERE name = $1 AND owner = $4 AND state = $5 RETURNING {RESOURCE_COLUMNS}"
    );
    let row = query_opt(&tx, &sql, &[&name, &encoded, &now, &owner, &state])
        .await?
        .ok_or_else(|| Error::backend(format!("{name} changed while locked")))?;
    let updated = row_to_resource(&row)?;
    tx.commit().await?;
    Ok(updated)
}

/// The update checks in upstream's order: exists (404), owner (401), state (409).
fn check_owner_state(
    current: Option<Resource>,
    name: &str,
    owner: &str,
    state: &str,
) -> PgResult<Resource> {
    let current = current.ok_or_else(|| Error::ResourceNotFound(name.to_string()))?;
    if current.owner != owner {
        return Err(Error::OwnerNotMatch {
            request: owner.to_string(),
            owner: current.owner,
        }
        .into());
    }
    if current.state != state {
        return Err(Error::StateNotMatch {
            expect: current.state,
            current: state.to_string(),
        }
        .into());
    }
    Ok(current)
}

/// SPEC §4.6 in one statement: owned resources of `rtype` in `state` idle for at least
/// `expire` go to `dest`, unowned. A resource heartbeated concurrently is re-checked
/// after its lock is released and stays leased.
pub(super) async fn reset(
    client: &mut Object,
    ctx: &Ctx,
    rtype: &str,
    state: &str,
    expire: Duration,
    dest: &str,
) -> PgResult<BTreeMap<String, String>> {
    let now = to_micros(&ctx.now);
    let cutoff = now.saturating_sub(i64::try_from(expire.as_micros()).unwrap_or(i64::MAX));
    let rows = query(
        &*client,
        "WITH stale AS ( \
             SELECT name, owner FROM resources \
             WHERE type = $1 AND state = $2 AND owner <> '' AND lastupdate <= $3 FOR UPDATE) \
         UPDATE resources r SET owner = '', state = $4, lastupdate = $5 \
         FROM stale WHERE r.name = stale.name AND r.owner = stale.owner AND r.state = $2 \
         RETURNING r.name, stale.owner",
        &[&rtype, &state, &cutoff, &dest, &now],
    )
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Counts by state and owner, for one type or all types (sorted by type).
pub(super) async fn metrics(client: &mut Object, rtype: Option<&str>) -> PgResult<Vec<Metric>> {
    let rows =
        match rtype {
            Some(t) => {
                query(
                    &*client,
                    "SELECT type, state, owner, count(*) FROM resources WHERE type = $1 \
                 GROUP BY type, state, owner",
                    &[&t],
                )
                .await?
            }
            None => query(
                &*client,
                "SELECT type, state, owner, count(*) FROM resources GROUP BY type, state, owner",
                &[],
            )
            .await?,
        };
    let mut by_type: BTreeMap<String, Metric> = BTreeMap::new();
    for row in rows {
        let (t, s, o, n): (String, String, String, i64) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        );
        let m = by_type.entry(t.clone()).or_insert_with(|| Metric {
            rtype: t,
            ..Metric::default()
        });
        let n = u64::try_from(n).unwrap_or_default();
        *m.current.entry(s).or_default() += n;
        *m.owner.entry(o).or_default() += n;
    }
    Ok(by_type.into_values().collect())
}

/// Resources matching `filter`, least recently updated first.
pub(super) async fn list(client: &mut Object, filter: &ResourceFilter) -> PgResult<Vec<Resource>> {
    let mut sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE true");
    let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
    for (column, value) in [
        ("type", &filter.rtype),
        ("state", &filter.state),
        ("owner", &filter.owner),
    ] {
        if let Some(v) = value {
            args.push(v);
            sql.push_str(&format!(" AND {column} = ${}", args.len()));
        }
    }
    sql.push_str(" ORDER BY lastupdate, name");
    query(&*client, &sql, &args)
        .await?
        .iter()
        .map(row_to_resource)
        .collect()
}

/// Every dynamic pool, by type.
pub(super) async fn drlcs(client: &mut Object) -> PgResult<Vec<DynamicResourceLifeCycle>> {
    let rows = query(&*client, "SELECT spec FROM drlcs ORDER BY type", &[]).await?;
    rows.iter().map(|r| parse_drlc(r.try_get(0)?)).collect()
}

/// Drop lapsed queue entries; returns how many.
pub(super) async fn gc_requests(client: &mut Object, ctx: &Ctx) -> PgResult<u64> {
    execute(
        &*client,
        "DELETE FROM requests WHERE expires_at < $1",
        &[&to_micros(&ctx.now)],
    )
    .await
}

/// The live queue with ranks.
pub(super) async fn queue(client: &mut Object, ctx: &Ctx) -> PgResult<Vec<QueuedRequest>> {
    let rows = query(
        &*client,
        "SELECT type, state, request_id, created_at, expires_at FROM requests \
         WHERE expires_at >= $1 ORDER BY type, state, seq",
        &[&to_micros(&ctx.now)],
    )
    .await?;
    let mut out: Vec<QueuedRequest> = Vec::with_capacity(rows.len());
    for row in rows {
        let (rtype, state, request_id): (String, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let rank = match out.last() {
            Some(prev) if prev.rtype == rtype && prev.state == state => prev.rank + 1,
            _ => 1,
        };
        out.push(QueuedRequest {
            rtype,
            state,
            request_id,
            rank,
            created_at: from_micros(row.try_get(3)?),
            expires_at: from_micros(row.try_get(4)?),
        });
    }
    Ok(out)
}

/// A trivial round trip (readiness).
pub(super) async fn ping(client: &mut Object) -> PgResult<()> {
    client.simple_query("SELECT 1").await?;
    Ok(())
}
