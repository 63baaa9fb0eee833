//! The history on SQLite: the `events` table and its triggers (`events.sql`), reading
//! and pruning it, and telling followers after each commit that wrote events.
//!
//! One writer at a time (the store's one connection) makes ids increase in commit order
//! (`AUTOINCREMENT`, never reused): an event is visible the moment its transaction
//! commits, and the head is `sqlite_sequence`'s counter for the table.

use std::sync::{Arc, LazyLock};

use mason_types::event::Event;
use rusqlite::{params, Connection, OptionalExtension, Row};
use tokio::sync::watch;

use crate::history::{event_columns, filter_terms, EventRow};
use crate::{EventFilter, EventQuery, LatestEventsQuery, PruneEventsRequest, Result};

/// The table and its triggers (idempotent).
const EVENTS_SQL: &str = include_str!("events.sql");

/// Events after `?1`, up to the head `?2`, filtered by `?3`–`?6`, at most `?7`.
static AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM events WHERE id > ?1 AND id <= ?2 AND {} ORDER BY id LIMIT ?7",
        event_columns!(),
        filter_terms('?', 3)
    )
});

/// Events below `?1`, up to the head `?2`, filtered by `?3`–`?6`, newest `?7` first.
static BEFORE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM events WHERE id < ?1 AND id <= ?2 AND {} ORDER BY id DESC LIMIT ?7",
        event_columns!(),
        filter_terms('?', 3)
    )
});

/// Create the table and triggers (after the last-transition columns exist).
pub(super) fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(EVENTS_SQL)?;
    Ok(())
}

/// The newest id given out (0: none).
pub(super) fn head(tx: &Connection) -> Result<u64> {
    let seq: Option<i64> = tx
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'events'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(seq.map_or(0, |s| u64::try_from(s).unwrap_or_default()))
}

/// [`crate::Store::events`].
pub(super) fn after(tx: &Connection, query: &EventQuery) -> Result<mason_types::event::EventPage> {
    let (after, limit) = query.checked()?;
    let head = head(tx)?;
    let events = select(tx, &AFTER, after, head, &query.filter, limit)?;
    Ok(query.page(events, head))
}

/// [`crate::Store::latest_events`].
pub(super) fn latest(
    tx: &Connection,
    query: &LatestEventsQuery,
) -> Result<mason_types::event::EventPage> {
    let (before, limit) = query.checked()?;
    let head = head(tx)?;
    let events = select(tx, &BEFORE, before, head, &query.filter, limit)?;
    Ok(query.page(events, head))
}

fn select(
    tx: &Connection,
    sql: &str,
    bound: i64,
    head: u64,
    filter: &EventFilter,
    limit: i64,
) -> Result<Vec<Event>> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(
        params![
            bound,
            i64::try_from(head).unwrap_or(i64::MAX),
            filter.rtype,
            filter.name,
            filter.owner,
            filter.kind,
            limit
        ],
        event,
    )?;
    Ok(rows
        .map(|row| row.map(EventRow::decode))
        .collect::<rusqlite::Result<_>>()?)
}

fn event(row: &Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: row.get(0)?,
        at: row.get(1)?,
        kind: row.get(2)?,
        rtype: row.get(3)?,
        name: row.get(4)?,
        old_state: row.get(5)?,
        new_state: row.get(6)?,
        old_owner: row.get(7)?,
        new_owner: row.get(8)?,
        generation: row.get(9)?,
        actor: row.get(10)?,
        request_id: row.get(11)?,
    })
}

/// [`crate::Store::prune_events`]: one batch, oldest first. Only the oldest `batch`
/// events are looked at (ids follow time), so a batch costs the same whatever the size
/// of the table.
pub(super) fn prune(tx: &Connection, request: &PruneEventsRequest) -> Result<u64> {
    let (max_age, max_events, batch) = request.checked()?;
    let keep_above = match max_events {
        Some(keep) => i64::try_from(head(tx)?)
            .unwrap_or(i64::MAX)
            .saturating_sub(keep),
        None => 0,
    };
    let deleted = tx
        .prepare_cached(
            "DELETE FROM events WHERE id IN (SELECT id FROM \
               (SELECT id, at FROM events ORDER BY id LIMIT ?3) \
             WHERE id <= ?1 OR at < CAST(unixepoch('subsec') * 1000000 AS INTEGER) - ?2)",
        )?
        .execute(params![keep_above, max_age.unwrap_or(i64::MAX), batch])?;
    Ok(deleted as u64)
}

/// Tells followers about new events: the store's side of [`crate::Store::event_changes`].
#[derive(Clone)]
pub(crate) struct Announcer {
    tx: Arc<watch::Sender<u64>>,
}

impl Announcer {
    /// Start at `head`.
    pub(super) fn new(head: u64) -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(head)),
        }
    }

    /// A follower's receiver.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }

    /// After a write transaction committed: announce a head that moved.
    pub(super) fn after_commit(&self, conn: &Connection) {
        match head(conn) {
            Ok(head) => {
                self.tx.send_if_modified(|seen| {
                    let moved = *seen != head;
                    *seen = head;
                    moved
                });
            }
            Err(e) => tracing::warn!(
                error = &e as &dyn std::error::Error,
                "reading the event head failed"
            ),
        }
    }
}
