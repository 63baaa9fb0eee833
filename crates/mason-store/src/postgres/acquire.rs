//! Acquire and acquire-by-state on PostgreSQL. Without a request id and with nobody
//! queued, an acquire is one statement ([`writes::acquire_first`]); with a request id, a
//! transaction that also keeps the queue entry and may grow a dynamic pool. The
//! decisions are the lease layer's ([`crate::lease::acquire`]).

use std::collections::BTreeMap;

use deadpool_postgres::{GenericClient, Object};
use mason_types::ResourceV2;

use super::error::PgResult;
use super::rows::{lock_drlc, query, query_opt};
use super::txn::Ctx;
use super::{holders, queue, writes};
use crate::lease::acquire::{self as rules, Pick};
use crate::lease::queue::RankKey;
use crate::lease::quota::Quota;
use crate::lease::{Grant, Tag};
use crate::rows::{from_micros, to_micros};
use crate::rules::StoredResource;
use crate::{AcquireByStateRequest, AcquireRequest, Acquired, Result};

/// How many resources the live places ranked ahead of (`$5` priority, `$3` arrival)
/// reserve, and whether the type has any resource at all (which 404 a miss answers).
///
/// The type's existence is the first entry of `resources_pick` for it, asked for in
/// `state` order: a plan that read the table instead would have to read every row of the
/// type to sort them, so every plan walks the index. Asked as `EXISTS (SELECT 1 FROM
/// resources WHERE type = $1)`, the generic plan PostgreSQL settles on after five calls
/// on a connection (it cannot know how common the type is, so it takes the average)
/// scanned the table until it met a row of the type: on every miss of a polling client,
/// up to the whole table for a type whose rows lie at its end or that has none (5–15 ms
/// and 640–1,150 pages at 100,000 resources, against 0.1 ms and 4 pages this way).
pub(super) const AHEAD_AND_TYPE: &str = "SELECT \
        (SELECT coalesce(sum(wanted), 0)::bigint FROM requests \
         WHERE type = $1 AND state = $2 AND expires_at >= $4 \
           AND (priority > $5 OR (priority = $5 AND coalesce(arrival, seq) < $3))), \
        (SELECT true FROM resources WHERE type = $1 ORDER BY state LIMIT 1) IS NOT NULL";

/// How many resources of `$1` exist, counting no further than `$2`.
pub(super) const COUNT_TYPE_UP_TO: &str =
    "SELECT count(*) FROM (SELECT 1 FROM resources WHERE type = $1 LIMIT $2) AS t";

/// Lock the named rows that are unowned in `$2`, in name order (so two callers cannot
/// deadlock), with their `lastupdate` before the move and their type.
const LOCK_NAMED: &str = "SELECT name, lastupdate, type FROM resources \
    WHERE name = ANY($1) AND owner = '' AND state = $2 ORDER BY name FOR UPDATE";

/// SPEC §4.1. The outer result is the database's; the inner one is the caller's (a failed
/// acquire still commits its queue entry and any resource it created). A holder over its
/// quota is refused first, and nothing is written.
pub(super) async fn acquire(
    client: &mut Object,
    ctx: &Ctx,
    req: &AcquireRequest,
) -> PgResult<Result<Acquired>> {
    // A bad TTL is refused before the request takes a place in the queue.
    if let Err(e) = crate::lease::ttl::requested_ttl(req.lease_ttl) {
        return Ok(Err(e));
    }
    let quota = Quota::of_acquire(req);
    let request_id = rules::request_id(req);
    if quota.is_none() && request_id.is_none() {
        let pick = pick(&*client, ctx, req, RankKey::LAST).await?;
        return Ok(rules::answer(req, pick, ctx.now));
    }
    let tx = client.transaction().await?;
    if let Some(quota) = quota {
        if let Err(refused) = holders::check(&tx, &quota, 1).await? {
            tx.rollback().await?;
            return Ok(Err(refused));
        }
    }
    let Some(id) = request_id else {
        let pick = pick(&tx, ctx, req, RankKey::LAST).await?;
        tx.commit().await?;
        return Ok(rules::answer(req, pick, ctx.now));
    };
    let entry = queue::enter(&tx, ctx, req, id).await?;
    let pick = pick(&tx, ctx, req, entry.rank).await?;
    match &pick {
        Pick::Got(_) => queue::leave(&tx, entry.seq).await?,
        Pick::Miss { .. } if entry.is_new => grow_dynamic_pool(&tx, ctx, &req.rtype).await?,
        Pick::Miss { .. } => {}
    }
    tx.commit().await?;
    Ok(rules::answer(req, pick, from_micros(entry.created_at)))
}

/// Grant the resource due to a caller ranked `rank`, with the reservations of every live
/// place ranked ahead of it: one statement when nobody is ahead (the common case),
/// otherwise a sum and a ranked pick.
async fn pick<C: GenericClient>(
    c: &C,
    ctx: &Ctx,
    req: &AcquireRequest,
    rank: RankKey,
) -> PgResult<Pick> {
    let grant = Grant::new(&req.owner, &req.dest, ctx.now)
        .tagged(Tag::acquire(req))
        .held_by(req.holder.as_deref())
        .with_ttl(req.lease_ttl)?;
    if let Some(resource) = writes::acquire_first(c, req, &grant, rank).await? {
        return Ok(Pick::Got(resource));
    }
    let now = to_micros(&ctx.now);
    let Some(row) = query_opt(
        c,
        AHEAD_AND_TYPE,
        &[&req.rtype, &req.state, &rank.arrival, &now, &rank.priority],
    )
    .await?
    else {
        return Ok(Pick::Miss { type_exists: false });
    };
    let (ahead, type_exists): (i64, bool) = (row.try_get(0)?, row.try_get(1)?);
    if ahead > 0 {
        if let Some(resource) = writes::acquire_ranked(c, req, &grant, ahead).await? {
            return Ok(Pick::Got(resource));
        }
    }
    Ok(Pick::Miss { type_exists })
}

/// Create one resource of `rtype` when its dynamic pool has room (see
/// [`rules::dynamic_growth`]). The pool's row is locked first, so replicas growing the
/// same pool at once count one after the other and never exceed max-count.
async fn grow_dynamic_pool<C: GenericClient>(c: &C, ctx: &Ctx, rtype: &str) -> PgResult<()> {
    let Some(drlc) = lock_drlc(c, rtype).await? else {
        return Ok(());
    };
    let max = i64::from(drlc.max_count);
    let count: i64 = match query_opt(c, COUNT_TYPE_UP_TO, &[&rtype, &max]).await? {
        Some(row) => row.try_get(0)?,
        None => 0,
    };
    if let Some(resource) = rules::dynamic_growth(&drlc, count, ctx.now) {
        writes::insert(
            c,
            &[StoredResource {
                resource,
                is_static: false,
            }],
        )
        .await?;
    }
    Ok(())
}

/// SPEC §4.3, made atomic: the named rows (`names`, distinct, from
/// [`rules::wanted_names`]) are locked, checked, and moved together — or the transaction
/// rolls back.
pub(super) async fn acquire_by_state(
    client: &mut Object,
    ctx: &Ctx,
    req: &AcquireByStateRequest,
    names: &[&str],
) -> PgResult<Vec<ResourceV2>> {
    let tx = client.transaction().await?;
    let locked = query(&tx, LOCK_NAMED, &[&names, &req.state]).await?;
    if locked.len() != names.len() {
        return Err(rules::by_state_miss(req).into());
    }
    let types: Vec<String> = locked
        .iter()
        .map(|r| r.try_get(2))
        .collect::<Result<_, _>>()?;
    for (quota, asked) in Quota::of_by_state(req, types.iter().map(String::as_str)) {
        holders::check(&tx, &quota, asked).await??;
    }
    let grant = Grant::new(&req.owner, &req.dest, ctx.now)
        .tagged(Tag::acquire_by_state(req))
        .held_by(req.holder.as_deref())
        .with_ttl(req.lease_ttl)?;
    let mut granted = writes::acquire_named(&tx, req, names, &grant).await?;
    if granted.len() != names.len() {
        return Err(rules::by_state_miss(req).into());
    }
    tx.commit().await?;
    let before: BTreeMap<String, i64> = locked
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<PgResult<_>>()?;
    rules::order_by_state_answer(&mut granted, |r| {
        let name = &r.resource.name;
        (before.get(name).copied().unwrap_or_default(), name)
    });
    Ok(granted)
}
