//! A SQLite store file serves one store at a time: a second opener is refused with a
//! message naming the file, and gets in once the first store is gone.

use std::sync::Arc;

use mason_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use mason_store::{AcquireRequest, Error, ManualClock, Store, DEFAULT_REQUEST_TTL};
use mason_types::BoskosConfig;

fn open(path: &std::path::Path) -> Result<SqliteStore, Error> {
    SqliteStore::open(SqliteOptions {
        path: Some(path.to_path_buf()),
        synchronous: Synchronous::Normal,
        request_ttl: DEFAULT_REQUEST_TTL,
        clock: Arc::new(ManualClock::at_upstream_epoch()),
    })
}

#[tokio::test]
async fn a_second_store_on_the_same_file_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mason.db");
    let first = open(&path).unwrap();
    let config =
        BoskosConfig::parse_and_validate("resources:\n- type: t\n  names: [a, b]\n").unwrap();
    first.sync_config(&config).await.unwrap();
    let held = first
        .acquire(&AcquireRequest {
            rtype: "t".into(),
            state: "free".into(),
            dest: "busy".into(),
            owner: "me".into(),
            request_id: None,
        })
        .await
        .unwrap()
        .resource;

    let refused = open(&path).err().expect("second opener must be refused");
    let text = refused.to_string();
    assert!(matches!(refused, Error::Unavailable(_)), "{text}");
    assert!(text.contains("in use by another process"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");

    // The refusal changed nothing for the first store.
    assert_eq!(first.get(&held.name).await.unwrap().owner, "me");
    drop(first);

    let second = open(&path).unwrap();
    let again = second.get(&held.name).await.unwrap();
    assert_eq!((again.owner.as_str(), again.state.as_str()), ("me", "busy"));
}
