//! Kept counts on PostgreSQL: how many resources each (type, state, owner) group holds,
//! in the `resource_counts` table (migration 5), kept by triggers on `resources` inside
//! every writing transaction (statement-level since migration 7: one write per count row
//! and statement, in key order, however many rows the statement moved). Every replica therefore reads the same committed numbers,
//! a restart finds them in the table, and `GET /metric`, the Prometheus gauges and the
//! `/api/v2` counts read a handful of rows (`reads.rs`) instead of the pool.
//!
//! Triggers rather than extra statements next to each write: they cover every writer
//! (lease transitions, config sync, import, a `TRUNCATE`) without touching the write
//! statements, and cost no extra round trip. Each group is split over 64 shards chosen by
//! a hash of the resource's name, so eight clients leasing from one pool update
//! different rows (one hot "free" row would serialise every commit behind its row lock);
//! a resource always lands in the same shard, so each shard's count stays exact and
//! non-negative, and a read sums the shards. What this costs a commit is in
//! docs/benchmarks.md ("Kept counts").
//!
//! Rows whose count fell to zero stay in place (an in-place update of the next lease is
//! cheaper than a delete now and an insert then); [`prune`] removes them after each
//! periodic sync, so the table's size follows the groups in use, not the owners ever seen.

use deadpool_postgres::Object;

/// Remove groups that no resource is in any more. Best effort (the sync has committed):
/// a failure is logged and the rows are retried at the next sync.
pub(super) async fn prune(client: &Object) {
    if let Err(e) = client
        .execute("DELETE FROM resource_counts WHERE n = 0", &[])
        .await
    {
        tracing::warn!(error = %e, "could not prune empty kept counts");
    }
}
