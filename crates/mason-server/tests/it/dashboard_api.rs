//! What the dashboard reads and serves: `/ui` and its assets, `/api/v2/overview`,
//! `/api/v2/resources/{name}`, and the paged, searchable `/api/v2/resources`.

use std::collections::BTreeMap;

use mason_types::{Metric, Resource};
use serde_json::Value;

use crate::support::{Harness, Reply};

const CONFIG: &str = "resources:\n- type: t1\n  names: [t1-c, t1-a, t1-e, t1-b, t1-d]\n- type: t2\n  state: dirty\n  names: [t2-x]\n- type: dyn\n  state: dirty\n  min-count: 2\n  max-count: 4\n";

fn names(reply: &Reply) -> Vec<String> {
    let list: Vec<Resource> = serde_json::from_str(&reply.body).expect("a resource array");
    list.into_iter().map(|r| r.name).collect()
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn pages_walk_every_resource_once_in_name_order() {
    let h = Harness::with_config(CONFIG).await;
    let all = names(&h.get("/api/v2/resources?type=t1").await);
    assert_eq!(all.len(), 5);

    let mut seen = Vec::new();
    let mut uri = "/api/v2/resources?type=t1&limit=2".to_string();
    loop {
        let reply = h.get(&uri).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_type(), Some("application/json"));
        seen.extend(names(&reply));
        let Some(next) = header(&reply, "mason-next-cursor") else {
            assert_eq!(
                header(&reply, "link"),
                None,
                "the last page has no next link"
            );
            break;
        };
        let link = header(&reply, "link").expect("a next link");
        let expected = format!("</api/v2/resources?type=t1&limit=2&cursor={next}>; rel=\"next\"");
        assert_eq!(link, expected);
        uri = format!("/api/v2/resources?type=t1&limit=2&cursor={next}");
    }
    assert_eq!(seen, ["t1-a", "t1-b", "t1-c", "t1-d", "t1-e"]);

    // A lease moves a resource to the end of the plain (update-ordered) list, never
    // within a paged walk.
    h.clock.advance(std::time::Duration::from_secs(1));
    h.lease("t1-a", "free", "busy", "me").await;
    let plain = names(&h.get("/api/v2/resources?type=t1").await);
    assert_eq!(plain.last().map(String::as_str), Some("t1-a"));
    let first = h.get("/api/v2/resources?type=t1&limit=1").await;
    assert_eq!(names(&first), ["t1-a"]);
}

#[tokio::test]
async fn the_plain_call_is_unchanged_and_search_finds_names() {
    let h = Harness::with_config(CONFIG).await;
    let plain = h.get("/api/v2/resources").await;
    assert_eq!(header(&plain, "mason-next-cursor"), None);
    assert_eq!(names(&plain).len(), 8);
    let found = h.get("/api/v2/resources?q=T1-").await;
    let mut got = names(&found);
    got.sort();
    assert_eq!(got, ["t1-a", "t1-b", "t1-c", "t1-d", "t1-e"]);
    let paged = h.get("/api/v2/resources?q=x&limit=10").await;
    assert_eq!(names(&paged), ["t2-x"]);
    assert_eq!(header(&paged, "mason-next-cursor"), None);
}

#[tokio::test]
async fn bad_paging_is_refused_with_a_message() {
    let h = Harness::with_config(CONFIG).await;
    for (query, text) in [
        (
            "limit=0",
            "invalid limit \"0\": want a whole number from 1 to 10000",
        ),
        (
            "limit=100000",
            "invalid limit \"100000\": want a whole number from 1 to 10000",
        ),
        (
            "limit=many",
            "invalid limit \"many\": want a whole number from 1 to 10000",
        ),
        (
            "cursor=abc",
            "invalid cursor \"abc\": pass back the mason-next-cursor value of the previous page",
        ),
    ] {
        h.get(&format!("/api/v2/resources?{query}"))
            .await
            .assert_error(400, text);
    }
}

#[tokio::test]
async fn one_resource_by_name() {
    let h = Harness::with_config(CONFIG).await;
    let reply = h.get("/api/v2/resources/t2-x").await;
    assert_eq!(reply.status, 200);
    let r: Resource = serde_json::from_str(&reply.body).unwrap();
    assert_eq!((r.rtype.as_str(), r.state.as_str()), ("t2", "dirty"));
    h.get("/api/v2/resources/nope")
        .await
        .assert_error(404, "resource \"nope\" does not exist");
}

#[tokio::test]
async fn the_overview_has_the_counts_metric_reports() {
    let h = Harness::with_config(CONFIG).await;
    h.lease("t1-b", "free", "busy", "alice").await;
    h.clock.advance(std::time::Duration::from_secs(60));
    h.lease("t1-d", "free", "busy", "bob").await;
    // One caller waits in the queue for a dirty t1.
    let queued = h
        .post("/acquire?type=t1&state=dirty&dest=busy&owner=carol&request_id=r1")
        .await;
    assert_eq!(queued.status, 404);

    let reply = h.get("/api/v2/overview").await;
    assert_eq!(reply.status, 200);
    let overview: Value = serde_json::from_str(&reply.body).unwrap();
    let rows = overview["types"].as_array().unwrap();
    let types: Vec<&str> = rows.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["dyn", "t1", "t2"]);
    for row in rows {
        let t = row["type"].as_str().unwrap();
        let metric: Metric =
            serde_json::from_str(&h.get(&format!("/metric?type={t}")).await.body).unwrap();
        let states: BTreeMap<String, u64> = serde_json::from_value(row["states"].clone()).unwrap();
        assert_eq!(states, metric.current, "{t}");
        assert_eq!(row["total"], metric.current.values().sum::<u64>(), "{t}");
    }
    let t1 = &rows[1];
    assert_eq!(
        (t1["free"].as_u64(), t1["leased"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(t1["waiting"], 1);
    assert_eq!(t1["oldest_lease"]["name"], "t1-b");
    assert_eq!(t1["oldest_lease"]["owner"], "alice");
    assert_eq!(t1["dynamic"], Value::Null);
    let d = &rows[0]["dynamic"];
    assert_eq!(
        (d["min"].as_u64(), d["current"].as_u64(), d["max"].as_u64()),
        (Some(2), Some(2), Some(4))
    );
    assert_eq!(
        rows[0]["builder"],
        Value::Null,
        "no builder runs in this process"
    );
}

#[tokio::test]
async fn the_dashboard_is_embedded_and_locked_to_its_own_origin() {
    let h = Harness::empty();
    for (uri, content_type, needle) in [
        ("/ui", "text/html; charset=utf-8", "<title>Mason</title>"),
        ("/ui/", "text/html; charset=utf-8", "<title>Mason</title>"),
        (
            "/ui/app.js",
            "text/javascript; charset=utf-8",
            "EventSource",
        ),
        ("/ui/style.css", "text/css; charset=utf-8", ".bar"),
    ] {
        let reply = h.get(uri).await;
        assert_eq!(reply.status, 200, "{uri}");
        assert_eq!(reply.content_type(), Some(content_type), "{uri}");
        assert!(reply.body.contains(needle), "{uri}");
        let csp = header(&reply, "content-security-policy").expect("a CSP");
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
    }
    assert_eq!(h.get("/ui/secrets.txt").await.status, 404);
    // Other methods and `/` stay upstream's catch-all.
    h.post("/ui").await.assert_empty_ok();
    h.get("/").await.assert_empty_ok();
}
