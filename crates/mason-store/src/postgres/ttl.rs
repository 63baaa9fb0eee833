//! Lease TTLs on PostgreSQL (the rules are `lease/ttl.rs`'s): the per-type policies a
//! config sync stores, and the expiry of leases whose deadline passed — one statement
//! that locks the due rows with `SKIP LOCKED` ([`writes::expire`]), so replicas expiring
//! at once never end, or report, the same lease twice.

use deadpool_postgres::{GenericClient, Object};

use super::error::PgResult;
use super::rows::execute;
use super::txn::Ctx;
use super::writes;
use crate::lease::ttl::{self, PolicyRow};
use crate::rows::from_micros;
use crate::{ExpireReport, ExpireRequest};

/// Replace the stored lease policies with `policies` (in the config sync's transaction).
pub(super) async fn store_policies<C: GenericClient>(
    c: &C,
    policies: &[PolicyRow],
) -> PgResult<()> {
    execute(c, "DELETE FROM lease_policies", &[]).await?;
    let types: Vec<&str> = policies.iter().map(|p| p.rtype.as_str()).collect();
    let ttls: Vec<Option<i64>> = policies.iter().map(|p| p.ttl).collect();
    let states: Vec<&str> = policies.iter().map(|p| p.expired_state.as_str()).collect();
    execute(
        c,
        "INSERT INTO lease_policies (type, ttl_us, expired_state) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[])",
        &[&types, &ttls, &states],
    )
    .await?;
    Ok(())
}

/// End at most `req.limit` leases due at `req.now`, oldest deadline first.
pub(super) async fn expire(
    client: &mut Object,
    _ctx: &Ctx,
    req: &ExpireRequest,
) -> PgResult<ExpireReport> {
    let (expired, next) =
        writes::expire(&*client, ttl::cutoff(&req.now), ttl::limit(req.limit)).await?;
    Ok(ExpireReport {
        expired,
        next_deadline: next.map(from_micros),
    })
}
