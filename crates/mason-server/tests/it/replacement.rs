//! A deleted dynamic resource is replaced at once, not at the next periodic sync: a
//! release to `tombstone` over HTTP wakes the config loop, and a sync that marked
//! resources `toBeDeleted` is followed by quick follow-up syncs (so a cleaner working
//! straight on the store, as in `mason up`, is followed too). The periodic sync is set
//! to an hour here, so only these two paths can replace anything within the test.

use std::time::Duration;

use mason_server::ServerOptions;
use mason_store::{AcquireRequest, ReleaseRequest, ResourceFilter, Store};
use mason_testkit::{eventually, TempConfig, TestServer, TestServerOptions};

const POOL: &str = "resources:\n- type: d\n  min-count: 1\n  max-count: 1\n  lifespan: 10s\n";

fn hour_long_sync() -> ServerOptions {
    ServerOptions {
        sync_period: Duration::from_secs(3600),
        config_poll_interval: Duration::from_millis(200),
        ..ServerOptions::default()
    }
}

async fn only_resource(store: &dyn Store) -> Option<String> {
    let filter = ResourceFilter {
        rtype: Some("d".into()),
        ..ResourceFilter::default()
    };
    let all = store.list(&filter).await.unwrap();
    (all.len() == 1).then(|| all[0].name.clone())
}

/// Wait until the pool's one resource is another than `old`.
async fn replaced(store: &std::sync::Arc<dyn Store>, old: &str) {
    eventually("a replacement", Duration::from_secs(20), || {
        let store = store.clone();
        let old = old.to_string();
        async move {
            only_resource(store.as_ref())
                .await
                .filter(|name| *name != old)
        }
    })
    .await;
}

#[tokio::test]
async fn a_tombstone_released_over_http_is_replaced_at_once() {
    let config = TempConfig::new(POOL);
    let server = TestServer::start_with(
        TestServerOptions::empty()
            .with_config_file(&config.path)
            .with_server_options(hour_long_sync()),
    )
    .await;
    let old = only_resource(server.store.as_ref()).await.unwrap();
    let http = reqwest::Client::new();
    for path in [
        "acquire?type=d&state=free&dest=cleaning&owner=cleaner".to_string(),
        format!("release?name={old}&dest=tombstone&owner=cleaner"),
    ] {
        let reply = http
            .post(format!("{}/{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{path}");
    }
    replaced(&server.store, &old).await;
    server.stop().await;
}

#[tokio::test]
async fn marked_resources_are_followed_up_without_the_timer() {
    let config = TempConfig::new(POOL);
    let server = TestServer::start_with(
        TestServerOptions::empty()
            .with_config_file(&config.path)
            .with_server_options(hour_long_sync())
            .with_manual_clock(),
    )
    .await;
    let clock = server.clock.clone().expect("manual clock");
    let store = server.store.clone();
    let old = only_resource(store.as_ref()).await.unwrap();
    // A release starts its lifespan; then it runs out.
    let user = AcquireRequest {
        actor: None,
        rtype: "d".into(),
        state: "free".into(),
        dest: "busy".into(),
        owner: "user".into(),
        ..Default::default()
    };
    store.acquire(&user).await.unwrap();
    let release = ReleaseRequest {
        name: old.clone(),
        dest: "free".into(),
        owner: "user".into(),
        ..Default::default()
    };
    store.release(&release).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let done = server.state.reconcile(true).await.unwrap();
    assert_eq!(
        done.report.unwrap().marked_for_deletion,
        std::slice::from_ref(&old)
    );
    // The cleaner's work, straight on the store (no HTTP release to wake the loop).
    let cleaner = AcquireRequest {
        actor: None,
        rtype: "d".into(),
        state: "toBeDeleted".into(),
        dest: "cleaning".into(),
        owner: "cleaner".into(),
        ..Default::default()
    };
    store.acquire(&cleaner).await.unwrap();
    let tombstone = ReleaseRequest {
        name: old.clone(),
        dest: "tombstone".into(),
        owner: "cleaner".into(),
        ..Default::default()
    };
    store.release(&tombstone).await.unwrap();
    replaced(&store, &old).await;
    server.stop().await;
}
