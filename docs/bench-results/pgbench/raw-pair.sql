-- issue 15 raw baseline, one pgbench transaction = one acquire+release pair, each its own
-- autocommit statement: the acquire picks the least recently updated free row with
-- FOR UPDATE SKIP LOCKED and moves it to busy; the release moves it back.
UPDATE raw_resources SET owner = 'c' || :client_id, state = 'busy', lastupdate = (extract(epoch from clock_timestamp()) * 1000000)::bigint WHERE name = (SELECT name FROM raw_resources WHERE type = 'bench' AND state = 'free' AND owner = '' ORDER BY lastupdate, name LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING name AS got \gset
UPDATE raw_resources SET owner = '', state = 'free', lastupdate = (extract(epoch from clock_timestamp()) * 1000000)::bigint WHERE name = :got AND owner = 'c' || :client_id;
