//! The cleaner against a real server: `toBeDeleted` dynamic resources give their parked
//! physical resources back to `dirty` and become tombstones, which the server deletes
//! and replaces.

use std::sync::Arc;
use std::time::Duration;

use mason_client::BoskosApi;
use mason_controllers::cleaner::{Cleaner, CleanerOptions};
use mason_controllers::{Driver, Next};
use mason_store::ResourceFilter;
use mason_testkit::TestServer;
use mason_types::{UserData, LEASED_RESOURCES};

use crate::support::{client, state_of};

/// What the cleaner leaves of `name`: a tombstone, unowned and without its
/// `leasedResources` — or nothing, when the server already deleted and replaced it (a
/// release to `tombstone` over HTTP wakes the server's sync at once, as upstream's).
async fn tombstoned(server: &TestServer, name: &str) {
    match server.store.get(name).await {
        Ok(r) => {
            assert_eq!((r.state.as_str(), r.owner.as_str()), ("tombstone", ""));
            assert_eq!(r.userdata.get(LEASED_RESOURCES), None);
        }
        Err(e) => assert!(
            matches!(e, mason_store::Error::ResourceNotFound(_)),
            "{name}: {e}"
        ),
    }
}

const CONFIG: &str = "\
resources:
- type: phys
  names: [p-1, p-2, p-3]
- type: virt
  min-count: 1
  max-count: 1
- type: other-virt
  min-count: 1
  max-count: 1
";

/// Do by hand what the builder does, then mark the virtual resource for deletion:
/// `virt`'s resource is built from p-1 and p-2, parked under its name.
async fn built_and_marked(mason: &Arc<dyn BoskosApi>) -> String {
    let v = mason
        .acquire("virt", "free", "cleaning", None)
        .await
        .unwrap();
    let phys = vec!["p-1".to_string(), "p-2".to_string()];
    mason
        .acquire_by_state("free", "leased", &phys)
        .await
        .unwrap();
    let mut ud = UserData::new();
    ud.set_leased_resources(&phys);
    mason.update(&v.name, "cleaning", Some(&ud)).await.unwrap();
    for p in &phys {
        mason.release(p, &v.name).await.unwrap();
    }
    mason.release(&v.name, "toBeDeleted").await.unwrap();
    v.name
}

#[tokio::test]
async fn to_be_deleted_resources_are_tombstoned_fairly_and_replaced() {
    let server = TestServer::start(CONFIG).await;
    let mason = client(&server, "mason");
    let virt = built_and_marked(&mason).await;
    let other = mason
        .acquire("other-virt", "free", "cleaning", None)
        .await
        .unwrap()
        .name;
    mason.release(&other, "toBeDeleted").await.unwrap();
    // Someone took p-2 out of its parking state meanwhile: the cleaner must leave it be.
    client(&server, "eve")
        .acquire_by_state(&virt, "busy", &["p-2".to_string()])
        .await
        .unwrap();

    let pools = mason_client::HttpClient::builder(&server.url, "cleaner")
        .build()
        .unwrap();
    let options = CleanerOptions {
        period: Duration::from_secs(15),
        cleaner_count: 1,
    };
    let cleaner = Cleaner::new(client(&server, "cleaner"), Arc::new(pools), options).unwrap();
    let mut driver = Driver::new(cleaner);

    // One resource per tick (cleaner_count 1), pools in turn: other-virt first, then virt.
    assert_eq!(driver.tick().await.unwrap(), Next::Now);
    tombstoned(&server, &other).await;
    assert_eq!(state_of(&server, &virt).await.0, "toBeDeleted");
    assert_eq!(driver.tick().await.unwrap(), Next::Now);
    tombstoned(&server, &virt).await;
    assert_eq!(
        state_of(&server, "p-1").await,
        ("dirty".into(), String::new())
    );
    assert_eq!(
        state_of(&server, "p-2").await,
        ("busy".into(), "eve".into())
    );
    assert_eq!(
        state_of(&server, "p-3").await,
        ("free".into(), String::new())
    );
    // Nothing left: wait for the period.
    assert_eq!(
        driver.tick().await.unwrap(),
        Next::After(Duration::from_secs(15))
    );
    assert_eq!(driver.status().get().errors, 0);

    // The server deletes tombstones and tops each pool back up to min-count.
    server.state.reconcile(true).await.unwrap();
    let all = server.store.list(&ResourceFilter::default()).await.unwrap();
    assert!(
        all.iter().all(|r| r.name != virt && r.name != other),
        "{all:?}"
    );
    for rtype in ["virt", "other-virt"] {
        let pool: Vec<_> = all.iter().filter(|r| r.rtype == rtype).collect();
        assert_eq!(pool.len(), 1, "{rtype}: {pool:?}");
        assert_eq!(pool[0].state, "free");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_full_batch_is_cleaned_concurrently_in_one_pass() {
    let config = "resources:\n- type: v\n  min-count: 4\n  max-count: 4\n";
    let server = TestServer::start(config).await;
    let mason = client(&server, "mason");
    let mut marked = Vec::new();
    for _ in 0..4 {
        let name = mason
            .acquire("v", "free", "cleaning", None)
            .await
            .unwrap()
            .name;
        mason.release(&name, "toBeDeleted").await.unwrap();
        marked.push(name);
    }
    let pools = mason_client::HttpClient::builder(&server.url, "cleaner")
        .build()
        .unwrap();
    let options = CleanerOptions {
        period: Duration::from_secs(15),
        cleaner_count: 3,
    };
    let mut cleaner = Cleaner::new(client(&server, "cleaner"), Arc::new(pools), options).unwrap();
    let first = cleaner.pass().await.unwrap();
    assert_eq!(first.tombstoned.len(), 3);
    let second = cleaner.pass().await.unwrap();
    assert_eq!(second.tombstoned.len(), 1);
    let mut all: Vec<String> = first
        .tombstoned
        .into_iter()
        .chain(second.tombstoned)
        .collect();
    all.sort();
    marked.sort();
    assert_eq!(all, marked);
    assert!(cleaner.pass().await.unwrap().tombstoned.is_empty());
    server.stop().await;
}
