//! `GET /api/v2/status` on a running server: the server's own loops (config sync and
//! request GC) with their last and next runs.

use std::time::Duration;

use mason_server::ServerOptions;
use mason_testkit::{eventually, TestServer, TestServerOptions};
use mason_types::status::ProcessStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reports_its_config_sync_and_request_gc_loops() {
    let options = TestServerOptions::new("resources:\n- type: t\n  names: [a]\n")
        .with_server_options(ServerOptions {
            sync_period: Duration::from_millis(200),
            request_gc_period: Duration::from_millis(200),
            ..ServerOptions::default()
        });
    let server = TestServer::start_with(options).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v2/status", server.url);
    let status: ProcessStatus = eventually("both loops ran", Duration::from_secs(30), || async {
        let reply = http.get(&url).send().await.ok()?;
        assert_eq!(reply.status(), 200);
        let status: ProcessStatus = reply.json().await.ok()?;
        status.loops.iter().all(|l| l.ticks > 0).then_some(status)
    })
    .await;
    assert_eq!(status.process, "serve");
    assert!(status.builder.is_none());
    let names: Vec<&str> = status.loops.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["config-sync", "request-gc"]);
    for l in &status.loops {
        assert!(l.running, "{l:?}");
        assert_eq!(l.errors, 0, "{l:?}");
        let (last, next) = (l.last_run.unwrap(), l.next_run.unwrap());
        assert!(last <= status.now && next > last, "{l:?}");
    }
    assert!(status.started_at <= status.now);
    server.stop().await;
}
