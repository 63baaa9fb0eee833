//! The `request_id` queue on SQLite: a place per `(type, state, request_id)` with the
//! request's priority and count, ranked by priority then arrival (`coalesce(arrival,
//! seq)`: a set's places share the `seq` of its first place), alive until `expires_at`
//! (see [`crate::lease::queue`]).

use rusqlite::{params, Connection, OptionalExtension};

use super::txn::Ctx;
use crate::lease::acquire::{queue_expiry, QueueEntry};
use crate::lease::queue::{place_expiry, RankKey};
use crate::lease::views::rank_queue;
use crate::rows::{to_micros, QueueRow};
use crate::{AcquireRequest, MultiAcquireRequest, QueuedRequest, Result};

/// Take (first poll) or keep (later polls) `id`'s place, extending its life. An
/// `/acquire` place has priority 0 and count 1.
pub(super) fn enter(
    tx: &Connection,
    ctx: &Ctx<'_>,
    req: &AcquireRequest,
    id: &str,
) -> Result<QueueEntry> {
    let now = to_micros(&ctx.now);
    let expires = queue_expiry(ctx.now, ctx.request_ttl);
    let existing: Option<(i64, i64, i32, i64)> = tx
        .prepare_cached(
            "SELECT seq, created_at, priority, coalesce(arrival, seq) FROM requests \
             WHERE type = ?1 AND state = ?2 AND request_id = ?3",
        )?
        .query_row(params![req.rtype, req.state, id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    if let Some((seq, created_at, priority, arrival)) = existing {
        tx.prepare_cached("UPDATE requests SET expires_at = max(expires_at, ?1) WHERE seq = ?2")?
            .execute(params![expires, seq])?;
        return Ok(QueueEntry {
            seq,
            created_at,
            is_new: false,
            rank: RankKey { priority, arrival },
        });
    }
    tx.prepare_cached(
        "INSERT INTO requests (type, state, request_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![req.rtype, req.state, id, now, expires])?;
    let seq = tx.last_insert_rowid();
    Ok(QueueEntry {
        seq,
        created_at: now,
        is_new: true,
        rank: RankKey {
            priority: 0,
            arrival: seq,
        },
    })
}

/// Take or keep a place for every item of the set `req` under `id`, all with one arrival
/// number (that of the request's oldest place, or of its first new place).
pub(super) fn enter_set(
    tx: &Connection,
    ctx: &Ctx<'_>,
    req: &MultiAcquireRequest,
    id: &str,
) -> Result<QueueEntry> {
    let now = to_micros(&ctx.now);
    let expires = place_expiry(ctx.now, req.queue_until, ctx.request_ttl);
    let (arrival, created_at): (Option<i64>, Option<i64>) = tx
        .prepare_cached(
            "SELECT min(coalesce(arrival, seq)), min(created_at) FROM requests WHERE request_id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let is_new = arrival.is_none();
    let created_at = created_at.unwrap_or(now);
    let mut arrival = arrival;
    for item in &req.items {
        tx.prepare_cached(
            "INSERT INTO requests (type, state, request_id, created_at, expires_at, priority, wanted, arrival) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (type, state, request_id) DO UPDATE SET \
               expires_at = max(expires_at, excluded.expires_at), priority = excluded.priority, \
               wanted = excluded.wanted, arrival = excluded.arrival",
        )?
        .execute(params![
            item.rtype,
            item.state,
            id,
            created_at,
            expires,
            req.priority,
            item.count,
            arrival
        ])?;
        arrival = arrival.or(Some(tx.last_insert_rowid()));
    }
    let arrival = arrival.unwrap_or(i64::MAX);
    Ok(QueueEntry::of_set(
        arrival,
        created_at,
        is_new,
        req.priority,
    ))
}

/// How many resources of (`rtype`, `state`) the live places ranked ahead of `rank`
/// reserve (every live place's for [`RankKey::LAST`]).
pub(super) fn reserved_ahead(
    tx: &Connection,
    ctx: &Ctx<'_>,
    rtype: &str,
    state: &str,
    rank: RankKey,
) -> Result<u64> {
    let reserved: i64 = tx
        .prepare_cached(
            "SELECT coalesce(sum(wanted), 0) FROM requests \
             WHERE type = ?1 AND state = ?2 AND expires_at >= ?3 \
               AND (priority > ?4 OR (priority = ?4 AND coalesce(arrival, seq) < ?5))",
        )?
        .query_row(
            params![
                rtype,
                state,
                to_micros(&ctx.now),
                rank.priority,
                rank.arrival
            ],
            |r| r.get(0),
        )?;
    Ok(u64::try_from(reserved).unwrap_or_default())
}

/// A served request leaves the queue.
pub(super) fn leave(tx: &Connection, req: &AcquireRequest, id: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM requests WHERE type = ?1 AND state = ?2 AND request_id = ?3")?
        .execute(params![req.rtype, req.state, id])?;
    Ok(())
}

/// A served set leaves the queue of every item.
pub(super) fn leave_set(tx: &Connection, req: &MultiAcquireRequest, id: &str) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "DELETE FROM requests WHERE type = ?1 AND state = ?2 AND request_id = ?3",
    )?;
    for item in &req.items {
        stmt.execute(params![item.rtype, item.state, id])?;
    }
    Ok(())
}

/// The live queue with ranks.
pub(super) fn list(tx: &Connection, ctx: &Ctx<'_>) -> Result<Vec<QueuedRequest>> {
    let rows = tx
        .prepare_cached(
            "SELECT type, state, request_id, created_at, expires_at, priority, wanted FROM requests \
             WHERE expires_at >= ?1 ORDER BY type, state, priority DESC, coalesce(arrival, seq)",
        )?
        .query_map([to_micros(&ctx.now)], |r| {
            Ok(QueueRow {
                rtype: r.get(0)?,
                state: r.get(1)?,
                request_id: r.get(2)?,
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
                priority: r.get(5)?,
                count: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rank_queue(rows))
}

/// Drop lapsed entries; returns how many. The reservations they held end, so each
/// (type, state) they waited in is signalled.
pub(super) fn gc(tx: &Connection, ctx: &Ctx<'_>) -> Result<u64> {
    let dropped = tx
        .prepare_cached("DELETE FROM requests WHERE expires_at < ?1 RETURNING type, state")?
        .query_map([to_micros(&ctx.now)], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
    for (rtype, state) in &dropped {
        ctx.freed(rtype, state);
    }
    Ok(u64::try_from(dropped.len()).unwrap_or(u64::MAX))
}
