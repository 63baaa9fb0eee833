//! The builder's views of the store: the dynamic pools it keeps and the resources an owner
//! holds, the same answers `mason serve`'s `/api/v2` routes give over HTTP.

use mason_client::{BoskosApi, HttpClient};
use mason_controllers::builder::{LeaseInventory, PoolSource};
use mason_inprocess::{InProcessClient, StoreInventory, StorePools};
use mason_testkit::TestServer;
use mason_types::Resource;

const CONFIG: &str = "\
resources:
- type: phys
  state: free
  names: [p-1, p-2]
- type: virt
  state: dirty
  min-count: 1
  max-count: 2
  needs: {phys: 1}
  config: {type: exec, content: 'command: [./build.sh]'}
";

#[tokio::test]
async fn pools_are_the_dynamic_entries_the_store_keeps() {
    let h = TestServer::start(CONFIG).await;
    let pools = StorePools(h.store.clone());
    assert!(pools.describe().contains("store"), "{}", pools.describe());
    let loaded = pools.load().await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].rtype, "virt");
    assert_eq!(loaded[0].needs.get("phys"), Some(&1));
    // The same list mason serve publishes.
    let http = HttpClient::builder(&h.url, "mason").build().unwrap();
    assert_eq!(PoolSource::load(&http).await.unwrap(), loaded);
    h.stop().await;
}

#[tokio::test]
async fn the_inventory_lists_what_an_owner_holds() {
    let h = TestServer::start(CONFIG).await;
    let inventory = StoreInventory(h.store.clone());
    assert!(inventory.owned_by("mason").await.unwrap().is_empty());
    let held = InProcessClient::new(h.store.clone(), "mason")
        .acquire("phys", "free", "leased", None)
        .await
        .unwrap();
    InProcessClient::new(h.store.clone(), "someone-else")
        .acquire("phys", "free", "busy", None)
        .await
        .unwrap();
    let owned = inventory.owned_by("mason").await.unwrap();
    assert_eq!(
        owned.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        vec![held.name.as_str()]
    );
    // The same resources over HTTP (whose timestamps are whole seconds on the wire).
    let http = HttpClient::builder(&h.url, "mason").build().unwrap();
    let key = |r: &Resource| {
        (
            r.rtype.clone(),
            r.name.clone(),
            r.state.clone(),
            r.owner.clone(),
        )
    };
    assert_eq!(
        http.owned_by("mason")
            .await
            .unwrap()
            .iter()
            .map(key)
            .collect::<Vec<_>>(),
        owned.iter().map(key).collect::<Vec<_>>()
    );
    h.stop().await;
}
