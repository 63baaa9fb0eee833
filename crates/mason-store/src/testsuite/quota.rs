//! Conformance cases for per-user lease quotas (issue 13): a holder's grants of a type
//! stop at its limit, over every owner it acts as; every end of a lease (release, reset)
//! gives the room back; a refusal is a 429 with the user, the count and the type, and
//! changes nothing (not even the request queue); concurrent grants of one holder never
//! exceed the limit; without a holder nothing is checked.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::multi::{item, set};
use super::{acquire_req, by_state_req, release_req, reset_req, Harness};
use crate::{AcquireByStateRequest, AcquireRequest, Error, ResourceFilter};

/// Six free resources of `t`, two of `u`.
const POOL: &str =
    "resources:\n- type: t\n  names: [t1, t2, t3, t4, t5, t6]\n- type: u\n  names: [u1, u2]\n";

/// An acquire of a `t` (or `rtype`) for `owner`, held by `holder` with limit `max`.
fn held(rtype: &str, owner: &str, holder: &str, max: Option<u32>) -> AcquireRequest {
    AcquireRequest {
        holder: Some(holder.into()),
        max_held: max,
        ..acquire_req(rtype, "free", "busy", owner, None)
    }
}

/// Whether `result` is the quota refusal `text`.
fn refused<T: std::fmt::Debug>(result: crate::Result<T>, text: &str) {
    match result {
        Err(e @ Error::QuotaExceeded { .. }) => {
            assert_eq!(e.status(), 429);
            assert_eq!(e.to_string(), text);
        }
        other => panic!("expected the quota refusal {text:?}, got {other:?}"),
    }
}

async fn free_count(h: &Harness, rtype: &str) -> usize {
    h.store
        .list(&ResourceFilter {
            rtype: Some(rtype.into()),
            owner: Some(String::new()),
            ..Default::default()
        })
        .await
        .expect("list")
        .len()
}

/// The limit counts every owner of the holder, per type; ends of leases give room back.
pub async fn quota_counts_a_holder_over_all_its_owners(h: Harness) {
    h.with_config(POOL).await;
    let a = h.store.acquire(&held("t", "ci-1", "prow", Some(2))).await;
    let a = a.expect("first").resource.name;
    let b = h.store.acquire(&held("t", "ci-2", "prow", Some(2))).await;
    let b = b.expect("second").resource.name;
    refused(
        h.store.acquire(&held("t", "ci-3", "prow", Some(2))).await,
        "user prow holds 2 of 2 t leases",
    );
    assert_eq!(free_count(&h, "t").await, 4, "the refusal took nothing");

    // Other types, other holders and anonymous callers are not limited by it.
    h.store
        .acquire(&held("u", "ci-3", "prow", Some(1)))
        .await
        .expect("another type");
    h.store
        .acquire(&held("t", "ci-3", "tide", Some(2)))
        .await
        .expect("another holder");
    h.store
        .acquire(&AcquireRequest {
            max_held: Some(0),
            ..acquire_req("t", "free", "busy", "anyone", None)
        })
        .await
        .expect("no holder: no check");

    // A release (by the owner, whoever authenticates it) gives the room back.
    h.store
        .release(&release_req(&a, "dirty", "ci-1"))
        .await
        .unwrap();
    let c = h.store.acquire(&held("t", "ci-4", "prow", Some(2))).await;
    let c = c.expect("room again").resource.name;
    refused(
        h.store.acquire(&held("t", "ci-5", "prow", Some(2))).await,
        "user prow holds 2 of 2 t leases",
    );

    // So does a reset.
    h.clock.advance(Duration::from_secs(60));
    let reset = h
        .store
        .reset(&reset_req("t", "busy", Duration::from_secs(30), "dirty"))
        .await
        .unwrap();
    assert!(
        reset.contains_key(&b) && reset.contains_key(&c),
        "{reset:?}"
    );
    h.store
        .acquire(&held("t", "ci-6", "prow", Some(2)))
        .await
        .expect("room after the reset");
}

/// Leases granted while the holder had no limit count once a limit applies, and a
/// refused acquire with a request id leaves the queue as it was.
pub async fn quota_counts_leases_granted_without_a_limit(h: Harness) {
    h.with_config(POOL).await;
    for owner in ["o1", "o2", "o3"] {
        h.store
            .acquire(&held("t", owner, "prow", None))
            .await
            .expect("unlimited");
    }
    let with_id = AcquireRequest {
        request_id: Some("req-1".into()),
        ..held("t", "o4", "prow", Some(3))
    };
    refused(
        h.store.acquire(&with_id).await,
        "user prow holds 3 of 3 t leases",
    );
    assert!(
        h.store.queue().await.unwrap().is_empty(),
        "a refused request takes no place in the queue"
    );
    h.store
        .acquire(&held("t", "o4", "prow", Some(4)))
        .await
        .expect("a higher limit");
}

/// An all-or-nothing set counts every item of a type together, records its holder on
/// every resource it grants, and is refused whole — no resource, no queue place — when
/// one type would go over.
pub async fn quota_limits_sets(h: Harness) {
    h.with_config(POOL).await;
    let limited = |owner: &str, request_id: Option<&str>, t: u32, u: u32| {
        let mut items = vec![item("t", "free", t)];
        if u > 0 {
            items.push(item("u", "free", u));
        }
        crate::MultiAcquireRequest {
            holder: Some("prow".into()),
            max_held: BTreeMap::from([("t".to_string(), 3), ("u".to_string(), 1)]),
            ..set(owner, request_id, items)
        }
    };
    let granted = h.store.acquire_many(&limited("o1", None, 2, 1)).await;
    assert_eq!(granted.expect("within both limits").resources.len(), 3);
    refused(
        h.store
            .acquire_many(&limited("o2", Some("set-1"), 2, 0))
            .await,
        "user prow holds 2 of 3 t leases and asked for 2 more",
    );
    refused(
        h.store
            .acquire_many(&limited("o2", Some("set-2"), 1, 1))
            .await,
        "user prow holds 1 of 1 u leases",
    );
    assert_eq!(free_count(&h, "t").await, 4, "a refused set took nothing");
    assert_eq!(free_count(&h, "u").await, 1, "a refused set took nothing");
    assert!(
        h.store.queue().await.unwrap().is_empty(),
        "a refused set takes no place in the queue"
    );
    // The set's leases count against single acquires of the same holder too.
    h.store
        .acquire(&held("t", "o3", "prow", Some(3)))
        .await
        .expect("the third t");
    refused(
        h.store.acquire(&held("t", "o4", "prow", Some(3))).await,
        "user prow holds 3 of 3 t leases",
    );
}

/// `acquirebystate` counts what it would grant, per type, and takes nothing when over.
pub async fn quota_limits_acquire_by_state(h: Harness) {
    h.with_config(POOL).await;
    h.store
        .acquire(&held("t", "o1", "prow", None))
        .await
        .expect("one t");
    let by_state = |names: &[&str], limits: &[(&str, u32)]| AcquireByStateRequest {
        holder: Some("prow".into()),
        max_held: limits
            .iter()
            .map(|(t, n)| (t.to_string(), *n))
            .collect::<BTreeMap<_, _>>(),
        ..by_state_req(
            "free",
            "busy",
            "o2",
            &names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        )
    };
    let names: Vec<String> = h
        .store
        .list(&ResourceFilter {
            rtype: Some("t".into()),
            owner: Some(String::new()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    let (n1, n2) = (names[0].as_str(), names[1].as_str());
    refused(
        h.store
            .acquire_by_state(&by_state(&[n1, n2, "u1"], &[("t", 2), ("u", 5)]))
            .await,
        "user prow holds 1 of 2 t leases and asked for 2 more",
    );
    assert_eq!(free_count(&h, "t").await, 5, "nothing taken");
    assert_eq!(free_count(&h, "u").await, 2, "nothing taken");
    let got = h
        .store
        .acquire_by_state(&by_state(&[n1, n2, "u1"], &[("t", 3), ("u", 1)]))
        .await
        .expect("within every limit");
    assert_eq!(got.len(), 3);
    refused(
        h.store.acquire(&held("u", "o3", "prow", Some(1))).await,
        "user prow holds 1 of 1 u leases",
    );
    refused(
        h.store.acquire(&held("t", "o3", "prow", Some(3))).await,
        "user prow holds 3 of 3 t leases",
    );
}

/// Sixteen concurrent acquires of one holder with a limit of 5 on a pool of 6: exactly
/// five are granted, the others refused with the quota's 429; then, with every holder
/// looping acquire/release, the holder never holds more than five at once.
pub async fn quota_holds_under_concurrent_grants(h: Harness) {
    h.with_config(POOL).await;
    const MAX: u32 = 5;
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let store = h.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .acquire(&held("t", &format!("w{worker}"), "prow", Some(MAX)))
                .await
        }));
    }
    let mut granted = Vec::new();
    for (worker, task) in tasks.into_iter().enumerate() {
        match task.await.expect("worker") {
            Ok(got) => granted.push((worker, got.resource.name)),
            Err(e @ Error::QuotaExceeded { .. }) => assert_eq!(e.status(), 429),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(granted.len(), MAX as usize, "{granted:?}");
    for (worker, name) in granted {
        h.store
            .release(&release_req(&name, "free", &format!("w{worker}")))
            .await
            .unwrap();
    }

    // Loops: a worker counts a lease after its grant and uncounts it before its release,
    // so the count never exceeds what the store holds for the holder.
    let holding = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let (store, holding, most) = (h.store.clone(), holding.clone(), most.clone());
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{worker}");
            let mut refusals = 0;
            for _ in 0..15 {
                match store.acquire(&held("t", &owner, "prow", Some(MAX))).await {
                    Ok(got) => {
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        holding.fetch_sub(1, Ordering::SeqCst);
                        store
                            .release(&release_req(&got.resource.name, "free", &owner))
                            .await
                            .expect("release own lease");
                    }
                    Err(Error::QuotaExceeded { held, max, .. }) => {
                        assert!(held >= u64::from(max), "refused at {held} of {max}");
                        refusals += 1;
                        tokio::task::yield_now().await;
                    }
                    Err(Error::ResourceNotFound(_)) => tokio::task::yield_now().await,
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
            refusals
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
    let most = most.load(Ordering::SeqCst);
    assert!((1..=MAX).contains(&most), "held {most} at once");
    assert_eq!(free_count(&h, "t").await, 6, "everything released");
    // The kept count is back to zero: a full quota is available again.
    for worker in 0..MAX {
        h.store
            .acquire(&held("t", &format!("again{worker}"), "prow", Some(MAX)))
            .await
            .expect("the whole quota again");
    }
}
