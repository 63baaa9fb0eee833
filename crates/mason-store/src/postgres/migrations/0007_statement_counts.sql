-- Migration 7 (issue 12 at scale): the kept counts of migrations 5 and 6 written once per
-- statement, in one fixed key order, instead of once per row.
--
-- A statement that moves many rows (an /acquirebystate of 100 names, a batch of lease
-- expiries, a reset) fired the row triggers once per row, and each row upserted its count
-- rows in the order the rows came. Two such statements running at once could take the
-- same count rows in opposite orders and deadlock (four concurrent grants of 100 names
-- each did, again and again), and 100 rows cost 100 upserts of each count table.
--
-- The statement-level triggers below see every changed row at once (transition tables),
-- add the changes up per count row (a row whose group did not change nets to zero and
-- touches nothing: a heartbeat writes no count), and write each count row once, in key
-- order: first the holders' counts, then the kept counts, as the row triggers did (they
-- fired in name order, holder_counts_* before resources_count_*, and a quota check locks
-- its holder's count before its grant). So every statement takes its count locks in one
-- global order and no two statements wait on each other's count rows in a cycle.
-- Transition tables cannot be combined with a column list, so the UPDATE trigger runs
-- after every UPDATE of `resources`; one that moves no row between groups writes nothing.

DROP TRIGGER resources_count_insert ON resources;
DROP TRIGGER resources_count_delete ON resources;
DROP TRIGGER resources_count_update ON resources;
DROP TRIGGER holder_counts_insert ON resources;
DROP TRIGGER holder_counts_delete ON resources;
DROP TRIGGER holder_counts_update ON resources;
DROP FUNCTION mason_count_row();
DROP FUNCTION mason_count_holders();

CREATE FUNCTION mason_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO holder_counts AS c (holder, type, held)
        SELECT holder, type, count(*) FROM new_rows WHERE holder IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (holder, type) DO UPDATE SET held = c.held + excluded.held;
        INSERT INTO resource_counts AS c (type, state, owner, shard, n)
        SELECT type, state, owner, mason_count_shard(name), count(*) FROM new_rows
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (type, state, owner, shard) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO holder_counts AS c (holder, type, held)
        SELECT holder, type, -count(*) FROM old_rows WHERE holder IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (holder, type) DO UPDATE SET held = c.held + excluded.held;
        INSERT INTO resource_counts AS c (type, state, owner, shard, n)
        SELECT type, state, owner, mason_count_shard(name), -count(*) FROM old_rows
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (type, state, owner, shard) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO holder_counts AS c (holder, type, held)
        SELECT holder, type, sum(d) FROM (
            SELECT holder, type, -1 AS d FROM old_rows WHERE holder IS NOT NULL
            UNION ALL
            SELECT holder, type, 1 FROM new_rows WHERE holder IS NOT NULL) AS moved
        GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2
        ON CONFLICT (holder, type) DO UPDATE SET held = c.held + excluded.held;
        INSERT INTO resource_counts AS c (type, state, owner, shard, n)
        SELECT type, state, owner, shard, sum(d) FROM (
            SELECT type, state, owner, mason_count_shard(name) AS shard, -1 AS d FROM old_rows
            UNION ALL
            SELECT type, state, owner, mason_count_shard(name), 1 FROM new_rows) AS moved
        GROUP BY 1, 2, 3, 4 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (type, state, owner, shard) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER resources_counts_insert AFTER INSERT ON resources
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mason_count_statement();
CREATE TRIGGER resources_counts_delete AFTER DELETE ON resources
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mason_count_statement();
CREATE TRIGGER resources_counts_update AFTER UPDATE ON resources
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mason_count_statement();
