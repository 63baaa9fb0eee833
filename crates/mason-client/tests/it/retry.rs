//! Retries: transport errors and 5xx only; 400/401/404/409 are answered at once.

use mason_client::{BoskosApi, Error};

use crate::common::{client, Scripted};

const RESOURCE: &str = r#"{"type":"t1","name":"t1-a","state":"busy","owner":"alice","lastupdate":"2026-11-21T21:07:18Z","userdata":{}}"#;

#[tokio::test]
async fn a_500_then_a_200_succeeds_on_the_second_attempt() {
    let server = Scripted::start(vec![(500, "storage hiccup\n"), (200, RESOURCE)]).await;
    let c = client(&server.url, "alice");
    let res = c.acquire("t1", "free", "busy", None).await.unwrap();
    assert_eq!(res.name, "t1-a");
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].query, seen[1].query,
        "the retry is the same request"
    );
    server.stop().await;
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_every_attempt() {
    let server = Scripted::start(vec![(503, "unavailable\n")]).await;
    let c = client(&server.url, "alice");
    let err = c.release("t1-a", "dirty").await.unwrap_err();
    assert!(
        matches!(&err, Error::Status { status: 503, message, .. } if message == "unavailable"),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn verdicts_are_not_retried() {
    for (status, kind) in [
        (400, "BadRequest"),
        (401, "OwnerMismatch"),
        (404, "NotFound"),
        (409, "StateMismatch"),
        (405, "Status"),
    ] {
        let server = Scripted::start(vec![(status, "no\n"), (200, "")]).await;
        let c = client(&server.url, "alice");
        let err = c.update("t1-a", "busy", None).await.unwrap_err();
        let got = match err {
            Error::BadRequest(_) => "BadRequest",
            Error::OwnerMismatch(_) => "OwnerMismatch",
            Error::NotFound(_) => "NotFound",
            Error::StateMismatch(_) => "StateMismatch",
            Error::Status { status: 405, .. } => "Status",
            other => panic!("{status}: unexpected {other:?}"),
        };
        assert_eq!(got, kind);
        assert_eq!(server.requests().len(), 1, "{status} must not be retried");
        server.stop().await;
    }
}
