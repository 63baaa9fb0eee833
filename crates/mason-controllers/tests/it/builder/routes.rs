//! `mason serve`'s `/api/v2` routes as the builder uses them through `HttpClient` (a
//! `PoolSource` and a `LeaseInventory`): pool definitions and the resources an owner
//! holds, and what a server without them (upstream) looks like.

use mason_client::HttpClient;
use mason_controllers::builder::{
    exec_converter, Builder, InventoryError, LeaseInventory, PoolSource, PoolSourceError,
    EXEC_CONVERTER,
};

use super::lifecycle::{BUILD_SH, CONFIG};
use super::support::{built, quick_options, Fixture};

/// The client `mason builder` reads the routes with (its owner does not matter here).
fn routes(url: &str) -> HttpClient {
    HttpClient::builder(url, "mason").build().expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_can_come_from_the_server() {
    let fx = Fixture::start(CONFIG, &[("build.sh", BUILD_SH)]).await;
    let routes = routes(&fx.server.url);
    let pools = routes.load().await.unwrap();
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0].rtype, "virt");
    assert_eq!(pools[0].needs.get("phys"), Some(&1));

    let builder = Builder::new(fx.client("mason"), quick_options());
    let base = fx.config_path.parent().unwrap().to_path_buf();
    builder
        .register_config_converter(EXEC_CONVERTER, exec_converter(base))
        .unwrap();
    let running = builder.with_pool_source(routes).start();
    fx.wait_for("two built virtual resources", |all| {
        (built(all, "virt").len() == 2).then_some(())
    })
    .await;
    running.stop().await.unwrap();
    fx.assert_nothing_owned().await;
    fx.server.stop().await;
}

#[tokio::test]
async fn owned_resources_are_listed_by_owner() {
    let fx = Fixture::start(CONFIG, &[]).await;
    let routes = routes(&fx.server.url);
    assert!(routes.owned_by("mason").await.unwrap().is_empty());
    let mason = fx.client("mason");
    let held = mason.acquire("phys", "free", "leased", None).await.unwrap();
    fx.client("someone-else")
        .acquire("phys", "free", "busy", None)
        .await
        .unwrap();
    let owned = routes.owned_by("mason").await.unwrap();
    assert_eq!(
        owned.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        vec![held.name.as_str()]
    );
    fx.server.stop().await;
}

#[tokio::test]
async fn a_server_without_the_routes_is_unsupported_not_empty() {
    // Boskos' catch-all answers unknown paths with 200 and an empty body; our server does
    // the same below an unknown prefix, which stands in for an upstream server here.
    let fx = Fixture::start(CONFIG, &[]).await;
    let upstream = routes(&format!("{}/upstream", fx.server.url));
    assert!(matches!(
        upstream.load().await,
        Err(PoolSourceError::Unsupported(_))
    ));
    assert!(matches!(
        upstream.owned_by("mason").await,
        Err(InventoryError::Unsupported(_))
    ));
    fx.server.stop().await;
}

#[tokio::test]
async fn routes_send_the_clients_credentials() {
    use mason_server::auth::secrets::token_hash;
    use mason_testkit::{TestServer, TestServerOptions};

    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.yaml");
    std::fs::write(
        &auth,
        format!(
            "tokens:\n- name: builder\n  token-hash: \"{}\"\n  role: read\n",
            token_hash("t0ken")
        ),
    )
    .unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    let server = TestServer::start_with(TestServerOptions::new(CONFIG).with_auth_file(&auth)).await;

    let anonymous = routes(&server.url);
    match anonymous.load().await {
        Err(PoolSourceError::Server { message, .. }) => {
            assert!(message.contains("not authenticated"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let routes = HttpClient::builder(&server.url, "mason")
        .token_file(&token)
        .build()
        .unwrap();
    assert_eq!(routes.load().await.unwrap().len(), 1);
    assert!(routes.owned_by("mason").await.unwrap().is_empty());
    server.stop().await;
}
