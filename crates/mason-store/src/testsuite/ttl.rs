//! Conformance cases for lease TTLs (issue 12): the TTL a grant gets (the request's, else
//! the type's as the config sync stored it, else none), renewal by update, the refusal
//! of calls on a lease whose deadline passed, and expiry — oldest deadline first, within
//! the limit, into the resolved state, with a fresh generation, reporting the next
//! deadline.

use std::time::Duration;

use mason_types::{ResourceV2, Timestamp};

use super::{acquire_req as req, by_state_req, release_req, reset_req, update_req, Harness};
use crate::{AcquireRequest, Error, ExpireRequest, ReleaseRequest, UpdateRequest};

/// Type `t` has a 30 s TTL and goes to `tainted` when it expires; `plain` has no TTL;
/// `dyn` is a dynamic pool with a lifespan.
const TTL_POOL: &str = "resources:\n\
- type: t\n  names: [r1, r2, r3]\n  lease-ttl: 30s\n  lease-expired-state: tainted\n\
- type: plain\n  names: [p1, p2]\n\
- type: dyn\n  min-count: 1\n  max-count: 1\n  lifespan: 1h\n  lease-ttl: 5s\n";

async fn v2(h: &Harness, name: &str) -> ResourceV2 {
    h.store.get_v2(name).await.expect("get_v2")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    t + chrono::Duration::from_std(d).unwrap()
}

async fn expire(h: &Harness, limit: u32) -> crate::ExpireReport {
    h.store
        .expire_leases(&ExpireRequest {
            now: h.clock.peek(),
            limit,
        })
        .await
        .expect("expire_leases")
}

/// A grant takes the type's TTL; renewals move the deadline; once it passed, update and
/// release are refused and change nothing; expiry ends it into the expired state.
pub async fn ttl_grant_renew_refuse_and_expire(h: Harness) {
    h.with_config(TTL_POOL).await;
    let got = h
        .store
        .acquire(&req("t", "free", "busy", "alice", None))
        .await
        .unwrap();
    let t0 = got.resource.lastupdate;
    let name = got.resource.name.clone();
    assert_eq!(got.lease.lease_ttl, Some(secs(30)), "the type's TTL");
    assert_eq!(got.lease.lease_deadline, Some(after(t0, secs(30))));
    assert_eq!(v2(&h, &name).await.lease, got.lease, "stored as answered");
    assert!(
        expire(&h, 10).await.expired.is_empty(),
        "nothing due before the deadline"
    );

    // A renewal 20 s in moves the deadline to 50 s; at 45 s the lease is alive.
    h.clock.advance(secs(20));
    let touched = h
        .store
        .update(&update_req(&name, "alice", "busy", None))
        .await
        .unwrap();
    let renewed = v2(&h, &name).await.lease;
    let deadline = after(touched.lastupdate, secs(30));
    assert_eq!(renewed.lease_deadline, Some(deadline));
    assert_eq!(renewed.generation, got.lease.generation, "renewal keeps it");
    h.clock.advance(secs(25));
    let report = expire(&h, 10).await;
    assert!(report.expired.is_empty(), "renewed: {report:?}");
    assert_eq!(report.next_deadline, Some(deadline));

    // At the deadline (50 s) the lease is over: no renewal, no release, nothing changes.
    h.clock.advance(secs(5));
    let before = v2(&h, &name).await;
    let text = format!(
        "resource {name}: the lease expired at {}",
        deadline.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    let refused = h
        .store
        .update(&update_req(&name, "alice", "busy", None))
        .await;
    assert!(matches!(&refused, Err(e @ Error::LeaseExpired { .. }) if e.status() == 409));
    super::assert_err_text(refused, &text);
    super::assert_err_text(
        h.store.release(&release_req(&name, "free", "alice")).await,
        &text,
    );
    assert_err_kind(
        h.store
            .release(&release_req(&name, "free", "mallory"))
            .await,
        "OwnerNotMatch",
    );
    assert_eq!(v2(&h, &name).await, before, "refusals change nothing");

    // Expiry ends it: unowned, tainted, lastupdate now, a fresh generation, no TTL.
    h.clock.advance(Duration::from_millis(300));
    let now = h.clock.peek();
    let report = expire(&h, 10).await;
    assert_eq!(report.expired.len(), 1, "{report:?}");
    let ended = &report.expired[0];
    assert_eq!(
        (
            ended.name.as_str(),
            ended.rtype.as_str(),
            ended.previous_owner.as_str(),
            ended.previous_state.as_str(),
            ended.state.as_str()
        ),
        (name.as_str(), "t", "alice", "busy", "tainted")
    );
    assert_eq!(ended.deadline, deadline);
    assert!(ended.generation > got.lease.generation);
    let after_expiry = v2(&h, &name).await;
    assert_eq!(after_expiry.resource.owner, "");
    assert_eq!(after_expiry.resource.state, "tainted");
    assert_eq!(after_expiry.resource.lastupdate, now);
    assert_eq!(after_expiry.lease.generation, ended.generation);
    assert_eq!(
        (
            after_expiry.lease.lease_ttl,
            after_expiry.lease.lease_deadline
        ),
        (None, None)
    );
    assert_eq!(report.next_deadline, None, "no lease has a deadline now");
    let history = h
        .store
        .latest_events(&crate::LatestEventsQuery {
            filter: crate::EventFilter {
                name: Some(name.clone()),
                ..Default::default()
            },
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("events");
    let last = history.events.last().expect("the expiry's event");
    assert_eq!(
        (
            last.kind.as_str(),
            last.actor.as_str(),
            last.old_owner.as_deref(),
            last.new_state.as_deref()
        ),
        ("expire", "server", Some("alice"), Some("tainted")),
        "{last:?}"
    );
    assert!(
        expire(&h, 10).await.expired.is_empty(),
        "each lease is expired once"
    );

    // The old holder's calls: owner mismatch now (or the stale generation when sent).
    assert_err_kind(
        h.store
            .release(&ReleaseRequest {
                generation: Some(got.lease.generation),
                ..release_req(&name, "free", "alice")
            })
            .await,
        "GenerationMismatch",
    );
    // The freed resource is acquirable again, with a fresh deadline.
    let again = h
        .store
        .acquire_by_state(&by_state_req(
            "tainted",
            "busy",
            "bob",
            std::slice::from_ref(&name),
        ))
        .await
        .unwrap();
    assert_eq!(again[0].owner, "bob");
    assert_eq!(
        v2(&h, &name).await.lease.lease_deadline,
        Some(after(again[0].lastupdate, secs(30)))
    );
}

/// The request's TTL overrides the type's (also for a type without one and for
/// acquire-by-state); release and reset clear TTL and deadline; a bad TTL is refused and
/// changes nothing; a lease keeps the policy it was granted with across config changes.
pub async fn ttl_from_request_type_or_none(h: Harness) {
    h.with_config(TTL_POOL).await;
    let with_ttl = |rtype: &str, owner: &str, ttl| AcquireRequest {
        lease_ttl: ttl,
        ..req(rtype, "free", "busy", owner, None)
    };
    let plain = h
        .store
        .acquire(&with_ttl("plain", "a", None))
        .await
        .unwrap();
    assert_eq!(
        (plain.lease.lease_ttl, plain.lease.lease_deadline),
        (None, None),
        "no TTL anywhere: lives as upstream's leases"
    );
    let asked = h
        .store
        .acquire(&with_ttl("plain", "b", Some(secs(7))))
        .await
        .unwrap();
    assert_eq!(
        asked.lease.lease_deadline,
        Some(after(asked.resource.lastupdate, secs(7)))
    );
    let shorter = h
        .store
        .acquire(&with_ttl("t", "c", Some(Duration::from_millis(1500))))
        .await
        .unwrap();
    assert_eq!(shorter.lease.lease_ttl, Some(Duration::from_millis(1500)));
    assert_eq!(
        shorter.lease.lease_deadline,
        Some(after(
            shorter.resource.lastupdate,
            Duration::from_millis(1500)
        ))
    );

    // acquirebystate takes the request's TTL too.
    let by_state = h
        .store
        .acquire_by_state(&crate::AcquireByStateRequest {
            lease_ttl: Some(secs(9)),
            ..by_state_req("free", "busy", "d", &["r2".to_string(), "r3".to_string()])
        })
        .await
        .unwrap();
    assert_eq!(by_state.len(), 2);
    for r in &by_state {
        assert_eq!(
            v2(&h, &r.name).await.lease.lease_deadline,
            Some(after(r.lastupdate, secs(9)))
        );
    }

    // A TTL under a microsecond is refused; nothing is granted.
    let free_before = h.store.get("p1").await.ok();
    assert_err_kind(
        h.store
            .acquire(&with_ttl("plain", "e", Some(Duration::ZERO)))
            .await,
        "InvalidArgument",
    );
    assert_eq!(h.store.get("p1").await.ok(), free_before);

    // A config change does not change what a granted lease does.
    h.with_config(
        "resources:\n- type: t\n  names: [r1, r2, r3]\n- type: plain\n  names: [p1, p2]\n\
         - type: dyn\n  min-count: 1\n  max-count: 1\n  lifespan: 1h\n",
    )
    .await;
    h.clock.advance(secs(1));
    let touched = h
        .store
        .update(&update_req("r2", "d", "busy", None))
        .await
        .unwrap();
    assert_eq!(
        v2(&h, "r2").await.lease.lease_deadline,
        Some(after(touched.lastupdate, secs(9))),
        "renewed with the TTL it was granted"
    );

    // Release and reset clear the TTL and the deadline.
    h.store
        .release(&release_req("r2", "free", "d"))
        .await
        .unwrap();
    assert_eq!(
        (
            v2(&h, "r2").await.lease.lease_ttl,
            v2(&h, "r2").await.lease.lease_deadline
        ),
        (None, None)
    );
    h.clock.advance(secs(1));
    let reset = h
        .store
        .reset(&reset_req("t", "busy", Duration::from_millis(100), "dirty"))
        .await
        .unwrap();
    assert!(reset.contains_key("r3"), "{reset:?}");
    assert_eq!(v2(&h, "r3").await.lease.lease_deadline, None);

    // Granted after the change: `t` has no TTL any more, and its expired state is gone.
    let now_plain = h.store.acquire(&with_ttl("t", "f", None)).await.unwrap();
    assert_eq!(now_plain.lease.lease_deadline, None);
}

/// Expiry ends at most `limit` leases, oldest deadline first, reports only what it ended
/// and the next deadline, goes to `dirty` by default, and restarts a dynamic resource's
/// lifespan as a release does.
pub async fn expiry_is_oldest_first_within_the_limit(h: Harness) {
    h.with_config(TTL_POOL).await;
    let mut deadlines = std::collections::BTreeMap::new();
    for (owner, ttl) in [("a", 4), ("b", 2), ("c", 3), ("d", 60)] {
        let got = h
            .store
            .acquire(&AcquireRequest {
                lease_ttl: Some(secs(ttl)),
                ..req("plain", "free", "busy", owner, None)
            })
            .await;
        let got = match got {
            Ok(got) => got,
            Err(_) => h
                .store
                .acquire(&AcquireRequest {
                    lease_ttl: Some(secs(ttl)),
                    ..req("t", "free", "busy", owner, None)
                })
                .await
                .unwrap(),
        };
        deadlines.insert(owner, got.lease.lease_deadline.unwrap());
    }
    let dynamic = h
        .store
        .acquire(&req("dyn", "free", "busy", "e", None))
        .await
        .unwrap();
    assert_eq!(
        dynamic.lease.lease_ttl,
        Some(secs(5)),
        "a dynamic type's TTL"
    );

    h.clock.advance(secs(10));
    let first = expire(&h, 2).await;
    let ended: Vec<(&str, &str)> = first
        .expired
        .iter()
        .map(|e| (e.previous_owner.as_str(), e.state.as_str()))
        .collect();
    // b (2 s) then c (3 s): both of type plain or t; plain goes to dirty, t to tainted.
    assert_eq!(ended.len(), 2, "{first:?}");
    assert_eq!((ended[0].0, ended[1].0), ("b", "c"));
    assert_eq!(first.next_deadline, Some(deadlines["a"]));
    let second = expire(&h, 10).await;
    let owners: Vec<&str> = second
        .expired
        .iter()
        .map(|e| e.previous_owner.as_str())
        .collect();
    assert_eq!(owners, ["a", "e"], "a (4 s) then the dynamic one (5 s)");
    assert_eq!(second.next_deadline, Some(deadlines["d"]));
    for e in first.expired.iter().chain(&second.expired) {
        let expected = if e.rtype == "t" { "tainted" } else { "dirty" };
        assert_eq!(e.state, expected, "{e:?}");
        assert_eq!(h.get(&e.name).await.state, expected);
    }
    let dyn_after = h.get(&dynamic.resource.name).await;
    assert_eq!(
        dyn_after.expiration_date,
        Some(after(dyn_after.lastupdate, secs(3600))),
        "the lifespan restarts as on a release"
    );
    assert!(expire(&h, 10).await.expired.is_empty());
    h.clock.advance(secs(60));
    let last = expire(&h, 0).await;
    assert!(last.expired.is_empty(), "a limit of 0 ends nothing");
    assert_eq!(last.next_deadline, Some(deadlines["d"]));
    assert_eq!(expire(&h, 1).await.expired[0].previous_owner, "d");
}

/// A renewal with the current generation works, one with a stale generation is the
/// generation's 409 even when the lease also expired (the generation is checked first).
pub async fn expired_and_fenced_calls_are_refused_in_order(h: Harness) {
    h.with_config(TTL_POOL).await;
    let got = h
        .store
        .acquire(&req("t", "free", "busy", "alice", None))
        .await
        .unwrap();
    let name = got.resource.name;
    let fenced = |generation| UpdateRequest {
        generation: Some(generation),
        ..update_req(&name, "alice", "busy", None)
    };
    h.clock.advance(secs(29));
    h.store.update(&fenced(got.lease.generation)).await.unwrap();
    h.clock.advance(secs(31));
    assert_err_kind(
        h.store.update(&fenced(got.lease.generation + 1)).await,
        "GenerationMismatch",
    );
    assert_err_kind(
        h.store.update(&fenced(got.lease.generation)).await,
        "LeaseExpired",
    );
    assert_err_kind(
        h.store
            .update(&update_req(&name, "alice", "free", None))
            .await,
        "LeaseExpired",
    );
}

fn assert_err_kind<T: std::fmt::Debug>(result: crate::Result<T>, kind: &str) {
    match result {
        Ok(v) => panic!("expected {kind}, got Ok({v:?})"),
        Err(e) => assert!(
            format!("{e:?}").starts_with(kind),
            "expected {kind}, got {e:?}"
        ),
    }
}
