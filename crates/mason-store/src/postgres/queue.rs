//! The `request_id` queue on PostgreSQL, shared by every replica: a place per
//! `(type, state, request_id)`, ordered by arrival (`seq`), alive until `expires_at` (see
//! [`crate::lease::acquire`]).

use deadpool_postgres::{GenericClient, Object};

use super::error::PgResult;
use super::rows::{execute, query, query_opt};
use super::txn::Ctx;
use crate::lease::acquire::{queue_expiry, QueueEntry};
use crate::lease::views::rank_queue;
use crate::rows::{to_micros, QueueRow};
use crate::{AcquireRequest, Error, QueuedRequest};

/// How often taking a place is tried again when another replica removed the entry
/// between this call's insert and its update.
const ENTER_ATTEMPTS: usize = 8;

/// Take (first poll: insert) or keep (later polls: extend the TTL) `id`'s place.
pub(super) async fn enter<C: GenericClient>(
    c: &C,
    ctx: &Ctx,
    req: &AcquireRequest,
    id: &str,
) -> PgResult<QueueEntry> {
    let now = to_micros(&ctx.now);
    let expires = queue_expiry(ctx.now, ctx.request_ttl);
    for _ in 0..ENTER_ATTEMPTS {
        let inserted = query_opt(
            c,
            "INSERT INTO requests (type, state, request_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (type, state, request_id) DO NOTHING \
             RETURNING seq, created_at",
            &[&req.rtype, &req.state, &id, &now, &expires],
        )
        .await?;
        if let Some(row) = inserted {
            return entry(&row, true);
        }
        let kept = query_opt(
            c,
            "UPDATE requests SET expires_at = $4 \
             WHERE type = $1 AND state = $2 AND request_id = $3 RETURNING seq, created_at",
            &[&req.rtype, &req.state, &id, &expires],
        )
        .await?;
        if let Some(row) = kept {
            return entry(&row, false);
        }
    }
    Err(Error::backend(format!("request {id} keeps vanishing from the queue")).into())
}

fn entry(row: &tokio_postgres::Row, is_new: bool) -> PgResult<QueueEntry> {
    Ok(QueueEntry {
        seq: row.try_get(0)?,
        created_at: row.try_get(1)?,
        is_new,
    })
}

/// A served request leaves the queue.
pub(super) async fn leave<C: GenericClient>(c: &C, seq: i64) -> PgResult<()> {
    execute(c, "DELETE FROM requests WHERE seq = $1", &[&seq]).await?;
    Ok(())
}

/// The live queue with ranks.
pub(super) async fn list(client: &mut Object, ctx: &Ctx) -> PgResult<Vec<QueuedRequest>> {
    let rows = query(
        &*client,
        "SELECT type, state, request_id, created_at, expires_at FROM requests \
         WHERE expires_at >= $1 ORDER BY type, state, seq",
        &[&to_micros(&ctx.now)],
    )
    .await?;
    let rows = rows
        .iter()
        .map(|r| {
            Ok(QueueRow {
                rtype: r.try_get(0)?,
                state: r.try_get(1)?,
                request_id: r.try_get(2)?,
                created_at: r.try_get(3)?,
                expires_at: r.try_get(4)?,
            })
        })
        .collect::<PgResult<Vec<_>>>()?;
    Ok(rank_queue(rows))
}

/// Drop lapsed entries; returns how many.
pub(super) async fn gc(client: &mut Object, ctx: &Ctx) -> PgResult<u64> {
    execute(
        &*client,
        "DELETE FROM requests WHERE expires_at < $1",
        &[&to_micros(&ctx.now)],
    )
    .await
}
