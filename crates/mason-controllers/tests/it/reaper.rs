//! The reaper against a server with a manual clock: only owned leases older than
//! `expire` in the swept states go to the target state.

use std::time::Duration;

use mason_controllers::reaper::{Reaper, ReaperOptions};
use mason_controllers::types_source::TypeSource;
use mason_controllers::{Driver, Next};
use mason_testkit::{TestServer, TestServerOptions};

use crate::support::{client, state_of};

const CONFIG: &str = "\
resources:
- type: pool
  names: [r-busy, r-cleaning, r-leased, r-extra, r-fresh, r-free]
- type: other
  names: [o-busy]
";

/// A server where every resource but `r-free` is held by someone, in various states.
async fn leased_server() -> TestServer {
    let server = TestServer::start_with(TestServerOptions::new(CONFIG).with_manual_clock()).await;
    for (owner, dest, name) in [
        ("alice", "busy", "r-busy"),
        ("bob", "cleaning", "r-cleaning"),
        ("mason", "leased", "r-leased"),
        ("carol", "noSchedule", "r-extra"),
        ("dave", "busy", "r-fresh"),
        ("alice", "busy", "o-busy"),
    ] {
        client(&server, owner)
            .acquire_by_state("free", dest, &[name.to_string()])
            .await
            .unwrap_or_else(|e| panic!("acquire {name}: {e}"));
    }
    server
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

#[tokio::test]
async fn stale_owned_leases_go_dirty_fresh_and_unowned_stay() {
    let server = leased_server().await;
    let clock = server.clock.clone().unwrap();
    let options = ReaperOptions {
        extra_source_states: vec!["noSchedule".into()],
        ..ReaperOptions::default()
    };
    let types = TypeSource::fixed(vec!["pool".into()]).unwrap();
    let mut reaper = Driver::new(Reaper::new(client(&server, "Reaper"), types, options).unwrap());

    // Ten minutes in, nothing is stale yet.
    clock.advance(minutes(10));
    assert_eq!(reaper.tick().await.unwrap(), Next::After(minutes(1)));
    assert_eq!(
        state_of(&server, "r-busy").await,
        ("busy".into(), "alice".into())
    );

    // Past the 30 min expiry; dave heartbeats just before the sweep.
    clock.advance(minutes(21));
    client(&server, "dave")
        .update("r-fresh", "busy", None)
        .await
        .unwrap();
    reaper.tick().await.unwrap();
    for name in ["r-busy", "r-cleaning", "r-leased", "r-extra"] {
        assert_eq!(
            state_of(&server, name).await,
            ("dirty".into(), String::new()),
            "{name}"
        );
    }
    assert_eq!(
        state_of(&server, "r-fresh").await,
        ("busy".into(), "dave".into())
    );
    assert_eq!(
        state_of(&server, "r-free").await,
        ("free".into(), String::new())
    );
    // Type `other` is not swept.
    assert_eq!(
        state_of(&server, "o-busy").await,
        ("busy".into(), "alice".into())
    );
    assert_eq!(reaper.inner().reaped_total(), 4);
    let status = reaper.status().get();
    assert_eq!((status.ticks, status.errors), (2, 0));
    server.stop().await;
}

#[tokio::test]
async fn types_come_from_the_config_file_and_target_state_is_honoured() {
    let server = leased_server().await;
    let clock = server.clock.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boskos.yaml");
    std::fs::write(&path, CONFIG).unwrap();
    let types = TypeSource::new(vec![], Some(&path), None).unwrap();
    let options = ReaperOptions {
        target_state: "quarantine".into(),
        ..ReaperOptions::default()
    };
    let mut reaper = Reaper::new(client(&server, "Reaper"), types, options).unwrap();

    clock.advance(minutes(31));
    assert_eq!(reaper.sweep().await.unwrap(), 5);
    for name in ["r-busy", "r-cleaning", "r-leased", "r-fresh", "o-busy"] {
        assert_eq!(
            state_of(&server, name).await,
            ("quarantine".into(), String::new()),
            "{name}"
        );
    }
    // Not a swept state without --extra-source-states.
    assert_eq!(
        state_of(&server, "r-extra").await,
        ("noSchedule".into(), "carol".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_for_the_runner() {
    let server = TestServer::start(CONFIG).await;
    let url = server.url.clone();
    server.stop().await;
    let api = mason_client::HttpClient::builder(&url, "Reaper")
        .retry(mason_client::RetryPolicy::none())
        .build()
        .unwrap();
    let types = TypeSource::fixed(vec!["pool".into()]).unwrap();
    let reaper = Reaper::new(std::sync::Arc::new(api), types, ReaperOptions::default()).unwrap();
    let mut driver = Driver::new(reaper);
    let err = driver.tick().await.unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert_eq!(driver.status().get().errors, 1);
}
