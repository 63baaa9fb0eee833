//! Release, update and reset on SQLite: the calls on resources someone holds. Each reads
//! what the lease layer needs to decide, then writes through [`super::writes`].

use std::collections::BTreeMap;

use mason_types::ResourceV2;
use rusqlite::{params, Connection, OptionalExtension};

use super::rows::get_resource;
use super::txn::Ctx;
use super::writes;
use crate::lease::end::{reset_cutoff, Expiration};
use crate::lease::retry::{self, ReleaseCheck, ReleaseRow};
use crate::lease::{EndOfLease, Tag, Touch};
use crate::rows::to_micros;
use crate::{Error, ReleaseRequest, ResetRequest, Result, UpdateRequest};

/// SPEC §4.4. Reads the type (the pool's lifespan comes from memory) and what the lease
/// layer decides a release on ([`ReleaseRow`]): a refused release that repeats the last
/// one is answered with the row as it is (`lease/retry.rs`).
pub(super) fn release(tx: &Connection, ctx: &Ctx<'_>, req: &ReleaseRequest) -> Result<ResourceV2> {
    let current: Option<(String, ReleaseRow)> = tx
        .prepare_cached(
            "SELECT type, owner, state, generation, lease_deadline, \
                    last_kind, ended_owner, ended_generation, lastupdate \
             FROM resources WHERE name = ?1",
        )?
        .query_row([&req.name], |r| {
            let row = ReleaseRow {
                owner: r.get(1)?,
                state: r.get(2)?,
                generation: r.get(3)?,
                deadline: r.get(4)?,
                kind: r.get(5)?,
                ended_owner: r.get(6)?,
                ended_generation: r.get(7)?,
                at: r.get(8)?,
            };
            Ok((r.get(0)?, row))
        })
        .optional()?;
    let now = to_micros(&ctx.now);
    let row = current.as_ref().map(|(_, row)| row);
    if retry::check_release(req, row, now)? == ReleaseCheck::Repeat {
        return get_resource(tx, &req.name)?.ok_or_else(|| vanished(&req.name));
    }
    let rtype = current.map(|(rtype, _)| rtype).unwrap_or_default();
    let end = EndOfLease::new(&req.dest, ctx.now).tagged(Tag::release(req));
    let expiration = Expiration::on_release(ctx.lifespans.of(&rtype), ctx.now);
    writes::end_lease(tx, ctx, &req.name, &req.owner, None, &end, expiration)?
        .ok_or_else(|| vanished(&req.name))
}

/// SPEC §4.5.
pub(super) fn update(tx: &Connection, ctx: &Ctx<'_>, req: &UpdateRequest) -> Result<ResourceV2> {
    let current = get_resource(tx, &req.name)?;
    let touch = Touch::update(req, current.as_ref(), ctx.now)?;
    writes::touch(tx, ctx, &req.name, &req.owner, &req.state, &touch)?
        .ok_or_else(|| vanished(&req.name))
}

/// SPEC §4.6: owned resources of the type in the state, idle since the cutoff, end their
/// lease. Returns name → previous owner.
pub(super) fn reset(
    tx: &Connection,
    ctx: &Ctx<'_>,
    req: &ResetRequest,
) -> Result<BTreeMap<String, String>> {
    let stale: Vec<(String, String)> = tx
        .prepare_cached(
            "SELECT name, owner FROM resources \
             WHERE type = ?1 AND state = ?2 AND owner != '' AND lastupdate <= ?3",
        )?
        .query_map(
            params![req.rtype, req.state, reset_cutoff(ctx.now, req.expire)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let end = EndOfLease::new(&req.dest, ctx.now).tagged(Tag::reset(req));
    let mut out = BTreeMap::new();
    for (name, owner) in stale {
        let ended = writes::end_lease(
            tx,
            ctx,
            &name,
            &owner,
            Some(&req.state),
            &end,
            Expiration::Keep,
        )?;
        if ended.is_some() {
            out.insert(name, owner);
        }
    }
    Ok(out)
}

/// The answer if a compare-and-set missed right after this transaction checked its
/// condition (it cannot, with the one connection serialising every call).
fn vanished(name: &str) -> Error {
    Error::ResourceNotFound(name.to_string())
}
