//! The in-process client speaks Boskos over a store, and maps store outcomes to the
//! client errors the HTTP client produces for the same statuses: the same refusal gives
//! the same error variant over HTTP and in process.

use std::sync::Arc;
use std::time::Duration;

use mason_client::{BoskosApi, Error, HttpClient, RetryPolicy};
use mason_inprocess::InProcessClient;
use mason_testkit::{TestServer, TestServerOptions};
use mason_types::UserData;

#[tokio::test]
async fn in_process_client_speaks_boskos() {
    let h = TestServer::start_with(
        TestServerOptions::new("resources:\n- type: t\n  names: [a, b]\n").with_manual_clock(),
    )
    .await;
    let me = InProcessClient::new(h.store.clone(), "me");
    let other = InProcessClient::new(Arc::clone(&h.store), "other");
    assert_eq!(me.owner(), "me");

    let r = me.acquire("t", "free", "busy", None).await.unwrap();
    assert_eq!((r.state.as_str(), r.owner.as_str()), ("busy", "me"));
    assert!(matches!(
        me.acquire("nope", "free", "busy", None).await,
        Err(Error::TypeNotFound(_))
    ));
    assert!(matches!(
        me.acquire("t", "dirty", "busy", Some("")).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        other.release(&r.name, "free").await,
        Err(Error::OwnerMismatch(_))
    ));
    assert!(matches!(
        me.update(&r.name, "free", None).await,
        Err(Error::StateMismatch(_))
    ));
    assert!(matches!(
        me.release("", "free").await,
        Err(Error::BadRequest(_))
    ));

    let mut ud = UserData::new();
    ud.insert("k", "v");
    me.update(&r.name, "busy", Some(&ud)).await.unwrap();
    assert_eq!(
        h.store.get(&r.name).await.unwrap().userdata.get("k"),
        Some("v")
    );

    let metric = me.metric("t").await.unwrap();
    assert_eq!(metric.current.get("busy"), Some(&1));
    h.clock
        .as_ref()
        .expect("manual clock")
        .advance(Duration::from_secs(60));
    let reset = me
        .reset("t", "busy", Duration::from_secs(30), "dirty")
        .await
        .unwrap();
    assert_eq!(reset.get(&r.name).map(String::as_str), Some("me"));

    let both = me
        .acquire_by_state("free", "busy", &["b".to_string()])
        .await
        .unwrap();
    assert_eq!(both.len(), 1);
    me.release("b", "free").await.unwrap();
    h.stop().await;
}

/// The variant of a client error, and the status it stands for.
fn kind(result: Result<(), Error>) -> String {
    match result {
        Ok(()) => "ok".into(),
        Err(Error::NotFound(_)) => "NotFound".into(),
        Err(Error::TypeNotFound(_)) => "TypeNotFound".into(),
        Err(Error::OwnerMismatch(_)) => "OwnerMismatch".into(),
        Err(Error::StateMismatch(_)) => "StateMismatch".into(),
        Err(Error::BadRequest(_)) => "BadRequest".into(),
        Err(Error::Status { status, .. }) => format!("Status {status}"),
        Err(other) => format!("other: {other}"),
    }
}

/// Calls the server must refuse, on a pool where `a` is held by `holder` in `busy` and
/// `b` is free.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    AcquireUnknownType,
    AcquireNoneInState,
    ReleaseOthers,
    UpdateWrongState,
    ReleaseMissing,
    ReleaseEmptyName,
    AcquireByStateHeld,
    MetricUnknownType,
}

impl Refusal {
    async fn try_on(self, c: &dyn BoskosApi) -> Result<(), Error> {
        match self {
            Refusal::AcquireUnknownType => c.acquire("nope", "free", "busy", None).await.map(drop),
            Refusal::AcquireNoneInState => c.acquire("t", "dirty", "busy", None).await.map(drop),
            Refusal::ReleaseOthers => c.release("a", "free").await,
            Refusal::UpdateWrongState => c.update("a", "free", None).await,
            Refusal::ReleaseMissing => c.release("zzz", "free").await,
            Refusal::ReleaseEmptyName => c.release("", "free").await,
            Refusal::AcquireByStateHeld => c
                .acquire_by_state("free", "busy", &["a".to_string()])
                .await
                .map(drop),
            Refusal::MetricUnknownType => c.metric("nope").await.map(drop),
        }
    }
}

/// Every refusal of the Boskos API, made once over HTTP and once in process on the same
/// store: both clients report it as the same error.
#[tokio::test]
async fn the_same_refusal_is_the_same_error_over_http_and_in_process() {
    let h = TestServer::start("resources:\n- type: t\n  names: [a, b]\n").await;
    let http = |owner: &str| {
        HttpClient::builder(&h.url, owner)
            .retry(RetryPolicy::none())
            .build()
            .expect("client")
    };
    let local = |owner: &str| InProcessClient::new(h.store.clone(), owner);
    // `a` is held by `holder`; `b` stays free.
    local("holder")
        .acquire_by_state("free", "busy", &["a".to_string()])
        .await
        .unwrap();

    let cases = [
        ("unknown type", "me", Refusal::AcquireUnknownType),
        ("nothing in that state", "me", Refusal::AcquireNoneInState),
        (
            "release of someone else's lease",
            "me",
            Refusal::ReleaseOthers,
        ),
        (
            "update in the wrong state",
            "holder",
            Refusal::UpdateWrongState,
        ),
        ("release of a missing name", "me", Refusal::ReleaseMissing),
        ("empty name", "me", Refusal::ReleaseEmptyName),
        (
            "acquire by state of a held name",
            "me",
            Refusal::AcquireByStateHeld,
        ),
        (
            "metric of an unknown type",
            "me",
            Refusal::MetricUnknownType,
        ),
    ];
    for (what, owner, refusal) in cases {
        let over_http = kind(refusal.try_on(&http(owner)).await);
        let in_process = kind(refusal.try_on(&local(owner)).await);
        assert_ne!(over_http, "ok", "{what}: the call must be refused");
        assert_eq!(over_http, in_process, "{what}");
    }
    // Nothing changed: `a` is still held, `b` still free.
    let a = h.store.get("a").await.unwrap();
    assert_eq!((a.state.as_str(), a.owner.as_str()), ("busy", "holder"));
    assert_eq!(h.store.get("b").await.unwrap().state, "free");
    h.stop().await;
}
