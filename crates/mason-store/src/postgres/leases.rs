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
use crate::lease::check::Held;
use crate::lease::end::reset_cutoff;
use crate::lease::retry::{self, LastEnd};
use crate::lease::transition::{expect_held, expect_owner, held};
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
        let current: Option<ReleaseRow> = current
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
        let held = current.as_ref().map(|c| Held {
            owner: &c.owner,
            state: &c.state,
            generation: u64::try_from(c.generation).unwrap_or_default(),
            deadline: c.deadline,
        });
        if let Err(refused) = expect_owner(req).check(held, end.at) {
            let last = current.as_ref().map(ReleaseRow::last_end);
            retry::unless_repeat(req, last, end.at, refused)?;
            return get_resource(&*client, &req.name, Lock::None)
                .await?
                .ok_or_else(|| Error::ResourceNotFound(req.name.clone()).into());
        }
        // It became the caller's between the two statements: try again.
    }
    Err(Error::backend(format!("release of {} kept racing", req.name)).into())
}

/// What a refused release reads of its row.
struct ReleaseRow {
    owner: String,
    state: String,
    generation: i64,
    deadline: Option<i64>,
    kind: Option<String>,
    ended_owner: Option<String>,
    ended_generation: Option<i64>,
    at: i64,
}

impl ReleaseRow {
    fn last_end(&self) -> LastEnd<'_> {
        LastEnd {
            owner: &self.owner,
            state: &self.state,
            kind: self.kind.as_deref(),
            ended_owner: self.ended_owner.as_deref(),
            ended_generation: self.ended_generation.and_then(|g| u64::try_from(g).ok()),
            at: self.at,
        }
    }
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
