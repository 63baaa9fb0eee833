//! Opening a version-1 SQLite file upgrades it in place and keeps its leases.

use std::sync::Arc;

use mason_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use mason_store::{Store, SystemClock, DEFAULT_REQUEST_TTL};

#[tokio::test]
async fn version_1_file_is_upgraded_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE resources (name TEXT PRIMARY KEY NOT NULL, type TEXT NOT NULL, \
             state TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '', lastupdate INTEGER NOT NULL, \
             userdata TEXT NOT NULL DEFAULT '{}', expiration INTEGER, is_static INTEGER NOT NULL DEFAULT 0);
             CREATE INDEX resources_type ON resources (type, owner, state);
             INSERT INTO resources (name, type, state, owner, lastupdate) VALUES ('r1', 't', 'busy', 'alice', 1);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(SqliteOptions {
        path: Some(path.clone()),
        synchronous: Synchronous::Normal,
        request_ttl: DEFAULT_REQUEST_TTL,
        clock: Arc::new(SystemClock),
    })
    .unwrap();
    let r1 = store.get("r1").await.unwrap();
    assert_eq!((r1.owner.as_str(), r1.state.as_str()), ("alice", "busy"));
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'resources' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(indexes, ["resources_by_type"]);
}
