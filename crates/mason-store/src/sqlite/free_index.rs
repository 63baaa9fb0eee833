//! The acquire order, kept in memory next to the SQLite connection.
//!
//! An acquire takes the least recently updated unowned resource of a type in a state. A
//! SQL index in that order would have to move its entry on every acquire and every
//! release — a second and third WAL page per commit, most of what a commit costs. So the
//! table only carries an index on `type`, which a lease transition never touches, and the
//! order lives here: for each (type, state), the unowned resources sorted by
//! (`lastupdate`, `name`), exactly the `ORDER BY` of upstream's selection.
//!
//! The database stays the only source of truth. The index is rebuilt from the table when
//! the store opens and after table-wide work (config sync), every point transition
//! reports the rows it wrote and the index is patched only after the transaction
//! commits, and no other process can write the file (the store holds an exclusive lock).
//! An acquire still moves its pick with a compare-and-set `UPDATE`; if that ever found the
//! index wrong, the acquire falls back to a SQL scan and the index is rebuilt.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rusqlite::Connection;

/// What the index needs of one resource row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexRow {
    pub(crate) name: String,
    pub(crate) rtype: String,
    pub(crate) state: String,
    /// Only unowned rows are indexed.
    pub(crate) unowned: bool,
    /// The owner (`""` when unowned), for the kept counts (`counts.rs`).
    pub(crate) owner: String,
    /// Microseconds since the epoch, as stored.
    pub(crate) lastupdate: i64,
}

/// Where an indexed resource sits.
#[derive(Debug, Clone)]
struct Slot {
    rtype: String,
    state: String,
    lastupdate: i64,
}

/// One (type, state) group: (`lastupdate`, name) in acquire order.
type Queue = BTreeSet<(i64, Arc<str>)>;

/// Unowned resources per (type, state), least recently updated first.
#[derive(Debug, Default)]
pub(crate) struct FreeIndex {
    /// Every indexed name and where it sits, so a change can remove the old entry.
    slots: HashMap<Arc<str>, Slot>,
    /// type → state → (lastupdate, name), in acquire order.
    order: HashMap<String, HashMap<String, Queue>>,
}

impl FreeIndex {
    /// Build the index from the table.
    pub(crate) fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let mut index = Self::default();
        let mut stmt =
            conn.prepare("SELECT name, type, state, lastupdate FROM resources WHERE owner = ''")?;
        let rows = stmt.query_map([], |r| {
            Ok(IndexRow {
                name: r.get(0)?,
                rtype: r.get(1)?,
                state: r.get(2)?,
                unowned: true,
                owner: String::new(),
                lastupdate: r.get(3)?,
            })
        })?;
        for row in rows {
            index.insert(row?);
        }
        Ok(index)
    }

    /// The `n`-th (from 0) unowned resource of `rtype` in `state`, in acquire order.
    pub(crate) fn nth(&self, rtype: &str, state: &str, n: usize) -> Option<&str> {
        self.order
            .get(rtype)?
            .get(state)?
            .iter()
            .nth(n)
            .map(|(_, name)| &**name)
    }

    /// Up to `take` unowned resources of `rtype` in `state` after the first `skip`, in
    /// acquire order.
    pub(crate) fn range(&self, rtype: &str, state: &str, skip: usize, take: usize) -> Vec<&str> {
        self.order
            .get(rtype)
            .and_then(|states| states.get(state))
            .map(|set| {
                set.iter()
                    .skip(skip)
                    .take(take)
                    .map(|(_, name)| &**name)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Apply committed writes (each row as it now is in the table), in order. Deletions
    /// are not reported one by one: the only code deleting resources (config sync)
    /// rebuilds the index instead.
    pub(crate) fn apply(&mut self, written: impl IntoIterator<Item = IndexRow>) {
        for row in written {
            self.remove(&row.name);
            if row.unowned {
                self.insert(row);
            }
        }
    }

    /// How many resources are indexed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    fn insert(&mut self, row: IndexRow) {
        let name: Arc<str> = Arc::from(row.name);
        self.order
            .entry(row.rtype.clone())
            .or_default()
            .entry(row.state.clone())
            .or_default()
            .insert((row.lastupdate, Arc::clone(&name)));
        self.slots.insert(
            name,
            Slot {
                rtype: row.rtype,
                state: row.state,
                lastupdate: row.lastupdate,
            },
        );
    }

    fn remove(&mut self, name: &str) {
        let Some((name, slot)) = self.slots.remove_entry(name) else {
            return;
        };
        let Some(states) = self.order.get_mut(&slot.rtype) else {
            return;
        };
        if let Some(set) = states.get_mut(&slot.state) {
            set.remove(&(slot.lastupdate, name));
            if set.is_empty() {
                states.remove(&slot.state);
            }
        }
        if states.is_empty() {
            self.order.remove(&slot.rtype);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, rtype: &str, state: &str, unowned: bool, lastupdate: i64) -> IndexRow {
        IndexRow {
            name: name.into(),
            rtype: rtype.into(),
            state: state.into(),
            unowned,
            owner: if unowned {
                String::new()
            } else {
                "someone".into()
            },
            lastupdate,
        }
    }

    fn order(index: &FreeIndex, rtype: &str, state: &str) -> Vec<String> {
        (0..)
            .map_while(|n| index.nth(rtype, state, n))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn orders_by_lastupdate_then_name() {
        let mut index = FreeIndex::default();
        index.apply([
            row("c", "t", "free", true, 5),
            row("b", "t", "free", true, 5),
            row("a", "t", "free", true, 9),
            row("d", "t", "dirty", true, 1),
            row("e", "u", "free", true, 1),
        ]);
        assert_eq!(order(&index, "t", "free"), ["b", "c", "a"]);
        assert_eq!(order(&index, "t", "dirty"), ["d"]);
        assert_eq!(order(&index, "u", "free"), ["e"]);
        assert_eq!(index.nth("t", "busy", 0), None);
        assert_eq!(index.range("t", "free", 1, 5), ["c", "a"]);
        assert_eq!(index.range("t", "free", 0, 2), ["b", "c"]);
        assert!(index.range("t", "busy", 0, 2).is_empty());
        assert_eq!(index.nth("nope", "free", 0), None);
    }

    #[test]
    fn a_write_moves_the_entry_and_an_owner_removes_it() {
        let mut index = FreeIndex::default();
        index.apply([
            row("a", "t", "free", true, 1),
            row("b", "t", "free", true, 2),
        ]);
        // Acquired: owned, so out of the index.
        index.apply([row("a", "t", "busy", false, 3)]);
        assert_eq!(order(&index, "t", "free"), ["b"]);
        // Released to dirty, then cleaned to free: now the most recently updated.
        index.apply([row("a", "t", "dirty", true, 4)]);
        assert_eq!(order(&index, "t", "dirty"), ["a"]);
        index.apply([row("a", "t", "free", true, 5)]);
        assert_eq!(order(&index, "t", "free"), ["b", "a"]);
        assert!(order(&index, "t", "dirty").is_empty());
        // Moved to another type by a config change.
        index.apply([row("b", "u", "free", true, 6)]);
        assert_eq!(order(&index, "t", "free"), ["a"]);
        assert_eq!(order(&index, "u", "free"), ["b"]);
        index.apply([
            row("a", "t", "busy", false, 7),
            row("zz", "t", "busy", false, 7),
        ]);
        assert!(order(&index, "t", "free").is_empty());
        assert_eq!(index.len(), 1);
        assert!(!index.order.contains_key("t"), "empty groups are dropped");
    }

    #[test]
    fn loads_unowned_rows_from_the_table() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE resources (name TEXT PRIMARY KEY, type TEXT, state TEXT, owner TEXT, lastupdate INTEGER);
             INSERT INTO resources VALUES ('x', 't', 'free', '', 2), ('y', 't', 'free', 'me', 1),
                                          ('z', 't', 'free', '', 1);",
        )
        .unwrap();
        let index = FreeIndex::load(&conn).unwrap();
        assert_eq!(order(&index, "t", "free"), ["z", "x"]);
        assert_eq!(index.len(), 2);
    }
}
