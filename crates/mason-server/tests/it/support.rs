//! Handler-test harness: the router over SQLite in memory (the store also answers the
//! lease extension's calls), a manual clock at upstream's
//! test epoch (2006-01-02T15:04:05Z), and requests sent with `oneshot`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use axum::Router;
use http_body_util::BodyExt;
use mason_server::lease::StoreBackend;
use mason_server::{AppState, ConfigSource};
use mason_store::sqlite::SqliteStore;
use mason_store::{AcquireByStateRequest, ManualClock, ReleaseRequest, Store, UpdateRequest};
use mason_types::{BoskosConfig, UserData};
use tower::ServiceExt;

/// A router with its store and clock.
pub(crate) struct Harness {
    pub(crate) state: AppState,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<ManualClock>,
    app: Router,
}

impl Harness {
    /// An empty store, no config.
    pub(crate) fn empty() -> Self {
        let clock = Arc::new(ManualClock::at_upstream_epoch());
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::in_memory(clock.clone()).expect("in-memory store"));
        Self::over(store, clock, ConfigSource::Fixed(BoskosConfig::default()))
    }

    /// A store synced with `yaml`.
    pub(crate) async fn with_config(yaml: &str) -> Self {
        let clock = Arc::new(ManualClock::at_upstream_epoch());
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::in_memory(clock.clone()).expect("in-memory store"));
        let config = BoskosConfig::parse_and_validate(yaml).expect("valid test config");
        let h = Self::over(store, clock, ConfigSource::Fixed(config));
        h.state.initial_sync().await.expect("initial sync");
        h
    }

    /// The router over any store.
    pub(crate) fn over(
        store: Arc<dyn Store>,
        clock: Arc<ManualClock>,
        source: ConfigSource,
    ) -> Self {
        let state = AppState::new(store.clone(), clock.clone(), source);
        state
            .lease()
            .set_backend(Arc::new(StoreBackend::new(store.clone())));
        let app = mason_server::router(state.clone());
        Self {
            state,
            store,
            clock,
            app,
        }
    }

    /// Send one request.
    pub(crate) async fn call(&self, method: &str, uri: &str, body: impl Into<Body>) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("user-agent", "Go-http-client/1.1")
            .body(body.into())
            .expect("valid request");
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("infallible router");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
        }
    }

    /// `POST uri` without a body.
    pub(crate) async fn post(&self, uri: &str) -> Reply {
        self.call("POST", uri, Body::empty()).await
    }

    /// `GET uri`.
    pub(crate) async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, Body::empty()).await
    }

    /// Lease `name` (currently unowned in `state`) to `owner`, moving it to `dest`.
    pub(crate) async fn lease(&self, name: &str, state: &str, dest: &str, owner: &str) {
        let req = AcquireByStateRequest {
            actor: None,
            state: state.into(),
            dest: dest.into(),
            owner: owner.into(),
            names: vec![name.to_string()],
            ..Default::default()
        };
        self.store
            .acquire_by_state(&req)
            .await
            .unwrap_or_else(|e| panic!("lease {name}: {e}"));
    }

    /// Give the unowned `name` (in `state`) this user data, leaving it unowned in `state`.
    pub(crate) async fn seed_userdata(&self, name: &str, state: &str, pairs: &[(&str, &str)]) {
        self.lease(name, state, "seeding", "seeder").await;
        let mut ud = UserData::new();
        for (k, v) in pairs {
            ud.insert(*k, *v);
        }
        let update = UpdateRequest {
            name: name.into(),
            owner: "seeder".into(),
            state: "seeding".into(),
            userdata: Some(ud),
            ..Default::default()
        };
        self.store.update(&update).await.expect("seed user data");
        let release = ReleaseRequest {
            name: name.into(),
            dest: state.into(),
            owner: "seeder".into(),
            ..Default::default()
        };
        self.store.release(&release).await.expect("seed release");
    }
}

/// A response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header"))
    }

    /// An upstream error response: status, `text\n`, plain text and nosniff.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, text: &str) {
        assert_eq!(
            (self.status, self.body.as_str()),
            (status, format!("{text}\n").as_str())
        );
        assert_eq!(
            self.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"));
    }

    /// A 200 whose body Go would have sniffed as text.
    #[track_caller]
    pub(crate) fn assert_text_ok(&self, body: &str) {
        assert_eq!((self.status, self.body.as_str()), (200, body));
        assert_eq!(
            self.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(self.header("x-content-type-options"), None);
    }

    /// An empty 200 without a content type.
    #[track_caller]
    pub(crate) fn assert_empty_ok(&self) {
        assert_eq!((self.status, self.body.as_str()), (200, ""));
        assert_eq!(self.header("content-type"), None);
    }

    /// The content type.
    pub(crate) fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }
}

/// Upstream's golden files, beside the repository (`../shared/upstream-testdata/handlers`).
pub(crate) fn golden_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/upstream-testdata/handlers");
    assert!(
        dir.is_dir(),
        "golden files not found at {}: the repository must be cloned with shared/ beside it",
        dir.display()
    );
    dir
}

/// The bytes of one golden file.
pub(crate) fn golden(name: &str) -> String {
    let path = golden_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read golden {}: {e}", path.display()))
}
