//! Every statement that changes a resource row on PostgreSQL, and nothing else: the
//! grants, the ends of a lease, the touch, the inserts and the guarded writes of config
//! sync. The values come from [`crate::lease`]; every statement is a compare-and-set on
//! what the caller expects of the row, so zero rows means "not as expected", never a
//! silent overwrite.
//!
//! The hot paths are single statements (one round trip, their own transaction): an
//! acquire with nobody queued ahead ([`ACQUIRE_FIRST`]), a release, a heartbeat, a reset,
//! a batch of lease expiries ([`EXPIRE`]).
//! Every grant sets the same columns ([`grant_set!`], bind parameters `$3`–`$5`), and so
//! does every end of a lease ([`end_set!`], `$3`–`$4`): a column that every grant or end
//! of lease must set goes into those two fragments, and an `events` row or kept counts
//! written in the same transaction become a common table expression of these statements.
//!
//! **Acquire under concurrency.** The pick is
//! `… ORDER BY lastupdate, name LIMIT 1 [OFFSET k] FOR UPDATE SKIP LOCKED`, where `k` is
//! the number of live queue entries ahead of the caller (upstream's rank − 1; when it is
//! 0, the usual case, the statement has no offset at all and one round trip does the
//! whole acquire). With `SKIP LOCKED`, rows that another transaction holds are neither
//! counted by the offset nor returned, and the `k` rows walked past are locked by this
//! statement until it ends. So concurrent acquirers take different resources without
//! waiting on each other, and the offset is counted over the resources nobody else is
//! moving right now. The effect is conservative: a request never takes a resource
//! reserved for an older live request in the queue snapshot it read, but under
//! contention it may see "no resource" where a one-at-a-time execution would have served
//! it (it polls again, as every Boskos client does). The row is locked by the pick, so the
//! `UPDATE … WHERE owner = '' AND state = $2` that follows in the same statement cannot
//! lose; should it ever match nothing the caller just gets a 404 and polls again — a
//! resource is never given to two owners.

use deadpool_postgres::GenericClient;
use mason_types::{state, Resource, ResourceV2};

use super::error::PgResult;
use super::rows::{execute, query, query_opt, resource, resources};
use crate::lease::queue::RankKey;
use crate::lease::ttl;
use crate::lease::{EndOfLease, Grant, Tag, Touch};
use crate::rows::{encode_userdata, from_micros, resource_columns, to_micros};
use crate::rules::{FlagChange, RowGuard, StoredResource};
use crate::{
    AcquireByStateRequest, AcquireRequest, ExpiredLease, ReleaseRequest, ResetRequest,
    UpdateRequest,
};

/// The `SET` of every grant: `$3` the owner, `$4` the state, `$5` the time, a fresh
/// fencing generation from the store-wide sequence (see `lease/transition.rs`), the
/// history tag in parameter `$tag`, and the lease TTL (see `lease/ttl.rs`): the
/// request's (parameter `$ttl`, `NULL` for none) or else the type's stored policy, the
/// deadline `$5` + TTL, and the type's expired state. Each grant statement also sets
/// `holder` (the lease holder, `NULL` without authentication) from the parameter after
/// the tag.
macro_rules! grant_set {
    ($tag:literal, $ttl:literal) => {
        concat!(
            "owner = $3, state = $4, lastupdate = $5, generation = nextval('resource_generation'), ",
            tag_set!($tag),
            ", lease_ttl = coalesce(",
            $ttl,
            "::bigint, (SELECT ttl_us FROM lease_policies p WHERE p.type = resources.type)), \
             lease_deadline = $5 + coalesce(",
            $ttl,
            "::bigint, (SELECT ttl_us FROM lease_policies p WHERE p.type = resources.type)), \
             lease_expired_state = (SELECT expired_state FROM lease_policies p WHERE p.type = resources.type)"
        )
    };
}

/// What every end of a lease clears: its TTL, deadline and expired state; and what it
/// records: whose lease it ended, at which generation (the old row's values, of the
/// statement's `resources r`; see `lease/retry.rs`).
macro_rules! end_ttl_set {
    () => {
        "lease_ttl = NULL, lease_deadline = NULL, lease_expired_state = NULL, \
         ended_owner = r.owner, ended_generation = r.generation"
    };
}

/// The history tag of a grant or an end of lease (see `lease/tag.rs`): the `text[]`
/// parameter `$tag` holds kind, actor and request id ([`tag_param`]).
macro_rules! tag_set {
    ($tag:literal) => {
        concat!(
            "last_kind = (",
            $tag,
            "::text[])[1], last_actor = (",
            $tag,
            "::text[])[2], last_request_id = (",
            $tag,
            "::text[])[3]"
        )
    };
}

/// The `SET` of every end of a lease: unowned, `$3` the state, `$4` the time, a fresh
/// fencing generation, no holder (the triggers of migration 6 count it down), the
/// history tag in parameter `$tag`, and no lease TTL.
macro_rules! end_set {
    ($tag:literal) => {
        concat!(
            "owner = '', state = $3, lastupdate = $4, generation = nextval('resource_generation'), \
             holder = NULL, ",
            tag_set!($tag),
            ", ",
            end_ttl_set!()
        )
    };
}

/// Grant the least recently updated unlocked free resource of `$1` in `$2`, when nobody
/// is queued ahead (places ranked before priority `$7`, arrival `$6`: the caller's own
/// rank, or the last one without a request id; see `lease/queue.rs`). The queue check is an uncorrelated
/// `NOT EXISTS`, evaluated once; with a constant `LIMIT 1` and no `OFFSET` the planner
/// walks the `resources_pick` index whatever the pool size.
const ACQUIRE_FIRST: &str = concat!(
    "WITH picked AS ( \
        SELECT name AS pick FROM resources \
        WHERE type = $1 AND state = $2 AND owner = '' \
          AND NOT EXISTS (SELECT 1 FROM requests \
                          WHERE type = $1 AND state = $2 AND expires_at >= $5 \
                            AND (priority > $7 OR (priority = $7 AND coalesce(arrival, seq) < $6))) \
        ORDER BY lastupdate, name LIMIT 1 \
        FOR UPDATE SKIP LOCKED) \
    UPDATE resources SET ",
    grant_set!("$8", "$10"),
    ", holder = $9 FROM picked WHERE name = picked.pick AND owner = '' AND state = $2 RETURNING ",
    resource_columns!()
);

/// With `$6` live requests ahead: skip that many unlocked free resources (they are
/// reserved for the older requests) and grant the next. The offset is a bind parameter
/// rather than a subquery so the planner sees its value and keeps the index walk.
const ACQUIRE_RANKED: &str = concat!(
    "WITH picked AS ( \
        SELECT name AS pick FROM resources \
        WHERE type = $1 AND state = $2 AND owner = '' \
        ORDER BY lastupdate, name LIMIT 1 OFFSET $6 \
        FOR UPDATE SKIP LOCKED) \
    UPDATE resources SET ",
    grant_set!("$7", "$9"),
    ", holder = $8 FROM picked WHERE name = picked.pick AND owner = '' AND state = $2 RETURNING ",
    resource_columns!()
);

/// Grant every resource named in `$1` that is unowned in `$2`, held by `$6` (`$8` the
/// requested TTL).
const ACQUIRE_NAMED: &str = concat!(
    "UPDATE resources SET ",
    grant_set!("$6", "$8"),
    ", holder = $7 WHERE name = ANY($1) AND owner = '' AND state = $2 RETURNING ",
    resource_columns!()
);

/// Release `$1` held by `$2` (at generation `$5`, when not `NULL`; its deadline, if any,
/// not passed at `$4`), with the expiration rules of [`crate::lease::end`] over
/// the `drlcs` table (lifespan set → now + lifespan; pool without lifespan → unchanged;
/// no pool → cleared), so a release stays one statement.
const RELEASE: &str = concat!(
    "UPDATE resources r SET ",
    end_set!("$6"),
    ", expiration = (SELECT CASE WHEN d.type IS NULL THEN NULL \
                               WHEN d.lifespan_us IS NULL THEN r.expiration \
                               ELSE $4 + d.lifespan_us END \
                     FROM (SELECT 1) AS one LEFT JOIN drlcs d ON d.type = r.type) \
     WHERE r.name = $1 AND r.owner = $2 AND ($5::bigint IS NULL OR r.generation = $5) \
       AND (r.lease_deadline IS NULL OR r.lease_deadline > $4) \
     RETURNING ",
    resource_columns!()
);

/// End every lease of type `$1` in state `$2` idle since `$5`; returns each name and the
/// owner whose lease ended (`ended_owner`, set from the old row by [`end_set!`]). A
/// resource heartbeated concurrently is re-checked after its lock is released (PostgreSQL
/// re-evaluates the `WHERE` on the row's newest version) and stays leased.
///
/// One `UPDATE` over `resources_pick`. The stale rows used to be locked in a common table
/// expression and joined back to `resources` by name and owner; the planner estimated
/// that expression from the idle time alone, which a pool's many long-idle free rows
/// satisfy, hashed it and scanned the whole table against it: each reaper sweep that
/// found a few stale leases read every resource (2,086 pages for 51 leases among
/// 100,000 resources, against 823 pages this way).
pub(super) const RESET: &str = concat!(
    "UPDATE resources r SET ",
    end_set!("$6"),
    " WHERE r.type = $1 AND r.state = $2 AND r.owner <> '' AND r.lastupdate <= $5 \
    RETURNING r.name, r.ended_owner"
);

/// Touch `$1` held by `$2` in `$3` (at generation `$6`, when not `NULL`; its deadline, if
/// any, not passed at `$4`): `lastupdate` `$4`, user data `$5` (`NULL` keeps it), the
/// deadline `$4` + the lease's TTL. The generation stays.
const TOUCH: &str = concat!(
    "UPDATE resources SET lastupdate = $4, userdata = coalesce($5, userdata), \
       lease_deadline = $4 + lease_ttl \
     WHERE name = $1 AND owner = $2 AND state = $3 \
       AND ($6::bigint IS NULL OR generation = $6) \
       AND (lease_deadline IS NULL OR lease_deadline > $4) RETURNING ",
    resource_columns!()
);

/// End at most `$2` leases whose deadline is at or before `$1` (and not before `$5`, the
/// scan's floor, see `ttl.rs`), oldest first, at `$1` (see `lease/ttl.rs`). The due rows are locked with `SKIP LOCKED`, so replicas
/// expiring at once take different rows, and each row is ended only if it still has the
/// generation and the passed deadline it was picked with: every lease is ended, and
/// returned, by exactly one call. (The deadline is compared by equality: a range on `r`'s
/// deadline let the planner, with statistics from before the deadlines were set, drive the
/// join from the deadline index, a nested loop of batch × batch rows: 1.1 s for 400.) The state is the one stored at the grant (`$3` when
/// none was); the expiration date follows the release rules; `$4` is the history tag.
/// Returns, per lease: name, type, previous owner, previous state, new state, the
/// deadline, the new generation.
const EXPIRE: &str = concat!(
    "WITH due AS ( \
        SELECT name, owner, state, lease_deadline, generation FROM resources \
        WHERE lease_deadline <= $1 AND lease_deadline >= $5 \
        ORDER BY lease_deadline, name LIMIT $2 \
        FOR UPDATE SKIP LOCKED) \
    UPDATE resources r SET owner = '', \
        state = coalesce(nullif(r.lease_expired_state, ''), $3), lastupdate = $1, \
        generation = nextval('resource_generation'), holder = NULL, ",
    tag_set!("$4"),
    ", ",
    end_ttl_set!(),
    ", expiration = (SELECT CASE WHEN d.type IS NULL THEN NULL \
                               WHEN d.lifespan_us IS NULL THEN r.expiration \
                               ELSE $1 + d.lifespan_us END \
                     FROM (SELECT 1) AS one LEFT JOIN drlcs d ON d.type = r.type) \
    FROM due WHERE r.name = due.name AND r.generation = due.generation \
      AND r.lease_deadline = due.lease_deadline \
    RETURNING r.name, r.type, due.owner, due.state, r.state, due.lease_deadline, r.generation"
);

/// The earliest lease deadline not before `$1` (the first entry of the deadline index
/// from there).
const NEXT_DEADLINE: &str = "SELECT lease_deadline FROM resources \
    WHERE lease_deadline >= $1 ORDER BY lease_deadline LIMIT 1";

/// Insert new resources, skipping names that exist; returns the names inserted.
const INSERT: &str = "INSERT INTO resources \
        (name, type, state, owner, lastupdate, userdata, expiration, is_static) \
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                         $6::text[], $7::bigint[], $8::bool[]) \
    ON CONFLICT (name) DO NOTHING RETURNING name";

/// Delete the guarded rows still unowned and unchanged; returns their names.
const DELETE_GUARDED: &str = "DELETE FROM resources r \
    USING UNNEST($1::text[], $2::text[], $3::bigint[]) AS g(name, state, lastupdate) \
    WHERE r.name = g.name AND r.owner = '' AND r.state = g.state \
      AND r.lastupdate = g.lastupdate \
    RETURNING r.name";

/// Move the guarded rows still unowned and unchanged to `$4` at `$5`; returns their names.
const MARK_GUARDED: &str = "UPDATE resources r SET state = $4, lastupdate = $5 \
    FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS g(name, state, lastupdate) \
    WHERE r.name = g.name AND r.owner = '' AND r.state = g.state \
      AND r.lastupdate = g.lastupdate \
    RETURNING r.name";

/// Set the `is_static` flag of the named rows.
const SET_STATIC: &str = "UPDATE resources r SET is_static = f.is_static \
    FROM UNNEST($1::text[], $2::bool[]) AS f(name, is_static) WHERE r.name = f.name";

/// [`ACQUIRE_FIRST`]: `None` when nothing is free for this caller.
pub(super) async fn acquire_first<C: GenericClient>(
    c: &C,
    req: &AcquireRequest,
    grant: &Grant<'_>,
    rank: RankKey,
) -> PgResult<Option<ResourceV2>> {
    let tag = tag_param(&grant.tag);
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 10] = [
        &req.rtype,
        &req.state,
        &grant.owner,
        &grant.state,
        &grant.at,
        &rank.arrival,
        &rank.priority,
        &tag,
        &grant.holder,
        &grant.lease_ttl,
    ];
    query_opt(c, ACQUIRE_FIRST, &args)
        .await?
        .as_ref()
        .map(resource)
        .transpose()
}

/// [`ACQUIRE_RANKED`] with `ahead` requests ahead.
pub(super) async fn acquire_ranked<C: GenericClient>(
    c: &C,
    req: &AcquireRequest,
    grant: &Grant<'_>,
    ahead: i64,
) -> PgResult<Option<ResourceV2>> {
    let tag = tag_param(&grant.tag);
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
        &req.rtype,
        &req.state,
        &grant.owner,
        &grant.state,
        &grant.at,
        &ahead,
        &tag,
        &grant.holder,
        &grant.lease_ttl,
    ];
    query_opt(c, ACQUIRE_RANKED, &args)
        .await?
        .as_ref()
        .map(resource)
        .transpose()
}

/// [`ACQUIRE_NAMED`] over `names` (locked by the caller).
pub(super) async fn acquire_named<C: GenericClient>(
    c: &C,
    req: &AcquireByStateRequest,
    names: &[&str],
    grant: &Grant<'_>,
) -> PgResult<Vec<ResourceV2>> {
    grant_named(c, names, &req.state, grant).await
}

/// [`ACQUIRE_NAMED`]: grant the `names` unowned in `from` (locked by the caller).
pub(super) async fn grant_named<C: GenericClient>(
    c: &C,
    names: &[&str],
    from: &str,
    grant: &Grant<'_>,
) -> PgResult<Vec<ResourceV2>> {
    let rows = query(
        c,
        ACQUIRE_NAMED,
        &[
            &names,
            &from,
            &grant.owner,
            &grant.state,
            &grant.at,
            &tag_param(&grant.tag),
            &grant.holder,
            &grant.lease_ttl,
        ],
    )
    .await?;
    resources(&rows)
}

/// [`RELEASE`]: `None` when `req.owner` does not hold it.
pub(super) async fn release<C: GenericClient>(
    c: &C,
    req: &ReleaseRequest,
    end: &EndOfLease<'_>,
) -> PgResult<Option<ResourceV2>> {
    let generation = stored_generation(req.generation);
    let tag = tag_param(&end.tag);
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [
        &req.name,
        &req.owner,
        &end.state,
        &end.at,
        &generation,
        &tag,
    ];
    query_opt(c, RELEASE, &args)
        .await?
        .as_ref()
        .map(resource)
        .transpose()
}

/// [`RESET`] with leases idle since `cutoff`: name → previous owner of each.
pub(super) async fn reset<C: GenericClient>(
    c: &C,
    req: &ResetRequest,
    end: &EndOfLease<'_>,
    cutoff: i64,
) -> PgResult<Vec<(String, String)>> {
    let rows = query(
        c,
        RESET,
        &[
            &req.rtype,
            &req.state,
            &end.state,
            &end.at,
            &cutoff,
            &tag_param(&end.tag),
        ],
    )
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// [`TOUCH`]: `None` when `req.owner` does not hold it in `req.state`.
pub(super) async fn touch<C: GenericClient>(
    c: &C,
    req: &UpdateRequest,
    touch: &Touch,
) -> PgResult<Option<ResourceV2>> {
    let generation = stored_generation(req.generation);
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [
        &req.name,
        &req.owner,
        &req.state,
        &touch.at,
        &touch.userdata,
        &generation,
    ];
    query_opt(c, TOUCH, &args)
        .await?
        .as_ref()
        .map(resource)
        .transpose()
}

/// [`EXPIRE`] at `now` (stored microseconds) of deadlines from `floor` on, at most
/// `limit` leases, oldest deadline first.
pub(super) async fn expire<C: GenericClient>(
    c: &C,
    now: i64,
    limit: i64,
    floor: i64,
) -> PgResult<Vec<ExpiredLease>> {
    let tag = tag_param(&Tag::expire());
    let rows = query(
        c,
        EXPIRE,
        &[&now, &limit, &ttl::DEFAULT_EXPIRED_STATE, &tag, &floor],
    )
    .await?;
    let mut expired = rows
        .iter()
        .map(|r| {
            let generation: i64 = r.try_get(6)?;
            Ok(ExpiredLease {
                name: r.try_get(0)?,
                rtype: r.try_get(1)?,
                previous_owner: r.try_get(2)?,
                previous_state: r.try_get(3)?,
                state: r.try_get(4)?,
                deadline: from_micros(r.try_get(5)?),
                generation: u64::try_from(generation).unwrap_or_default(),
            })
        })
        .collect::<PgResult<Vec<_>>>()?;
    expired.sort_by(|a, b| (a.deadline, &a.name).cmp(&(b.deadline, &b.name)));
    Ok(expired)
}

/// [`NEXT_DEADLINE`]: the earliest deadline from `floor` on.
pub(super) async fn next_deadline<C: GenericClient>(c: &C, floor: i64) -> PgResult<Option<i64>> {
    Ok(match query_opt(c, NEXT_DEADLINE, &[&floor]).await? {
        Some(row) => row.try_get(0)?,
        None => None,
    })
}

/// [`INSERT`]: the names inserted (a name that exists is skipped).
pub(super) async fn insert<C: GenericClient>(
    c: &C,
    new: &[StoredResource],
) -> PgResult<Vec<String>> {
    let rs: Vec<&Resource> = new.iter().map(|n| &n.resource).collect();
    let userdata = rs
        .iter()
        .map(|r| encode_userdata(&r.userdata))
        .collect::<crate::Result<Vec<_>>>()?;
    let rows = query(
        c,
        INSERT,
        &[
            &rs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            &rs.iter().map(|r| r.rtype.as_str()).collect::<Vec<_>>(),
            &rs.iter().map(|r| r.state.as_str()).collect::<Vec<_>>(),
            &rs.iter().map(|r| r.owner.as_str()).collect::<Vec<_>>(),
            &rs.iter()
                .map(|r| to_micros(&r.lastupdate))
                .collect::<Vec<_>>(),
            &userdata,
            &rs.iter()
                .map(|r| r.expiration_date.as_ref().map(to_micros))
                .collect::<Vec<_>>(),
            &new.iter().map(|n| n.is_static).collect::<Vec<_>>(),
        ],
    )
    .await?;
    names(&rows)
}

/// [`DELETE_GUARDED`]: the names deleted.
pub(super) async fn delete_guarded<C: GenericClient>(
    c: &C,
    guards: &[RowGuard],
) -> PgResult<Vec<String>> {
    let (n, s, l) = guard_arrays(guards);
    names(&query(c, DELETE_GUARDED, &[&n, &s, &l]).await?)
}

/// [`MARK_GUARDED`] to `toBeDeleted` at `now`: the names marked.
pub(super) async fn mark_to_be_deleted<C: GenericClient>(
    c: &C,
    guards: &[RowGuard],
    now: i64,
) -> PgResult<Vec<String>> {
    let (n, s, l) = guard_arrays(guards);
    let rows = query(c, MARK_GUARDED, &[&n, &s, &l, &state::TO_BE_DELETED, &now]).await?;
    names(&rows)
}

/// [`SET_STATIC`].
pub(super) async fn set_static<C: GenericClient>(c: &C, changes: &[FlagChange]) -> PgResult<()> {
    let n: Vec<&str> = changes.iter().map(|f| f.name.as_str()).collect();
    let f: Vec<bool> = changes.iter().map(|f| f.is_static).collect();
    execute(c, SET_STATIC, &[&n, &f]).await?;
    Ok(())
}

/// A history tag as the `text[]` parameter of [`tag_set!`].
fn tag_param<'a>(tag: &Tag<'a>) -> Vec<Option<&'a str>> {
    vec![Some(tag.kind), Some(tag.actor), tag.request_id]
}

/// A caller's generation as stored (`BIGINT`); one beyond it matches no row.
fn stored_generation(generation: Option<u64>) -> Option<i64> {
    generation.map(|g| i64::try_from(g).unwrap_or(-1))
}

/// Column arrays of a list of row guards, for `UNNEST`.
fn guard_arrays(guards: &[RowGuard]) -> (Vec<&str>, Vec<&str>, Vec<i64>) {
    (
        guards.iter().map(|g| g.name.as_str()).collect(),
        guards.iter().map(|g| g.state.as_str()).collect(),
        guards.iter().map(|g| to_micros(&g.lastupdate)).collect(),
    )
}

/// The first column of every row, as names.
fn names(rows: &[tokio_postgres::Row]) -> PgResult<Vec<String>> {
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
