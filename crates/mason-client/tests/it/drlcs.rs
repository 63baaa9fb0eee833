//! `HttpClient::drlcs`: `mason serve`'s dynamic pools, with the base path kept, and
//! "cannot tell" on servers without the route.

use mason_client::{Error, HttpClient, RetryPolicy};
use mason_testkit::TestServer;

use crate::common::{client, Scripted};

const DYNAMIC: &str = "\
resources:
- type: phys
  state: free
  names: [p-1, p-2]
- type: virt
  state: dirty
  min-count: 1
  max-count: 2
  lifespan: 10m
  needs: {phys: 1}
  config: {type: exec, content: 'command: [./build.sh]'}
";

#[tokio::test]
async fn lists_the_dynamic_pools_of_mason_serve() {
    let server = TestServer::start(DYNAMIC).await;
    let pools = client(&server.url, "mason")
        .drlcs()
        .await
        .unwrap()
        .expect("mason serve publishes its pools");
    assert_eq!(pools.len(), 1, "{pools:?}");
    let pool = &pools[0];
    assert_eq!(pool.rtype, "virt");
    assert_eq!((pool.min_count, pool.max_count), (1, 2));
    assert_eq!(pool.initial_state, "dirty");
    assert_eq!(pool.needs.get("phys"), Some(&1));
    assert_eq!(pool.config.ctype, "exec");
    server.stop().await;
}

#[tokio::test]
async fn the_base_path_is_kept() {
    let server = Scripted::start(vec![(200, "[]")]).await;
    let c = client(&format!("{}/boskos/", server.url), "mason");
    assert_eq!(c.drlcs().await.unwrap(), Some(vec![]));
    assert_eq!(server.requests()[0].path, "/boskos/api/v2/drlcs");
    server.stop().await;
}

#[tokio::test]
async fn unknown_on_servers_without_the_route() {
    // Upstream's catch-all (200, empty body) and a proxy's 404 or 405 all mean "cannot tell".
    for answer in [
        (200, ""),
        (404, "404 page not found\n"),
        (405, "method not allowed\n"),
    ] {
        let server = Scripted::start(vec![answer]).await;
        let c = HttpClient::builder(&server.url, "mason")
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        assert_eq!(c.drlcs().await.unwrap(), None, "{answer:?}");
        assert_eq!(server.requests()[0].path, "/api/v2/drlcs");
        server.stop().await;
    }
}

#[tokio::test]
async fn failures_and_bad_bodies_are_errors() {
    let server = Scripted::start(vec![(200, "{\"not\":\"a list\"}")]).await;
    let err = client(&server.url, "mason").drlcs().await.unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("/api/v2/drlcs"), "{err}");
    server.stop().await;

    let server = Scripted::start(vec![(500, "boom\n")]).await;
    let c = HttpClient::builder(&server.url, "mason")
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = c.drlcs().await.unwrap_err();
    assert!(
        matches!(&err, Error::Status { status: 500, message, .. } if message == "boom"),
        "{err:?}"
    );
    server.stop().await;
}
