//! The all-or-nothing acquire of a set on SQLite (`acquire_many`). The picks come from
//! the in-memory acquire order ([`super::free_index`]), the grants are compare-and-sets
//! inside a savepoint, so an order found wrong undoes them and the picks are made again
//! by SQL; the decisions are the lease layer's ([`crate::lease::multi`]).

use mason_types::ResourceV2;
use rusqlite::{params, Connection};

use super::acquire::{grow_pool, type_exists};
use super::rows::get_drlc;
use super::txn::Ctx;
use super::{holders, queue, writes};
use crate::lease::multi::{self, Found};
use crate::lease::queue::RankKey;
use crate::lease::quota::Quota;
use crate::lease::{Grant, Tag};
use crate::rows::from_micros;
use crate::{Error, MultiAcquireRequest, MultiAcquired, Result, Shortfall};

/// The outer result is the transaction's (an error rolls it back: a bad request or
/// unknown types change nothing); the inner one is the caller's answer, committed with
/// the queue places and any growth when it is a shortage.
pub(super) fn acquire_many(
    tx: &Connection,
    ctx: &Ctx<'_>,
    req: &MultiAcquireRequest,
) -> Result<Result<MultiAcquired>> {
    multi::check(req)?;
    // A holder over a quota is refused before anything (a queue place) is written.
    for (quota, asked) in Quota::of_many(req) {
        holders::check(tx, &quota, asked)?;
    }
    let entry = match multi::request_id(req) {
        Some(id) => Some(queue::enter_set(tx, ctx, req, id)?),
        None => None,
    };
    let rank = entry.as_ref().map_or(RankKey::LAST, |e| e.rank);
    let is_new = entry.as_ref().is_some_and(|e| e.is_new);
    let requested_at = entry
        .as_ref()
        .map_or(ctx.now, |e| from_micros(e.created_at));

    let mut reserved = Vec::with_capacity(req.items.len());
    for item in &req.items {
        reserved.push(queue::reserved_ahead(
            tx,
            ctx,
            &item.rtype,
            &item.state,
            rank,
        )?);
    }
    let skips: Vec<usize> = reserved
        .iter()
        .map(|&r| usize::try_from(r).unwrap_or(usize::MAX))
        .collect();
    let picks: Vec<Vec<String>> = req
        .items
        .iter()
        .zip(&skips)
        .map(|(item, &skip)| {
            ctx.free
                .range(&item.rtype, &item.state, skip, item.count as usize)
                .into_iter()
                .map(str::to_string)
                .collect()
        })
        .collect();
    let granted = match try_grant(tx, ctx, req, &picks, &reserved)? {
        Granted::All(resources) => resources,
        Granted::Short(short) => return refuse(tx, ctx, short, is_new),
        Granted::Disagreed => {
            tracing::error!(
                "the acquire index disagrees with the table; picking the set by a scan and rebuilding it"
            );
            ctx.reload_after_commit();
            let picks = scan_picks(tx, req, &skips)?;
            match try_grant(tx, ctx, req, &picks, &reserved)? {
                Granted::All(resources) => resources,
                Granted::Short(short) => return refuse(tx, ctx, short, is_new),
                Granted::Disagreed => {
                    return Err(Error::backend(
                        "a set's picks changed inside its transaction",
                    ))
                }
            }
        }
    };
    if let Some(id) = multi::request_id(req) {
        queue::leave_set(tx, req, id)?;
    }
    Ok(Ok(multi::granted(granted, requested_at)))
}

/// What granting a set's picks came to.
enum Granted {
    /// Every item filled.
    All(Vec<ResourceV2>),
    /// Some items have too few picks; nothing was granted.
    Short(Vec<Shortfall>),
    /// A pick was not free after all (the in-memory order was wrong); nothing was
    /// granted.
    Disagreed,
}

/// Grant every pick inside a savepoint, or none.
fn try_grant(
    tx: &Connection,
    ctx: &Ctx<'_>,
    req: &MultiAcquireRequest,
    picks: &[Vec<String>],
    reserved: &[u64],
) -> Result<Granted> {
    let found: Vec<Found> = picks
        .iter()
        .zip(reserved)
        .map(|(p, &reserved)| Found {
            picked: p.len(),
            reserved,
        })
        .collect();
    let short = multi::shortfalls(&req.items, &found);
    if !short.is_empty() {
        return Ok(Granted::Short(short));
    }
    tx.prepare_cached("SAVEPOINT grant_set")?.execute([])?;
    let mut granted = Vec::with_capacity(picks.iter().map(Vec::len).sum());
    for (item, names) in req.items.iter().zip(picks) {
        let grant = Grant::new(&req.owner, &item.dest, ctx.now)
            .held_by(req.holder.as_deref())
            .tagged(Tag::multi_acquire(req))
            .with_ttl(req.lease_ttl)?;
        for name in names {
            match writes::grant(tx, ctx, name, &item.rtype, &item.state, &grant)? {
                Some(r) => granted.push(r),
                None => {
                    tx.prepare_cached("ROLLBACK TO grant_set")?.execute([])?;
                    tx.prepare_cached("RELEASE grant_set")?.execute([])?;
                    return Ok(Granted::Disagreed);
                }
            }
        }
    }
    tx.prepare_cached("RELEASE grant_set")?.execute([])?;
    Ok(Granted::All(granted))
}

/// The picks by SQL alone (when the in-memory order was found wrong).
fn scan_picks(
    tx: &Connection,
    req: &MultiAcquireRequest,
    skips: &[usize],
) -> Result<Vec<Vec<String>>> {
    let mut stmt = tx.prepare_cached(
        "SELECT name FROM resources WHERE type = ?1 AND state = ?2 AND owner = '' \
         ORDER BY lastupdate, name LIMIT ?3 OFFSET ?4",
    )?;
    req.items
        .iter()
        .zip(skips)
        .map(|(item, &skip)| {
            let offset = i64::try_from(skip).unwrap_or(i64::MAX);
            Ok(stmt
                .query_map(params![item.rtype, item.state, item.count, offset], |r| {
                    r.get(0)
                })?
                .collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .collect()
}

/// The refusal of a short set: unknown types roll back (outer error); otherwise a first
/// attempt grows short dynamic pools and the shortage is answered with the queue places
/// kept.
fn refuse(
    tx: &Connection,
    ctx: &Ctx<'_>,
    short: Vec<Shortfall>,
    is_new: bool,
) -> Result<Result<MultiAcquired>> {
    let mut known = Vec::new();
    for s in &short {
        if type_exists(tx, &s.rtype)? || get_drlc(tx, &s.rtype)?.is_some() {
            known.push(s.rtype.clone());
        }
    }
    let refusal = multi::shortage(short, |t| known.iter().any(|k| k == t));
    let Error::Shortage(short) = refusal else {
        return Err(refusal);
    };
    if is_new {
        for s in &short {
            grow(tx, ctx, s)?;
        }
    }
    Ok(Err(Error::Shortage(short)))
}

/// Grow `short`'s dynamic pool, if it has one, by what the item is short of.
fn grow(tx: &Connection, ctx: &Ctx<'_>, short: &Shortfall) -> Result<()> {
    grow_pool(tx, ctx, &short.rtype, |drlc, existing| {
        multi::growth(drlc, existing, short, ctx.now)
    })
}
