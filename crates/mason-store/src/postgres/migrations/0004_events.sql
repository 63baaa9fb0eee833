-- Migration 4: the history (see crate::history and postgres/events.rs). Triggers on
-- `resources` append one row to `events` per change of state or owner and per creation
-- and deletion, in the transaction of the change. A row is written without its public
-- `id`: ids are given after commit, in order, by the numbering pass (events.rs), so a
-- reader that has seen id N never later meets a smaller new one.

-- The last transition of each resource, set by every grant and end of lease (its tag).
ALTER TABLE resources ADD COLUMN IF NOT EXISTS last_kind TEXT;
ALTER TABLE resources ADD COLUMN IF NOT EXISTS last_actor TEXT;
ALTER TABLE resources ADD COLUMN IF NOT EXISTS last_request_id TEXT;

CREATE TABLE events (
    -- Write order (internal): the numbering pass gives ids in this order.
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The public, store-wide id; NULL until numbered.
    id          BIGINT UNIQUE,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    type        TEXT NOT NULL,
    name        TEXT NOT NULL,
    old_state   TEXT,
    new_state   TEXT,
    old_owner   TEXT,
    new_owner   TEXT,
    generation  BIGINT,
    actor       TEXT NOT NULL DEFAULT '',
    request_id  TEXT
);
CREATE INDEX events_unnumbered ON events (seq) WHERE id IS NULL;
CREATE INDEX events_by_name ON events (name, id);

-- The newest id given out; its row lock serialises numbering passes across replicas.
CREATE TABLE event_head (
    one      BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    last_id  BIGINT NOT NULL
);
INSERT INTO event_head (one, last_id) VALUES (true, 0);

CREATE FUNCTION mason_resource_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    at_us BIGINT := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    tagged BOOLEAN;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO events (at, kind, type, name, old_state, new_state, old_owner, new_owner,
                            generation, actor)
        VALUES (at_us, 'create', NEW.type, NEW.name, NULL, NEW.state, NULL, NEW.owner,
                nullif(NEW.generation, 0), 'server');
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO events (at, kind, type, name, old_state, new_state, old_owner, new_owner,
                            generation, actor)
        VALUES (at_us, 'delete', OLD.type, OLD.name, OLD.state, NULL, OLD.owner, NULL,
                nullif(OLD.generation, 0), 'server');
    ELSE
        tagged := NEW.last_kind IS NOT NULL AND NEW.last_kind IS DISTINCT FROM OLD.last_kind;
        -- crate::history's CHANGE_COLUMNS and CHANGE_VALUES, shared with SQLite.
        INSERT INTO events (at, {{change_columns}})
        VALUES (at_us, {{change_values}});
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_on_create AFTER INSERT ON resources
    FOR EACH ROW EXECUTE FUNCTION mason_resource_event();
CREATE TRIGGER events_on_delete AFTER DELETE ON resources
    FOR EACH ROW EXECUTE FUNCTION mason_resource_event();
CREATE TRIGGER events_on_change AFTER UPDATE OF state, owner ON resources
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.owner IS DISTINCT FROM NEW.owner)
    EXECUTE FUNCTION mason_resource_event();
