//! The lease-safety query parameters (issue 12): `lease_ttl=` on `/acquire` and
//! `/acquirebystate`, capped by `--max-lease-ttl`, and `generation=` on `/release` and
//! `/update`. A bad value is a 400 with a clear text and changes nothing; upstream's own
//! checks (method, required parameters) still come first with their texts.

use std::time::Duration;

use crate::support::Harness;

const CONFIG: &str = "resources:\n- type: t1\n  names: [t1-a]\n";

/// `(state, owner)` of `t1-a`.
async fn t1a(h: &Harness) -> (String, String) {
    let r = h.store.get("t1-a").await.unwrap();
    (r.state, r.owner)
}

#[tokio::test]
async fn a_bad_lease_ttl_is_a_400_and_acquires_nothing() {
    let h = Harness::with_config(CONFIG).await;
    let cases = [
        (
            "lease_ttl=25h",
            "lease_ttl 25h0m0s is over the server's maximum 24h0m0s (--max-lease-ttl)",
        ),
        ("lease_ttl=0s", "lease_ttl must be more than 0"),
        (
            "lease_ttl=soon",
            "lease_ttl: time: invalid duration \"soon\"",
        ),
        (
            "lease_ttl=-1m",
            "lease_ttl: negative duration \"-1m\" is not allowed",
        ),
    ];
    for (query, text) in cases {
        let acquire = format!("/acquire?type=t1&state=free&dest=busy&owner=o&{query}");
        h.post(&acquire).await.assert_error(400, text);
        let by_state = format!("/acquirebystate?state=free&dest=busy&owner=o&names=t1-a&{query}");
        h.post(&by_state).await.assert_error(400, text);
        assert_eq!(t1a(&h).await, ("free".into(), "".into()), "{query}");
    }
}

#[tokio::test]
async fn the_cap_is_the_servers_max_lease_ttl() {
    let h = Harness::with_config(CONFIG).await;
    h.state.lease().set_max_lease_ttl(Duration::from_secs(60));
    h.post("/acquire?type=t1&state=free&dest=busy&owner=o&lease_ttl=61s")
        .await
        .assert_error(
            400,
            "lease_ttl 1m1s is over the server's maximum 1m0s (--max-lease-ttl)",
        );
    assert_eq!(t1a(&h).await, ("free".into(), "".into()));
    let ok = h
        .post("/acquire?type=t1&state=free&dest=busy&owner=o&lease_ttl=1m")
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(t1a(&h).await, ("busy".into(), "o".into()));
}

#[tokio::test]
async fn upstream_checks_come_first_and_an_empty_value_is_absent() {
    let h = Harness::with_config(CONFIG).await;
    h.call("GET", "/acquire?lease_ttl=bad", "")
        .await
        .assert_error(405, "Method GET, /acquire only accepts POST.");
    h.post("/acquire?type=t1&lease_ttl=bad").await.assert_error(
        400,
        "Bad request: Type: t1, state: , dest: , owner: , all of them must be set in the request.",
    );
    h.post("/release?name=t1-a&generation=x")
        .await
        .assert_error(
            400,
            "Name: t1-a, dest: , owner: , all of them must be set in the request.",
        );
    let ok = h
        .post("/acquirebystate?state=free&dest=busy&owner=o&names=t1-a&lease_ttl=")
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    h.post("/update?name=t1-a&owner=o&state=busy&generation=")
        .await
        .assert_empty_ok();
}

#[tokio::test]
async fn a_bad_generation_is_a_400_and_changes_nothing() {
    let h = Harness::with_config(CONFIG).await;
    h.lease("t1-a", "free", "busy", "o").await;
    let before = h.store.get("t1-a").await.unwrap();
    h.clock.advance(Duration::from_secs(5));
    for bad in ["-1", "1.5", "x", "99999999999999999999999"] {
        let text = format!(
            "generation must be a whole number (the one the lease was granted with), got {bad:?}"
        );
        h.post(&format!(
            "/release?name=t1-a&dest=dirty&owner=o&generation={bad}"
        ))
        .await
        .assert_error(400, &text);
        h.call(
            "POST",
            &format!("/update?name=t1-a&owner=o&state=busy&generation={bad}"),
            r#"{"k":"v"}"#,
        )
        .await
        .assert_error(400, &text);
    }
    assert_eq!(h.store.get("t1-a").await.unwrap(), before);
}

#[tokio::test]
async fn a_stale_generation_is_a_409_naming_both_and_changes_nothing() {
    let h = Harness::with_config(CONFIG).await;
    h.lease("t1-a", "free", "busy", "o").await;
    let granted = h.store.get_v2("t1-a").await.unwrap();
    let current = granted.lease.generation;
    let stale = current - 1;
    h.clock.advance(Duration::from_secs(5));
    let text = |prefix: &str| {
        format!("{prefix}resource t1-a: generation {stale} is stale, the current generation is {current}")
    };
    h.post(&format!(
        "/release?name=t1-a&dest=dirty&owner=o&generation={stale}"
    ))
    .await
    .assert_error(409, &text("Done failed: t1-a - dirty (from o): "));
    h.call(
        "POST",
        &format!("/update?name=t1-a&owner=o&state=busy&generation={stale}"),
        r#"{"k":"v"}"#,
    )
    .await
    .assert_error(409, &text("Update failed: t1-a - busy (o): "));
    assert_eq!(h.store.get_v2("t1-a").await.unwrap(), granted, "unchanged");

    // The current generation renews and releases.
    h.post(&format!(
        "/update?name=t1-a&owner=o&state=busy&generation={current}"
    ))
    .await
    .assert_empty_ok();
    h.post(&format!(
        "/release?name=t1-a&dest=dirty&owner=o&generation={current}"
    ))
    .await
    .assert_empty_ok();
    let released = h.store.get_v2("t1-a").await.unwrap();
    assert_eq!(
        (
            released.resource.state.as_str(),
            released.resource.owner.as_str()
        ),
        ("dirty", "")
    );
    assert!(released.lease.generation > current);
}
