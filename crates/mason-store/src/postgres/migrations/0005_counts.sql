-- Migration 5: kept counts. resource_counts holds how many resources each
-- (type, state, owner) group has, kept by triggers on resources in the same transaction
-- as every insert, update and delete, so every replica reads the same committed numbers
-- and /metric, /metrics and the /api/v2 counts never scan the pool (see counts.rs).
--
-- Each group is split over 64 shards by a hash of the resource's name: concurrent
-- transitions of different resources then mostly update different rows instead of all
-- queueing on the lock of one hot row (say the pool's "free" group), and a resource
-- always lands on the same shard, so no shard's count ever goes below zero. A read sums
-- the shards. Rows that fall to zero stay (an in-place update is cheaper than a delete and
-- an insert on every lease) and are pruned by the periodic sync.
CREATE TABLE resource_counts (
    type   TEXT NOT NULL,
    state  TEXT NOT NULL,
    owner  TEXT NOT NULL,
    shard  SMALLINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (type, state, owner, shard)
);

-- No other transaction may write resources between the snapshot counted below and the
-- triggers taking effect at commit.
LOCK TABLE resources IN SHARE ROW EXCLUSIVE MODE;

-- The shard of a resource.
CREATE FUNCTION mason_count_shard(name TEXT) RETURNS SMALLINT
LANGUAGE sql IMMUTABLE AS $$ SELECT (hashtext(name) & 63)::SMALLINT $$;

-- Row trigger: move the row between groups, one statement per row. An update takes its
-- two group rows in one fixed order (by key), so two transitions in opposite directions
-- (an acquire and a release between the same groups) never wait on each other in a
-- cycle.
CREATE FUNCTION mason_count_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO resource_counts AS c (type, state, owner, shard, n)
        VALUES (NEW.type, NEW.state, NEW.owner, mason_count_shard(NEW.name), 1)
        ON CONFLICT (type, state, owner, shard) DO UPDATE SET n = c.n + 1;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO resource_counts AS c (type, state, owner, shard, n)
        VALUES (OLD.type, OLD.state, OLD.owner, mason_count_shard(OLD.name), -1)
        ON CONFLICT (type, state, owner, shard) DO UPDATE SET n = c.n - 1;
    ELSIF (OLD.type, OLD.state, OLD.owner) < (NEW.type, NEW.state, NEW.owner) THEN
        INSERT INTO resource_counts AS c (type, state, owner, shard, n)
        VALUES (OLD.type, OLD.state, OLD.owner, mason_count_shard(OLD.name), -1),
               (NEW.type, NEW.state, NEW.owner, mason_count_shard(NEW.name), 1)
        ON CONFLICT (type, state, owner, shard) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO resource_counts AS c (type, state, owner, shard, n)
        VALUES (NEW.type, NEW.state, NEW.owner, mason_count_shard(NEW.name), 1),
               (OLD.type, OLD.state, OLD.owner, mason_count_shard(OLD.name), -1)
        ON CONFLICT (type, state, owner, shard) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER resources_count_insert AFTER INSERT ON resources
    FOR EACH ROW EXECUTE FUNCTION mason_count_row();
CREATE TRIGGER resources_count_delete AFTER DELETE ON resources
    FOR EACH ROW EXECUTE FUNCTION mason_count_row();
-- Only updates that move a row to another group (a heartbeat does not). Names never
-- change.
CREATE TRIGGER resources_count_update AFTER UPDATE OF type, state, owner ON resources
    FOR EACH ROW
    WHEN ((OLD.type, OLD.state, OLD.owner) IS DISTINCT FROM (NEW.type, NEW.state, NEW.owner))
    EXECUTE FUNCTION mason_count_row();

-- Emptying the table empties the counts.
CREATE FUNCTION mason_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM resource_counts;
    RETURN NULL;
END
$$;
CREATE TRIGGER resources_count_truncate AFTER TRUNCATE ON resources
    FOR EACH STATEMENT EXECUTE FUNCTION mason_count_truncate();

-- The counts of what is already there.
INSERT INTO resource_counts (type, state, owner, shard, n)
SELECT type, state, owner, mason_count_shard(name), count(*)
FROM resources GROUP BY 1, 2, 3, 4;
