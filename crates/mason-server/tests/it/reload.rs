//! Config reload: a changed file is applied (by the watcher, or by a direct reconcile); an
//! invalid file is rejected, counted, and the old config stays in force.

use std::time::Duration;

use mason_server::config::Reload;
use mason_testkit::{eventually, TempConfig, TestServer, TestServerOptions};

const V1: &str = "resources:\n- type: t\n  names: [a, b]\n";
const V2: &str = "resources:\n- type: t\n  names: [a, b, c]\n";
const INVALID: &str = "resources:\n- type: t\n  min-count: 5\n  max-count: 1\n";

#[tokio::test]
async fn changed_file_is_applied_by_the_watcher() {
    let config = TempConfig::new(V1);
    let server =
        TestServer::start_with(TestServerOptions::empty().with_config_file(&config.path)).await;
    assert!(server.store.get("c").await.is_err());
    config.write(V2);
    let store = server.store.clone();
    eventually(
        "resource c to appear after the config change",
        Duration::from_secs(20),
        || {
            let store = store.clone();
            async move { store.get("c").await.ok() }
        },
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn invalid_file_is_rejected_and_old_config_stays() {
    let config = TempConfig::new(V1);
    let server =
        TestServer::start_with(TestServerOptions::empty().with_config_file(&config.path)).await;
    let before = server.state.config().current().unwrap();

    config.write(INVALID);
    // Either the background loop or this call notices first; both count it once.
    let _ = server.state.reconcile(false).await.unwrap();
    let metrics = server.state.metrics();
    assert_eq!(metrics.config_reload_errors(), 1);
    assert_eq!(
        server.state.config().current().unwrap(),
        before,
        "old config in force"
    );
    assert!(server.store.get("a").await.is_ok());
    let text = reqwest::get(server.url_for("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("mason_config_reload_errors_total 1"),
        "{text}"
    );

    // A full sync with the old config still works while the file is invalid.
    let done = server.state.reconcile(true).await.unwrap();
    assert_eq!(done.reload, Reload::Unchanged);
    assert!(done.report.is_some());

    // Fixing the file applies it.
    config.write(V2);
    let done = server.state.reconcile(false).await.unwrap();
    if matches!(done.reload, Reload::Changed(_)) {
        assert!(done.report.is_some());
    }
    let store = server.store.clone();
    eventually(
        "resource c after fixing the file",
        Duration::from_secs(20),
        || {
            let store = store.clone();
            async move { store.get("c").await.ok() }
        },
    )
    .await;
    assert_eq!(server.state.metrics().config_reload_errors(), 1);
    server.stop().await;
}

#[tokio::test]
async fn start_fails_clearly_on_an_invalid_file() {
    let config = TempConfig::new(INVALID);
    let store = mason_store::open(&"sqlite::memory:".parse().unwrap(), Default::default())
        .await
        .unwrap();
    let state = mason_server::AppState::new(
        store,
        std::sync::Arc::new(mason_store::SystemClock),
        mason_server::ConfigSource::File(config.path.clone()),
    );
    let err = state.initial_sync().await.unwrap_err().to_string();
    assert!(err.starts_with("invalid config "), "{err}");
    assert!(err.contains("min-count"), "{err}");
}
