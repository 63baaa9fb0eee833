//! A running server given bad config files refuses each one, keeps the config in force
//! and changes nothing; a good file afterwards is still applied.

use std::sync::Arc;

use mason_server::config::Reload;
use mason_server::{AppState, ConfigSource};
use mason_store::open::StoreOptions;
use mason_store::{StoreUrl, SystemClock};
use mason_testkit::fixtures::bad_configs;
use mason_testkit::TempConfig;

use super::{snapshot, CONFIG};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_rejects_bad_config_files_and_keeps_the_old_one() {
    let file = TempConfig::new(CONFIG);
    // The server state without its background loops: the config watcher would otherwise
    // race this test's own reloads (it may see a change first, so the test's reload finds
    // the file unchanged).
    let memory: StoreUrl = "sqlite::memory:".parse().expect("store URL");
    let store = mason_store::open(&memory, StoreOptions::default())
        .await
        .expect("in-memory store");
    let state = AppState::new(
        store.clone(),
        Arc::new(SystemClock),
        ConfigSource::File(file.path.clone()),
    );
    state.initial_sync().await.expect("initial sync");
    let in_force = state.config().current().expect("config loaded");
    let before = snapshot(&*store).await;
    for (what, text) in bad_configs() {
        file.write(&text);
        match state.reconcile(false).await {
            Ok(r) => assert!(
                matches!(r.reload, Reload::Rejected(_)),
                "{what}: {:?}",
                r.reload
            ),
            Err(e) => panic!("{what}: reconcile failed: {e}"),
        }
        assert_eq!(
            state.config().current().as_deref(),
            Some(&*in_force),
            "{what}"
        );
        assert!(
            before == snapshot(&*store).await,
            "{what} changed the store"
        );
    }
    // The reload path still works: a valid change is applied.
    file.write("resources:\n- type: t\n  names: [r1, r2, r3, r4]\n");
    let r = state.reconcile(false).await.expect("reconcile");
    assert!(matches!(r.reload, Reload::Changed(_)), "{:?}", r.reload);
    assert!(store.get("r4").await.is_ok());
}
