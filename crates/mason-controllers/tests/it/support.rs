//! Fixtures shared by the controller tests: clients, store look-ups and executable
//! scripts. Deadlines in `eventually` are safety nets, never timing assertions.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mason_client::{BoskosApi, HttpClient};
use mason_testkit::TestServer;
use mason_types::Resource;

/// How long a background effect may take before a test gives up.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

/// An HTTP client acting as `owner` against `server`.
pub(crate) fn client(server: &TestServer, owner: &str) -> Arc<dyn BoskosApi> {
    Arc::new(
        HttpClient::builder(&server.url, owner)
            .build()
            .expect("client"),
    )
}

/// One resource, read from the store.
pub(crate) async fn get(server: &TestServer, name: &str) -> Resource {
    server
        .store
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("get {name}: {e}"))
}

/// `(state, owner)` of a resource.
pub(crate) async fn state_of(server: &TestServer, name: &str) -> (String, String) {
    let r = get(server, name).await;
    (r.state, r.owner)
}

/// Write an executable `/bin/sh` script `name` with `body` into `dir`.
pub(crate) fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// Lines of a log file a script appends to (empty when it does not exist yet).
pub(crate) fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}
