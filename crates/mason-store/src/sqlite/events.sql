-- The history (see crate::history): one row per change of a resource's state or owner
-- and per creation and deletion, appended by the triggers below in the transaction of
-- the change. Applied (idempotently) at every open, after the last-transition columns
-- `last_kind`, `last_actor`, `last_request_id` were added to `resources` (migrate.rs).
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
    request_id  TEXT
);
-- `mason describe NAME` and the resource page: the newest events of one resource.
CREATE INDEX IF NOT EXISTS events_by_name ON events (name);

CREATE TRIGGER IF NOT EXISTS events_on_create AFTER INSERT ON resources BEGIN
    INSERT INTO events (at, kind, type, name, old_state, new_state, old_owner, new_owner,
                        generation, actor, request_id)
    VALUES (CAST(unixepoch('subsec') * 1000000 AS INTEGER), 'create', NEW.type, NEW.name,
            NULL, NEW.state, NULL, NEW.owner, nullif(NEW.generation, 0), 'server', NULL);
END;

CREATE TRIGGER IF NOT EXISTS events_on_delete AFTER DELETE ON resources BEGIN
    INSERT INTO events (at, kind, type, name, old_state, new_state, old_owner, new_owner,
                        generation, actor, request_id)
    VALUES (CAST(unixepoch('subsec') * 1000000 AS INTEGER), 'delete', OLD.type, OLD.name,
            OLD.state, NULL, OLD.owner, NULL, nullif(OLD.generation, 0), 'server', NULL);
END;

-- A change of state or owner: kind, actor and request id from the write's tag when it set
-- a new one (a grant or an end of lease always does), otherwise inferred from the change
-- (the columns and values are crate::history's CHANGE_COLUMNS and CHANGE_VALUES, shared
-- with PostgreSQL and filled in when this file is applied).
CREATE TRIGGER IF NOT EXISTS events_on_change AFTER UPDATE OF state, owner ON resources
WHEN OLD.state IS NOT NEW.state OR OLD.owner IS NOT NEW.owner
BEGIN
    INSERT INTO events (at, {{change_columns}})
    SELECT CAST(unixepoch('subsec') * 1000000 AS INTEGER), {{change_values}}
    FROM (SELECT NEW.last_kind IS NOT NULL AND NEW.last_kind IS NOT OLD.last_kind AS tagged);
END;
