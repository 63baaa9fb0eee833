//! Lease holders' counts on PostgreSQL (per-user quotas, see [`crate::lease::quota`]):
//! the count a grant checks, read inside the grant's transaction *and locked* until it
//! commits. Every grant of one holder and type (on any replica) takes the same row lock
//! first, so they run one after the other and each reads the count its predecessors
//! committed. The counts themselves are kept by the statement triggers of migration 7
//! (migration 6 created the table); those fire at the end of each statement, after the
//! statement's resource rows are locked, and write the holders' counts before the kept
//! counts, each in key order, so statements never wait on each other's count rows in a
//! cycle.

use deadpool_postgres::GenericClient;

use super::error::PgResult;
use super::rows::query_opt;
use crate::lease::quota::Quota;
use crate::Result;

/// Create the count row when missing and lock it; returns the count as last committed
/// (an `ON CONFLICT DO UPDATE` waits for a concurrent writer of the row, then sees its
/// committed value, where a plain read would see an older snapshot).
const LOCK_COUNT: &str = "INSERT INTO holder_counts AS c (holder, type, held) VALUES ($1, $2, 0) \
    ON CONFLICT (holder, type) DO UPDATE SET held = c.held RETURNING held";

/// Check `quota` for `asked` more leases, locking the holder's count for the rest of the
/// transaction. The outer result is the database's, the inner one the caller's.
pub(super) async fn check<C: GenericClient>(
    c: &C,
    quota: &Quota<'_>,
    asked: u32,
) -> PgResult<Result<()>> {
    let held: i64 = match query_opt(c, LOCK_COUNT, &[&quota.holder, &quota.rtype]).await? {
        Some(row) => row.try_get(0)?,
        None => 0,
    };
    Ok(quota.check(held, asked))
}
