//! The history of resources: one [`Event`] per change of a resource's state or owner and
//! per creation and deletion, appended to an `events` table in the same transaction as
//! the change, on both engines; how it is read, followed and pruned.
//!
//! **How events are written: triggers on `resources`.** Each engine has `AFTER INSERT`,
//! `AFTER DELETE` and `AFTER UPDATE OF state, owner` triggers (the latter only when the
//! state or owner really changed, so a heartbeat is no event) that append the event
//! (`sqlite/events.sql`, `postgres/migrations/0004_events.sql`). No transition can be
//! forgotten — not one added later, not a statement outside `writes.rs`, not a bulk
//! import — and the event is in the very transaction of the change. The kind, actor
//! and request id come from the last-transition columns (`last_kind`, `last_actor`,
//! `last_request_id`) that every grant and end of lease sets from its
//! tag (`lease/tag.rs`); a change that sets no new tag gets a kind inferred from
//! the change itself (owner taken: `acquire`; owner cleared: `release`; into
//! `toBeDeleted`/`tombstone`; otherwise `update`), with actor `server`.
//! Explicit inserts next to each write were the alternative: they cost the same row
//! but need an edit in every write statement, present and future, of both engines.
//! The cost is measured A/B against the same build without history, same run (`mason
//! bench --history both --layer cross-process`, `--history off --layer store`; see
//! docs/benchmarks.md).
//!
//! **Ids.** Store-wide, increasing, never reused; a reader that has seen id N never
//! later meets a new event with a smaller id. On SQLite, one writer at a time makes that
//! trivial (the rowid, with the newest event never pruned). On PostgreSQL, ids drawn inside concurrent transactions
//! would commit out of order, so an event is written without an id and numbered after
//! its commit (see `postgres/events.rs`).
//!
//! Layout:
//! - this file: the queries ([`EventQuery`], [`LatestEventsQuery`], [`EventFilter`]),
//!   their checks, and how a read's `next` is decided;
//! - [`retention`]: the background pruner (`--history-retention`,
//!   `--history-max-events`) and its request.

pub mod retention;

use mason_types::event::{is_known_kind, Event, EventPage, KINDS};

use crate::{Error, Result};

pub use retention::{PruneEventsRequest, Pruner, Retention};

/// The most events one read returns.
pub const MAX_EVENT_LIMIT: usize = 1_000;

/// Which events a reader wants; an unset field matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events of resources of this type.
    pub rtype: Option<String>,
    /// Only events of this resource.
    pub name: Option<String>,
    /// Only events where this owner held the resource before or after (`""`: unowned).
    pub owner: Option<String>,
    /// Only events of this kind (one of [`KINDS`]).
    pub kind: Option<String>,
}

impl EventFilter {
    /// Whether `event` passes (the same rule the stores apply in SQL).
    pub fn matches(&self, event: &Event) -> bool {
        let owner_matches = |o: &str| {
            event.old_owner.as_deref() == Some(o) || event.new_owner.as_deref() == Some(o)
        };
        self.rtype.as_deref().is_none_or(|t| event.rtype == t)
            && self.name.as_deref().is_none_or(|n| event.name == n)
            && self.owner.as_deref().is_none_or(owner_matches)
            && self.kind.as_deref().is_none_or(|k| event.kind == k)
    }

    /// Refuse a filter that cannot mean anything: an empty type or name, an unknown kind.
    pub(crate) fn check(&self) -> Result<()> {
        for (what, value) in [("type", &self.rtype), ("name", &self.name)] {
            if value.as_deref() == Some("") {
                return Err(Error::InvalidArgument(format!(
                    "invalid {what} filter: empty (leave it out to match every {what})"
                )));
            }
        }
        if let Some(kind) = self.kind.as_deref().filter(|k| !is_known_kind(k)) {
            return Err(Error::InvalidArgument(format!(
                "invalid kind {kind:?}: want one of {}",
                KINDS.join(", ")
            )));
        }
        Ok(())
    }
}

/// Events after an id, oldest first (`GET /api/v2/events?after=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Only events with a larger id (0: from the oldest kept).
    pub after: u64,
    /// Which events.
    pub filter: EventFilter,
    /// At most this many, 1 to [`MAX_EVENT_LIMIT`].
    pub limit: usize,
}

/// The newest events before an id, answered oldest first (`mason describe`, the
/// dashboard's first page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatestEventsQuery {
    /// Only events with a smaller id (`None`: up to the newest).
    pub before: Option<u64>,
    /// Which events.
    pub filter: EventFilter,
    /// At most this many, 1 to [`MAX_EVENT_LIMIT`].
    pub limit: usize,
}

/// Refuse a page size outside 1 to [`MAX_EVENT_LIMIT`].
fn check_limit(limit: usize) -> Result<()> {
    if (1..=MAX_EVENT_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid limit {limit}: want 1 to {MAX_EVENT_LIMIT}"
        )))
    }
}

impl EventQuery {
    /// The query's checks; the values as stored (`BIGINT`) for binding.
    pub(crate) fn checked(&self) -> Result<(i64, i64)> {
        check_limit(self.limit)?;
        self.filter.check()?;
        Ok((stored_id(self.after), stored_limit(self.limit)))
    }

    /// The page of a read that saw `head` as the newest id and returned `events`.
    pub(crate) fn page(&self, events: Vec<Event>, head: u64) -> EventPage {
        let next = if events.len() >= self.limit {
            events.last().map_or(self.after, |e| e.id)
        } else {
            head
        };
        EventPage {
            next: next.max(self.after),
            events,
        }
    }
}

impl LatestEventsQuery {
    /// The query's checks; the exclusive upper id bound and the limit as stored.
    pub(crate) fn checked(&self) -> Result<(i64, i64)> {
        check_limit(self.limit)?;
        self.filter.check()?;
        if self.before == Some(0) {
            return Err(Error::InvalidArgument(
                "invalid before 0: no event has an id below 1".into(),
            ));
        }
        Ok((
            self.before.map_or(i64::MAX, stored_id),
            stored_limit(self.limit),
        ))
    }

    /// The page of a read that saw `head` and returned `newest_first`.
    pub(crate) fn page(&self, mut newest_first: Vec<Event>, head: u64) -> EventPage {
        newest_first.reverse();
        let covered = self.before.map_or(head, |b| (b - 1).min(head));
        let newest = newest_first.last().map_or(0, |e| e.id);
        EventPage {
            next: covered.max(newest),
            events: newest_first,
        }
    }
}

/// An id as stored (`BIGINT`); one beyond it is past every id.
fn stored_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn stored_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The column list every event query selects, in [`EventRow`]'s order.
const EVENT_COLUMNS: &str = "id, at, kind, type, name, old_state, new_state, old_owner, new_owner, generation, actor, request_id";

/// Which side of an id the events of a read lie on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Ids above the bound, oldest first ([`EventQuery`]).
    After,
    /// Ids below the bound, newest first ([`LatestEventsQuery`]).
    Before,
}

/// An event read as SQL: the statement and the filter values it binds.
///
/// The statement binds the id bound as parameter 1, the head as 2 and the limit as 3,
/// then one value per *present* filter, in the order of [`EventFilter`]'s fields. An
/// absent filter adds no term, so each present one is a plain equality the planner can
/// serve from an index (on PostgreSQL, `name =` walks `events_by_name` in id order,
/// without a sort or a scan; SQLite walks the name's chain of events instead, see
/// `sqlite/events.rs`). The same text on both engines, up to the parameter sigil (`?N` in SQLite,
/// `$N` in PostgreSQL); at most 2 × 16 statement shapes, each prepared once per
/// connection.
pub(crate) fn select_events(
    direction: Direction,
    filter: &EventFilter,
    sigil: char,
) -> (String, Vec<&str>) {
    let mut terms = String::new();
    let mut values = Vec::new();
    let fields = [
        (filter.rtype.as_deref(), "type = {}"),
        (filter.name.as_deref(), "name = {}"),
        (
            filter.owner.as_deref(),
            "(old_owner = {} OR new_owner = {})",
        ),
        (filter.kind.as_deref(), "kind = {}"),
    ];
    for (value, term) in fields {
        if let Some(value) = value {
            values.push(value);
            let param = format!("{sigil}{}", 3 + values.len());
            terms.push_str(" AND ");
            terms.push_str(&term.replace("{}", &param));
        }
    }
    let (cmp, order) = match direction {
        Direction::After => (">", "ASC"),
        Direction::Before => ("<", "DESC"),
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE id {cmp} {sigil}1 AND id <= {sigil}2{terms} \
         ORDER BY id {order} LIMIT {sigil}3"
    );
    (sql, values)
}

/// The columns of an event for a change of state or owner, in [`CHANGE_VALUES`]' order
/// (the triggers add `at`).
pub(crate) const CHANGE_COLUMNS: &str =
    "kind, actor, request_id, type, name, old_state, new_state, old_owner, new_owner, generation";

/// The values of an event for a change of state or owner, as the `AFTER UPDATE` triggers
/// of both engines insert them (`sqlite/events.sql`, `postgres/migrations/0004_events.sql`,
/// where [`render_event_sql`] puts them): `tagged` is each trigger's own boolean, true when
/// the write set a new tag (`lease/tag.rs`). Then the tag's kind, actor and request id
/// count; otherwise the kind is inferred from the change (owner taken: `acquire`; owner
/// cleared: `release`; into `toBeDeleted` or `tombstone`; otherwise `update`), by
/// `server`. The same text is valid SQL in SQLite and in PL/pgSQL.
///
/// PostgreSQL keeps what its migrations applied: a change here needs a new migration that
/// replaces `mason_resource_event()` (a fresh database then runs both, to the same end).
pub(crate) const CHANGE_VALUES: &str = "\
CASE WHEN tagged THEN NEW.last_kind
     WHEN OLD.owner = '' AND NEW.owner <> '' THEN 'acquire'
     WHEN OLD.owner <> '' AND NEW.owner = '' THEN 'release'
     WHEN NEW.state = 'toBeDeleted' THEN 'to-be-deleted'
     WHEN NEW.state = 'tombstone' THEN 'tombstone'
     ELSE 'update' END,
CASE WHEN tagged THEN coalesce(NEW.last_actor, '') ELSE 'server' END,
CASE WHEN tagged THEN NEW.last_request_id END,
NEW.type, NEW.name, OLD.state, NEW.state, OLD.owner, NEW.owner, nullif(NEW.generation, 0)";

/// `sql` with `{{change_columns}}` and `{{change_values}}` replaced by [`CHANGE_COLUMNS`]
/// and [`CHANGE_VALUES`] (applied to the history's DDL of both engines).
pub(crate) fn render_event_sql(sql: &str) -> String {
    sql.replace("{{change_columns}}", CHANGE_COLUMNS)
        .replace("{{change_values}}", CHANGE_VALUES)
}

/// One row selected with [`EVENT_COLUMNS`], before decoding.
pub(crate) struct EventRow {
    pub(crate) id: i64,
    pub(crate) at: i64,
    pub(crate) kind: String,
    pub(crate) rtype: String,
    pub(crate) name: String,
    pub(crate) old_state: Option<String>,
    pub(crate) new_state: Option<String>,
    pub(crate) old_owner: Option<String>,
    pub(crate) new_owner: Option<String>,
    pub(crate) generation: Option<i64>,
    pub(crate) actor: String,
    pub(crate) request_id: Option<String>,
}

impl EventRow {
    /// The event this row holds.
    pub(crate) fn decode(self) -> Event {
        Event {
            id: u64::try_from(self.id).unwrap_or_default(),
            at: crate::rows::from_micros(self.at),
            kind: self.kind,
            rtype: self.rtype,
            name: self.name,
            old_state: self.old_state,
            new_state: self.new_state,
            old_owner: self.old_owner,
            new_owner: self.new_owner,
            generation: self
                .generation
                .and_then(|g| u64::try_from(g).ok())
                .filter(|g| *g > 0),
            actor: self.actor,
            request_id: self.request_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64) -> Event {
        Event {
            id,
            at: crate::rows::from_micros(0),
            kind: "acquire".into(),
            rtype: "t".into(),
            name: "r".into(),
            old_state: Some("free".into()),
            new_state: Some("busy".into()),
            old_owner: Some(String::new()),
            new_owner: Some("me".into()),
            generation: None,
            actor: String::new(),
            request_id: None,
        }
    }

    #[test]
    fn bad_queries_are_invalid_arguments() {
        let query = |limit, filter| EventQuery {
            after: 0,
            filter,
            limit,
        };
        for bad in [0, MAX_EVENT_LIMIT + 1, usize::MAX] {
            assert!(matches!(
                query(bad, EventFilter::default()).checked(),
                Err(Error::InvalidArgument(_))
            ));
        }
        assert!(query(MAX_EVENT_LIMIT, EventFilter::default())
            .checked()
            .is_ok());
        let bad_filters = [
            EventFilter {
                kind: Some("steal".into()),
                ..Default::default()
            },
            EventFilter {
                name: Some(String::new()),
                ..Default::default()
            },
            EventFilter {
                rtype: Some(String::new()),
                ..Default::default()
            },
        ];
        for filter in bad_filters {
            assert!(matches!(
                query(1, filter).checked(),
                Err(Error::InvalidArgument(_))
            ));
        }
        let unowned = EventFilter {
            owner: Some(String::new()),
            ..Default::default()
        };
        assert!(query(1, unowned).checked().is_ok());
        let before_zero = LatestEventsQuery {
            before: Some(0),
            limit: 1,
            ..Default::default()
        };
        assert!(before_zero.checked().is_err());
    }

    #[test]
    fn next_covers_what_was_read() {
        let q = EventQuery {
            after: 5,
            limit: 2,
            ..Default::default()
        };
        assert_eq!(q.page(vec![event(6), event(9)], 20).next, 9, "full page");
        assert_eq!(
            q.page(vec![event(6)], 20).next,
            20,
            "short page: up to head"
        );
        assert_eq!(q.page(vec![], 3).next, 5, "never behind the cursor");
        let latest = LatestEventsQuery {
            before: Some(8),
            limit: 2,
            ..Default::default()
        };
        let page = latest.page(vec![event(7), event(6)], 20);
        assert_eq!(page.events.iter().map(|e| e.id).collect::<Vec<_>>(), [6, 7]);
        assert_eq!(page.next, 7);
        let newest = LatestEventsQuery {
            limit: 2,
            ..Default::default()
        };
        assert_eq!(newest.page(vec![], 4).next, 4);
    }

    #[test]
    fn owner_matches_before_or_after() {
        let acquire = event(1);
        let owner = |o: &str| EventFilter {
            owner: Some(o.into()),
            ..Default::default()
        };
        assert!(owner("me").matches(&acquire));
        assert!(owner("").matches(&acquire));
        assert!(!owner("you").matches(&acquire));
        let kind = EventFilter {
            kind: Some("release".into()),
            ..owner("me")
        };
        let (sql, values) = select_events(Direction::After, &kind, '?');
        assert_eq!(values, ["me", "release"]);
        assert!(
            sql.contains("id > ?1 AND id <= ?2 AND (old_owner = ?4 OR new_owner = ?4) AND kind = ?5 ORDER BY id ASC LIMIT ?3"),
            "{sql}"
        );
        let everything = EventFilter::default();
        let (sql, values) = select_events(Direction::Before, &everything, '$');
        assert!(values.is_empty());
        assert!(
            sql.ends_with("WHERE id < $1 AND id <= $2 ORDER BY id DESC LIMIT $3"),
            "{sql}"
        );
    }

    #[test]
    fn the_change_sql_is_filled_in() {
        let sql = render_event_sql(
            "INSERT INTO events (at, {{change_columns}}) VALUES (0, {{change_values}})",
        );
        assert!(!sql.contains("{{"), "{sql}");
        let columns = CHANGE_COLUMNS.split(", ").count();
        let (mut depth, mut values) = (0, 1);
        for c in CHANGE_VALUES.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => values += 1,
                _ => {}
            }
        }
        assert_eq!(columns, values, "one value per column");
    }
}
