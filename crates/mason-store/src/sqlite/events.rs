//! The history on SQLite: the `events` table and its triggers (`events.sql`), reading
//! and pruning it, and telling followers after each commit that wrote events.
//!
//! One writer at a time (the store's one connection) makes ids increase in commit order:
//! an event is visible the moment its transaction commits, and the head is the largest
//! id. Ids are rowids (the largest + 1), never reused because pruning never deletes the
//! newest event. A file whose table still has `AUTOINCREMENT` (an earlier build's) is
//! rebuilt without it once, at open ([`migrate`]).

use std::sync::{Arc, LazyLock};

use mason_types::event::Event;
use rusqlite::{params, Connection, OptionalExtension, Row, ToSql};
use tokio::sync::watch;

use crate::history::{render_event_sql, select_events, Direction, EventRow};
use crate::{EventFilter, EventQuery, LatestEventsQuery, PruneEventsRequest, Result};

/// The table and its triggers (idempotent), as written, before [`render_event_sql`].
const EVENTS_SQL: &str = include_str!("events.sql");

/// [`EVENTS_SQL`] with the change's values filled in.
static EVENTS: LazyLock<String> = LazyLock::new(|| render_event_sql(EVENTS_SQL));

/// The triggers `events.sql` creates (if no trigger has the name yet).
pub(super) const TRIGGERS: [&str; 3] = ["events_on_create", "events_on_delete", "events_on_change"];

/// For benchmarks only (`mason bench --history off`): make `path`, which must not exist
/// yet, a database that the store will open as a store without history. Each of the
/// history triggers' names (`events_on_create`, `events_on_delete`, `events_on_change`)
/// is taken by a trigger on a table of its own that nothing writes, so `events.sql`'s
/// `CREATE TRIGGER IF NOT EXISTS` keeps it and no event is ever written; everything else
/// (the schema, the page size) is the store's own at first open.
pub fn prepare_file_without_history(path: &std::path::Path) -> Result<()> {
    if path.exists() {
        return Err(crate::Error::InvalidArgument(format!(
            "{} exists: only a new file can be made a store without history",
            path.display()
        )));
    }
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "page_size", super::connect::PAGE_SIZE)?;
    let mut sql = String::from("CREATE TABLE bench_history_off (unused);\n");
    for name in TRIGGERS {
        sql.push_str(&format!(
            "CREATE TRIGGER {name} AFTER INSERT ON bench_history_off BEGIN SELECT 1; END;\n"
        ));
    }
    conn.execute_batch(&sql)?;
    Ok(())
}

/// Create the table and triggers (after the last-transition columns exist), and drop an
/// earlier build's `AUTOINCREMENT`.
pub(super) fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(&EVENTS)?;
    drop_autoincrement(conn)
}

/// Rebuild an `events` table created with `AUTOINCREMENT` (by an earlier build) without
/// it, in one transaction, keeping every row and id. Only while its newest event is
/// still there: when pruning (of that build) deleted it, the counter in `sqlite_sequence`
/// is the only record of the ids given out, and the table stays as it is (it works the
/// same, only each event costs one more page).
fn drop_autoincrement(conn: &Connection) -> Result<()> {
    let sql: String = conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'",
        [],
        |r| r.get(0),
    )?;
    if !sql.contains("AUTOINCREMENT") {
        return Ok(());
    }
    let seq: i64 = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let newest: i64 =
        conn.query_row("SELECT coalesce(max(id), 0) FROM events", [], |r| r.get(0))?;
    if seq != newest {
        tracing::info!(
            seq,
            newest,
            "the history table keeps AUTOINCREMENT: its newest ids were pruned"
        );
        return Ok(());
    }
    let drop_triggers: String = TRIGGERS
        .iter()
        .map(|t| format!("DROP TRIGGER IF EXISTS {t};\n"))
        .collect();
    let events = &*EVENTS;
    let rebuild = format!(
        "BEGIN IMMEDIATE;
         {drop_triggers}
         DROP INDEX IF EXISTS events_by_name;
         ALTER TABLE events RENAME TO events_autoincrement;
         {events}
         INSERT INTO events SELECT * FROM events_autoincrement ORDER BY id;
         DROP TABLE events_autoincrement;
         COMMIT;"
    );
    if let Err(e) = conn.execute_batch(&rebuild) {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return Err(e.into());
    }
    tracing::info!(
        events = newest,
        "rebuilt the history table without AUTOINCREMENT"
    );
    Ok(())
}

/// The newest id given out (0: none).
pub(super) fn head(tx: &Connection) -> Result<u64> {
    let newest: Option<i64> = tx
        .prepare_cached("SELECT max(id) FROM events")?
        .query_row([], |r| r.get(0))?;
    Ok(newest.map_or(0, |s| u64::try_from(s).unwrap_or_default()))
}

/// [`crate::Store::events`].
pub(super) fn after(tx: &Connection, query: &EventQuery) -> Result<mason_types::event::EventPage> {
    let (after, limit) = query.checked()?;
    let head = head(tx)?;
    let events = select(tx, Direction::After, after, head, &query.filter, limit)?;
    Ok(query.page(events, head))
}

/// [`crate::Store::latest_events`].
pub(super) fn latest(
    tx: &Connection,
    query: &LatestEventsQuery,
) -> Result<mason_types::event::EventPage> {
    let (before, limit) = query.checked()?;
    let head = head(tx)?;
    let events = select(tx, Direction::Before, before, head, &query.filter, limit)?;
    Ok(query.page(events, head))
}

fn select(
    tx: &Connection,
    direction: Direction,
    bound: i64,
    head: u64,
    filter: &EventFilter,
    limit: i64,
) -> Result<Vec<Event>> {
    let (sql, values) = select_events(direction, filter, '?');
    let head = i64::try_from(head).unwrap_or(i64::MAX);
    let mut args: Vec<&dyn ToSql> = vec![&bound, &head, &limit];
    args.extend(values.iter().map(|v| v as &dyn ToSql));
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(args.as_slice(), event)?;
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
/// of the table. The newest event is always kept, whatever its age: the next id is the
/// largest + 1, so deleting it would give its id out again.
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
             WHERE (id <= ?1 OR at < CAST(unixepoch('subsec') * 1000000 AS INTEGER) - ?2) \
               AND id < (SELECT max(id) FROM events))",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trigger_names_are_those_events_sql_creates() {
        let created: Vec<&str> = EVENTS_SQL
            .lines()
            .filter_map(|l| l.strip_prefix("CREATE TRIGGER IF NOT EXISTS "))
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        assert_eq!(created, TRIGGERS);
    }

    #[test]
    fn a_file_prepared_without_history_keeps_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        prepare_file_without_history(&path).unwrap();
        assert!(
            prepare_file_without_history(&path).is_err(),
            "only a new file"
        );
        let conn = Connection::open(&path).unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO resources (name, type, state, lastupdate) VALUES ('r', 't', 'free', 0);
             UPDATE resources SET state = 'busy', owner = 'me' WHERE name = 'r';
             DELETE FROM resources;",
        )
        .unwrap();
        let events: i64 = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(events, 0);
        let page_size: i64 = conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, super::super::connect::PAGE_SIZE);
    }

    #[test]
    fn a_name_filter_walks_the_name_index_in_id_order() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        let filter = EventFilter {
            name: Some("r".into()),
            ..Default::default()
        };
        for direction in [Direction::After, Direction::Before] {
            let (sql, _) = select_events(direction, &filter, '?');
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params![0, 100, 10, "r"], |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(
                plan.contains("events_by_name") && !plan.contains("TEMP B-TREE"),
                "{sql}: {plan}"
            );
        }
    }

    /// A database whose `events` table an earlier build created with `AUTOINCREMENT`,
    /// with three events (ids 1–3) of which `delete` are pruned.
    fn earlier_build_file(delete: &str) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        let drop: String = TRIGGERS
            .iter()
            .map(|t| format!("DROP TRIGGER {t};"))
            .collect();
        conn.execute_batch(&format!("{drop} DROP TABLE events;"))
            .unwrap();
        let earlier = EVENTS.replace(
            "id          INTEGER PRIMARY KEY,",
            "id          INTEGER PRIMARY KEY AUTOINCREMENT,",
        );
        assert_ne!(earlier, *EVENTS);
        conn.execute_batch(&earlier).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO resources (name, type, state, lastupdate) VALUES ('r', 't', 'free', 0);
             UPDATE resources SET state = 'busy', owner = 'me' WHERE name = 'r';
             UPDATE resources SET state = 'free', owner = '' WHERE name = 'r';
             DELETE FROM events WHERE {delete};"
        ))
        .unwrap();
        conn
    }

    fn ids_after_one_more_event(conn: &Connection) -> Vec<i64> {
        conn.execute_batch("UPDATE resources SET state = 'dirty' WHERE name = 'r'")
            .unwrap();
        conn.prepare("SELECT id FROM events ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn table_sql(conn: &Connection) -> String {
        conn.query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'events'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn an_earlier_autoincrement_table_is_rebuilt_keeping_its_ids() {
        let conn = earlier_build_file("id = 1");
        migrate(&conn).unwrap();
        assert!(!table_sql(&conn).contains("AUTOINCREMENT"));
        assert_eq!(head(&conn).unwrap(), 3);
        assert_eq!(ids_after_one_more_event(&conn), [2, 3, 4]);
        migrate(&conn).unwrap();
        conn.execute_batch("UPDATE resources SET state = 'cleaning' WHERE name = 'r'")
            .unwrap();
        assert_eq!(
            ids_after_one_more_event(&conn),
            [2, 3, 4, 5, 6],
            "idempotent"
        );
        let indexed: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'events_by_name' \
                 AND tbl_name = 'events')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(indexed);
    }

    #[test]
    fn an_earlier_table_whose_newest_event_was_pruned_keeps_autoincrement() {
        let conn = earlier_build_file("id = 3");
        migrate(&conn).unwrap();
        assert!(table_sql(&conn).contains("AUTOINCREMENT"));
        assert_eq!(
            ids_after_one_more_event(&conn),
            [1, 2, 4],
            "3 is never reused"
        );
    }
}
