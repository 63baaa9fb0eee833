//! Every upstream golden file (`handlers/testdata`), replayed against our router: the
//! bodies we answer must equal the bytes upstream's server wrote, and the request bodies
//! upstream's client sent must be accepted with upstream's effect.

use std::collections::BTreeSet;

use crate::support::{golden, golden_dir, Harness};

/// Every golden file a test below uses; `every_golden_file_is_used` checks the directory
/// holds no other.
const USED: &[&str] = &[
    "testacquire-ok.golden",
    "testacquirebystate-alreadyowned-request-1.golden",
    "testacquirebystate-alreadyowned-response.golden",
    "testacquirebystate-existing-request-1.golden",
    "testacquirebystate-existing-response.golden",
    "testacquirebystate-nonames-request-1.golden",
    "testacquirebystate-nonames-request-2.golden",
    "testacquirebystate-nonames-request-3.golden",
    "testacquirebystate-nonames-request-4.golden",
    "testacquirebystate-nonames-response.golden",
    "testacquirebystate-nostate-request-1.golden",
    "testacquirebystate-nostate-response.golden",
    "testacquireupdate-existinginfo-request-1.golden",
    "testacquireupdate-existinginfo-request-2.golden",
    "testacquireupdate-existinginfo-response.golden",
    "testacquireupdate-noinfo-request-1.golden",
    "testacquireupdate-noinfo-request-2.golden",
    "testacquireupdate-noinfo-response.golden",
    "testclientserverupdate-deleteuserdata-request-1.golden",
    "testclientserverupdate-deleteuserdata-request-2.golden",
    "testclientserverupdate-deleteuserdata-response.golden",
    "testclientserverupdate-newuserdata-request-1.golden",
    "testclientserverupdate-newuserdata-request-2.golden",
    "testclientserverupdate-newuserdata-response.golden",
    "testclientserverupdate-nouserdata-request-1.golden",
    "testclientserverupdate-nouserdata-request-2.golden",
    "testclientserverupdate-nouserdata-response.golden",
    "testclientserverupdate-overrideuserdata-request-1.golden",
    "testclientserverupdate-overrideuserdata-request-2.golden",
    "testclientserverupdate-overrideuserdata-response.golden",
    "testclientserverupdate-userdata-request-1.golden",
    "testclientserverupdate-userdata-request-2.golden",
    "testclientserverupdate-userdata-response.golden",
    "testrelease-ok.golden",
    "testreset-empty_-_has_no_owner.golden",
    "testreset-empty_-_no_match_state.golden",
    "testreset-empty_-_no_match_type.golden",
    "testreset-empty_-_not_expire.golden",
    "testreset-ok.golden",
    "testupdate-ok.golden",
];

#[test]
fn every_golden_file_is_used() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(golden_dir())
        .expect("list golden dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let used: BTreeSet<String> = USED.iter().map(|s| s.to_string()).collect();
    assert_eq!(on_disk, used, "golden files and tests disagree");
}

/// The body of a `request-1` golden: the client's first request (acquire or
/// acquirebystate) carried no body. We send it as is; the server must not care.
fn request_1(case: &str) -> String {
    let body = golden(&format!("{case}-request-1.golden"));
    assert!(
        body.is_empty(),
        "{case}: upstream's first request has no body"
    );
    body
}

#[tokio::test]
async fn acquire_ok() {
    let h = Harness::with_config("resources:\n- type: t\n  state: s\n  names: [res]\n").await;
    let reply = h.post("/acquire?type=t&state=s&dest=d&owner=o").await;
    reply.assert_text_ok(&golden("testacquire-ok.golden"));
}

#[tokio::test]
async fn acquire_by_state_existing() {
    let case = "testacquirebystate-existing";
    let h = Harness::with_config(
        "resources:\n- type: type1\n  state: state1\n  names: [test1]\n- type: type2\n  state: state1\n  names: [test2]\n- type: type3\n  state: state1\n  names: [test3]\n",
    )
    .await;
    let reply = h
        .call(
            "POST",
            "/acquirebystate?state=state1&dest=newState&owner=owner&names=test2,test3",
            request_1(case),
        )
        .await;
    reply.assert_text_ok(&golden(&format!("{case}-response.golden")));
}

#[tokio::test]
async fn acquire_by_state_already_owned() {
    let case = "testacquirebystate-alreadyowned";
    let h = Harness::with_config(
        "resources:\n- type: type1\n  state: state1\n  names: [test1, test2]\n",
    )
    .await;
    h.lease("test1", "state1", "state1", "someone").await;
    let reply = h
        .call(
            "POST",
            "/acquirebystate?state=state1&dest=newState&owner=owner&names=test1,test2",
            request_1(case),
        )
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body, golden(&format!("{case}-response.golden")));
    reply.assert_error(404, reply.body.trim_end_matches('\n'));
    // Atomic (unlike upstream): test2 was not leaked to `owner`.
    assert_eq!(h.store.get("test2").await.unwrap().owner, "");
}

#[tokio::test]
async fn acquire_by_state_no_names() {
    let case = "testacquirebystate-nonames";
    let h = Harness::with_config("resources:\n- type: type1\n  state: state1\n  names: [test1]\n")
        .await;
    let expected = golden(&format!("{case}-response.golden"));
    // Upstream's client retried this 400 four times with the same (empty) body.
    for n in 1..=4 {
        let body = golden(&format!("{case}-request-{n}.golden"));
        let reply = h
            .call(
                "POST",
                "/acquirebystate?state=state1&dest=newState&owner=owner",
                body,
            )
            .await;
        reply.assert_error(400, expected.trim_end_matches('\n'));
    }
}

#[tokio::test]
async fn acquire_by_state_no_state() {
    let case = "testacquirebystate-nostate";
    let h =
        Harness::with_config("resources:\n- type: type1\n  state: otherState\n  names: [test1]\n")
            .await;
    let reply = h
        .call(
            "POST",
            "/acquirebystate?state=state1&dest=newState&owner=owner&names=test1",
            request_1(case),
        )
        .await;
    let expected = golden(&format!("{case}-response.golden"));
    reply.assert_error(404, expected.trim_end_matches('\n'));
}

/// Acquire (request 1), check the body, then send upstream client's update body
/// (request 2) and check the stored user data.
async fn acquire_then_update(
    case: &str,
    initial_state: &str,
    dest: &str,
    seed: &[(&str, &str)],
    expect: &[(&str, &str)],
) {
    let h = Harness::with_config(&format!(
        "resources:\n- type: type\n  state: {initial_state}\n  names: [test]\n"
    ))
    .await;
    if !seed.is_empty() {
        h.seed_userdata("test", initial_state, seed).await;
    }
    let reply = h
        .call(
            "POST",
            &format!("/acquire?type=type&state={initial_state}&dest={dest}&owner=owner"),
            request_1(case),
        )
        .await;
    reply.assert_text_ok(&golden(&format!("{case}-response.golden")));

    let body = golden(&format!("{case}-request-2.golden"));
    let reply = h
        .call(
            "POST",
            &format!("/update?name=test&owner=owner&state={dest}"),
            body,
        )
        .await;
    reply.assert_empty_ok();
    let stored = h.store.get("test").await.unwrap();
    let got: Vec<(String, String)> = stored
        .userdata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let want: Vec<(String, String)> = expect
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want, "{case}: user data after update");
    assert_eq!(
        (stored.state.as_str(), stored.owner.as_str()),
        (dest, "owner")
    );
}

#[tokio::test]
async fn acquire_update_existing_info() {
    acquire_then_update(
        "testacquireupdate-existinginfo",
        "free",
        "acquired",
        &[("test", "old")],
        &[("test", "new")],
    )
    .await;
}

#[tokio::test]
async fn acquire_update_no_info() {
    acquire_then_update(
        "testacquireupdate-noinfo",
        "free",
        "acquired",
        &[],
        &[("test", "new")],
    )
    .await;
}

#[tokio::test]
async fn client_server_update_override() {
    acquire_then_update(
        "testclientserverupdate-overrideuserdata",
        "state1",
        "state2",
        &[("1", "1")],
        &[("1", "2")],
    )
    .await;
}

#[tokio::test]
async fn client_server_update_new() {
    acquire_then_update(
        "testclientserverupdate-newuserdata",
        "state1",
        "state2",
        &[("1", "1")],
        &[("1", "1"), ("2", "2")],
    )
    .await;
}

#[tokio::test]
async fn client_server_update_delete() {
    acquire_then_update(
        "testclientserverupdate-deleteuserdata",
        "state1",
        "state2",
        &[("1", "1"), ("2", "2")],
        &[("2", "2")],
    )
    .await;
}

#[tokio::test]
async fn client_server_update_empty_object() {
    acquire_then_update(
        "testclientserverupdate-nouserdata",
        "state1",
        "state2",
        &[],
        &[],
    )
    .await;
}

#[tokio::test]
async fn client_server_update_add_to_empty() {
    acquire_then_update(
        "testclientserverupdate-userdata",
        "state1",
        "state2",
        &[],
        &[("custom", "custom")],
    )
    .await;
}

#[tokio::test]
async fn release_ok() {
    let h = Harness::with_config("resources:\n- type: t\n  state: s\n  names: [res]\n").await;
    h.lease("res", "s", "busy", "o").await;
    let reply = h.post("/release?name=res&dest=d&owner=o").await;
    assert_eq!(reply.body, golden("testrelease-ok.golden"));
    reply.assert_empty_ok();
    let r = h.store.get("res").await.unwrap();
    assert_eq!((r.state.as_str(), r.owner.as_str()), ("d", ""));
}

#[tokio::test]
async fn update_ok() {
    let h = Harness::with_config("resources:\n- type: t\n  state: s\n  names: [res]\n").await;
    h.lease("res", "s", "s", "o").await;
    let before = h.store.get("res").await.unwrap().lastupdate;
    let reply = h.post("/update?name=res&owner=o&state=s").await;
    assert_eq!(reply.body, golden("testupdate-ok.golden"));
    reply.assert_empty_ok();
    assert!(
        h.store.get("res").await.unwrap().lastupdate > before,
        "heartbeat bumps lastupdate"
    );
}

const RESET_CONFIG: &str = "resources:\n- type: t\n  state: s\n  names: [res]\n";

#[tokio::test]
async fn reset_ok() {
    let h = Harness::with_config(RESET_CONFIG).await;
    h.lease("res", "s", "s", "user").await;
    h.clock.advance(std::time::Duration::from_secs(3600));
    let reply = h.post("/reset?type=t&state=s&expire=10m&dest=d").await;
    reply.assert_text_ok(&golden("testreset-ok.golden"));
    let r = h.store.get("res").await.unwrap();
    assert_eq!((r.state.as_str(), r.owner.as_str()), ("d", ""));
}

#[tokio::test]
async fn reset_has_no_owner() {
    let h = Harness::with_config(RESET_CONFIG).await;
    h.clock.advance(std::time::Duration::from_secs(3600));
    let reply = h.post("/reset?type=t&state=s&expire=10m&dest=d").await;
    reply.assert_text_ok(&golden("testreset-empty_-_has_no_owner.golden"));
}

#[tokio::test]
async fn reset_no_match_state() {
    let h = Harness::with_config(RESET_CONFIG).await;
    h.lease("res", "s", "s", "user").await;
    h.clock.advance(std::time::Duration::from_secs(3600));
    let reply = h.post("/reset?type=t&state=other&expire=10m&dest=d").await;
    reply.assert_text_ok(&golden("testreset-empty_-_no_match_state.golden"));
}

#[tokio::test]
async fn reset_no_match_type() {
    let h = Harness::with_config(RESET_CONFIG).await;
    h.lease("res", "s", "s", "user").await;
    h.clock.advance(std::time::Duration::from_secs(3600));
    let reply = h.post("/reset?type=other&state=s&expire=10m&dest=d").await;
    reply.assert_text_ok(&golden("testreset-empty_-_no_match_type.golden"));
}

#[tokio::test]
async fn reset_not_expired() {
    let h = Harness::with_config(RESET_CONFIG).await;
    h.lease("res", "s", "s", "user").await;
    let reply = h.post("/reset?type=t&state=s&expire=10m&dest=d").await;
    reply.assert_text_ok(&golden("testreset-empty_-_not_expire.golden"));
    assert_eq!(h.store.get("res").await.unwrap().owner, "user");
}
