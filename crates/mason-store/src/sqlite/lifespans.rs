//! The dynamic pools' lifespans, kept in memory for release.
//!
//! Release stamps `expiration-date` from the resource's pool (SPEC §4.4, the rules are
//! [`crate::lease::end::Expiration`]'s): a pool with a lifespan sets now + lifespan, a
//! pool without keeps the current date, and a type with no pool clears it. Reading and decoding the pool's row on every release was one more
//! statement per lease; pools change only through config sync, so the map is loaded when
//! the store opens and reloaded after any sync that wrote a pool (like the acquire index,
//! it is derived from the table and never written on its own).

use std::collections::HashMap;
use std::time::Duration;

use rusqlite::Connection;

/// type → the pool's lifespan (`None`: a pool without one).
#[derive(Debug, Default)]
pub(crate) struct Lifespans(HashMap<String, Option<Duration>>);

impl Lifespans {
    /// Load every pool's lifespan.
    pub(crate) fn load(conn: &Connection) -> crate::Result<Self> {
        let pools = super::rows::all_drlcs(conn)?;
        Ok(Self(
            pools.into_iter().map(|d| (d.rtype, d.lifespan)).collect(),
        ))
    }

    /// The lifespan of `rtype`'s pool as [`Expiration::on_release`] takes it: `None`
    /// when the type has no pool, `Some(None)` for a pool without a lifespan.
    pub(crate) fn of(&self, rtype: &str) -> Option<Option<Duration>> {
        self.0.get(rtype).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mason_types::DynamicResourceLifeCycle;

    #[test]
    fn loads_pools_and_answers_per_type() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE drlcs (type TEXT PRIMARY KEY, spec TEXT NOT NULL);")
            .unwrap();
        for (rtype, lifespan) in [("short", Some(Duration::from_secs(90))), ("forever", None)] {
            let drlc = DynamicResourceLifeCycle {
                rtype: rtype.into(),
                lifespan,
                ..Default::default()
            };
            conn.execute(
                "INSERT INTO drlcs VALUES (?1, ?2)",
                [rtype, &serde_json::to_string(&drlc).unwrap()],
            )
            .unwrap();
        }
        let l = Lifespans::load(&conn).unwrap();
        assert_eq!(l.of("short"), Some(Some(Duration::from_secs(90))));
        assert_eq!(l.of("forever"), Some(None));
        assert_eq!(l.of("static"), None);
    }
}
