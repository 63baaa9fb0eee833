//! Our additions: health, Prometheus metrics, `/api/v2`, and how store faults are answered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_server::ConfigSource;
use mason_store::sqlite::SqliteStore;
use mason_store::{ManualClock, ReleaseRequest, Store};
use mason_types::BoskosConfig;

use crate::failing_store::{FailingStore, Fault};
use crate::support::Harness;

const CONFIG: &str = "resources:\n- type: t1\n  names: [t1-a, t1-b]\n- type: odd\n  state: noSchedule\n  names: [o1]\n- type: dyn\n  state: dirty\n  min-count: 1\n  max-count: 3\n  lifespan: 1h\n";

#[tokio::test]
async fn health_endpoints() {
    let h = Harness::empty();
    h.get("/healthz").await.assert_text_ok("OK");
    h.get("/healthz/ready").await.assert_text_ok("OK");
}

#[tokio::test]
async fn prometheus_metrics_cover_resources_acquires_and_http() {
    let h = Harness::with_config(CONFIG).await;
    // One acquire through a queue: first poll fails, the second succeeds 5 s later.
    h.lease("t1-a", "free", "busy", "x").await;
    h.lease("t1-b", "free", "busy", "x").await;
    let uri = "/acquire?type=t1&state=free&dest=busy&owner=me&request_id=req-1";
    assert_eq!(h.post(uri).await.status, 404);
    let release = ReleaseRequest {
        name: "t1-a".into(),
        dest: "free".into(),
        owner: "x".into(),
        ..Default::default()
    };
    h.store.release(&release).await.unwrap();
    h.clock.advance(Duration::from_secs(5));
    assert_eq!(h.post(uri).await.status, 200);

    let reply = h.get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.content_type(),
        Some(mason_server::metrics::CONTENT_TYPE)
    );
    let text = reply.body;
    for line in [
        "boskos_resources{type=\"t1\",state=\"busy\"} 2",
        "boskos_resources{type=\"t1\",state=\"free\"} 0",
        "boskos_resources{type=\"t1\",state=\"other\"} 0",
        "boskos_resources{type=\"odd\",state=\"other\"} 1",
        "boskos_resources{type=\"odd\",state=\"free\"} 0",
        "boskos_resources{type=\"dyn\",state=\"dirty\"} 1",
        "boskos_acquire_duration_seconds_bucket{le=\"1.0\",type=\"t1\",state=\"free\",dest=\"busy\",has_request_id=\"true\"} 0",
        "boskos_acquire_duration_seconds_bucket{le=\"10.0\",type=\"t1\",state=\"free\",dest=\"busy\",has_request_id=\"true\"} 1",
        "boskos_http_request_duration_seconds_count{path=\"/acquire\",method=\"POST\",status=\"404\",user_agent=\"Go-http-client\"} 1",
        "boskos_http_response_size_bytes_count{path=\"/acquire\",method=\"POST\",status=\"200\",user_agent=\"Go-http-client\"} 1",
        "mason_config_reload_errors_total 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
    // Unknown paths are one `unmatched` series.
    h.get("/nope").await;
    h.get("/other").await;
    let text = h.get("/metrics").await.body;
    assert!(
        text.contains("boskos_http_request_duration_seconds_count{path=\"unmatched\",method=\"GET\",status=\"200\",user_agent=\"Go-http-client\"} 2"),
        "{text}"
    );
}

#[tokio::test]
async fn api_v2_lists_resources_pools_and_queue() {
    let h = Harness::with_config(CONFIG).await;
    h.lease("t1-a", "free", "busy", "x").await;

    let reply = h.get("/api/v2/resources?type=t1").await;
    assert_eq!(reply.content_type(), Some("application/json"));
    let list: Vec<mason_types::Resource> = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        list.iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .len(),
        2
    );
    let owned: Vec<mason_types::Resource> =
        serde_json::from_str(&h.get("/api/v2/resources?owner=x").await.body).unwrap();
    assert_eq!(
        owned.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["t1-a"]
    );
    let unowned: Vec<mason_types::Resource> =
        serde_json::from_str(&h.get("/api/v2/resources?type=t1&owner=").await.body).unwrap();
    assert_eq!(
        unowned.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["t1-b"]
    );
    let all: Vec<mason_types::Resource> =
        serde_json::from_str(&h.get("/api/v2/resources").await.body).unwrap();
    assert_eq!(all.len(), 4, "t1-a, t1-b, o1 and one dynamic");

    let pools: Vec<mason_types::DynamicResourceLifeCycle> =
        serde_json::from_str(&h.get("/api/v2/drlcs").await.body).unwrap();
    assert_eq!(pools.len(), 1);
    assert_eq!(
        (
            pools[0].rtype.as_str(),
            pools[0].min_count,
            pools[0].max_count
        ),
        ("dyn", 1, 3)
    );
    assert_eq!(pools[0].lifespan, Some(Duration::from_secs(3600)));

    assert_eq!(
        h.post("/acquire?type=t1&state=free&dest=busy&owner=me&request_id=r1")
            .await
            .status,
        200
    );
    assert_eq!(
        h.post("/acquire?type=t1&state=free&dest=busy&owner=me&request_id=r2")
            .await
            .status,
        404
    );
    let queue: Vec<serde_json::Value> =
        serde_json::from_str(&h.get("/api/v2/queue").await.body).unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(queue[0]["request_id"], "r2");
    assert_eq!(queue[0]["type"], "t1");
    assert_eq!(queue[0]["rank"], 1);

    assert_eq!(
        h.post("/api/v2/resources").await.status,
        405,
        "extension routes are GET only"
    );
}

fn failing() -> (Harness, Arc<FailingStore>) {
    let clock = Arc::new(ManualClock::at_upstream_epoch());
    let inner: Arc<dyn Store> = Arc::new(SqliteStore::in_memory(clock.clone()).unwrap());
    let store = Arc::new(FailingStore {
        inner,
        fault: Mutex::new(None),
    });
    let h = Harness::over(
        store.clone(),
        clock,
        ConfigSource::Fixed(BoskosConfig::default()),
    );
    (h, store)
}

#[tokio::test]
async fn store_faults_become_503_or_500_without_leaking_details() {
    let (h, store) = failing();
    *store.fault.lock().unwrap() = Some(Fault::Unavailable);
    let reply = h.post("/acquire?type=t&state=free&dest=busy&owner=o").await;
    reply.assert_error(
        503,
        "Acquire failed: the store is temporarily unavailable, try again later",
    );
    assert_eq!(reply.headers.get("retry-after").unwrap(), "1");
    let reply = h.get("/healthz/ready").await;
    assert_eq!(reply.status, 503);
    h.get("/healthz").await.assert_text_ok("OK");

    *store.fault.lock().unwrap() = Some(Fault::Backend);
    h.post("/release?name=n&dest=d&owner=o").await.assert_error(
        500,
        "Done failed: n - d (from o): internal server error (details in the server log)",
    );
    h.post("/update?name=n&owner=o&state=s").await.assert_error(
        500,
        "Update failed: n - s (o): internal server error (details in the server log)",
    );
    h.post("/reset?type=t&state=s&expire=1h&dest=d")
        .await
        .assert_error(
            500,
            "could not reset states: internal server error (details in the server log)",
        );
    h.post("/acquirebystate?state=s&dest=d&owner=o&names=a")
        .await
        .assert_error(
            500,
            "AcquireByState: internal server error (details in the server log)",
        );
    h.get("/metric?type=t")
        .await
        .assert_error(500, "internal server error (details in the server log)");
    assert_eq!(h.get("/metrics").await.status, 500);

    *store.fault.lock().unwrap() = None;
    h.get("/healthz/ready").await.assert_text_ok("OK");
}

#[tokio::test]
async fn side_listeners_serve_metrics_and_health() {
    let server = mason_testkit::TestServer::start_with(
        mason_testkit::TestServerOptions::new(CONFIG).with_side_listeners(),
    )
    .await;
    let client = reqwest::Client::new();
    let metrics = server.metrics_url.clone().unwrap();
    let health = server.health_url.clone().unwrap();
    let text = client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("boskos_resources{type=\"t1\",state=\"free\"} 2"),
        "{text}"
    );
    let ok = client
        .get(format!("{health}/healthz/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (ok.status().as_u16(), ok.text().await.unwrap()),
        (200, "OK".to_string())
    );
    let api = client.get(server.url_for("/healthz")).send().await.unwrap();
    assert_eq!(api.status().as_u16(), 200);
    server.stop().await;
}
