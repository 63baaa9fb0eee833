-- The history (see crate::history): one row per change of a resource's state or owner
-- and per creation and deletion, appended by the triggers below in the transaction of
-- the change. Applied (idempotently) at every open, after the last-transition columns
-- `last_kind`, `last_actor`, `last_request_id` and the chain's `last_event` were added to
-- `resources` (migrate.rs).
-- `at` is the database's clock, in microseconds.
-- `id` is the rowid, without AUTOINCREMENT (whose counter row in `sqlite_sequence` is one
-- more page written by every commit): a new row takes the largest id + 1, so ids only
-- grow, and are never reused, because pruning always keeps the newest row (events.rs).
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    type        TEXT NOT NULL,
    name        TEXT NOT NULL,
    old_state   TEXT,
    new_state   TEXT,
    old_owner   TEXT,
    new_owner   TEXT,
    generation  INTEGER,
    actor       TEXT NOT NULL DEFAULT '',
    request_id  TEXT,
    -- The previous event of the same name (NULL: none kept). Each name's events form a
    -- chain, newest first, from the resource's `last_event` (or, once the resource is
    -- deleted, from `event_heads`): `mason describe NAME`, the resource page and `name=`
    -- filters walk it (events.rs). It replaces an index on `name`, whose entries landed at
    -- random leaves: 1.7 more pages written per commit, and each leaf split renumbered
    -- pages through a far page number that made SQLite scan its whole page cache at commit.
    prev        INTEGER
);
-- The newest event of each name that has no row in `resources` (deleted): where its
-- chain goes on when the name is created again, and where `name=` reads start.
CREATE TABLE IF NOT EXISTS event_heads (
    name        TEXT PRIMARY KEY NOT NULL,
    last_event  INTEGER NOT NULL
) WITHOUT ROWID;
-- Pruning drops the heads whose events are all gone.
CREATE INDEX IF NOT EXISTS event_heads_by_last ON event_heads (last_event);

-- Each trigger links its event to the name's previous one and records it as the name's
-- newest (`last_event`, a column of the row the change writes anyway, so no other page;
-- the new event's id is the largest, see above).
CREATE TRIGGER IF NOT EXISTS events_on_create AFTER INSERT ON resources BEGIN
    INSERT INTO events (at, kind, type, name, old_state, new_state, old_owner, new_owner,
                        generation, actor, request_id, prev)
    VALUES (CAST(unixepoch('subsec') * 1000000 AS INTEGER), 'create', NEW.type, NEW.name,
            NULL, NEW.state, NULL, NEW.owner, nullif(NEW.generation, 0), 'server', NULL,
            (SELECT last_event FROM event_heads WHERE name = NEW.name));
    DELETE FROM event_heads WHERE name = NEW.name;
    UPDATE resources SET last_event = (SELECT max(id) FROM events) WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER IF NOT EXISTS events_on_delete AFTER DELETE ON resources BEGIN
    INSERT INTO events (at, kind, type, name, old_state, new_state, old_owner, new_owner,
                        generation, actor, request_id, prev)
    VALUES (CAST(unixepoch('subsec') * 1000000 AS INTEGER), 'delete', OLD.type, OLD.name,
            OLD.state, NULL, OLD.owner, NULL, nullif(OLD.generation, 0), 'server', NULL,
            OLD.last_event);
    INSERT OR REPLACE INTO event_heads (name, last_event)
    VALUES (OLD.name, (SELECT max(id) FROM events));
END;

-- A change of state or owner: kind, actor and request id from the write's tag when it set
-- a new one (a grant or an end of lease always does), otherwise inferred from the change
-- (the columns and values are crate::history's CHANGE_COLUMNS and CHANGE_VALUES, shared
-- with PostgreSQL and filled in when this file is applied).
CREATE TRIGGER IF NOT EXISTS events_on_change AFTER UPDATE OF state, owner ON resources
WHEN OLD.state IS NOT NEW.state OR OLD.owner IS NOT NEW.owner
BEGIN
    INSERT INTO events (at, {{change_columns}}, prev)
    SELECT CAST(unixepoch('subsec') * 1000000 AS INTEGER), {{change_values}}, NEW.last_event
    FROM (SELECT NEW.last_kind IS NOT NULL AND NEW.last_kind IS NOT OLD.last_kind AS tagged);
    UPDATE resources SET last_event = (SELECT max(id) FROM events) WHERE rowid = NEW.rowid;
END;
