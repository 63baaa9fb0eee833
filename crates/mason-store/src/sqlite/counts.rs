//! Kept counts on SQLite: how many resources each (type, state, owner) group holds, in
//! memory, in step with the table. `GET /metric`, the Prometheus gauges and the
//! `/api/v2` counts read them instead of scanning the pool.
//!
//! How they stay exact: like the acquire order (`free_index.rs`), the counts are derived
//! from the table and never written on their own. They are rebuilt from one scan when the
//! store opens (so a restart starts from what is durable) and after table-wide work
//! (config sync with deletions, import); every point transition already reports each row
//! it wrote to its context ([`super::txn::Ctx::wrote`]), and those rows are applied here
//! only after the transaction commits, under the store's lock. To move a row from its old
//! group to its new one the counts remember the group of every resource (name → group,
//! about 100 bytes per resource with the group's strings shared); a read touches only
//! the groups, so its cost depends on the number of types, states and owners, not on the
//! number of resources. The counts sit behind their own lock, so a read never waits for
//! the store's connection and never holds up a lease.
//!
//! Why in memory and not in the file: the alternative measured was a counts table kept
//! by SQL triggers (a `TEMP` table, so nothing reaches the WAL; the triggers' two upserts
//! run inside each writing statement). In a bare acquire+release commit loop at 10,000
//! rows, five interleaved rounds on a loaded machine, a commit took 17.8 µs (median
//! round) without and 24.8 µs with the triggers; the map here adds about 0.6 µs to a
//! store call's median (`mason bench --layer store`, 10,000 resources, one client, four
//! interleaved pairs: acquire p50 6.1–6.6 µs before, 6.8–7.0 µs after). The trigger table
//! could moreover only be read on the store's connection, behind lease traffic.
//!
//! If a reload after a commit fails, the counts say so ([`KeptCounts::groups`] answers
//! `None`) and readers fall back to scanning until the next call reloads them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use rusqlite::Connection;

use super::free_index::IndexRow;
use crate::rows::CountRow;

/// The group a resource is counted in. The strings are shared between every resource
/// of the group (see [`Interner`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Group {
    rtype: Arc<str>,
    state: Arc<str>,
    owner: Arc<str>,
}

/// One type's groups: (state, owner) → number of resources.
type TypeGroups = HashMap<(Arc<str>, Arc<str>), u64>;

/// One copy of each type, state and owner text.
#[derive(Debug, Default)]
struct Interner(HashSet<Arc<str>>);

impl Interner {
    fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(Arc::clone(&shared));
        shared
    }

    /// Forget texts no group uses any more (after a resource left its last group).
    fn forget_unused(&mut self) {
        self.0.retain(|text| Arc::strong_count(text) > 1);
    }
}

/// The kept counts, shared by the store's connection (which keeps them) and its readers.
#[derive(Debug, Clone)]
pub(crate) struct SharedCounts(Arc<RwLock<KeptCounts>>);

impl Default for SharedCounts {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(KeptCounts::invalid())))
    }
}

impl SharedCounts {
    /// Rebuild from the table; on failure the counts are left unreadable (and the error
    /// returned) until the next rebuild.
    pub(crate) fn reload(&self, conn: &Connection) -> rusqlite::Result<()> {
        self.replace(KeptCounts::invalid());
        self.replace(KeptCounts::load(conn)?);
        Ok(())
    }

    /// Apply a committed transaction's writes (see [`KeptCounts::apply`]).
    pub(crate) fn apply<'a>(&self, written: impl IntoIterator<Item = &'a IndexRow>) {
        // A panic while applying poisons the lock; the counts then stay unreadable until
        // the next reload.
        if let Ok(mut counts) = self.0.write() {
            counts.apply(written);
        }
    }

    /// See [`KeptCounts::groups`]; `None` also when a panic left the counts half-applied.
    pub(crate) fn groups(&self, rtype: Option<&str>) -> Option<Vec<CountRow>> {
        self.0.read().ok()?.groups(rtype)
    }

    fn replace(&self, counts: KeptCounts) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = counts;
        self.0.clear_poison();
    }
}

/// Resources per (type, state, owner), kept from what each committed transaction wrote.
#[derive(Debug, Default)]
pub(crate) struct KeptCounts {
    /// Every resource and the group it is counted in.
    rows: HashMap<Arc<str>, Group>,
    /// type → (state, owner) → number of resources; groups of zero are removed.
    groups: HashMap<Arc<str>, TypeGroups>,
    texts: Interner,
    /// False after a failed reload: the counts cannot be trusted until the next one.
    valid: bool,
}

impl KeptCounts {
    /// Count every resource in the table.
    pub(crate) fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let mut counts = Self::default();
        let mut stmt = conn.prepare("SELECT name, type, state, owner FROM resources")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let name: String = r.get(0)?;
            let group = counts.group(r.get_ref(1)?.as_str()?, r.get_ref(2)?.as_str()?, {
                r.get_ref(3)?.as_str()?
            });
            counts.add(Arc::from(name), group);
        }
        counts.valid = true;
        Ok(counts)
    }

    /// Counts that must not be read (a reload failed); the next reload replaces them.
    pub(crate) fn invalid() -> Self {
        Self::default()
    }

    /// Apply committed writes (each row as it now is in the table), in order. Deletions
    /// are not reported one by one: the code deleting resources has the store reload.
    pub(crate) fn apply<'a>(&mut self, written: impl IntoIterator<Item = &'a IndexRow>) {
        let mut left_a_group = false;
        for row in written {
            let group = self.group(&row.rtype, &row.state, &row.owner);
            match self.rows.get_key_value(row.name.as_str()) {
                Some((_, old)) if *old == group => {}
                Some((name, old)) => {
                    let (name, old) = (Arc::clone(name), old.clone());
                    self.remove(&old);
                    left_a_group = true;
                    self.add(name, group);
                }
                None => self.add(Arc::from(row.name.as_str()), group),
            }
        }
        if left_a_group && self.texts.0.len() > 4 * self.group_count() + 64 {
            self.texts.forget_unused();
        }
    }

    /// `(type, state, owner, count)` of every group, of one type or of all types; `None`
    /// when the counts cannot be trusted (read the table instead).
    pub(crate) fn groups(&self, rtype: Option<&str>) -> Option<Vec<CountRow>> {
        if !self.valid {
            return None;
        }
        let mut out = Vec::new();
        let mut push = |rtype: &Arc<str>, groups: &TypeGroups| {
            out.extend(groups.iter().map(|((state, owner), n)| CountRow {
                rtype: rtype.to_string(),
                state: state.to_string(),
                owner: owner.to_string(),
                count: i64::try_from(*n).unwrap_or(i64::MAX),
            }));
        };
        match rtype {
            Some(rtype) => {
                if let Some((rtype, groups)) = self.groups.get_key_value(rtype) {
                    push(rtype, groups);
                }
            }
            None => self.groups.iter().for_each(|(t, g)| push(t, g)),
        }
        Some(out)
    }

    fn group(&mut self, rtype: &str, state: &str, owner: &str) -> Group {
        Group {
            rtype: self.texts.get(rtype),
            state: self.texts.get(state),
            owner: self.texts.get(owner),
        }
    }

    fn add(&mut self, name: Arc<str>, group: Group) {
        *self
            .groups
            .entry(Arc::clone(&group.rtype))
            .or_default()
            .entry((Arc::clone(&group.state), Arc::clone(&group.owner)))
            .or_default() += 1;
        self.rows.insert(name, group);
    }

    /// Take one resource out of `group` (its entry in `rows` is replaced by the caller).
    fn remove(&mut self, group: &Group) {
        let Some(states) = self.groups.get_mut(&group.rtype) else {
            return;
        };
        let key = (Arc::clone(&group.state), Arc::clone(&group.owner));
        if let Some(n) = states.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                states.remove(&key);
            }
        }
        if states.is_empty() {
            self.groups.remove(&group.rtype);
        }
    }

    fn group_count(&self) -> usize {
        self.groups.values().map(HashMap::len).sum()
    }

    /// Every group as a sorted map (tests).
    #[cfg(test)]
    fn snapshot(&self) -> std::collections::BTreeMap<(String, String, String), u64> {
        self.groups(None)
            .unwrap_or_default()
            .into_iter()
            .map(|g| ((g.rtype, g.state, g.owner), g.count as u64))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn row(name: &str, rtype: &str, state: &str, owner: &str) -> IndexRow {
        IndexRow {
            name: name.into(),
            rtype: rtype.into(),
            state: state.into(),
            unowned: owner.is_empty(),
            owner: owner.into(),
            lastupdate: 0,
        }
    }

    fn key(t: &str, s: &str, o: &str) -> (String, String, String) {
        (t.into(), s.into(), o.into())
    }

    #[test]
    fn a_write_moves_a_resource_between_groups() {
        let mut counts = KeptCounts::invalid();
        assert!(
            counts.groups(None).is_none(),
            "invalid counts are never read"
        );
        counts.valid = true;
        counts.apply(&[
            row("a", "t", "free", ""),
            row("b", "t", "free", ""),
            row("c", "u", "dirty", ""),
        ]);
        counts.apply(&[row("a", "t", "busy", "me")]);
        let want = BTreeMap::from([
            (key("t", "free", ""), 1),
            (key("t", "busy", "me"), 1),
            (key("u", "dirty", ""), 1),
        ]);
        assert_eq!(counts.snapshot(), want);
        // A touch (same group) changes nothing; a release empties the busy group.
        counts.apply(&[row("a", "t", "busy", "me"), row("a", "t", "dirty", "")]);
        let want = BTreeMap::from([
            (key("t", "free", ""), 1),
            (key("t", "dirty", ""), 1),
            (key("u", "dirty", ""), 1),
        ]);
        assert_eq!(counts.snapshot(), want);
        // Moved to another type: the old type disappears once empty.
        counts.apply(&[row("c", "t", "dirty", "")]);
        assert!(counts.groups(Some("u")).unwrap().is_empty());
        let t = counts.groups(Some("t")).unwrap();
        assert_eq!(t.iter().map(|g| g.count).sum::<i64>(), 3);
    }

    #[test]
    fn loads_every_row_and_forgets_unused_texts() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE resources (name TEXT PRIMARY KEY, type TEXT, state TEXT, owner TEXT);
             INSERT INTO resources VALUES ('x', 't', 'free', ''), ('y', 't', 'busy', 'me'),
                                          ('z', 't', 'free', '');",
        )
        .unwrap();
        let mut counts = KeptCounts::load(&conn).unwrap();
        let want = BTreeMap::from([(key("t", "free", ""), 2), (key("t", "busy", "me"), 1)]);
        assert_eq!(counts.snapshot(), want);
        // Many short-lived owners leave no text behind.
        for i in 0..500 {
            let owner = format!("owner-{i}");
            counts.apply(&[row("x", "t", "busy", &owner), row("x", "t", "free", "")]);
        }
        assert_eq!(counts.snapshot(), want);
        assert!(
            counts.texts.0.len() < 100,
            "{} texts kept",
            counts.texts.0.len()
        );
    }
}
