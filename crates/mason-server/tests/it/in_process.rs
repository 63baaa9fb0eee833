//! The in-process client maps store outcomes to the client errors the HTTP client
//! produces for the same statuses.

use std::sync::Arc;
use std::time::Duration;

use mason_client::{BoskosApi, Error};
use mason_server::InProcessClient;
use mason_types::UserData;

use crate::support::Harness;

#[tokio::test]
async fn in_process_client_speaks_boskos() {
    let h = Harness::with_config("resources:\n- type: t\n  names: [a, b]\n").await;
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
    h.clock.advance(Duration::from_secs(60));
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
}
