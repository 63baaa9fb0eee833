//! The `request_id` queue on PostgreSQL, shared by every replica: a place per
//! `(type, state, request_id)` with the request's priority and count, ranked by priority
//! then arrival (`coalesce(arrival, seq)`: a set's places share one number drawn from
//! the same sequence), alive until `expires_at` (see [`crate::lease::queue`]).

use deadpool_postgres::{GenericClient, Object};

use super::error::PgResult;
use super::rows::{execute, query, query_opt};
use super::txn::Ctx;
use crate::availability::CHANNEL;
use crate::lease::acquire::{queue_expiry, QueueEntry};
use crate::lease::queue::{place_expiry, RankKey};
use crate::lease::views::rank_queue;
use crate::rows::{to_micros, QueueRow};
use crate::{AcquireRequest, Error, MultiAcquireRequest, QueuedRequest};

/// How often taking a place is tried again when another replica removed the entry
/// between this call's insert and its update.
const ENTER_ATTEMPTS: usize = 8;

/// How many resources of `$1` in `$2` the live places ahead of rank (`$4` priority, `$5`
/// arrival) reserve.
pub(super) const RESERVED_AHEAD: &str = "SELECT coalesce(sum(wanted), 0)::bigint FROM requests \
    WHERE type = $1 AND state = $2 AND expires_at >= $3 \
      AND (priority > $4 OR (priority = $4 AND coalesce(arrival, seq) < $5))";

/// Take (first poll: insert) or keep (later polls: extend the TTL) `id`'s place. An
/// `/acquire` place has priority 0 and count 1.
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
             RETURNING seq, created_at, priority, seq",
            &[&req.rtype, &req.state, &id, &now, &expires],
        )
        .await?;
        if let Some(row) = inserted {
            return entry(&row, true);
        }
        let kept = query_opt(
            c,
            "UPDATE requests SET expires_at = greatest(expires_at, $4) \
             WHERE type = $1 AND state = $2 AND request_id = $3 \
             RETURNING seq, created_at, priority, coalesce(arrival, seq)",
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
        rank: RankKey {
            priority: row.try_get(2)?,
            arrival: row.try_get(3)?,
        },
    })
}

/// Take or keep a place for every item of the set `req` under `id`, all with one arrival
/// number (that of the request's oldest place, or a fresh one from the queue's sequence).
pub(super) async fn enter_set<C: GenericClient>(
    c: &C,
    ctx: &Ctx,
    req: &MultiAcquireRequest,
    id: &str,
) -> PgResult<QueueEntry> {
    let now = to_micros(&ctx.now);
    let expires = place_expiry(ctx.now, req.queue_until, ctx.request_ttl);
    let row = query_opt(
        c,
        "SELECT min(coalesce(arrival, seq)), min(created_at) FROM requests WHERE request_id = $1",
        &[&id],
    )
    .await?;
    let (arrival, created_at): (Option<i64>, Option<i64>) = match &row {
        Some(row) => (row.try_get(0)?, row.try_get(1)?),
        None => (None, None),
    };
    let is_new = arrival.is_none();
    let arrival = match arrival {
        Some(arrival) => arrival,
        None => query_opt(
            c,
            "SELECT nextval(pg_get_serial_sequence('requests', 'seq'))",
            &[],
        )
        .await?
        .ok_or_else(|| Error::backend("nextval answered no row"))?
        .try_get(0)?,
    };
    let created_at = created_at.unwrap_or(now);
    for item in &req.items {
        let wanted = i32::try_from(item.count).unwrap_or(i32::MAX);
        execute(
            c,
            "INSERT INTO requests (type, state, request_id, created_at, expires_at, priority, wanted, arrival) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (type, state, request_id) DO UPDATE SET \
               expires_at = greatest(requests.expires_at, excluded.expires_at), \
               priority = excluded.priority, wanted = excluded.wanted, arrival = excluded.arrival",
            &[
                &item.rtype,
                &item.state,
                &id,
                &created_at,
                &expires,
                &req.priority,
                &wanted,
                &arrival,
            ],
        )
        .await?;
    }
    Ok(QueueEntry::of_set(
        arrival,
        created_at,
        is_new,
        req.priority,
    ))
}

/// How many resources of (`rtype`, `state`) the live places ranked ahead of `rank`
/// reserve (every live place's for [`RankKey::LAST`]).
pub(super) async fn reserved_ahead<C: GenericClient>(
    c: &C,
    ctx: &Ctx,
    rtype: &str,
    state: &str,
    rank: RankKey,
) -> PgResult<i64> {
    let now = to_micros(&ctx.now);
    Ok(
        match query_opt(
            c,
            RESERVED_AHEAD,
            &[&rtype, &state, &now, &rank.priority, &rank.arrival],
        )
        .await?
        {
            Some(row) => row.try_get(0)?,
            None => 0,
        },
    )
}

/// A served request leaves the queue.
pub(super) async fn leave<C: GenericClient>(c: &C, seq: i64) -> PgResult<()> {
    execute(c, "DELETE FROM requests WHERE seq = $1", &[&seq]).await?;
    Ok(())
}

/// A served set leaves the queue of every item.
pub(super) async fn leave_set<C: GenericClient>(
    c: &C,
    req: &MultiAcquireRequest,
    id: &str,
) -> PgResult<()> {
    for item in &req.items {
        execute(
            c,
            "DELETE FROM requests WHERE type = $1 AND state = $2 AND request_id = $3",
            &[&item.rtype, &item.state, &id],
        )
        .await?;
    }
    Ok(())
}

/// The live queue with ranks.
pub(super) async fn list(client: &mut Object, ctx: &Ctx) -> PgResult<Vec<QueuedRequest>> {
    let rows = query(
        &*client,
        "SELECT type, state, request_id, created_at, expires_at, priority, wanted FROM requests \
         WHERE expires_at >= $1 ORDER BY type, state, priority DESC, coalesce(arrival, seq)",
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
                priority: r.try_get(5)?,
                count: i64::from(r.try_get::<_, i32>(6)?),
            })
        })
        .collect::<PgResult<Vec<_>>>()?;
    Ok(rank_queue(rows))
}

/// Drop lapsed entries; returns how many. The reservations they held end, so each
/// (type, state) they waited in is notified, in the same statement.
pub(super) async fn gc(client: &mut Object, ctx: &Ctx) -> PgResult<u64> {
    let sql = format!(
        "WITH dropped AS (DELETE FROM requests WHERE expires_at < $1 RETURNING type, state), \
              queues AS (SELECT type, state, count(*) AS n FROM dropped GROUP BY type, state), \
              told AS (SELECT pg_notify('{CHANNEL}', type || E'\\t' || state) FROM queues) \
         SELECT coalesce(sum(n), 0)::bigint, (SELECT count(*) FROM told) FROM queues"
    );
    let row = query_opt(&*client, &sql, &[&to_micros(&ctx.now)]).await?;
    let dropped: i64 = match row {
        Some(row) => row.try_get(0)?,
        None => 0,
    };
    Ok(u64::try_from(dropped).unwrap_or_default())
}
