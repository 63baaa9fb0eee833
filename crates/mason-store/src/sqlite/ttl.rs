//! Lease TTLs on SQLite (the rules are `lease/ttl.rs`'s): the per-type policies a config
//! sync stores, and the expiry of leases whose deadline passed, through the partial index
//! on the deadline.

use rusqlite::{params, Connection, OptionalExtension};

use super::txn::Ctx;
use super::writes;
use crate::lease::end::Expiration;
use crate::lease::ttl::{self, PolicyRow};
use crate::lease::{EndOfLease, Tag};
use crate::rows::from_micros;
use crate::{ExpireReport, ExpireRequest, ExpiredLease, Result};

/// Replace the stored lease policies with `policies` (in the config sync's transaction).
pub(super) fn store_policies(tx: &Connection, policies: &[PolicyRow]) -> Result<()> {
    tx.prepare_cached("DELETE FROM lease_policies")?
        .execute([])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO lease_policies (type, ttl_us, expired_state) VALUES (?1, ?2, ?3)",
    )?;
    for p in policies {
        insert.execute(params![p.rtype, p.ttl, p.expired_state])?;
    }
    Ok(())
}

/// A lease found due, as read before it is ended.
struct Due {
    name: String,
    rtype: String,
    owner: String,
    state: String,
    deadline: i64,
    expired_state: Option<String>,
    generation: i64,
}

/// End at most `req.limit` leases due at `req.now`, oldest deadline first.
pub(super) fn expire(tx: &Connection, ctx: &Ctx<'_>, req: &ExpireRequest) -> Result<ExpireReport> {
    let now = ttl::cutoff(&req.now);
    let due = tx
        .prepare_cached(
            "SELECT name, type, owner, state, lease_deadline, lease_expired_state, generation \
             FROM resources WHERE lease_deadline <= ?1 \
             ORDER BY lease_deadline, name LIMIT ?2",
        )?
        .query_map(params![now, ttl::limit(req.limit)], |r| {
            Ok(Due {
                name: r.get(0)?,
                rtype: r.get(1)?,
                owner: r.get(2)?,
                state: r.get(3)?,
                deadline: r.get(4)?,
                expired_state: r.get(5)?,
                generation: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut expired = Vec::with_capacity(due.len());
    for lease in due {
        let state = ttl::expired_state(lease.expired_state);
        let end = EndOfLease::new(&state, req.now).tagged(Tag::expire());
        let expiration = Expiration::on_release(ctx.lifespans.of(&lease.rtype), req.now);
        let Some(ended) =
            writes::expire_lease(tx, ctx, &lease.name, lease.generation, &end, expiration)?
        else {
            continue;
        };
        expired.push(ExpiredLease {
            name: lease.name,
            rtype: lease.rtype,
            previous_owner: lease.owner,
            previous_state: lease.state,
            state: ended.resource.state,
            deadline: from_micros(lease.deadline),
            generation: ended.lease.generation,
        });
    }
    Ok(ExpireReport {
        expired,
        next_deadline: next_deadline(tx)?,
    })
}

/// The earliest deadline of any lease (the first entry of the deadline index).
fn next_deadline(tx: &Connection) -> Result<Option<mason_types::Timestamp>> {
    let next: Option<i64> = tx
        .prepare_cached(
            "SELECT lease_deadline FROM resources WHERE lease_deadline IS NOT NULL \
             ORDER BY lease_deadline LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(next.map(from_micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_the_next_deadline_use_the_deadline_index() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        for sql in [
            "EXPLAIN QUERY PLAN SELECT name FROM resources WHERE lease_deadline <= 5 \
             ORDER BY lease_deadline, name LIMIT 10",
            "EXPLAIN QUERY PLAN SELECT lease_deadline FROM resources \
             WHERE lease_deadline IS NOT NULL ORDER BY lease_deadline LIMIT 1",
        ] {
            let plan: Vec<String> = conn
                .prepare(sql)
                .unwrap()
                .query_map([], |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(
                plan.contains("resources_by_lease_deadline") && !plan.contains("TEMP B-TREE"),
                "{sql}: {plan}"
            );
        }
    }
}
