//! The fencing-generation counter of a SQLite store (what a generation is, and why it is
//! never given out twice, is `lease/transition.rs`'s to say).
//!
//! One process owns a store file (its exclusive lock), so the counter lives in memory:
//! a grant or an end of lease costs no extra write. It starts above every generation the
//! file can have given out: the highest one still in `resources`, and the floor kept in
//! `store_meta`, which every deletion of rows raises to the counter's value in the same
//! transaction (a deleted row takes its generation out of the table). A transaction that
//! rolls back leaves a gap, never a repeat.

use std::cell::Cell;

use rusqlite::Connection;

use crate::Result;

/// The key of the floor in `store_meta`.
const FLOOR: &str = "generation_floor";

/// The last generation given out (or known to be stored).
#[derive(Debug, Default)]
pub(super) struct Generations {
    last: Cell<i64>,
}

impl Generations {
    /// Raise the counter to what the file holds (never lower it).
    pub(super) fn load(&self, conn: &Connection) -> Result<()> {
        let stored: i64 = conn
            .prepare_cached(
                "SELECT max(coalesce((SELECT max(generation) FROM resources), 0), \
                            coalesce((SELECT value FROM store_meta WHERE key = ?1), 0))",
            )?
            .query_row([FLOOR], |r| r.get(0))?;
        self.last.set(self.last.get().max(stored));
        Ok(())
    }

    /// A generation never given out before.
    pub(super) fn next(&self) -> i64 {
        let next = self.last.get().saturating_add(1);
        self.last.set(next);
        next
    }

    /// Record, in the caller's transaction, that no generation up to the counter's value
    /// may be given out again (call it with every deletion of resource rows).
    pub(super) fn keep_floor(&self, tx: &Connection) -> Result<()> {
        tx.prepare_cached(
            "INSERT INTO store_meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
        )?
        .execute(rusqlite::params![FLOOR, self.last.get()])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("schema.sql")).unwrap();
        conn
    }

    #[test]
    fn starts_above_every_stored_generation_and_the_floor() {
        let conn = file();
        let generations = Generations::default();
        generations.load(&conn).unwrap();
        assert_eq!(generations.next(), 1, "an empty store starts at 1");
        conn.execute_batch(
            "INSERT INTO resources (name, type, state, lastupdate, generation) VALUES ('r', 't', 'free', 0, 7)",
        )
        .unwrap();
        let reopened = Generations::default();
        reopened.load(&conn).unwrap();
        assert_eq!(reopened.next(), 8);
        reopened.next();
        reopened.keep_floor(&conn).unwrap();
        conn.execute_batch("DELETE FROM resources").unwrap();
        let after_delete = Generations::default();
        after_delete.load(&conn).unwrap();
        assert_eq!(
            after_delete.next(),
            10,
            "the deleted row's generations stay used"
        );
        reopened.load(&conn).unwrap();
        assert_eq!(reopened.next(), 10, "loading never lowers the counter");
    }
}
