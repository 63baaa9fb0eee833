-- The history (see crate::history): one row per change of a resource's state or owner
-- and per creation and deletion, appended by the triggers below in the transaction of
-- the change. Applied (idempotently) at every open, after the last-transition columns
-- `last_kind`, `last_actor`, `last_request_id` were added to `resources` (migrate.rs).
-- `at` is the database's clock, in microseconds.
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, also after pruning
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

-- A change of state or owner. The write's tag counts when it set a new one (a grant or
-- an end of lease always does); otherwise the kind is inferred from the change.
CREATE TRIGGER IF NOT EXISTS events_on_change AFTER UPDATE OF state, owner ON resources
WHEN OLD.state IS NOT NEW.state OR OLD.owner IS NOT NEW.owner
BEGIN
    INSERT INTO events (at, kind, type, name, old_state, new_state, old_owner, new_owner,
                        generation, actor, request_id)
    SELECT CAST(unixepoch('subsec') * 1000000 AS INTEGER),
           CASE WHEN tagged THEN NEW.last_kind
                WHEN OLD.owner = '' AND NEW.owner <> '' THEN 'acquire'
                WHEN OLD.owner <> '' AND NEW.owner = '' THEN 'release'
                WHEN NEW.state = 'toBeDeleted' THEN 'to-be-deleted'
                WHEN NEW.state = 'tombstone' THEN 'tombstone'
                ELSE 'update' END,
           NEW.type, NEW.name, OLD.state, NEW.state, OLD.owner, NEW.owner,
           nullif(NEW.generation, 0),
           CASE WHEN tagged THEN coalesce(NEW.last_actor, '') ELSE 'server' END,
           CASE WHEN tagged THEN NEW.last_request_id END
    FROM (SELECT NEW.last_kind IS NOT NULL AND NEW.last_kind IS NOT OLD.last_kind AS tagged);
END;
