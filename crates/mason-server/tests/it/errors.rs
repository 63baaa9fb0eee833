//! Every status code and error text of SPEC §3 (and the wire log's real-server answers),
//! plus content types and the catch-all.

use crate::support::Harness;

const CONFIG: &str =
    "resources:\n- type: t1\n  names: [t1-a, t1-b]\n- type: other\n  state: dirty\n  names: [o1]\n";

#[tokio::test]
async fn wrong_methods_get_405_with_upstream_texts() {
    let h = Harness::with_config(CONFIG).await;
    let cases = [
        (
            "GET",
            "/acquire?type=t1&state=free&dest=busy&owner=x",
            "Method GET, /acquire only accepts POST.",
        ),
        ("PUT", "/acquire", "Method PUT, /acquire only accepts POST."),
        (
            "GET",
            "/acquirebystate?state=free&dest=busy&owner=x&names=t1-a",
            "Method GET, /acquire only accepts POST.",
        ),
        (
            "DELETE",
            "/release?name=t1-a&dest=free&owner=x",
            "Method DELETE, /release only accepts POST.",
        ),
        (
            "GET",
            "/update?name=t1-a&owner=x&state=free",
            "Method GET, /update only accepts POST.",
        ),
        (
            "GET",
            "/reset?type=t1&state=busy&dest=dirty&expire=1h",
            "Method GET, /reset only accepts POST.",
        ),
        ("POST", "/metric?type=t1", "/metric only accepts GET"),
    ];
    for (method, uri, text) in cases {
        h.call(method, uri, "").await.assert_error(405, text);
    }
}

#[tokio::test]
async fn missing_parameters_get_400_with_upstream_texts() {
    let h = Harness::with_config(CONFIG).await;
    let cases = [
        (
            "/acquire?type=t1&state=free&owner=x",
            "Bad request: Type: t1, state: free, dest: , owner: x, all of them must be set in the request.",
        ),
        (
            "/acquire",
            "Bad request: Type: , state: , dest: , owner: , all of them must be set in the request.",
        ),
        (
            "/acquirebystate?state=free&dest=busy&owner=x",
            "state: free, dest: busy, owner: x, names:  - all of them must be set in the request.",
        ),
        ("/release?name=t1-a&owner=x", "Name: t1-a, dest: , owner: x, all of them must be set in the request."),
        ("/update?name=t1-a&owner=x", "Name: t1-a, owner: x, state : , all of them must be set in the request."),
        (
            "/reset?type=t1&state=busy&dest=dirty",
            "Type: t1, state: busy, expire: , dest: dirty, all of them must be set in the request.",
        ),
    ];
    for (uri, text) in cases {
        h.post(uri).await.assert_error(400, text);
    }
    h.get("/metric")
        .await
        .assert_error(400, "Type must be set in the request.");
    h.get("/metric?type=")
        .await
        .assert_error(400, "Type must be set in the request.");
}

#[tokio::test]
async fn acquire_404_tells_unknown_type_from_nothing_free() {
    let h = Harness::with_config(CONFIG).await;
    h.post("/acquire?dest=busy&owner=d&state=free&type=no-such-type")
        .await
        .assert_error(
            404,
            "Acquire failed: resource type \"no-such-type\" does not exist",
        );
    h.post("/acquire?dest=busy&owner=d&state=no-such-state&type=t1")
        .await
        .assert_error(
            404,
            "Acquire failed: no available resource t1, try again later.",
        );
    h.post("/acquire?dest=busy&owner=d&state=dirty&type=other")
        .await
        .assert_text_ok_prefix();
    h.post("/acquire?dest=busy&owner=d&state=dirty&type=other")
        .await
        .assert_error(
            404,
            "Acquire failed: no available resource other, try again later.",
        );
}

#[tokio::test]
async fn acquire_by_state_404_names_the_state() {
    let h = Harness::with_config(CONFIG).await;
    h.post("/acquirebystate?dest=busy&names=no-such-resource&owner=d&state=dirty")
        .await
        .assert_error(
            404,
            "AcquireByState: no available resource dirty, try again later.",
        );
    // An empty element never matches, and nothing is leaked.
    h.post("/acquirebystate?state=free&dest=busy&owner=x&names=t1-b,")
        .await
        .assert_error(
            404,
            "AcquireByState: no available resource free, try again later.",
        );
    h.post("/acquirebystate?state=free&dest=busy&owner=x&names=t1-b,nope")
        .await
        .assert_error(
            404,
            "AcquireByState: no available resource free, try again later.",
        );
    assert_eq!(h.store.get("t1-b").await.unwrap().owner, "");
}

#[tokio::test]
async fn release_errors() {
    let h = Harness::with_config(CONFIG).await;
    h.post("/release?name=nope&dest=free&owner=x")
        .await
        .assert_error(
            404,
            "Done failed: nope - free (from x): no available resource nope, try again later.",
        );
    h.lease("t1-a", "free", "busy", "upstream-go-driver").await;
    h.post("/release?dest=free&name=t1-a&owner=upstream-go-intruder").await.assert_error(
        401,
        "Done failed: t1-a - free (from upstream-go-intruder): owner mismatch request by upstream-go-intruder, currently owned by upstream-go-driver",
    );
    // Releasing an unowned resource is an owner mismatch too.
    h.post("/release?dest=free&name=t1-b&owner=x")
        .await
        .assert_error(
            401,
            "Done failed: t1-b - free (from x): owner mismatch request by x, currently owned by ",
        );
    h.post("/release?dest=free&name=t1-a&owner=upstream-go-driver")
        .await
        .assert_empty_ok();
}

#[tokio::test]
async fn update_errors() {
    let h = Harness::with_config(CONFIG).await;
    h.post("/update?name=nope&owner=x&state=free")
        .await
        .assert_error(
            404,
            "Update failed: nope - free (x): no available resource nope, try again later.",
        );
    h.lease("t1-a", "free", "busy", "upstream-go-driver").await;
    h.post("/update?name=t1-a&owner=upstream-go-driver&state=free").await.assert_error(
        409,
        "Update failed: t1-a - free (upstream-go-driver): state mismatch - expected busy, current free",
    );
    h.post("/update?name=t1-a&owner=x&state=busy").await.assert_error(
        401,
        "Update failed: t1-a - busy (x): owner mismatch request by x, currently owned by upstream-go-driver",
    );
}

#[tokio::test]
async fn update_body_decoding() {
    let h = Harness::with_config(CONFIG).await;
    h.lease("t1-a", "free", "busy", "o").await;
    let uri = "/update?name=t1-a&owner=o&state=busy";
    for bad in ["not json", "[1]", "\"x\"", "5", "{\"a\":1}", "{\"a\":"] {
        let reply = h.call("POST", uri, bad).await;
        assert_eq!(reply.status, 400, "{bad:?}: {reply:?}");
        assert!(
            reply.body.starts_with("cannot decode user data: "),
            "{bad:?}: {}",
            reply.body
        );
        assert!(reply.body.ends_with('\n'));
        assert_eq!(reply.content_type(), Some("text/plain; charset=utf-8"));
    }
    for no_change in ["", "  \n", "null", "null\n", "{}"] {
        h.call("POST", uri, no_change).await.assert_empty_ok();
    }
    // Like Go's decoder, only the first value is read.
    h.call("POST", uri, "{\"k\":\"v\"}\n{\"ignored\":\"x\"}")
        .await
        .assert_empty_ok();
    let r = h.store.get("t1-a").await.unwrap();
    assert_eq!(r.userdata.get("k"), Some("v"));
    assert_eq!(r.userdata.len(), 1);
    // A null member deletes, like Go's "" after decoding.
    h.call("POST", uri, "{\"k\":null}").await.assert_empty_ok();
    assert!(h.store.get("t1-a").await.unwrap().userdata.is_empty());
    // Too large.
    let huge = format!("{{\"k\":\"{}\"}}", "x".repeat(mason_server::MAX_BODY_BYTES));
    assert_eq!(h.call("POST", uri, huge).await.status, 413);
}

#[tokio::test]
async fn reset_bad_duration_and_unknown_type() {
    let h = Harness::with_config(CONFIG).await;
    h.post("/reset?type=t1&state=busy&dest=dirty&expire=banana")
        .await
        .assert_error(400, "time: invalid duration \"banana\"");
    h.post("/reset?type=t1&state=busy&dest=dirty&expire=woooo")
        .await
        .assert_error(400, "time: invalid duration \"woooo\"");
    h.post("/reset?type=nope&state=busy&dest=dirty&expire=1h")
        .await
        .assert_text_ok("{}");
}

#[tokio::test]
async fn metric_answers() {
    let h = Harness::with_config(CONFIG).await;
    h.get("/metric?type=no-such-type")
        .await
        .assert_error(404, "no available resource no-such-type, try again later.");
    let reply = h.get("/metric?type=t1").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type(), Some("application/json"));
    assert_eq!(
        reply.body,
        r#"{"type":"t1","current":{"free":2},"owner":{"":2}}"#
    );
    h.lease("t1-a", "free", "busy", "x").await;
    let reply = h.get("/metric?type=t1").await;
    assert_eq!(
        reply.body,
        r#"{"type":"t1","current":{"busy":1,"free":1},"owner":{"":1,"x":1}}"#
    );
}

#[tokio::test]
async fn catch_all_answers_200_empty() {
    let h = Harness::empty();
    for (method, uri) in [
        ("GET", "/"),
        ("GET", "/foo/bar"),
        ("POST", "/acquire/?type=t1&state=free&dest=busy&owner=x"),
        ("DELETE", "/"),
        ("POST", "/healthz"),
        ("PUT", "/metrics"),
        ("POST", "/metric/"),
    ] {
        let reply = h.call(method, uri, "").await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, ""),
            "{method} {uri}"
        );
        assert_eq!(reply.content_type(), None, "{method} {uri}");
        assert_eq!(
            reply.header(mason_types::headers::UNKNOWN_PATH),
            Some("true"),
            "{method} {uri}: the catch-all says so"
        );
    }
}

#[tokio::test]
async fn success_bodies_and_content_types() {
    let h = Harness::with_config(CONFIG).await;
    let reply = h
        .post("/acquire?dest=busy&owner=me&state=free&type=t1")
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type(), Some("text/plain; charset=utf-8"));
    assert!(!reply.body.ends_with('\n'), "acquire: no trailing newline");
    let r: mason_types::Resource = serde_json::from_str(&reply.body).unwrap();
    assert_eq!((r.state.as_str(), r.owner.as_str()), ("busy", "me"));

    let reply = h
        .post(&format!("/release?dest=dirty&name={}&owner=me", r.name))
        .await;
    reply.assert_empty_ok();
    assert_eq!(
        reply.header(mason_types::headers::UNKNOWN_PATH),
        None,
        "a real route's empty 200 is not the catch-all's"
    );
    let reply = h
        .post(&format!(
            "/acquirebystate?dest=busy&names={}&owner=me&state=dirty",
            r.name
        ))
        .await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.starts_with('[') && reply.body.ends_with("]\n"),
        "{}",
        reply.body
    );
    // Query values are URL-decoded (the Go client sends `,` as %2C and spaces as `+`).
    let reply = h
        .post("/acquirebystate?dest=busy&names=t1-b%2Co1&owner=a+b&state=free")
        .await;
    reply.assert_error(
        404,
        "AcquireByState: no available resource free, try again later.",
    );
    h.post("/acquire?dest=busy&owner=a+b&state=free&type=t1")
        .await
        .assert_text_ok_prefix();
    assert_eq!(h.store.get("t1-b").await.unwrap().owner, "a b");
}

impl crate::support::Reply {
    /// A 200 resource body as text (content checked elsewhere).
    #[track_caller]
    fn assert_text_ok_prefix(&self) {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.content_type(), Some("text/plain; charset=utf-8"));
        assert!(self.body.starts_with("{\"type\":"), "{}", self.body);
    }
}

#[tokio::test]
async fn nul_characters_are_refused_and_change_nothing() {
    let h = Harness::with_config(CONFIG).await;
    h.lease("t1-a", "free", "busy", "o").await;
    let before = h.store.list(&Default::default()).await.unwrap();
    for uri in [
        "/acquire?type=t1%00&state=free&dest=busy&owner=o",
        "/release?name=t1-a&dest=free&owner=o%00",
        "/update?name=t1-a&owner=o&state=busy&x%00=1",
        "/metric?type=%00",
    ] {
        let method = if uri.starts_with("/metric") {
            "GET"
        } else {
            "POST"
        };
        h.call(method, uri, "")
            .await
            .assert_error(400, "query parameters must not contain NUL characters");
    }
    h.call(
        "POST",
        "/update?name=t1-a&owner=o&state=busy",
        "{\"k\":\"a\\u0000b\"}",
    )
    .await
    .assert_error(400, "user data must not contain NUL characters");
    assert_eq!(h.store.list(&Default::default()).await.unwrap(), before);
}
