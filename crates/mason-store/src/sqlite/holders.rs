//! Lease holders' counts on SQLite (per-user quotas, see [`crate::lease::quota`]): the
//! count a grant checks, read inside the grant's transaction. The one connection runs
//! every write in turn, so what it reads cannot change before the grant commits. The
//! counts themselves are kept by the triggers of `holders.sql`.

use rusqlite::{params, Connection, OptionalExtension};

use crate::lease::quota::Quota;
use crate::Result;

/// Check `quota` for `asked` more leases, with the holder's count as this transaction
/// sees it.
pub(super) fn check(tx: &Connection, quota: &Quota<'_>, asked: u32) -> Result<()> {
    let held: Option<i64> = tx
        .prepare_cached("SELECT held FROM holder_counts WHERE holder = ?1 AND type = ?2")?
        .query_row(params![quota.holder, quota.rtype], |r| r.get(0))
        .optional()?;
    quota.check(held.unwrap_or(0), asked)
}
