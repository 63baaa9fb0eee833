//! The store conformance suite on SQLite, in memory and on a file (the file-backed
//! store adds the exclusive file lock and the checkpoint thread).

use std::sync::Arc;

use mason_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use mason_store::{conformance::Harness, ManualClock, DEFAULT_REQUEST_TTL};

mod in_memory {
    use super::*;

    mason_store::store_conformance_suite!(async {
        let clock = Arc::new(ManualClock::at_upstream_epoch());
        let store = SqliteStore::in_memory(clock.clone()).expect("open sqlite");
        Harness {
            store: Arc::new(store),
            clock,
            guard: None,
        }
    });
}

mod on_file {
    use super::*;

    mason_store::store_conformance_suite!(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::at_upstream_epoch());
        let store = SqliteStore::open(SqliteOptions {
            path: Some(dir.path().join("mason.db")),
            synchronous: Synchronous::Normal,
            request_ttl: DEFAULT_REQUEST_TTL,
            clock: clock.clone(),
        })
        .expect("open sqlite file");
        Harness {
            store: Arc::new(store),
            clock,
            guard: Some(Box::new(dir)),
        }
    });
}
