//! Release, update and reset on PostgreSQL: the calls on resources someone holds. The
//! common cases are one conditional statement each (see [`super::writes`]); only when it
//! matches nothing is the row read, to let the lease layer say why.

use std::collections::BTreeMap;

use deadpool_postgres::Object;
use mason_types::ResourceV2;

use super::error::PgResult;
use super::rows::{get_resource, query_opt, Lock};
use super::txn::Ctx;
use super::writes;
use crate::lease::end::reset_cutoff;
use crate::lease::retry::{self, ReleaseCheck, ReleaseRow};
use crate::lease::transition::{expect_held, held};
use crate::lease::{EndOfLease, Tag, Touch};
use crate::{Error, ReleaseRequest, ResetRequest, UpdateRequest};

/// How often a transition re-runs after losing a race it can detect (a compare-and-set
/// that matched no row although the checks say it should have: the row changed between
/// the two statements).
const CAS_ATTEMPTS: usize = 8;

/// SPEC §4.4 in one statement (the expiration rules are part of it). When it matches
/// nothing, the row is read to say why, or to answer a repeat of the last release with
/// the row as it is (`lease/retry.rs`).
pub(super) async fn release(
    client: &mut Object,
    ctx: &Ctx,
    req: &ReleaseRequest,
) -> PgResult<ResourceV2> {
    let end = EndOfLease::new(&req.dest, ctx.now).tagged(Tag::release(req));
    for _ in 0..CAS_ATTEMPTS {
        if let Some(released) = writes::release(&*client, req, &end).await? {
            return Ok(released);
        }
        let current = query_opt(
            &*client,
            "SELECT owner, state, generation, lease_deadline, \
                    last_kind, ended_owner, ended_generation, lastupdate \
             FROM resources WHERE name = $1",
            &[&req.name],
        )
        .await?;
        let current = current
            .map(|row| {
                Ok::<_, tokio_postgres::Error>(ReleaseRow {
                    owner: row.try_get(0)?,
                    state: row.try_get(1)?,
                    generation: row.try_get(2)?,
                    deadline: row.try_get(3)?,
                    kind: row.try_get(4)?,
                    ended_owner: row.try_get(5)?,
                    ended_generation: row.try_get(6)?,
                    at: row.try_get(7)?,
                })
            })
            .transpose()?;
        if retry::check_release(req, current.as_ref(), end.at)? == ReleaseCheck::Repeat {
            return get_resource(&*client, &req.name, Lock::None)
                .await?
                .ok_or_else(|| Error::ResourceNotFound(req.name.clone()).into());
        }
        // It became the caller's between the two statements: try again.
    }
    Err(Error::backend(format!("release of {} kept racing", req.name)).into())
}

/// SPEC §4.5. A heartbeat without user data is one conditional statement; a user-data
/// merge locks the row, merges and writes it back in one transaction.
pub(super) async fn update(
    client: &mut Object,
    ctx: &Ctx,
    req: &UpdateRequest,
) -> PgResult<ResourceV2> {
    if req.userdata.is_none() {
        let touch = Touch::heartbeat(ctx.now);
        for _ in 0..CAS_ATTEMPTS {
            if let Some(touched) = writes::touch(&*client, req, &touch).await? {
                return Ok(touched);
            }
            let current = get_resource(&*client, &req.name, Lock::None).await?;
            expect_held(req).check(current.as_ref().map(held), touch.at)?;
        }
        return Err(Error::backend(format!("update of {} kept racing", req.name)).into());
    }
    let tx = client.transaction().await?;
    let current = get_resource(&tx, &req.name, Lock::ForUpdate).await?;
    let touch = Touch::update(req, current.as_ref(), ctx.now)?;
    let updated = writes::touch(&tx, req, &touch)
        .await?
        .ok_or_else(|| Error::backend(format!("{} changed while locked", req.name)))?;
    tx.commit().await?;
    Ok(updated)
}

/// SPEC §4.6 in one statement. Returns name → previous owner.
pub(super) async fn reset(
    client: &mut Object,
    ctx: &Ctx,
    req: &ResetRequest,
) -> PgResult<BTreeMap<String, String>> {
    let end = EndOfLease::new(&req.dest, ctx.now).tagged(Tag::reset(req));
    let cutoff = reset_cutoff(ctx.now, req.expire);
    Ok(writes::reset(&*client, req, &end, cutoff)
        .await?
        .into_iter()
        .collect())
}
