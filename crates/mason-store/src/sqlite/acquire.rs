//! Acquire and acquire-by-state on SQLite. The pick comes from the in-memory acquire
//! order ([`super::free_index`]) and is confirmed by the grant's compare-and-set; the
//! decisions are the lease layer's ([`crate::lease::acquire`]).

use mason_types::{DynamicResourceLifeCycle, Resource, ResourceV2};
use rusqlite::{params, Connection, OptionalExtension};

use super::rows::{get_drlc, get_resource};
use super::txn::Ctx;
use super::{holders, queue, writes};
use crate::lease::acquire::{self as rules, Pick};
use crate::lease::queue::RankKey;
use crate::lease::quota::Quota;
use crate::lease::{Grant, Tag};
use crate::rows::{from_micros, to_micros};
use crate::rules::StoredResource;
use crate::{AcquireByStateRequest, AcquireRequest, Acquired, Result};

/// SPEC §4.1. The caller commits even when this returns an error: the queue entry and any
/// dynamic resource created for a new request id must persist. A holder over its quota
/// is refused first, before anything is written.
pub(super) fn acquire(tx: &Connection, ctx: &Ctx<'_>, req: &AcquireRequest) -> Result<Acquired> {
    // A bad TTL is refused before the request takes a place in the queue.
    crate::lease::ttl::requested_ttl(req.lease_ttl)?;
    if let Some(quota) = Quota::of_acquire(req) {
        holders::check(tx, &quota, 1)?;
    }
    let request_id = rules::request_id(req);
    let entry = match request_id {
        Some(id) => Some(queue::enter(tx, ctx, req, id)?),
        None => None,
    };
    let rank = entry.as_ref().map_or(RankKey::LAST, |e| e.rank);
    let reserved = queue::reserved_ahead(tx, ctx, &req.rtype, &req.state, rank)?;
    let ahead = usize::try_from(reserved).unwrap_or(usize::MAX);
    let pick = match pick(tx, ctx, req, ahead)? {
        Some(resource) => Pick::Got(resource),
        None => Pick::Miss {
            type_exists: type_exists(tx, &req.rtype)?,
        },
    };
    let requested_at = entry
        .as_ref()
        .map_or(ctx.now, |e| from_micros(e.created_at));
    match (&pick, request_id) {
        (Pick::Got(_), Some(id)) => queue::leave(tx, req, id)?,
        (Pick::Miss { .. }, _) if entry.as_ref().is_some_and(|e| e.is_new) => {
            grow_dynamic_pool(tx, ctx, &req.rtype)?;
        }
        _ => {}
    }
    rules::answer(req, pick, requested_at)
}

/// Grant the `(ahead+1)`-th free resource, least recently updated first; earlier ones are
/// reserved for older requests. The in-memory order says which; the grant's
/// compare-and-set makes sure, and a miss there falls back to a SQL scan (and rebuilds the
/// order after the commit).
fn pick(
    tx: &Connection,
    ctx: &Ctx<'_>,
    req: &AcquireRequest,
    ahead: usize,
) -> Result<Option<ResourceV2>> {
    let grant = Grant::new(&req.owner, &req.dest, ctx.now)
        .tagged(Tag::acquire(req))
        .held_by(req.holder.as_deref())
        .with_ttl(req.lease_ttl)?;
    let Some(name) = ctx.free.nth(&req.rtype, &req.state, ahead) else {
        return Ok(None);
    };
    if let Some(r) = writes::grant(tx, ctx, name, &req.rtype, &req.state, &grant)? {
        return Ok(Some(r));
    }
    tracing::error!(rtype = %req.rtype, state = %req.state, %name,
        "the acquire index disagrees with the table; picking by a scan and rebuilding it");
    ctx.reload_after_commit();
    match scan_pick(tx, req, ahead)? {
        Some(name) => writes::grant(tx, ctx, &name, &req.rtype, &req.state, &grant),
        None => Ok(None),
    }
}

/// The acquire pick by SQL alone (the fallback when the in-memory order is found wrong).
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

/// Whether any resource of `rtype` exists (which 404 a miss is).
pub(super) fn type_exists(tx: &Connection, rtype: &str) -> Result<bool> {
    Ok(tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM resources WHERE type = ?1)")?
        .query_row([rtype], |r| r.get(0))?)
}

/// Create one resource of `rtype` when its dynamic pool has room (see
/// [`rules::dynamic_growth`]).
pub(super) fn grow_dynamic_pool(tx: &Connection, ctx: &Ctx<'_>, rtype: &str) -> Result<()> {
    grow_pool(tx, ctx, rtype, |drlc, count| {
        rules::dynamic_growth(drlc, count, ctx.now)
            .into_iter()
            .collect()
    })
}

/// Insert the resources `growth` makes of `rtype`'s dynamic pool (its lifecycle and how
/// many resources the type has, counted up to the pool's maximum). Nothing for a type
/// without a dynamic pool.
pub(super) fn grow_pool(
    tx: &Connection,
    ctx: &Ctx<'_>,
    rtype: &str,
    growth: impl FnOnce(&DynamicResourceLifeCycle, i64) -> Vec<Resource>,
) -> Result<()> {
    let Some(drlc) = get_drlc(tx, rtype)? else {
        return Ok(());
    };
    let count: i64 = tx
        .prepare_cached("SELECT count(*) FROM (SELECT 1 FROM resources WHERE type = ?1 LIMIT ?2)")?
        .query_row(params![rtype, i64::from(drlc.max_count)], |r| r.get(0))?;
    for resource in growth(&drlc, count) {
        let resource = StoredResource {
            resource,
            is_static: false,
        };
        writes::insert(tx, ctx, &resource)?;
    }
    Ok(())
}

/// SPEC §4.3, made atomic: either every named resource moves or none does (the caller
/// rolls back on an error).
pub(super) fn acquire_by_state(
    tx: &Connection,
    ctx: &Ctx<'_>,
    req: &AcquireByStateRequest,
) -> Result<Vec<ResourceV2>> {
    let names = rules::wanted_names(req)?;
    let mut found = Vec::with_capacity(names.len());
    for name in names {
        match get_resource(tx, name)? {
            Some(r) if r.resource.owner.is_empty() && r.resource.state == req.state => {
                found.push(r)
            }
            _ => return Err(rules::by_state_miss(req)),
        }
    }
    for (quota, asked) in Quota::of_by_state(req, found.iter().map(|r| &*r.resource.rtype)) {
        holders::check(tx, &quota, asked)?;
    }
    rules::order_by_state_answer(&mut found, |r| {
        (to_micros(&r.resource.lastupdate), &r.resource.name)
    });
    let grant = Grant::new(&req.owner, &req.dest, ctx.now)
        .tagged(Tag::acquire_by_state(req))
        .held_by(req.holder.as_deref())
        .with_ttl(req.lease_ttl)?;
    found
        .iter()
        .map(|r| {
            writes::grant(
                tx,
                ctx,
                &r.resource.name,
                &r.resource.rtype,
                &req.state,
                &grant,
            )?
            .ok_or_else(|| rules::by_state_miss(req))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mason_types::BoskosConfig;

    use crate::sqlite::free_index::IndexRow;
    use crate::sqlite::SqliteStore;
    use crate::{AcquireRequest, ManualClock, Store};

    fn request() -> AcquireRequest {
        AcquireRequest {
            actor: None,
            rtype: "t".into(),
            state: "free".into(),
            dest: "busy".into(),
            owner: "me".into(),
            ..Default::default()
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
            owner: String::new(),
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
