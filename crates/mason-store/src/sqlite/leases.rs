//! The lease transitions on SQLite: acquire (with the request queue and on-demand dynamic
//! creation), acquire-by-state, release, update, reset, metrics and listings.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use mason_types::{state, Metric, Resource, UserData};
use rusqlite::{params, Connection, OptionalExtension};

use super::free_index::IndexRow;
use super::lifespans::Expiration;
use super::{
    from_micros, get_drlc, get_resource, row_to_resource, to_micros, Ctx, RESOURCE_COLUMNS,
};
use crate::{AcquireRequest, Acquired, Error, QueuedRequest, ResourceFilter, Result};

/// SPEC §4.1. The caller commits even when this returns an error: the queue entry and any
/// dynamic resource created for a new request id must persist.
pub(super) fn acquire(tx: &Connection, ctx: &Ctx<'_>, req: &AcquireRequest) -> Result<Acquired> {
    let now = to_micros(&ctx.now);
    let expires = now + ctx.request_ttl.as_micros() as i64;
    let request_id = req.request_id.as_deref().filter(|id| !id.is_empty());

    // 1. Queue position.
    let (ahead_limit, is_new, created_at) = match request_id {
        Some(id) => {
            let existing: Option<(i64, i64)> = tx
                .prepare_cached(
                    "SELECT seq, created_at FROM requests WHERE type = ?1 AND state = ?2 AND request_id = ?3",
                )?
                .query_row(params![req.rtype, req.state, id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            match existing {
                Some((seq, created)) => {
                    tx.prepare_cached("UPDATE requests SET expires_at = ?1 WHERE seq = ?2")?
                        .execute(params![expires, seq])?;
                    (seq, false, created)
                }
                None => {
                    tx.prepare_cached(
                        "INSERT INTO requests (type, state, request_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![req.rtype, req.state, id, now, expires])?;
                    (tx.last_insert_rowid(), true, now)
                }
            }
        }
        None => (i64::MAX, false, now),
    };
    let ahead: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM requests WHERE type = ?1 AND state = ?2 AND seq < ?3 AND expires_at >= ?4",
        )?
        .query_row(params![req.rtype, req.state, ahead_limit, now], |r| r.get(0))?;

    // 2. The (ahead+1)-th free resource, least recently updated first; earlier ones are
    //    reserved for older requests. The in-memory index says which; the UPDATE's
    //    compare-and-set makes sure.
    let ahead = usize::try_from(ahead).unwrap_or(usize::MAX);
    let taken = match ctx.free.nth(&req.rtype, &req.state, ahead) {
        None => None,
        Some(name) => match take(tx, ctx, req, name)? {
            Some(resource) => Some(resource),
            None => {
                tracing::error!(rtype = %req.rtype, state = %req.state, %name,
                    "the acquire index disagrees with the table; picking by a scan and rebuilding it");
                ctx.reload_after_commit();
                match scan_pick(tx, req, ahead)? {
                    Some(name) => take(tx, ctx, req, &name)?,
                    None => None,
                }
            }
        },
    };
    if let Some(resource) = taken {
        if let Some(id) = request_id {
            tx.prepare_cached(
                "DELETE FROM requests WHERE type = ?1 AND state = ?2 AND request_id = ?3",
            )?
            .execute(params![req.rtype, req.state, id])?;
        }
        return Ok(Acquired {
            resource,
            requested_at: from_micros(created_at),
        });
    }

    // 3. Nothing acquirable: maybe grow a dynamic pool, then say which 404 it is.
    let type_exists: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM resources WHERE type = ?1)")?
        .query_row([&req.rtype], |r| r.get(0))?;
    if is_new {
        if let Some(drlc) = get_drlc(tx, &req.rtype)? {
            let count: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM (SELECT 1 FROM resources WHERE type = ?1 LIMIT ?2)",
                )?
                .query_row(params![req.rtype, i64::from(drlc.max_count)], |r| r.get(0))?;
            if count < i64::from(drlc.max_count) {
                let initial = if drlc.initial_state.is_empty() {
                    state::FREE
                } else {
                    drlc.initial_state.as_str()
                };
                let name = uuid::Uuid::new_v4().to_string();
                let created = Resource::new(&req.rtype, &name, initial, ctx.now);
                insert_resource(tx, &created, false)?;
                ctx.wrote_resource(&created);
                tracing::info!(rtype = %req.rtype, %name, "created dynamic resource for a new request");
            }
        }
    }
    Err(if type_exists {
        Error::ResourceNotFound(req.rtype.clone())
    } else {
        Error::ResourceTypeNotFound(req.rtype.clone())
    })
}

/// Move `name` from the request's state to its destination for its owner, if it is
/// still unowned and in that state (the compare-and-set); `None` if it is not.
fn take(
    tx: &Connection,
    ctx: &Ctx<'_>,
    req: &AcquireRequest,
    name: &str,
) -> Result<Option<Resource>> {
    let taken = tx
        .prepare_cached(concat!(
            "UPDATE resources SET owner = ?1, state = ?2, lastupdate = ?3 \
             WHERE name = ?4 AND type = ?5 AND owner = '' AND state = ?6 RETURNING ",
            resource_columns!()
        ))?
        .query_row(
            params![
                req.owner,
                req.dest,
                to_micros(&ctx.now),
                name,
                req.rtype,
                req.state
            ],
            row_to_resource,
        )
        .optional()?;
    if let Some(r) = &taken {
        ctx.wrote_resource(r);
    }
    Ok(taken)
}

/// The acquire pick by SQL alone (the fallback when the index is found wrong).
fn scan_pick(tx: &Connection, req: &AcquireRequest, ahead: usize) -> Result<Option<String>> {
    Ok(tx
        .prepare_cached(
            "SELECT name FROM resources WHERE type = ?1 AND state = ?2 AND owner = '' \
             ORDER BY lastupdate, name LIMIT 1 OFFSET ?3",
        )?
        .query_row(
            params![
                req.rtype,
                req.state,
                i64::try_from(ahead).unwrap_or(i64::MAX)
            ],
            |r| r.get(0),
        )
        .optional()?)
}

/// Insert a new resource row.
pub(crate) fn insert_resource(tx: &Connection, r: &Resource, is_static: bool) -> Result<()> {
    let userdata = serde_json::to_string(&r.userdata)
        .map_err(|e| Error::backend_from("cannot encode userdata", e))?;
    tx.prepare_cached(
        "INSERT INTO resources (name, type, state, owner, lastupdate, userdata, expiration, is_static) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        r.name,
        r.rtype,
        r.state,
        r.owner,
        to_micros(&r.lastupdate),
        userdata,
        r.expiration_date.as_ref().map(to_micros),
        is_static,
    ])?;
    Ok(())
}

/// SPEC §4.3, made atomic: either every named resource moves or none does.
pub(super) fn acquire_by_state(
    tx: &Connection,
    ctx: &Ctx<'_>,
    state: &str,
    dest: &str,
    owner: &str,
    names: &[String],
) -> Result<Vec<Resource>> {
    if names.is_empty() {
        return Err(Error::InvalidArgument(
            "must provide names of expected resources".into(),
        ));
    }
    let now = to_micros(&ctx.now);
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for name in names {
        if !seen.insert(name.as_str()) {
            continue;
        }
        match get_resource(tx, name)? {
            Some(r) if r.owner.is_empty() && r.state == state => found.push(r),
            _ => return Err(Error::ResourceNotFound(state.to_string())),
        }
    }
    found.sort_by(|a, b| {
        a.lastupdate
            .cmp(&b.lastupdate)
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut stmt = tx.prepare_cached(concat!(
        "UPDATE resources SET owner = ?1, state = ?2, lastupdate = ?3 \
         WHERE name = ?4 AND owner = '' AND state = ?5 RETURNING ",
        resource_columns!()
    ))?;
    let mut out = Vec::with_capacity(found.len());
    for r in found {
        let updated = stmt
            .query_row(params![owner, dest, now, r.name, state], row_to_resource)
            .optional()?
            .ok_or_else(|| Error::ResourceNotFound(state.to_string()))?;
        ctx.wrote_resource(&updated);
        out.push(updated);
    }
    Ok(out)
}

/// SPEC §4.4.
pub(super) fn release(
    tx: &Connection,
    ctx: &Ctx<'_>,
    name: &str,
    dest: &str,
    owner: &str,
) -> Result<Resource> {
    let (rtype, current_owner): (String, String) = tx
        .prepare_cached("SELECT type, owner FROM resources WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| Error::ResourceNotFound(name.to_string()))?;
    if current_owner != owner {
        return Err(Error::OwnerNotMatch {
            request: owner.to_string(),
            owner: current_owner,
        });
    }
    let (keep, expiration) = match ctx.lifespans.on_release(&rtype) {
        Expiration::Clear => (false, None),
        Expiration::Keep => (true, None),
        Expiration::After(lifespan) => (
            false,
            Some(ctx.now + chrono::Duration::from_std(lifespan).unwrap_or(chrono::Duration::MAX)),
        ),
    };
    let released = tx
        .prepare_cached(concat!(
            "UPDATE resources SET owner = '', state = ?1, lastupdate = ?2, \
             expiration = CASE WHEN ?3 THEN expiration ELSE ?4 END \
             WHERE name = ?5 AND owner = ?6 RETURNING ",
            resource_columns!()
        ))?
        .query_row(
            params![
                dest,
                to_micros(&ctx.now),
                keep,
                expiration.as_ref().map(to_micros),
                name,
                owner
            ],
            row_to_resource,
        )
        .optional()?
        .ok_or_else(|| Error::ResourceNotFound(name.to_string()))?;
    ctx.wrote_resource(&released);
    Ok(released)
}

/// SPEC §4.5.
pub(super) fn update(
    tx: &Connection,
    ctx: &Ctx<'_>,
    name: &str,
    owner: &str,
    state: &str,
    userdata: Option<&UserData>,
) -> Result<Resource> {
    let mut current =
        get_resource(tx, name)?.ok_or_else(|| Error::ResourceNotFound(name.to_string()))?;
    if current.owner != owner {
        return Err(Error::OwnerNotMatch {
            request: owner.to_string(),
            owner: current.owner,
        });
    }
    if current.state != state {
        return Err(Error::StateNotMatch {
            expect: current.state,
            current: state.to_string(),
        });
    }
    if let Some(incoming) = userdata {
        current.userdata.merge(incoming);
    }
    let encoded = serde_json::to_string(&current.userdata)
        .map_err(|e| Error::backend_from("cannot encode userdata", e))?;
    let updated = tx
        .prepare_cached(concat!(
            "UPDATE resources SET userdata = ?1, lastupdate = ?2 \
             WHERE name = ?3 AND owner = ?4 AND state = ?5 RETURNING ",
            resource_columns!()
        ))?
        .query_row(
            params![encoded, to_micros(&ctx.now), name, owner, state],
            row_to_resource,
        )
        .optional()?
        .ok_or_else(|| Error::ResourceNotFound(name.to_string()))?;
    ctx.wrote_resource(&updated);
    Ok(updated)
}

/// SPEC §4.6: owned resources of `rtype` in `state` idle for at least `expire`.
pub(super) fn reset(
    tx: &Connection,
    ctx: &Ctx<'_>,
    rtype: &str,
    state: &str,
    expire: Duration,
    dest: &str,
) -> Result<BTreeMap<String, String>> {
    let now = to_micros(&ctx.now);
    let cutoff = now.saturating_sub(i64::try_from(expire.as_micros()).unwrap_or(i64::MAX));
    let mut select = tx.prepare_cached(
        "SELECT name, owner FROM resources WHERE type = ?1 AND state = ?2 AND owner != '' AND lastupdate <= ?3",
    )?;
    let stale: Vec<(String, String)> = select
        .query_map(params![rtype, state, cutoff], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = tx.prepare_cached(
        "UPDATE resources SET owner = '', state = ?1, lastupdate = ?2 WHERE name = ?3 AND owner = ?4 AND state = ?5",
    )?;
    let mut out = BTreeMap::new();
    for (name, owner) in stale {
        if stmt.execute(params![dest, now, name, owner, state])? == 1 {
            ctx.wrote(IndexRow {
                name: name.clone(),
                rtype: rtype.to_string(),
                state: dest.to_string(),
                unowned: true,
                lastupdate: now,
            });
            out.insert(name, owner);
        }
    }
    Ok(out)
}

/// Counts by state and owner, for one type or all types (sorted by type).
pub(super) fn metrics(tx: &Connection, rtype: Option<&str>) -> Result<Vec<Metric>> {
    let sql = match rtype {
        Some(_) => "SELECT type, state, owner, count(*) FROM resources WHERE type = ?1 GROUP BY type, state, owner",
        None => "SELECT type, state, owner, count(*) FROM resources GROUP BY type, state, owner",
    };
    let mut stmt = tx.prepare_cached(sql)?;
    let map = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(String, String, String, i64)> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    };
    let rows: Vec<_> = match rtype {
        Some(t) => stmt.query_map([t], map)?.collect::<rusqlite::Result<_>>()?,
        None => stmt.query_map([], map)?.collect::<rusqlite::Result<_>>()?,
    };
    let mut by_type: BTreeMap<String, Metric> = BTreeMap::new();
    for (t, s, o, n) in rows {
        let m = by_type.entry(t.clone()).or_insert_with(|| Metric {
            rtype: t,
            ..Metric::default()
        });
        *m.current.entry(s).or_default() += n as u64;
        *m.owner.entry(o).or_default() += n as u64;
    }
    Ok(by_type.into_values().collect())
}

/// Resources matching `filter`, least recently updated first.
pub(super) fn list(tx: &Connection, filter: &ResourceFilter) -> Result<Vec<Resource>> {
    let mut sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE 1 = 1");
    let mut args: Vec<&str> = Vec::new();
    for (column, value) in [
        ("type", &filter.rtype),
        ("state", &filter.state),
        ("owner", &filter.owner),
    ] {
        if let Some(v) = value {
            args.push(v);
            sql.push_str(&format!(" AND {column} = ?{}", args.len()));
        }
    }
    sql.push_str(" ORDER BY lastupdate, name");
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), row_to_resource)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The live queue with ranks.
pub(super) fn queue(tx: &Connection, ctx: &Ctx<'_>) -> Result<Vec<QueuedRequest>> {
    let mut stmt = tx.prepare_cached(
        "SELECT type, state, request_id, created_at, expires_at FROM requests \
         WHERE expires_at >= ?1 ORDER BY type, state, seq",
    )?;
    let rows = stmt
        .query_map([to_micros(&ctx.now)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out: Vec<QueuedRequest> = Vec::with_capacity(rows.len());
    for (rtype, state, request_id, created, expires) in rows {
        let rank = match out.last() {
            Some(prev) if prev.rtype == rtype && prev.state == state => prev.rank + 1,
            _ => 1,
        };
        out.push(QueuedRequest {
            rtype,
            state,
            request_id,
            rank,
            created_at: from_micros(created),
            expires_at: from_micros(expires),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mason_types::BoskosConfig;

    use super::IndexRow;
    use crate::sqlite::SqliteStore;
    use crate::{AcquireRequest, ManualClock, Store};

    fn request() -> AcquireRequest {
        AcquireRequest {
            rtype: "t".into(),
            state: "free".into(),
            dest: "busy".into(),
            owner: "me".into(),
            request_id: None,
        }
    }

    #[tokio::test]
    async fn a_wrong_index_entry_falls_back_to_a_scan_and_rebuilds_the_index() {
        let store = SqliteStore::in_memory(Arc::new(ManualClock::at_upstream_epoch())).unwrap();
        let config =
            BoskosConfig::parse_and_validate("resources:\n- type: t\n  names: [a, b]\n").unwrap();
        store.sync_config(&config).await.unwrap();
        // A name the table does not have, at the head of the acquire order.
        store.inner.lock().unwrap().free.apply([IndexRow {
            name: "ghost".into(),
            rtype: "t".into(),
            state: "free".into(),
            unowned: true,
            lastupdate: i64::MIN,
        }]);

        let got = store.acquire(&request()).await.unwrap().resource;
        assert_eq!((got.name.as_str(), got.owner.as_str()), ("a", "me"));
        let inner = store.inner.lock().unwrap();
        assert_eq!(
            inner.free.nth("t", "free", 0),
            Some("b"),
            "rebuilt from the table"
        );
        assert_eq!(inner.free.nth("t", "free", 1), None);
    }
}
