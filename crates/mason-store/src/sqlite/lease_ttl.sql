-- Lease TTLs (issue 12, added within schema version 4; applied on every open, after the
-- columns migrate.rs adds, so a file written by an earlier version-4 build gets them).
-- See lease/ttl.rs for the rules.

-- The lease policy of every type in the config, replaced by each config sync, so every
-- grant resolves its TTL from the database: `ttl_us` NULL = no TTL.
CREATE TABLE IF NOT EXISTS lease_policies (
    type           TEXT PRIMARY KEY NOT NULL,
    ttl_us         INTEGER,
    expired_state  TEXT NOT NULL
);
-- Expiry and the next deadline walk this index, which holds only the leases that have a
-- deadline: a lease without a TTL never touches it, and its cost does not depend on the
-- size of the pool.
CREATE INDEX IF NOT EXISTS resources_by_lease_deadline ON resources (lease_deadline, name)
    WHERE lease_deadline IS NOT NULL;
