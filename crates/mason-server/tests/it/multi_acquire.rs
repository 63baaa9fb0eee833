//! `POST /api/v2/acquire` (issue 12), the bad-input line: malformed JSON, an unknown key,
//! a count of 0 or over 1,000, an empty `resources`, a `lease_ttl` over the cap (and the
//! other checks of `MultiAcquireBody::problems`) each get a 400 with a clear text, and
//! nothing changes: the resources and the request queue are as before. A valid set over
//! the real store is granted whole (200, generations) or refused by name (404, 409).

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
async fn a_valid_set_is_granted_whole_or_refused_by_name() {
    let h = Harness::with_config(CONFIG).await;
    let body = r#"{"owner":"o","request_id":"r1","resources":[{"type":"a","state":"free","dest":"busy","count":2},{"type":"b","state":"free","dest":"busy"}]}"#;
    let reply = h.call("POST", "/api/v2/acquire", body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let granted: Vec<(&str, &str, u64)> = answer["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["owner"].as_str().unwrap(),
                r["generation"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        granted.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
        [("a-1", "o"), ("a-2", "o"), ("b-1", "o")]
    );
    let generations: Vec<String> = granted.iter().map(|g| g.2.to_string()).collect();
    assert_eq!(
        reply.header("mason-lease-generation"),
        Some(generations.join(", ").as_str())
    );
    for (name, _, generation) in &granted {
        assert_eq!(
            h.store.get_v2(name).await.unwrap().lease.generation,
            *generation
        );
    }
    assert!(
        h.store.queue().await.unwrap().is_empty(),
        "served: no place left"
    );

    // Nothing is free now: a 404 naming each short type, and nothing changes but the
    // request's places in the queues.
    let before = h.store.list(&ResourceFilter::default()).await.unwrap();
    let body = r#"{"owner":"p","request_id":"r2","priority":3,"resources":[{"type":"a","state":"free","dest":"busy"},{"type":"b","state":"free","dest":"busy"}]}"#;
    h.call("POST", "/api/v2/acquire", body).await.assert_error(
        404,
        "Acquire failed: not enough free resources: a in state free: 1 wanted, 0 free; b in state free: 1 wanted, 0 free (request_id r2 keeps its place in the queue of each type)",
    );
    assert_eq!(
        h.store.list(&ResourceFilter::default()).await.unwrap(),
        before
    );
    let queue: serde_json::Value =
        serde_json::from_str(&h.get("/api/v2/queue").await.body).unwrap();
    let places: Vec<(&str, &str, i64, i64)> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["type"].as_str().unwrap(),
                q["request_id"].as_str().unwrap(),
                q["priority"].as_i64().unwrap(),
                q["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(places, [("a", "r2", 3, 1), ("b", "r2", 3, 1)]);

    // A type nobody has is a 409, and changes nothing.
    let snapshot_before = snapshot(&h).await;
    let body = r#"{"owner":"o","resources":[{"type":"a","state":"free","dest":"busy"},{"type":"nope","state":"free","dest":"busy"}]}"#;
    h.call("POST", "/api/v2/acquire", body)
        .await
        .assert_error(409, "Acquire failed: resource type \"nope\" does not exist");
    assert_eq!(snapshot(&h).await, snapshot_before);
    let reply = h.get("/api/v2/acquire").await;
    assert_eq!(reply.status, 405);
}
