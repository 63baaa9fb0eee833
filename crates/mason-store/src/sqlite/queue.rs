//! The `request_id` queue on SQLite: a place per `(type, state, request_id)`, ordered by
//! arrival (`seq`), alive until `expires_at` (see [`crate::lease::acquire`]).

use rusqlite::{params, Connection, OptionalExtension};

use super::txn::Ctx;
use crate::lease::acquire::{queue_expiry, QueueEntry};
use crate::lease::views::rank_queue;
use crate::rows::{to_micros, QueueRow};
use crate::{AcquireRequest, QueuedRequest, Result};

/// Take (first poll) or keep (later polls) `id`'s place, extending its life.
pub(super) fn enter(
    tx: &Connection,
    ctx: &Ctx<'_>,
    req: &AcquireRequest,
    id: &str,
) -> Result<QueueEntry> {
    let now = to_micros(&ctx.now);
    let expires = queue_expiry(ctx.now, ctx.request_ttl);
    let existing: Option<(i64, i64)> = tx
        .prepare_cached(
            "SELECT seq, created_at FROM requests WHERE type = ?1 AND state = ?2 AND request_id = ?3",
        )?
        .query_row(params![req.rtype, req.state, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((seq, created_at)) = existing {
        tx.prepare_cached("UPDATE requests SET expires_at = ?1 WHERE seq = ?2")?
            .execute(params![expires, seq])?;
        return Ok(QueueEntry {
            seq,
            created_at,
            is_new: false,
        });
    }
    tx.prepare_cached(
        "INSERT INTO requests (type, state, request_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![req.rtype, req.state, id, now, expires])?;
    Ok(QueueEntry {
        seq: tx.last_insert_rowid(),
        created_at: now,
        is_new: true,
    })
}

/// How many live requests wait ahead of the one at `seq` (all of them for a caller
/// without a request id).
pub(super) fn ahead(
    tx: &Connection,
    ctx: &Ctx<'_>,
    req: &AcquireRequest,
    seq: Option<i64>,
) -> Result<usize> {
    let ahead: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM requests WHERE type = ?1 AND state = ?2 AND seq < ?3 AND expires_at >= ?4",
        )?
        .query_row(
            params![req.rtype, req.state, seq.unwrap_or(i64::MAX), to_micros(&ctx.now)],
            |r| r.get(0),
        )?;
    Ok(usize::try_from(ahead).unwrap_or(usize::MAX))
}

/// A served request leaves the queue.
pub(super) fn leave(tx: &Connection, req: &AcquireRequest, id: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM requests WHERE type = ?1 AND state = ?2 AND request_id = ?3")?
        .execute(params![req.rtype, req.state, id])?;
    Ok(())
}

/// The live queue with ranks.
pub(super) fn list(tx: &Connection, ctx: &Ctx<'_>) -> Result<Vec<QueuedRequest>> {
    let rows = tx
        .prepare_cached(
            "SELECT type, state, request_id, created_at, expires_at FROM requests \
             WHERE expires_at >= ?1 ORDER BY type, state, seq",
        )?
        .query_map([to_micros(&ctx.now)], |r| {
            Ok(QueueRow {
                rtype: r.get(0)?,
                state: r.get(1)?,
                request_id: r.get(2)?,
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rank_queue(rows))
}

/// Drop lapsed entries; returns how many.
pub(super) fn gc(tx: &Connection, ctx: &Ctx<'_>) -> Result<u64> {
    let dropped = tx
        .prepare_cached("DELETE FROM requests WHERE expires_at < ?1")?
        .execute([to_micros(&ctx.now)])?;
    Ok(u64::try_from(dropped).unwrap_or(u64::MAX))
}
