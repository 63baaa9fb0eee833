-- Mason's PostgreSQL schema, migration 1. Timestamps are microseconds since the Unix
-- epoch (BIGINT), exactly like the SQLite backend, so both round-trip the same values.

CREATE TABLE resources (
    name        TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    state       TEXT NOT NULL,
    owner       TEXT NOT NULL DEFAULT '',
    lastupdate  BIGINT NOT NULL,
    -- UserData as JSON text (TEXT, not JSONB, so it round-trips byte for byte).
    userdata    TEXT NOT NULL DEFAULT '{}',
    expiration  BIGINT,
    -- true when the resource comes from a config entry's `names` (a static resource).
    is_static   BOOLEAN NOT NULL DEFAULT false
);
-- Acquire walks this index: (type, state, unowned) in least-recently-updated order.
-- It also serves every other lookup by type (reset, metrics, "does the type exist"), so
-- there is deliberately no second index on type: with fresh, unanalysed statistics the
-- planner could otherwise pick that one for acquire and sort the whole pool.
CREATE INDEX resources_pick ON resources (type, state, owner, lastupdate, name);

CREATE TABLE drlcs (
    type         TEXT PRIMARY KEY,
    -- DynamicResourceLifeCycle as JSON.
    spec         TEXT NOT NULL,
    -- The spec's lifespan in microseconds (NULL = none), so release computes the
    -- expiration date inside its single UPDATE statement.
    lifespan_us  BIGINT
);

-- The request_id priority queue, shared by every replica: FIFO per (type, state) by seq;
-- entries lapse at expires_at.
CREATE TABLE requests (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type        TEXT NOT NULL,
    state       TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    UNIQUE (type, state, request_id)
);
CREATE INDEX requests_queue ON requests (type, state, seq);
