-- issue 15 raw baseline: the setup of raw-pair.sql (a table without triggers, pool of 10,000,
-- the same pick index as mason's resources table).
DROP TABLE IF EXISTS raw_resources;
CREATE TABLE raw_resources (
    name TEXT PRIMARY KEY, type TEXT NOT NULL, state TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '', lastupdate BIGINT NOT NULL);
CREATE INDEX raw_pick ON raw_resources (type, state, owner, lastupdate, name);
INSERT INTO raw_resources SELECT 'res-' || g, 'bench', 'free', '', g FROM generate_series(1, 10000) g;
VACUUM ANALYZE raw_resources;
