//! The history on SQLite: the `events` table and its triggers (`events.sql`), reading
//! and pruning it, and telling followers after each commit that wrote events.
//!
//! One writer at a time (the store's one connection) makes ids increase in commit order:
//! an event is visible the moment its transaction commits, and the head is the largest
//! id. Ids are rowids (the largest + 1), never reused because pruning never deletes the
//! newest event. A file whose table still has `AUTOINCREMENT` (an earlier build's) is
//! rebuilt without it once, at open ([`migrate`]).
//!
//! A `name=` read walks the name's chain of events (`events.prev`, from the resource's
//! `last_event` or a deleted name's `event_heads` row; see `events.sql`) rather than an
//! index on `name`: that index cost each commit 1.7 more pages, and its leaf splits made
//! every such commit scan SQLite's whole page cache (see docs/benchmarks.md, 2026-12-02).
//! A file written before the chain gets it once, at open ([`add_chain`]).

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

/// Create the table and triggers (after the last-transition columns and `last_event`
/// exist), give an earlier build's table its chain, and drop its `AUTOINCREMENT`.
pub(super) fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(&EVENTS)?;
    add_chain(conn)?;
    drop_autoincrement(conn)
}

/// Give an `events` table written before the chain (no `prev` column; an index on `name`
/// instead) its chain, in one transaction: each event linked to the previous one of its
/// name, each resource's newest event in `last_event`, each deleted name's in
/// `event_heads`; then the triggers that keep the chain replace the earlier ones (only
/// history triggers on `resources`: a benchmark's inert ones stay, see
/// [`prepare_file_without_history`]), and the name index goes.
fn add_chain(conn: &Connection) -> Result<()> {
    let chained: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('events') WHERE name = 'prev')",
        [],
        |r| r.get(0),
    )?;
    if chained {
        return Ok(());
    }
    let history_triggers: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'resources'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let drop_triggers: String = history_triggers
        .iter()
        .filter(|t| TRIGGERS.contains(&t.as_str()))
        .map(|t| format!("DROP TRIGGER {t};\n"))
        .collect();
    let events = &*EVENTS;
    let chain = format!(
        "BEGIN IMMEDIATE;
         ALTER TABLE events ADD COLUMN prev INTEGER;
         UPDATE events SET prev = c.prev
           FROM (SELECT id, lag(id) OVER (PARTITION BY name ORDER BY id) AS prev FROM events) AS c
          WHERE c.id = events.id AND c.prev IS NOT NULL;
         UPDATE resources SET last_event = h.last
           FROM (SELECT name, max(id) AS last FROM events GROUP BY name) AS h
          WHERE h.name = resources.name;
         INSERT OR REPLACE INTO event_heads (name, last_event)
           SELECT name, max(id) FROM events
            WHERE name NOT IN (SELECT name FROM resources) GROUP BY name;
         {drop_triggers}
         DROP INDEX IF EXISTS events_by_name;
         {events}
         COMMIT;"
    );
    if let Err(e) = conn.execute_batch(&chain) {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return Err(e.into());
    }
    tracing::info!("linked the history's events by name (the name index is gone)");
    Ok(())
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
    let (sql, values) = select_sql(direction, filter);
    let head = i64::try_from(head).unwrap_or(i64::MAX);
    let mut args: Vec<&dyn ToSql> = vec![&bound, &head, &limit];
    args.extend(values.iter().map(|v| v as &dyn ToSql));
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(args.as_slice(), event)?;
    Ok(rows
        .map(|row| row.map(EventRow::decode))
        .collect::<rusqlite::Result<_>>()?)
}

/// The statement of a read: [`select_events`]' own, except that with a `name` filter it
/// walks that name's chain (newest first, a rowid lookup per event; reading after an id
/// stops at it) instead of the whole table, then filters, orders and limits alike.
fn select_sql(direction: Direction, filter: &EventFilter) -> (String, Vec<&str>) {
    let (sql, values) = select_events(direction, filter, '?');
    if filter.name.is_none() {
        return (sql, values);
    }
    // select_events' parameters: the id bound, the head, the limit, then the type's
    // value (when present) and the name's.
    let name = 4 + usize::from(filter.rtype.is_some());
    let stop = match direction {
        Direction::After => " AND events.prev > ?1",
        Direction::Before => "",
    };
    let table = " FROM events WHERE ";
    debug_assert!(sql.contains(table), "{sql}");
    let walked = sql.replacen(
        table,
        " FROM chain CROSS JOIN events ON events.id = chain.eid WHERE ",
        1,
    );
    let sql = format!(
        "WITH RECURSIVE chain(eid) AS (\
           SELECT coalesce((SELECT last_event FROM resources WHERE name = ?{name}), \
                           (SELECT last_event FROM event_heads WHERE name = ?{name})) \
           UNION ALL \
           SELECT events.prev FROM chain JOIN events ON events.id = chain.eid \
           WHERE events.prev IS NOT NULL{stop}) {walked}"
    );
    (sql, values)
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
/// largest + 1, so deleting it would give its id out again. Deleted names whose events
/// are all gone leave `event_heads`.
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
    if deleted > 0 {
        tx.prepare_cached(
            "DELETE FROM event_heads WHERE last_event < (SELECT min(id) FROM events)",
        )?
        .execute([])?;
    }
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
    fn a_name_filter_walks_the_chain_not_the_table() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        let filter = EventFilter {
            rtype: Some("t".into()),
            name: Some("r".into()),
            ..Default::default()
        };
        for direction in [Direction::After, Direction::Before] {
            let (sql, _) = select_sql(direction, &filter);
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params![0, 100, 10, "t", "r"], |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(
                !plan.contains("SCAN events") && plan.contains("SCAN chain"),
                "{sql}: {plan}"
            );
        }
    }

    /// The ids a read of `name` returns, through the chain and through a scan.
    fn by_chain_and_by_scan(
        conn: &Connection,
        direction: Direction,
        name: &str,
        bound: i64,
        limit: i64,
    ) -> (Vec<i64>, Vec<i64>) {
        let filter = EventFilter {
            name: Some(name.into()),
            ..Default::default()
        };
        let head = head(conn).unwrap();
        let chain: Vec<i64> = select(conn, direction, bound, head, &filter, limit)
            .unwrap()
            .into_iter()
            .map(|e| e.id as i64)
            .collect();
        let (cmp, order) = match direction {
            Direction::After => (">", "ASC"),
            Direction::Before => ("<", "DESC"),
        };
        let scan: Vec<i64> = conn
            .prepare(&format!(
                "SELECT id FROM events NOT INDEXED WHERE name = ?1 AND id {cmp} ?2 \
                 ORDER BY id {order} LIMIT ?3"
            ))
            .unwrap()
            .query_map(params![name, bound, limit], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        (chain, scan)
    }

    /// Every name's reads, through the chain, equal a scan of the table.
    fn assert_chains_match_scans(conn: &Connection, names: &[&str]) {
        let head = head(conn).unwrap() as i64;
        for name in names {
            for bound in [0, 1, head / 3, head / 2, head - 1, head, head + 1] {
                for limit in [1, 2, 5, 1000] {
                    let (chain, scan) =
                        by_chain_and_by_scan(conn, Direction::After, name, bound, limit);
                    assert_eq!(chain, scan, "{name} after {bound} limit {limit}");
                    let before = if bound == 0 { i64::MAX } else { bound };
                    let (chain, scan) =
                        by_chain_and_by_scan(conn, Direction::Before, name, before, limit);
                    assert_eq!(chain, scan, "{name} before {before} limit {limit}");
                }
            }
        }
    }

    #[test]
    fn name_reads_through_the_chain_equal_a_scan() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        let names = ["a", "b", "c", "d"];
        conn.execute_batch(
            "INSERT INTO resources (name, type, state, lastupdate) VALUES ('a', 't', 'free', 0),
                 ('b', 't', 'free', 0), ('c', 't', 'free', 0), ('d', 't', 'free', 0);",
        )
        .unwrap();
        let mut seed = 7_u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for round in 0..400 {
            let name = names[next(names.len() as u64) as usize];
            let sql = match next(10) {
                0 => format!("DELETE FROM resources WHERE name = '{name}'"),
                1 => format!(
                    "INSERT OR IGNORE INTO resources (name, type, state, lastupdate) \
                     VALUES ('{name}', 't', 'free', 0)"
                ),
                2 => format!("UPDATE resources SET userdata = '{{}}' WHERE name = '{name}'"),
                3 => "UPDATE resources SET state = 'dirty' WHERE state = 'free'".to_string(),
                _ => format!(
                    "UPDATE resources SET state = 'busy', owner = 'o{round}' WHERE name = '{name}'"
                ),
            };
            conn.execute_batch(&sql).unwrap();
            if round == 200 {
                let request = PruneEventsRequest {
                    max_age: None,
                    max_events: Some(50),
                    batch: 1000,
                };
                assert!(prune(&conn, &request).unwrap() > 0);
            }
        }
        assert_chains_match_scans(&conn, &names);
        assert_chains_match_scans(&conn, &["nobody"]);
    }

    #[test]
    fn an_earlier_file_gets_its_chain_and_loses_the_name_index() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        // The earlier build's table and index, triggers that write no chain, and events of
        // a live resource `r`, a deleted `gone` and a deleted and created again `back`.
        let drop: String = TRIGGERS
            .iter()
            .map(|t| format!("DROP TRIGGER {t};"))
            .collect();
        conn.execute_batch(&format!(
            "{drop} DROP TABLE events;
             CREATE TABLE events (id INTEGER PRIMARY KEY, at INTEGER NOT NULL,
                 kind TEXT NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL, old_state TEXT,
                 new_state TEXT, old_owner TEXT, new_owner TEXT, generation INTEGER,
                 actor TEXT NOT NULL DEFAULT '', request_id TEXT);
             CREATE INDEX events_by_name ON events (name);
             CREATE TRIGGER events_on_change AFTER UPDATE OF state, owner ON resources BEGIN
                 INSERT INTO events (at, kind, type, name) VALUES (0, 'update', NEW.type, NEW.name);
             END;
             INSERT INTO resources (name, type, state, lastupdate) VALUES ('r', 't', 'free', 0),
                 ('back', 't', 'free', 0);
             INSERT INTO events (at, kind, type, name) VALUES (0, 'create', 't', 'r'),
                 (0, 'create', 't', 'gone'), (0, 'create', 't', 'back'), (0, 'update', 't', 'r'),
                 (0, 'delete', 't', 'gone'), (0, 'delete', 't', 'back'), (0, 'create', 't', 'back');"
        ))
        .unwrap();
        migrate(&conn).unwrap();
        let indexed: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'events_by_name')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!indexed);
        assert_chains_match_scans(&conn, &["r", "gone", "back"]);
        conn.execute_batch(
            "UPDATE resources SET state = 'busy', owner = 'me';
             DELETE FROM resources WHERE name = 'back';
             INSERT INTO resources (name, type, state, lastupdate) VALUES ('gone', 't', 'free', 0);",
        )
        .unwrap();
        assert_chains_match_scans(&conn, &["r", "gone", "back"]);
        let (chain, _) = by_chain_and_by_scan(&conn, Direction::After, "back", 0, 100);
        assert_eq!(
            chain,
            [3, 6, 7, 9, 10],
            "the earlier events and the new ones"
        );
        migrate(&conn).unwrap();
        assert_chains_match_scans(&conn, &["r", "gone", "back"]);
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
        assert_chains_match_scans(&conn, &["r"]);
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
