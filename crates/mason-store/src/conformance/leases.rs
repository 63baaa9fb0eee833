//! Conformance cases for the lease transitions (SPEC §3, §4.1–§4.7 and the ranch
//! checklist of §4.11).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_types::UserData;

use super::{
    assert_err_text, by_state_req, is_not_found, release_req, reset_req, update_req, Harness,
};
use crate::{AcquireRequest, Error, ResourceFilter};

fn req(rtype: &str, state: &str, dest: &str, owner: &str, id: Option<&str>) -> AcquireRequest {
    AcquireRequest {
        rtype: rtype.into(),
        state: state.into(),
        dest: dest.into(),
        owner: owner.into(),
        request_id: id.map(str::to_string),
    }
}

const POOL: &str = "resources:\n- type: t\n  names: [r1, r2, r3, r4]\n- type: other\n  state: dirty\n  names: [o1]\n";

/// No resource of the type at all → type-not-found, with upstream's text.
pub async fn acquire_unknown_type(h: Harness) {
    assert_err_text(
        h.store
            .acquire(&req("nope", "free", "busy", "me", None))
            .await,
        "resource type \"nope\" does not exist",
    );
    h.with_config(POOL).await;
    assert_err_text(
        h.store
            .acquire(&req("nope", "free", "busy", "me", None))
            .await,
        "resource type \"nope\" does not exist",
    );
}

/// The type exists but nothing is free in that state → not-found naming the type, and no
/// resource is touched.
pub async fn acquire_no_free_resource(h: Harness) {
    h.with_config(POOL).await;
    let before = h.store.list(&ResourceFilter::default()).await.unwrap();
    assert_err_text(
        h.store
            .acquire(&req("other", "free", "busy", "me", None))
            .await,
        "no available resource other, try again later.",
    );
    h.store
        .acquire(&req("other", "dirty", "busy", "a", None))
        .await
        .unwrap();
    assert_err_text(
        h.store
            .acquire(&req("other", "dirty", "busy", "b", None))
            .await,
        "no available resource other, try again later.",
    );
    let after = h.get("r1").await;
    assert_eq!(before.iter().find(|r| r.name == "r1").unwrap(), &after);
}

/// Success moves state and owner, advances lastupdate, and returns what is stored.
pub async fn acquire_moves_and_stamps(h: Harness) {
    h.with_config(POOL).await;
    let before = h.get("o1").await;
    let got = h
        .store
        .acquire(&req("other", "dirty", "cleaning", "janitor", None))
        .await
        .unwrap();
    assert_eq!(got.resource.name, "o1");
    assert_eq!(got.resource.state, "cleaning");
    assert_eq!(got.resource.owner, "janitor");
    assert!(got.resource.lastupdate > before.lastupdate);
    assert_eq!(got.resource, h.get("o1").await);
    assert!(
        got.requested_at >= before.lastupdate,
        "no request id: requested_at is now"
    );
}

/// Least recently updated first: four acquire+release rounds visit four resources.
pub async fn acquire_round_robin(h: Harness) {
    h.with_config(POOL).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let got = h
            .store
            .acquire(&req("t", "free", "busy", "me", None))
            .await
            .unwrap();
        h.store
            .release(&release_req(&got.resource.name, "free", "me"))
            .await
            .unwrap();
        seen.push(got.resource.name);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "{seen:?}");
}

/// The request_id queue (SPEC §4.11 "Priority").
pub async fn acquire_request_id_priority(h: Harness) {
    h.with_config("resources:\n- type: x\n  names: [x1]\n")
        .await;
    let first_seen = h.clock.peek();
    assert!(h
        .store
        .acquire(&req("t", "free", "busy", "u1", Some("req1")))
        .await
        .is_err());
    h.clock.advance(Duration::from_secs(5));
    h.with_config("resources:\n- type: x\n  names: [x1]\n- type: t\n  names: [only]\n")
        .await;
    let err = h
        .store
        .acquire(&req("t", "free", "busy", "anon", None))
        .await
        .unwrap_err();
    assert!(is_not_found(&err), "reserved for req1: {err}");
    let err = h
        .store
        .acquire(&req("t", "free", "busy", "u2", Some("req2")))
        .await
        .unwrap_err();
    assert!(is_not_found(&err), "req2 is second: {err}");
    let got = h
        .store
        .acquire(&req("t", "free", "busy", "u1", Some("req1")))
        .await
        .unwrap();
    assert_eq!(got.resource.name, "only");
    assert_eq!(
        got.requested_at, first_seen,
        "duration counts from the first poll"
    );
    h.store
        .release(&release_req("only", "free", "u1"))
        .await
        .unwrap();
    assert!(h
        .store
        .acquire(&req("t", "free", "busy", "u1", Some("req1")))
        .await
        .is_err());
    assert!(h
        .store
        .acquire(&req("t", "free", "busy", "anon", None))
        .await
        .is_err());
    h.clock.advance(Duration::from_secs(61));
    assert!(h.store.gc_requests().await.unwrap() >= 2);
    let now = h.clock.peek();
    let got = h
        .store
        .acquire(&req("t", "free", "busy", "anon", None))
        .await
        .unwrap();
    assert!(got.requested_at >= now);
}

/// A new request id grows a dynamic pool by one, up to max-count; repeats never do.
pub async fn acquire_creates_dynamic_on_new_request(h: Harness) {
    h.with_config("resources:\n- type: dyn\n  state: dirty\n  min-count: 0\n  max-count: 2\n")
        .await;
    let count = |h: &Harness| {
        let store = h.store.clone();
        async move {
            store
                .list(&ResourceFilter {
                    rtype: Some("dyn".into()),
                    ..Default::default()
                })
                .await
                .unwrap()
        }
    };
    assert!(count(&h).await.is_empty());
    assert_err_text(
        h.store
            .acquire(&req("dyn", "free", "busy", "u", Some("req1")))
            .await,
        "resource type \"dyn\" does not exist",
    );
    let created = count(&h).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].state, "dirty");
    assert!(uuid::Uuid::parse_str(&created[0].name).is_ok(), "UUID name");
    assert!(h
        .store
        .acquire(&req("dyn", "free", "busy", "u", Some("req1")))
        .await
        .is_err());
    assert_eq!(
        count(&h).await.len(),
        1,
        "a repeated request id creates nothing"
    );
    assert_err_text(
        h.store
            .acquire(&req("dyn", "free", "busy", "u", Some("req2")))
            .await,
        "no available resource dyn, try again later.",
    );
    assert_eq!(count(&h).await.len(), 2);
    assert!(h
        .store
        .acquire(&req("dyn", "free", "busy", "u", Some("req3")))
        .await
        .is_err());
    assert_eq!(count(&h).await.len(), 2, "max-count reached");
    assert!(h
        .store
        .acquire(&req("dyn", "free", "busy", "u", None))
        .await
        .is_err());
    assert_eq!(count(&h).await.len(), 2, "no request id creates nothing");
}

/// Acquire-by-state moves every named resource or none.
pub async fn acquire_by_state_all_or_nothing(h: Harness) {
    h.with_config(POOL).await;
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let got = h
        .store
        .acquire_by_state(&by_state_req(
            "free",
            "busy",
            "me",
            &names(&["r2", "r1", "r1"]),
        ))
        .await
        .unwrap();
    let mut got_names: Vec<_> = got.iter().map(|r| r.name.as_str()).collect();
    got_names.sort();
    assert_eq!(got_names, ["r1", "r2"]);
    assert!(got.iter().all(|r| r.owner == "me" && r.state == "busy"));
    for bad in [vec!["r3", "r1"], vec!["r3", "missing"], vec!["r3", ""]] {
        assert_err_text(
            h.store
                .acquire_by_state(&by_state_req("free", "busy", "you", &names(&bad)))
                .await,
            "no available resource free, try again later.",
        );
        let r3 = h.get("r3").await;
        assert_eq!(
            (r3.owner.as_str(), r3.state.as_str()),
            ("", "free"),
            "nothing leaked"
        );
    }
    assert!(matches!(
        h.store
            .acquire_by_state(&by_state_req("free", "busy", "me", &[]))
            .await,
        Err(Error::InvalidArgument(_))
    ));
}

/// Release: missing → not found; wrong owner → owner mismatch, unchanged; ok → unowned in dest.
pub async fn release_rules(h: Harness) {
    h.with_config(POOL).await;
    assert_err_text(
        h.store.release(&release_req("missing", "free", "me")).await,
        "no available resource missing, try again later.",
    );
    h.store
        .acquire(&req("t", "free", "busy", "me", None))
        .await
        .unwrap();
    let held = h
        .store
        .list(&ResourceFilter {
            owner: Some("me".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let name = held[0].name.clone();
    let before = h.get(&name).await;
    assert_err_text(
        h.store.release(&release_req(&name, "free", "you")).await,
        "owner mismatch request by you, currently owned by me",
    );
    assert_eq!(h.get(&name).await, before);
    assert_err_text(
        h.store.release(&release_req("r4", "free", "me")).await,
        "owner mismatch request by me, currently owned by ",
    );
    let released = h
        .store
        .release(&release_req(&name, "dirty", "me"))
        .await
        .unwrap();
    assert_eq!(
        (released.owner.as_str(), released.state.as_str()),
        ("", "dirty")
    );
    assert!(released.lastupdate > before.lastupdate);
    assert_eq!(
        released.expiration_date, None,
        "static resources never expire"
    );
    assert_eq!(released, h.get(&name).await);
}

/// Release of a dynamic resource: lifespan → expiration = now + lifespan; none → unchanged.
pub async fn release_sets_expiration_from_lifespan(h: Harness) {
    h.with_config(
        "resources:\n- type: life\n  min-count: 1\n  max-count: 1\n  lifespan: 1m\n- type: nolife\n  min-count: 1\n  max-count: 1\n",
    )
    .await;
    let got = h
        .store
        .acquire(&req("life", "free", "busy", "me", None))
        .await
        .unwrap();
    let at = h.clock.peek();
    let released = h
        .store
        .release(&release_req(&got.resource.name, "free", "me"))
        .await
        .unwrap();
    let exp = released.expiration_date.expect("expiration set");
    let delta = exp - at;
    assert!(
        delta >= chrono::Duration::seconds(59) && delta <= chrono::Duration::seconds(61),
        "{delta}"
    );
    let got = h
        .store
        .acquire(&req("nolife", "free", "busy", "me", None))
        .await
        .unwrap();
    let released = h
        .store
        .release(&release_req(&got.resource.name, "free", "me"))
        .await
        .unwrap();
    assert_eq!(released.expiration_date, None);
}

/// Update: not found, owner mismatch, state mismatch (upstream's swapped wording), merge.
pub async fn update_rules(h: Harness) {
    h.with_config(POOL).await;
    assert_err_text(
        h.store
            .update(&update_req("missing", "me", "busy", None))
            .await,
        "no available resource missing, try again later.",
    );
    let got = h
        .store
        .acquire(&req("other", "dirty", "s", "me", None))
        .await
        .unwrap();
    let name = got.resource.name;
    assert_err_text(
        h.store.update(&update_req(&name, "you", "s", None)).await,
        "owner mismatch request by you, currently owned by me",
    );
    assert_err_text(
        h.store.update(&update_req(&name, "me", "foo", None)).await,
        "state mismatch - expected s, current foo",
    );
    assert_eq!(
        h.get(&name).await.lastupdate,
        got.resource.lastupdate,
        "failures change nothing"
    );
    let ud: UserData = [("test", "old"), ("1", "1")].into_iter().collect();
    let after = h
        .store
        .update(&update_req(&name, "me", "s", Some(&ud)))
        .await
        .unwrap();
    assert!(after.lastupdate > got.resource.lastupdate);
    assert_eq!((after.owner.as_str(), after.state.as_str()), ("me", "s"));
    let change: UserData = [("test", "new"), ("2", "2"), ("1", "")]
        .into_iter()
        .collect();
    let after = h
        .store
        .update(&update_req(&name, "me", "s", Some(&change)))
        .await
        .unwrap();
    let expected: UserData = [("test", "new"), ("2", "2")].into_iter().collect();
    assert_eq!(after.userdata, expected);
    let after = h
        .store
        .update(&update_req(&name, "me", "s", None))
        .await
        .unwrap();
    assert_eq!(after.userdata, expected, "no body = no change");
    assert_eq!(h.get(&name).await, after);
}

/// Reset only touches owned, stale resources of that type and state.
pub async fn reset_rules(h: Harness) {
    h.with_config(POOL).await;
    let expire = Duration::from_secs(600);
    assert!(
        h.store
            .reset(&reset_req("t", "free", expire, "dirty"))
            .await
            .unwrap()
            .is_empty(),
        "unowned"
    );
    let got = h
        .store
        .acquire(&req("t", "free", "busy", "user", None))
        .await
        .unwrap();
    assert!(
        h.store
            .reset(&reset_req("t", "busy", expire, "dirty"))
            .await
            .unwrap()
            .is_empty(),
        "not expired"
    );
    h.clock.advance(Duration::from_secs(601));
    assert!(
        h.store
            .reset(&reset_req("other", "busy", expire, "dirty"))
            .await
            .unwrap()
            .is_empty(),
        "type"
    );
    assert!(
        h.store
            .reset(&reset_req("t", "dirty", expire, "x"))
            .await
            .unwrap()
            .is_empty(),
        "state"
    );
    assert!(
        h.store
            .reset(&reset_req("nope", "busy", expire, "x"))
            .await
            .unwrap()
            .is_empty(),
        "unknown type"
    );
    let out = h
        .store
        .reset(&reset_req("t", "busy", expire, "dirty"))
        .await
        .unwrap();
    assert_eq!(
        out,
        BTreeMap::from([(got.resource.name.clone(), "user".to_string())])
    );
    let after = h.get(&got.resource.name).await;
    assert_eq!((after.owner.as_str(), after.state.as_str()), ("", "dirty"));
    assert!(after.lastupdate > got.resource.lastupdate);
}

/// Metric counts by state and owner; all_metrics sorted by type.
pub async fn metric_counts(h: Harness) {
    assert!(h.store.all_metrics().await.unwrap().is_empty());
    h.with_config(POOL).await;
    assert_err_text(
        h.store.metric("nope").await,
        "no available resource nope, try again later.",
    );
    h.store
        .acquire(&req("t", "free", "busy", "a", None))
        .await
        .unwrap();
    h.store
        .acquire(&req("t", "free", "busy", "a", None))
        .await
        .unwrap();
    h.store
        .acquire(&req("t", "free", "dirty", "b", None))
        .await
        .unwrap();
    let m = h.store.metric("t").await.unwrap();
    assert_eq!(m.rtype, "t");
    assert_eq!(
        m.current,
        BTreeMap::from([("busy".into(), 2), ("dirty".into(), 1), ("free".into(), 1)])
    );
    assert_eq!(
        m.owner,
        BTreeMap::from([("".into(), 1), ("a".into(), 2), ("b".into(), 1)])
    );
    let all = h.store.all_metrics().await.unwrap();
    let types: Vec<_> = all.iter().map(|m| m.rtype.as_str()).collect();
    assert_eq!(types, ["other", "t"]);
}

/// Many tasks racing acquire/release on a small pool: nobody ever holds a resource
/// someone else holds, and every release of a just-granted resource succeeds.
pub async fn racing_acquires_never_double_lease(h: Harness) {
    h.with_config("resources:\n- type: race\n  names: [a, b, c]\n")
        .await;
    let holders: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = h.store.clone();
        let holders = holders.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{worker}");
            let mut granted = 0;
            for _ in 0..40 {
                match store
                    .acquire(&req("race", "free", "busy", &owner, None))
                    .await
                {
                    Ok(got) => {
                        granted += 1;
                        let name = got.resource.name;
                        if let Some(other) =
                            holders.lock().unwrap().insert(name.clone(), owner.clone())
                        {
                            panic!("{name} granted to {owner} while held by {other}");
                        }
                        tokio::task::yield_now().await;
                        holders.lock().unwrap().remove(&name);
                        store
                            .release(&release_req(&name, "free", &owner))
                            .await
                            .expect("release own lease");
                    }
                    Err(Error::ResourceNotFound(_)) => tokio::task::yield_now().await,
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
            granted
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("worker");
    }
    assert!(total > 0);
    let left = h
        .store
        .list(&ResourceFilter {
            owner: Some(String::new()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 3, "everything released");
}

/// The queue is listed with ranks and expired entries are garbage-collected.
pub async fn queue_is_visible_and_collected(h: Harness) {
    h.with_config(POOL).await;
    for id in ["q1", "q2"] {
        assert!(h
            .store
            .acquire(&req("other", "free", "busy", "u", Some(id)))
            .await
            .is_err());
    }
    let queue = h.store.queue().await.unwrap();
    let view: Vec<_> = queue
        .iter()
        .map(|q| (q.request_id.as_str(), q.rank))
        .collect();
    assert_eq!(view, [("q1", 1), ("q2", 2)]);
    assert_eq!(h.store.gc_requests().await.unwrap(), 0, "live entries stay");
    h.clock.advance(Duration::from_secs(31));
    assert!(
        h.store.queue().await.unwrap().is_empty(),
        "lapsed entries are not listed"
    );
    assert_eq!(h.store.gc_requests().await.unwrap(), 2);
}
