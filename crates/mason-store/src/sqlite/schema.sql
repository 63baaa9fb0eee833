-- Mason's SQLite schema, version 2 (applied idempotently over version 1). Timestamps are microseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS resources (
    name        TEXT PRIMARY KEY NOT NULL,
    type        TEXT NOT NULL,
    state       TEXT NOT NULL,
    owner       TEXT NOT NULL DEFAULT '',
    lastupdate  INTEGER NOT NULL,
    userdata    TEXT NOT NULL DEFAULT '{}',
    expiration  INTEGER,
    -- 1 when the resource comes from a config entry's `names` (a static resource).
    is_static   INTEGER NOT NULL DEFAULT 0
);
-- Acquire walks this index: (type, state, unowned) in least-recently-updated order.
CREATE INDEX IF NOT EXISTS resources_pick ON resources (type, state, owner, lastupdate, name);
-- Version 2: reset and metrics use a prefix of resources_pick; a second index on type
-- only cost one more WAL page per write (measured ~20% of a commit). Dropped.
DROP INDEX IF EXISTS resources_type;

CREATE TABLE IF NOT EXISTS drlcs (
    type  TEXT PRIMARY KEY NOT NULL,
    spec  TEXT NOT NULL  -- DynamicResourceLifeCycle as JSON
);

-- The request_id priority queue: FIFO per (type, state) by seq, entries lapse at expires_at.
CREATE TABLE IF NOT EXISTS requests (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    type        TEXT NOT NULL,
    state       TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    UNIQUE (type, state, request_id)
);
CREATE INDEX IF NOT EXISTS requests_queue ON requests (type, state, seq);
