//! Every statement that changes a resource row on SQLite, and nothing else: the grant,
//! the end of a lease, the touch, and the guarded writes of config sync. Each reports
//! the row it wrote to the transaction (for the in-memory acquire order).
//!
//! The values come from [`crate::lease`]; every statement is a compare-and-set on what
//! the caller expects of the row, so zero rows means "not as expected", never a silent
//! overwrite. A column that every grant or end of lease must set (see the lease layer's
//! docs) is added to [`grant`] and [`end_lease`] here, and an `events` row or kept
//! counts are written next to them, in the same transaction.

use mason_types::{state, ResourceV2};
use rusqlite::{params, Connection, ToSql};

use super::rows::one_resource;
use super::txn::Ctx;
use crate::lease::end::Expiration;
use crate::lease::{EndOfLease, Grant, Touch};
use crate::rows::{encode_userdata, resource_columns, to_micros};
use crate::rules::{FlagChange, RowGuard, StoredResource};
use crate::Result;

/// The lease-TTL columns of every grant (see `lease/ttl.rs`): the TTL is the request's
/// (`?12`, `NULL` for none) or else the type's stored policy, the deadline grant time
/// (`?3`) + TTL, and the type's expired state is kept for the expiry.
macro_rules! grant_ttl_set {
    () => {
        "lease_ttl = coalesce(?12, (SELECT ttl_us FROM lease_policies p WHERE p.type = resources.type)), \
         lease_deadline = ?3 + coalesce(?12, (SELECT ttl_us FROM lease_policies p WHERE p.type = resources.type)), \
         lease_expired_state = (SELECT expired_state FROM lease_policies p WHERE p.type = resources.type)"
    };
}

/// Every end of a lease: owner `''`, state `?1`, last update `?2`, the expiration kept
/// (`?3`) or set to `?4`, generation `?5`, history tag `?6`–`?8`, no holder, and no TTL,
/// deadline, expired state or slack ([`super::slack`]); whose lease it ended, at which generation (the old row's
/// values, see `lease/retry.rs`); on the row `$matching` selects (its parameters from `?9`).
macro_rules! end_lease_sql {
    ($matching:literal) => {
        concat!(
            "UPDATE resources SET owner = '', state = ?1, lastupdate = ?2, \
             expiration = CASE WHEN ?3 THEN expiration ELSE ?4 END, generation = ?5, \
             last_kind = ?6, last_actor = ?7, last_request_id = ?8, holder = NULL, \
             lease_ttl = NULL, lease_deadline = NULL, lease_expired_state = NULL, \
             ended_owner = owner, ended_generation = generation, slack = NULL \
             WHERE ",
            $matching,
            " RETURNING ",
            resource_columns!()
        )
    };
}

/// Grant `name` (of `rtype`, unowned, in `from`), clearing its slack ([`super::slack`]).
/// `None` when it is not (any more).
pub(super) fn grant(
    tx: &Connection,
    ctx: &Ctx<'_>,
    name: &str,
    rtype: &str,
    from: &str,
    grant: &Grant<'_>,
) -> Result<Option<ResourceV2>> {
    let mut stmt = tx.prepare_cached(concat!(
        "UPDATE resources SET owner = ?1, state = ?2, lastupdate = ?3, generation = ?7, \
         last_kind = ?8, last_actor = ?9, last_request_id = ?10, holder = ?11, slack = NULL, ",
        grant_ttl_set!(),
        " WHERE name = ?4 AND type = ?5 AND owner = '' AND state = ?6 RETURNING ",
        resource_columns!()
    ))?;
    let granted = one_resource(
        &mut stmt,
        params![
            grant.owner,
            grant.state,
            grant.at,
            name,
            rtype,
            from,
            ctx.next_generation(),
            grant.tag.kind,
            grant.tag.actor,
            grant.tag.request_id,
            grant.holder,
            grant.lease_ttl
        ],
    )?;
    if let Some(r) = &granted {
        ctx.wrote(&r.resource);
    }
    Ok(granted)
}

/// Every grant and end of lease gives the row a fresh generation from the store's
/// counter ([`Ctx::next_generation`]); a grant records its holder, an end clears it (the
/// triggers of `holders.sql` keep the holders' counts).
///
/// End `owner`'s lease on `name` (which must be in `from`, when given), doing
/// `expiration` to its expiration date. `None` when `owner` does not hold it (in that
/// state).
pub(super) fn end_lease(
    tx: &Connection,
    ctx: &Ctx<'_>,
    name: &str,
    owner: &str,
    from: Option<&str>,
    end: &EndOfLease<'_>,
    expiration: Expiration,
) -> Result<Option<ResourceV2>> {
    let sql = end_lease_sql!("name = ?9 AND owner = ?10 AND (?11 IS NULL OR state = ?11)");
    end_matching(tx, ctx, sql, end, expiration, &[&name, &owner, &from])
}

/// End the lease on `name` whose deadline passed (see `lease/ttl.rs`): only if it still
/// has generation `generation` and a deadline at or before `end.at`. `None` otherwise.
pub(super) fn expire_lease(
    tx: &Connection,
    ctx: &Ctx<'_>,
    name: &str,
    generation: i64,
    end: &EndOfLease<'_>,
    expiration: Expiration,
) -> Result<Option<ResourceV2>> {
    let sql = end_lease_sql!("name = ?9 AND generation = ?10 AND lease_deadline <= ?2");
    end_matching(tx, ctx, sql, end, expiration, &[&name, &generation])
}

/// Run an `end_lease_sql!` statement with `matching` as its parameters from `?9`.
fn end_matching(
    tx: &Connection,
    ctx: &Ctx<'_>,
    sql: &'static str,
    end: &EndOfLease<'_>,
    expiration: Expiration,
    matching: &[&dyn ToSql],
) -> Result<Option<ResourceV2>> {
    let (keep_expiration, expiration) = expiration.as_params();
    let generation = ctx.next_generation();
    let mut stmt = tx.prepare_cached(sql)?;
    let mut values: Vec<&dyn ToSql> = vec![
        &end.state,
        &end.at,
        &keep_expiration,
        &expiration,
        &generation,
        &end.tag.kind,
        &end.tag.actor,
        &end.tag.request_id,
    ];
    values.extend_from_slice(matching);
    let ended = one_resource(&mut stmt, values.as_slice())?;
    if let Some(r) = &ended {
        ctx.wrote(&r.resource);
    }
    Ok(ended)
}

/// Touch `name`, held by `owner` in `state`, moving a lease's deadline to the touch
/// time + its TTL. `None` when it is not so held, or its deadline passed.
pub(super) fn touch(
    tx: &Connection,
    ctx: &Ctx<'_>,
    name: &str,
    owner: &str,
    state: &str,
    touch: &Touch,
) -> Result<Option<ResourceV2>> {
    let mut stmt = tx.prepare_cached(concat!(
        "UPDATE resources SET lastupdate = ?1, userdata = coalesce(?2, userdata), \
         lease_deadline = ?1 + lease_ttl \
         WHERE name = ?3 AND owner = ?4 AND state = ?5 \
           AND (lease_deadline IS NULL OR lease_deadline > ?1) RETURNING ",
        resource_columns!()
    ))?;
    let touched = one_resource(
        &mut stmt,
        params![touch.at, touch.userdata, name, owner, state],
    )?;
    if let Some(r) = &touched {
        ctx.wrote(&r.resource);
    }
    Ok(touched)
}

/// Insert a new resource row, with the room its first lease will fill ([`super::slack`]).
pub(super) fn insert(tx: &Connection, ctx: &Ctx<'_>, new: &StoredResource) -> Result<()> {
    let r = &new.resource;
    tx.prepare_cached(
        "INSERT INTO resources (name, type, state, owner, lastupdate, userdata, expiration, is_static, \
         slack) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, zeroblob(?9))",
    )?
    .execute(params![
        r.name,
        r.rtype,
        r.state,
        r.owner,
        to_micros(&r.lastupdate),
        encode_userdata(&r.userdata)?,
        r.expiration_date.as_ref().map(to_micros),
        new.is_static,
        super::slack::SLACK_BYTES,
    ])?;
    ctx.wrote(r);
    Ok(())
}

/// Delete the row `guard` names if it is still unowned and unchanged; whether it was.
pub(super) fn delete_guarded(tx: &Connection, ctx: &Ctx<'_>, guard: &RowGuard) -> Result<bool> {
    ctx.deleting_rows(tx)?;
    let deleted = tx
        .prepare_cached(
            "DELETE FROM resources WHERE name = ?1 AND owner = '' AND state = ?2 AND lastupdate = ?3",
        )?
        .execute(params![guard.name, guard.state, to_micros(&guard.lastupdate)])?;
    // Deletions are not patched into the acquire order one by one.
    ctx.reload_after_commit();
    Ok(deleted == 1)
}

/// Move the row `guard` names to `toBeDeleted` if it is still unowned and unchanged;
/// whether it was.
pub(super) fn mark_to_be_deleted(tx: &Connection, ctx: &Ctx<'_>, guard: &RowGuard) -> Result<bool> {
    let mut stmt = tx.prepare_cached(concat!(
        "UPDATE resources SET state = ?1, lastupdate = ?2 \
         WHERE name = ?3 AND owner = '' AND state = ?4 AND lastupdate = ?5 RETURNING ",
        resource_columns!()
    ))?;
    let marked = one_resource(
        &mut stmt,
        params![
            state::TO_BE_DELETED,
            to_micros(&ctx.now),
            guard.name,
            guard.state,
            to_micros(&guard.lastupdate)
        ],
    )?;
    if let Some(r) = &marked {
        ctx.wrote(&r.resource);
    }
    Ok(marked.is_some())
}

/// Set a resource's `is_static` flag (bookkeeping: `lastupdate` stays).
pub(super) fn set_static(tx: &Connection, change: &FlagChange) -> Result<()> {
    tx.prepare_cached("UPDATE resources SET is_static = ?1 WHERE name = ?2")?
        .execute(params![change.is_static, change.name])?;
    Ok(())
}
