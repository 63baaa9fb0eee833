//! The dynamic pools' lifespans, kept in memory for release.
//!
//! Release stamps `expiration-date` from the resource's pool (SPEC §4.4): a pool with a
//! lifespan sets now + lifespan, a pool without keeps the current date, and a type with
//! no pool clears it. Reading and decoding the pool's row on every release was one more
//! statement per lease; pools change only through config sync, so the map is loaded when
//! the store opens and reloaded after any sync that wrote a pool (like the acquire index,
//! it is derived from the table and never written on its own).

use std::collections::HashMap;
use std::time::Duration;

use mason_types::DynamicResourceLifeCycle;
use rusqlite::Connection;

/// type → the pool's lifespan (`None`: a pool without one).
#[derive(Debug, Default)]
pub(crate) struct Lifespans(HashMap<String, Option<Duration>>);

/// What a release does to `expiration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiration {
    /// Not a pool member: no expiration date.
    Clear,
    /// A pool without lifespan: leave the date as it is.
    Keep,
    /// A pool with a lifespan: expire this long after the release.
    After(Duration),
}

impl Lifespans {
    /// Load every pool's lifespan.
    pub(crate) fn load(conn: &Connection) -> crate::Result<Self> {
        let mut stmt = conn.prepare("SELECT spec FROM drlcs")?;
        let specs = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut map = HashMap::with_capacity(specs.len());
        for spec in specs {
            let drlc: DynamicResourceLifeCycle = serde_json::from_str(&spec)
                .map_err(|e| crate::Error::backend_from("bad DRLC row", e))?;
            map.insert(drlc.rtype, drlc.lifespan);
        }
        Ok(Self(map))
    }

    /// What releasing a resource of `rtype` does to its expiration date.
    pub(crate) fn on_release(&self, rtype: &str) -> Expiration {
        match self.0.get(rtype) {
            None => Expiration::Clear,
            Some(None) => Expiration::Keep,
            Some(Some(lifespan)) => Expiration::After(*lifespan),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            l.on_release("short"),
            Expiration::After(Duration::from_secs(90))
        );
        assert_eq!(l.on_release("forever"), Expiration::Keep);
        assert_eq!(l.on_release("static"), Expiration::Clear);
    }
}
