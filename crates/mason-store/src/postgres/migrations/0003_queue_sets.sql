-- Migration 3 (issue 12): the request queue ranks by priority then arrival and reserves
-- counts (lease/queue.rs), and every replica hears "resources may be available".
-- A place's priority and how many resources of its (type, state) it wants; `arrival`
-- is shared by every place of one set (NULL: the place's own seq).
ALTER TABLE requests
    ADD COLUMN priority INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN wanted   INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN arrival  BIGINT;
CREATE INDEX requests_by_id ON requests (request_id);

-- Unowned resources appeared (release, reset, expiry, a new resource): notify on commit,
-- once per (type, state) and transaction, on channel mason_availability with payload
-- "<type>\t<state>" (postgres/listener.rs). Grants and heartbeats leave an owner and
-- notify nobody.
CREATE FUNCTION mason_resource_available() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mason_availability', NEW.type || E'\t' || NEW.state);
    RETURN NULL;
END
$$;
CREATE TRIGGER resources_available
    AFTER INSERT OR UPDATE OF owner, state ON resources
    FOR EACH ROW WHEN (NEW.owner = '')
    EXECUTE FUNCTION mason_resource_available();
