-- Mason's SQLite schema, version 4 (applied idempotently over versions 1 to 3; the
-- columns added since version 3 are added by migrate.rs).
-- Timestamps are microseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS resources (
    name        TEXT PRIMARY KEY NOT NULL,
    type        TEXT NOT NULL,
    state       TEXT NOT NULL,
    owner       TEXT NOT NULL DEFAULT '',
    lastupdate  INTEGER NOT NULL,
    userdata    TEXT NOT NULL DEFAULT '{}',
    expiration  INTEGER,
    -- 1 when the resource comes from a config entry's `names` (a static resource).
    is_static   INTEGER NOT NULL DEFAULT 0,
    -- Version 4: the fencing generation, fresh on every grant and end of lease (see
    -- lease/transition.rs); 0 for a resource never granted.
    generation  INTEGER NOT NULL DEFAULT 0
);
-- Version 3: no index on state, owner or lastupdate. Every acquire and release changes
-- those columns, and each index holding them cost one more WAL page per commit (most of
-- a commit's cost); the acquire order is kept in memory instead (free_index.rs). The
-- index on type alone is never touched by a lease transition and serves the per-type
-- queries (reset, metric, the acquire's "does this type exist").
DROP INDEX IF EXISTS resources_pick;
DROP INDEX IF EXISTS resources_type;
CREATE INDEX IF NOT EXISTS resources_by_type ON resources (type);

CREATE TABLE IF NOT EXISTS drlcs (
    type  TEXT PRIMARY KEY NOT NULL,
    spec  TEXT NOT NULL  -- DynamicResourceLifeCycle as JSON
);

-- The request_id priority queue: per (type, state), ranked by priority then arrival
-- (coalesce(arrival, seq)); entries lapse at expires_at.
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
-- (The columns priority, wanted and arrival of a place, and the index by request id that
-- finds a set's places, are added by migrate.rs.)

-- Version 4: store-wide values. `generation_floor`: no generation at or below it may be
-- given out again (written when rows are deleted, since their generations leave the
-- table; see generations.rs).
CREATE TABLE IF NOT EXISTS store_meta (
    key    TEXT PRIMARY KEY NOT NULL,
    value  INTEGER NOT NULL
);
