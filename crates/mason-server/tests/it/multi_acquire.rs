//! `POST /api/v2/acquire` (issue 12), the bad-input line: malformed JSON, an unknown key,
//! a count of 0 or over 1,000, an empty `resources`, a `lease_ttl` over the cap (and the
//! other checks of `MultiAcquireBody::problems`) each get a 400 with a clear text, and
//! nothing changes: the resources and the request queue are as before.

use mason_store::ResourceFilter;

use crate::support::Harness;

const CONFIG: &str = "resources:\n- type: a\n  names: [a-1, a-2]\n- type: b\n  names: [b-1]\n";

/// Everything a refused request must leave alone.
async fn snapshot(h: &Harness) -> String {
    let resources = h.store.list(&ResourceFilter::default()).await.unwrap();
    let queue = h.store.queue().await.unwrap();
    format!("{resources:?}\n{queue:?}")
}

#[tokio::test]
async fn bad_bodies_get_400_and_change_nothing() {
    let h = Harness::with_config(CONFIG).await;
    let before = snapshot(&h).await;
    let item = r#"{"type":"a","state":"free","dest":"busy"}"#;
    let cases: Vec<(String, &str)> = vec![
        ("{\"owner\":".into(), "invalid request body: EOF while parsing a value"),
        ("not json".into(), "invalid request body: expected ident at line 1 column 2"),
        ("".into(), "invalid request body: EOF while parsing a value at line 1 column 0"),
        (
            r#"{"owner":"o","resources":[{"type":"a","state":"free","dest":"busy","cout":2}]}"#.into(),
            "invalid request body: unknown field `cout`",
        ),
        (
            format!(r#"{{"owner":"o","request_id":"r1","resources":[{item}],"colour":"red"}}"#),
            "invalid request body: unknown field `colour`",
        ),
        (
            r#"{"owner":"o","resources":[{"type":"a","state":"free","dest":"busy","count":0}]}"#.into(),
            "resources[0].count must be between 1 and 1000, got 0",
        ),
        (
            r#"{"owner":"o","request_id":"r1","resources":[{"type":"a","state":"free","dest":"busy","count":1001}]}"#.into(),
            "resources[0].count must be between 1 and 1000, got 1001",
        ),
        (
            r#"{"owner":"o","request_id":"r1","resources":[]}"#.into(),
            "resources must list at least one item",
        ),
        (
            format!(r#"{{"owner":"o","lease_ttl":"25h","resources":[{item}]}}"#),
            "lease_ttl 25h0m0s is over the server's maximum 24h0m0s (--max-lease-ttl)",
        ),
        (
            format!(r#"{{"owner":"o","lease_ttl":"0s","resources":[{item}]}}"#),
            "lease_ttl must be more than 0",
        ),
        (
            format!(r#"{{"owner":"o","lease_ttl":"soon","resources":[{item}]}}"#),
            "invalid request body: time: invalid duration \"soon\"",
        ),
        (
            format!(r#"{{"owner":"o","wait":"61s","resources":[{item}]}}"#),
            "wait 1m1s is longer than the 1m0s allowed",
        ),
        (
            format!(r#"{{"owner":"","resources":[{item}]}}"#),
            "owner must be set",
        ),
        (
            format!(r#"{{"owner":"o","resources":[{item},{item}]}}"#),
            "resources[1] asks again for type \"a\" in state \"free\" (as resources[0]); use one item with a count",
        ),
        (
            r#"{"owner":"","resources":[{"type":"","state":"free","dest":"busy","count":0}]}"#.into(),
            "owner must be set; resources[0].type must be set; resources[0].count must be between 1 and 1000, got 0",
        ),
    ];
    for (body, text) in cases {
        let reply = h.call("POST", "/api/v2/acquire", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert!(reply.body.contains(text), "{body}: {}", reply.body);
        assert!(reply.body.ends_with('\n'));
        assert_eq!(reply.content_type(), Some("text/plain; charset=utf-8"));
        assert_eq!(snapshot(&h).await, before, "{body} changed something");
    }
}

#[tokio::test]
async fn the_cap_follows_max_lease_ttl_and_a_huge_body_is_a_413() {
    let h = Harness::with_config(CONFIG).await;
    h.state
        .lease()
        .set_max_lease_ttl(std::time::Duration::from_secs(60));
    let before = snapshot(&h).await;
    let body =
        r#"{"owner":"o","lease_ttl":"2m","resources":[{"type":"a","state":"free","dest":"busy"}]}"#;
    h.call("POST", "/api/v2/acquire", body).await.assert_error(
        400,
        "lease_ttl 2m0s is over the server's maximum 1m0s (--max-lease-ttl)",
    );
    let huge = format!(
        r#"{{"owner":"{}"}}"#,
        "x".repeat(mason_server::MAX_BODY_BYTES)
    );
    let reply = h.call("POST", "/api/v2/acquire", huge).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(snapshot(&h).await, before);
}

#[tokio::test]
async fn a_valid_set_is_not_granted_without_store_support() {
    let h = Harness::with_config(CONFIG).await;
    let before = snapshot(&h).await;
    let body = r#"{"owner":"o","request_id":"r1","resources":[{"type":"a","state":"free","dest":"busy","count":2},{"type":"b","state":"free","dest":"busy"}]}"#;
    h.call("POST", "/api/v2/acquire", body).await.assert_error(
        501,
        "multi-resource acquire is not available yet: this server's store cannot grant a set of resources in one transaction",
    );
    assert_eq!(snapshot(&h).await, before);
    let reply = h.get("/api/v2/acquire").await;
    assert_eq!(reply.status, 405);
}
