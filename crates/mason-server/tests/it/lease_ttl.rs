//! Lease TTLs and fencing over HTTP (issue 12): `lease_ttl=` reaches the store (the
//! grant gets that deadline, the type's TTL otherwise), `/acquire` tells the grant's
//! generation in `Mason-Lease-Generation` with upstream's body unchanged (`/acquirebystate`
//! lists one per resource, in the body's order), renewals move
//! the deadline, and once it passed `/update` and `/release` are 409s that change
//! nothing. (The expiry loop itself: `lease_backend.rs`, and end to end with real
//! processes in the `mason` crate's `lease_ttl_e2e` tests.)

use std::time::Duration;

use crate::support::Harness;

const CONFIG: &str =
    "resources:\n- type: t1\n  names: [t1-a]\n  lease-ttl: 1m\n- type: t2\n  names: [t2-a, t2-b]\n";

fn after(t: mason_types::Timestamp, d: Duration) -> mason_types::Timestamp {
    t + chrono::Duration::from_std(d).unwrap()
}

#[tokio::test]
async fn acquire_sends_the_ttl_and_tells_the_generation() {
    let h = Harness::with_config(CONFIG).await;
    let got = h
        .post("/acquire?type=t2&state=free&dest=busy&owner=o&lease_ttl=90s")
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    let v2 = h.store.get_v2("t2-a").await.unwrap();
    assert_eq!(
        got.header("mason-lease-generation"),
        Some(v2.lease.generation.to_string().as_str())
    );
    assert_eq!(got.body, v2.resource.to_wire_json(), "upstream's body");
    assert!(!got.body.contains("generation") && !got.body.contains("lease"));
    assert_eq!(v2.lease.lease_ttl, Some(Duration::from_secs(90)));
    assert_eq!(
        v2.lease.lease_deadline,
        Some(after(v2.resource.lastupdate, Duration::from_secs(90)))
    );

    // Without the parameter: the type's TTL, or none.
    h.post("/acquire?type=t1&state=free&dest=busy&owner=o")
        .await
        .assert_text_ok(&h.store.get("t1-a").await.unwrap().to_wire_json());
    let typed = h.store.get_v2("t1-a").await.unwrap().lease;
    assert_eq!(typed.lease_ttl, Some(Duration::from_secs(60)));
    let by_state = h
        .post("/acquirebystate?state=free&dest=busy&owner=o&names=t2-b")
        .await;
    assert_eq!(by_state.status, 200, "{}", by_state.body);
    assert_eq!(h.store.get_v2("t2-b").await.unwrap().lease.lease_ttl, None);
}

#[tokio::test]
async fn acquirebystate_sends_the_ttl() {
    let h = Harness::with_config(CONFIG).await;
    let got = h
        .post("/acquirebystate?state=free&dest=busy&owner=o&names=t2-a,t2-b&lease_ttl=2m")
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    let answered: Vec<serde_json::Value> = serde_json::from_str(&got.body).unwrap();
    let mut generations = Vec::new();
    let mut upstream = Vec::new();
    for r in &answered {
        let name = r["name"].as_str().unwrap();
        let v2 = h.store.get_v2(name).await.unwrap();
        assert_eq!(v2.lease.lease_ttl, Some(Duration::from_secs(120)), "{name}");
        generations.push(v2.lease.generation.to_string());
        upstream.push(v2.resource);
    }
    assert_eq!(answered.len(), 2);
    // The generations in the body's order; the body is upstream's, byte for byte.
    assert_eq!(
        got.header("mason-lease-generation"),
        Some(generations.join(", ").as_str())
    );
    let mut body = mason_types::json::to_go_json(&upstream).unwrap();
    body.push('\n');
    assert_eq!(got.body, body);
}

#[tokio::test]
async fn renewals_move_the_deadline_and_a_passed_one_is_a_409() {
    let h = Harness::with_config(CONFIG).await;
    h.post("/acquire?type=t1&state=free&dest=busy&owner=o")
        .await;
    h.clock.advance(Duration::from_secs(50));
    h.post("/update?name=t1-a&owner=o&state=busy")
        .await
        .assert_empty_ok();
    let renewed = h.store.get_v2("t1-a").await.unwrap();
    let deadline = after(renewed.resource.lastupdate, Duration::from_secs(60));
    assert_eq!(renewed.lease.lease_deadline, Some(deadline));
    h.clock.advance(Duration::from_secs(61));
    let text = |prefix: &str| {
        format!(
            "{prefix}resource t1-a: the lease expired at {}",
            deadline.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )
    };
    h.post("/update?name=t1-a&owner=o&state=busy")
        .await
        .assert_error(409, &text("Update failed: t1-a - busy (o): "));
    let generation = renewed.lease.generation;
    h.post(&format!(
        "/release?name=t1-a&dest=free&owner=o&generation={generation}"
    ))
    .await
    .assert_error(409, &text("Done failed: t1-a - free (from o): "));
    assert_eq!(h.store.get_v2("t1-a").await.unwrap(), renewed, "unchanged");
}
