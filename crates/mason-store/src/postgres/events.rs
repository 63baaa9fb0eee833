//! The history on PostgreSQL: reading and pruning the `events` table (written by the
//! triggers of migration 4), and numbering its rows.
//!
//! **Why events are numbered after commit.** Ids drawn from a sequence inside concurrent
//! transactions become visible in commit order, not id order: a reader could see id 11
//! committed while id 10's transaction is still open, move its cursor past 10, and miss
//! it for ever. Filtering on `pg_snapshot_xmin` against a stored transaction id does not
//! close the gap either, because a transaction's id is assigned at its first write while
//! its event id is drawn later, so an older transaction can hold a larger event id. So
//! the triggers write events with no id, and a numbering pass ([`number`]) gives ids to
//! committed events only, in write order, under the row lock of `event_head` (one pass at
//! a time across every replica), in the pass's own transaction:
//! - ids only ever go to committed rows, each pass above every id given before;
//! - a pass commits its ids and the new head atomically, so a reader that sees id N
//!   sees every id below N (unless pruned);
//! - an event whose transaction commits after a pass's snapshot gets its id in a later
//!   pass, larger than any id a reader could have seen.
//!
//! Readers read the head first, then events up to it. Who numbers: the writing store,
//! shortly after its writes (`event_feed.rs`), any store once a second, and every read
//! that finds unnumbered events (so a caller reads its own writes).

use deadpool_postgres::GenericClient;
use mason_types::event::{Event, EventPage};
use tokio_postgres::Row;

use super::error::PgResult;
use super::rows::{execute, query, query_opt, Args};
use crate::history::{select_events, Direction, EventRow};
use crate::{EventFilter, EventQuery, LatestEventsQuery, PruneEventsRequest};

/// Events numbered per pass at most (a pass with more left runs again at once).
pub(super) const NUMBER_BATCH: i64 = 10_000;

/// Ids `$1 + 1`, `$1 + 2`, … for the oldest unnumbered events (at most `$2`), in write
/// order.
///
/// The batch's `seq`s are gathered into an array and joined back by primary key. Joined
/// as a subquery instead (`FROM (SELECT seq, row_number() … LIMIT $2) todo`), the planner
/// expected the limit's full batch, hashed it and scanned the whole `events` table
/// against it: every pass then cost time in proportion to the history kept (81 ms for
/// 823 events among 386,000 in `EXPLAIN ANALYZE`, against 14 ms this way). An array's
/// rows are estimated few, so each event is found through `events_pkey`.
pub(super) const NUMBER: &str = "UPDATE events e SET id = $1 + t.n \
     FROM unnest(ARRAY(SELECT seq FROM events WHERE id IS NULL ORDER BY seq LIMIT $2)) \
          WITH ORDINALITY AS t(seq, n) \
     WHERE e.seq = t.seq";

/// The newest id given out (0: none).
pub(super) async fn head<C: GenericClient>(c: &C) -> PgResult<u64> {
    let last: i64 = query_one(c, "SELECT last_id FROM event_head", &[])
        .await?
        .try_get(0)?;
    Ok(u64::try_from(last).unwrap_or_default())
}

/// Whether committed events wait for an id.
async fn any_unnumbered<C: GenericClient>(c: &C) -> PgResult<bool> {
    Ok(query_one(
        c,
        "SELECT EXISTS (SELECT 1 FROM events WHERE id IS NULL)",
        &[],
    )
    .await?
    .try_get(0)?)
}

/// Give ids to every committed event that has none (in batches); returns the head.
pub(super) async fn number(client: &mut deadpool_postgres::Object) -> PgResult<u64> {
    loop {
        if !any_unnumbered(&*client).await? {
            return head(&*client).await;
        }
        let tx = client.transaction().await?;
        // The lock first, then a fresh snapshot for the statements below (READ
        // COMMITTED): they see every pass committed before this one.
        let last: i64 = query_one(&tx, "SELECT last_id FROM event_head FOR UPDATE", &[])
            .await?
            .try_get(0)?;
        let numbered = execute(&tx, NUMBER, &[&last, &NUMBER_BATCH]).await?;
        let head = last + i64::try_from(numbered).unwrap_or(i64::MAX);
        if numbered > 0 {
            execute(&tx, "UPDATE event_head SET last_id = $1", &[&head]).await?;
            execute(
                &tx,
                "SELECT pg_notify('mason_events', $1)",
                &[&head.to_string()],
            )
            .await?;
        }
        tx.commit().await?;
        if numbered < NUMBER_BATCH as u64 {
            return Ok(u64::try_from(head).unwrap_or_default());
        }
    }
}

/// [`crate::Store::events`] (numbering what waits first, so a caller reads its writes).
pub(super) async fn after(
    client: &mut deadpool_postgres::Object,
    query: &EventQuery,
) -> PgResult<EventPage> {
    let (after, limit) = query.checked()?;
    let head = number(client).await?;
    let events = select(
        &*client,
        Direction::After,
        after,
        head,
        &query.filter,
        limit,
    )
    .await?;
    Ok(query.page(events, head))
}

/// [`crate::Store::latest_events`].
pub(super) async fn latest(
    client: &mut deadpool_postgres::Object,
    query: &LatestEventsQuery,
) -> PgResult<EventPage> {
    let (before, limit) = query.checked()?;
    let head = number(client).await?;
    let events = select(
        &*client,
        Direction::Before,
        before,
        head,
        &query.filter,
        limit,
    )
    .await?;
    Ok(query.page(events, head))
}

async fn select<C: GenericClient>(
    c: &C,
    direction: Direction,
    bound: i64,
    head: u64,
    filter: &EventFilter,
    limit: i64,
) -> PgResult<Vec<Event>> {
    let (sql, values) = select_events(direction, filter, '$');
    let head = i64::try_from(head).unwrap_or(i64::MAX);
    let mut args: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&bound, &head, &limit];
    args.extend(
        values
            .iter()
            .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)),
    );
    let rows = query(c, &sql, &args).await?;
    rows.iter().map(event).collect()
}

/// The one row a statement always returns.
async fn query_one<C: GenericClient>(c: &C, sql: &str, args: &Args<'_>) -> PgResult<Row> {
    query_opt(c, sql, args)
        .await?
        .ok_or_else(|| crate::Error::backend(format!("no row from {sql}")).into())
}

fn event(row: &Row) -> PgResult<Event> {
    Ok(EventRow {
        id: row.try_get(0)?,
        at: row.try_get(1)?,
        kind: row.try_get(2)?,
        rtype: row.try_get(3)?,
        name: row.try_get(4)?,
        old_state: row.try_get(5)?,
        new_state: row.try_get(6)?,
        old_owner: row.try_get(7)?,
        new_owner: row.try_get(8)?,
        generation: row.try_get(9)?,
        actor: row.try_get(10)?,
        request_id: row.try_get(11)?,
    }
    .decode())
}

/// [`crate::Store::prune_events`]: one batch among the oldest numbered events (ids
/// follow time, so a batch costs the same whatever the size of the table). The newest
/// event is always kept, as on SQLite (where its id is the next id's base).
pub(super) async fn prune<C: GenericClient>(c: &C, request: &PruneEventsRequest) -> PgResult<u64> {
    let (max_age, max_events, batch) = request.checked()?;
    let keep_above = match max_events {
        Some(keep) => i64::try_from(head(c).await?)
            .unwrap_or(i64::MAX)
            .saturating_sub(keep),
        None => 0,
    };
    execute(
        c,
        "DELETE FROM events WHERE seq IN (SELECT seq FROM \
           (SELECT seq, id, at FROM events WHERE id IS NOT NULL ORDER BY id LIMIT $3) AS oldest \
         WHERE (id <= $1 OR at < (extract(epoch FROM now()) * 1000000)::bigint - $2) \
           AND id < (SELECT max(id) FROM events))",
        &[&keep_above, &max_age.unwrap_or(i64::MAX), &batch],
    )
    .await
}
