-- Lease TTLs (issue 12, store schema v4; applied on every start inside the migration
-- transaction, after the columns migrate.rs adds, so it is idempotent and needs no
-- migration number). See lease/ttl.rs for the rules.

-- The lease policy of every type in the config, replaced by each config sync, so every
-- replica resolves the same TTL at a grant: `ttl_us` NULL = no TTL.
CREATE TABLE IF NOT EXISTS lease_policies (
    type           TEXT PRIMARY KEY,
    ttl_us         BIGINT,
    expired_state  TEXT NOT NULL
);
-- Expiry and the next deadline walk this index, which holds only the leases that have a
-- deadline: a lease without a TTL never touches it, and the cost of expiry does not
-- depend on the size of the pool.
CREATE INDEX IF NOT EXISTS resources_by_lease_deadline ON resources (lease_deadline, name)
    WHERE lease_deadline IS NOT NULL;
