//! Conformance cases for the other lease calls (SPEC §3, §4.3–§4.7 and the ranch
//! checklist of §4.11): acquire-by-state, release, update, reset, metrics, and racing
//! acquires.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_types::UserData;

use super::{
    acquire_req as req, assert_err_text, by_state_req, release_req, reset_req, update_req, Harness,
    POOL,
};
use crate::{Error, ResourceFilter};

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

/// A call refused after it locked a row (an update with user data by someone who does not
/// hold the resource) leaves no lock behind once it has answered: the next acquire, on
/// whatever connection, still takes that row when it is the least recently updated.
/// (On PostgreSQL a dropped transaction's ROLLBACK used to be only queued; meanwhile a
/// `SKIP LOCKED` pick passed the row by and granted the next one.)
pub async fn a_refused_call_leaves_no_lock_behind(h: Harness) {
    h.with_config(POOL).await;
    let ud: UserData = [("k", "v")].into_iter().collect();
    for round in 0..40 {
        h.clock.advance(Duration::from_secs(1));
        let mut free = h
            .store
            .list(&ResourceFilter {
                rtype: Some("t".into()),
                owner: Some(String::new()),
                ..Default::default()
            })
            .await
            .unwrap();
        free.sort_by(|a, b| (a.lastupdate, &a.name).cmp(&(b.lastupdate, &b.name)));
        let due = free[0].name.clone();
        let refused = h
            .store
            .update(&update_req(&due, "intruder", "free", Some(&ud)))
            .await;
        assert!(refused.is_err(), "round {round}: {refused:?}");
        let got = h
            .store
            .acquire(&req("t", "free", "busy", "me", None))
            .await
            .unwrap();
        assert_eq!(got.resource.name, due, "round {round}");
        h.clock.advance(Duration::from_secs(1));
        h.store
            .release(&release_req(&due, "free", "me"))
            .await
            .unwrap();
    }
}
