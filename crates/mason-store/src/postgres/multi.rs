//! The all-or-nothing acquire of a set on PostgreSQL (`acquire_many`): one transaction
//! that keeps the queue places, locks every pick with `FOR UPDATE SKIP LOCKED` (so
//! concurrent sets take different resources and never wait on each other's rows), and
//! grants them all — or commits only the places and any growth. A shortage that only
//! comes from rows other transactions were moving is not final ([`Attempt::Contended`]):
//! the store tries again after a few milliseconds, because a waiter told "short" is not
//! woken again unless something frees up. The decisions are the
//! lease layer's ([`crate::lease::multi`]).

use deadpool_postgres::{GenericClient, Object};

use super::acquire::COUNT_TYPE_UP_TO;
use super::error::PgResult;
use super::rows::{lock_drlc, query, query_opt};
use super::txn::Ctx;
use super::{holders, queue, writes};
use crate::lease::multi::{self, Found};
use crate::lease::queue::RankKey;
use crate::lease::quota::Quota;
use crate::lease::{Grant, Tag};
use crate::rows::from_micros;
use crate::rules::StoredResource;
use crate::{Error, MultiAcquireRequest, MultiAcquired, Result, Shortfall};

/// Lock up to `$3` unowned resources of `$1` in `$2` after the first `$4` (reserved for
/// places ahead), least recently updated first, skipping rows other transactions hold.
const PICK_FOR_SET: &str = "SELECT name FROM resources \
    WHERE type = $1 AND state = $2 AND owner = '' \
    ORDER BY lastupdate, name LIMIT $3 OFFSET $4 FOR UPDATE SKIP LOCKED";

/// How many resources of `$1` are unowned in `$2`, whoever is moving them right now.
const UNOWNED: &str =
    "SELECT count(*) FROM resources WHERE type = $1 AND state = $2 AND owner = ''";

/// Whether `$1` has a resource or a dynamic pool. The resource is looked for as in
/// [`super::acquire::AHEAD_AND_TYPE`] (the first index entry in `state` order), so no plan
/// scans the table.
pub(super) const TYPE_KNOWN: &str = "SELECT \
    (SELECT true FROM resources WHERE type = $1 ORDER BY state LIMIT 1) IS NOT NULL \
    OR EXISTS (SELECT 1 FROM drlcs WHERE type = $1)";

/// One attempt's answer.
pub(super) enum Attempt {
    /// Granted, or a shortage that is certain.
    Done(Result<MultiAcquired>),
    /// Short only because other transactions were moving some of the free resources this
    /// request could have had (`SKIP LOCKED` passed them by): worth another attempt at
    /// once, since they may still be free once those transactions end. Carries the
    /// shortage to answer if the attempts run out.
    Contended(Error),
}

/// The outer result is the database's (an error rolls back: a bad request or unknown
/// types change nothing); the inner one is the caller's answer, committed with the queue
/// places and any growth when it is a shortage.
pub(super) async fn acquire_many(
    client: &mut Object,
    ctx: &Ctx,
    req: &MultiAcquireRequest,
) -> PgResult<Attempt> {
    multi::check(req)?;
    let tx = client.transaction().await?;
    // A holder over a quota is refused before anything (a queue place) is written; the
    // check locks the holder's counts until this transaction ends.
    for (quota, asked) in Quota::of_many(req) {
        holders::check(&tx, &quota, asked).await??;
    }
    let entry = match multi::request_id(req) {
        Some(id) => Some(queue::enter_set(&tx, ctx, req, id).await?),
        None => None,
    };
    let rank = entry.as_ref().map_or(RankKey::LAST, |e| e.rank);
    let requested_at = entry
        .as_ref()
        .map_or(ctx.now, |e| from_micros(e.created_at));
    let mut picks: Vec<Vec<String>> = Vec::with_capacity(req.items.len());
    let mut found = Vec::with_capacity(req.items.len());
    for item in &req.items {
        let reserved = queue::reserved_ahead(&tx, ctx, &item.rtype, &item.state, rank).await?;
        let rows = query(
            &tx,
            PICK_FOR_SET,
            &[&item.rtype, &item.state, &i64::from(item.count), &reserved],
        )
        .await?;
        found.push(Found {
            picked: rows.len(),
            reserved: u64::try_from(reserved).unwrap_or_default(),
        });
        picks.push(
            rows.iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?,
        );
    }
    let short = multi::shortfalls(&req.items, &found);
    if !short.is_empty() {
        let refusal = refusal(&tx, short).await?;
        let Error::Shortage(short) = refusal else {
            return Err(refusal.into());
        };
        // Before any growth: the new resources are not other transactions' doing.
        let contended = contended(&tx, &short).await?;
        if entry.as_ref().is_some_and(|e| e.is_new) {
            for s in &short {
                grow(&tx, ctx, s).await?;
            }
        }
        tx.commit().await?;
        let refusal = Error::Shortage(short);
        return Ok(if contended {
            Attempt::Contended(refusal)
        } else {
            Attempt::Done(Err(refusal))
        });
    }
    let mut granted = Vec::with_capacity(picks.iter().map(Vec::len).sum());
    for (item, names) in req.items.iter().zip(&picks) {
        let grant = Grant::new(&req.owner, &item.dest, ctx.now)
            .held_by(req.holder.as_deref())
            .tagged(Tag::multi_acquire(req))
            .with_ttl(req.lease_ttl)?;
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut rows = writes::grant_named(&tx, &names, &item.state, &grant).await?;
        if rows.len() != names.len() {
            return Err(Error::backend("a locked pick of a set changed").into());
        }
        rows.sort_by_key(|r| names.iter().position(|n| *n == r.resource.name));
        granted.extend(rows);
    }
    if let Some(id) = multi::request_id(req) {
        queue::leave_set(&tx, req, id).await?;
    }
    tx.commit().await?;
    Ok(Attempt::Done(Ok(multi::granted(granted, requested_at))))
}

/// Whether some short item has more unowned resources beyond its reservations than it
/// could lock: other transactions held them.
async fn contended<C: GenericClient>(c: &C, short: &[Shortfall]) -> PgResult<bool> {
    for s in short {
        let unowned: i64 = match query_opt(c, UNOWNED, &[&s.rtype, &s.state]).await? {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        if unowned > i64::from(s.reserved) + i64::from(s.free) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// [`multi::shortage`] with the types looked up.
async fn refusal<C: GenericClient>(c: &C, short: Vec<Shortfall>) -> PgResult<Error> {
    let mut known = Vec::new();
    for s in &short {
        let row = query_opt(c, TYPE_KNOWN, &[&s.rtype]).await?;
        if row.map(|r| r.try_get::<_, bool>(0)).transpose()? == Some(true) {
            known.push(s.rtype.clone());
        }
    }
    Ok(multi::shortage(short, |t| known.iter().any(|k| k == t)))
}

/// Grow `short`'s dynamic pool, if it has one, by what the item is short of. The pool's
/// row is locked first, so replicas growing it at once never exceed max-count.
async fn grow<C: GenericClient>(c: &C, ctx: &Ctx, short: &Shortfall) -> PgResult<()> {
    let Some(drlc) = lock_drlc(c, &short.rtype).await? else {
        return Ok(());
    };
    let max = i64::from(drlc.max_count);
    let existing: i64 = match query_opt(c, COUNT_TYPE_UP_TO, &[&short.rtype, &max]).await? {
        Some(row) => row.try_get(0)?,
        None => 0,
    };
    let new: Vec<StoredResource> = multi::growth(&drlc, existing, short, ctx.now)
        .into_iter()
        .map(|resource| StoredResource {
            resource,
            is_static: false,
        })
        .collect();
    if !new.is_empty() {
        writes::insert(c, &new).await?;
    }
    Ok(())
}
