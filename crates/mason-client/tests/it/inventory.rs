//! `HttpClient::resources`: `mason serve`'s listing by type, state and owner, and "cannot
//! tell" on servers without the route.

use mason_client::{BoskosApi, Error, ResourceQuery, RetryPolicy};
use mason_testkit::TestServer;

use crate::common::{client, Scripted, POOL};

fn names(list: Option<Vec<mason_types::Resource>>) -> Vec<String> {
    let mut names: Vec<String> = list
        .expect("mason serve lists resources")
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn lists_by_owner_type_and_state() {
    let server = TestServer::start(POOL).await;
    let alice = client(&server.url, "alice");
    let held = alice.acquire("t1", "free", "busy", None).await.unwrap();

    let mine = alice
        .resources(&ResourceQuery::new().owner(alice.owner()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mine, vec![held.clone()]);
    assert_eq!(
        names(
            alice
                .resources(&ResourceQuery::new().owner(""))
                .await
                .unwrap()
        )
        .len(),
        3,
        "an empty owner lists the unowned ones"
    );
    assert_eq!(
        names(
            alice
                .resources(&ResourceQuery::new().rtype("t1").state("free"))
                .await
                .unwrap()
        )
        .len(),
        2
    );
    assert_eq!(
        names(
            alice
                .resources(&ResourceQuery::new().rtype("t2"))
                .await
                .unwrap()
        ),
        ["t2-a"]
    );
    assert_eq!(
        names(alice.resources(&ResourceQuery::new()).await.unwrap()).len(),
        4
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_on_servers_without_the_route() {
    // Upstream's catch-all (200, empty body) and a proxy's 404 both mean "cannot tell".
    for answer in [(200, ""), (404, "404 page not found\n")] {
        let server = Scripted::start(vec![answer]).await;
        let c = mason_client::HttpClient::builder(&server.url, "me")
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        let query = ResourceQuery::new().owner("me");
        assert_eq!(c.resources(&query).await.unwrap(), None);
        let seen = server.requests();
        assert_eq!(
            (seen[0].path.as_str(), seen[0].query.as_str()),
            ("/api/v2/resources", "owner=me")
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_a_resource_list_is_a_protocol_error() {
    let server = Scripted::start(vec![(200, "{\"not\":\"a list\"}")]).await;
    let c = client(&server.url, "me");
    let err = c.resources(&ResourceQuery::new()).await.unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("/api/v2/resources"), "{err}");
    server.stop().await;
}
