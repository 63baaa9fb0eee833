-- Issue 15, 2026-12-03: what each of mason's triggers costs the pair of mason-pair.sql.
-- Each variant is a copy of a database a `mason bench` has migrated and loaded
-- (CREATE DATABASE tr_X TEMPLATE mason_bench_main), changed as below, then loaded with
-- pgbench -M prepared -f mason-pair.sql, interleaved with raw-pair.sql on mason_raw.
--
-- tr_full:     unchanged.
-- tr_nonotify: DROP TRIGGER resources_available ON resources;
-- tr_nocounts: tr_nonotify and DROP TRIGGER resources_counts_update ON resources;
-- tr_bare:     tr_nocounts and DROP TRIGGER events_on_change ON resources;
--
-- tr_delta: the kept counts as an append-only log written by a row trigger (no count row
-- updated, so no row lock taken); a reader would sum resource_counts and count_deltas, and
-- a periodic pass would fold the log into resource_counts (neither was built).
--   DROP TRIGGER resources_counts_update ON resources;
CREATE TABLE count_deltas (type text NOT NULL, state text NOT NULL, owner text NOT NULL,
                           d bigint NOT NULL);
CREATE FUNCTION mason_count_delta() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO count_deltas VALUES (OLD.type, OLD.state, OLD.owner, -1),
                                    (NEW.type, NEW.state, NEW.owner, 1);
    RETURN NULL;
END $$;
CREATE TRIGGER resources_count_delta AFTER UPDATE OF type, state, owner ON resources
    FOR EACH ROW
    WHEN ((OLD.type, OLD.state, OLD.owner) IS DISTINCT FROM (NEW.type, NEW.state, NEW.owner))
    EXECUTE FUNCTION mason_count_delta();
--
-- tr_deltah: tr_delta plus a statement trigger keeping holder_counts as migration 7 does
-- (the holder half of mason_count_statement, on its own).
--
-- tr_sdelta: migration 7's statement trigger kept, its UPDATE branch writing the kept
-- counts' changes to count_deltas (one row per group and statement) instead of upserting
-- resource_counts; the holder counts as before.
