//! Failures: a construct that fails, a stop in the middle of a construct, and needs that
//! can never be met. In every case nothing stays leased.

use std::collections::BTreeMap;
use std::sync::Arc;

use mason_client::HttpClient;
use mason_controllers::builder::{StaticPools, EXEC_CONVERTER};
use mason_controllers::shutdown::{self, Shutdown};
use mason_types::{ConfigType, DynamicResourceLifeCycle, LEASED_RESOURCES};
use tokio_util::sync::CancellationToken;

use super::support::{built, quick_options, wait_until, Fixture};

fn config(script: &str, min: u32, phys: &[&str]) -> String {
    format!(
        "\
resources:
- type: phys
  names: [{}]
- type: virt
  state: dirty
  min-count: {min}
  max-count: {min}
  needs: {{phys: 1}}
  config:
    type: exec
    content: 'command: [./{script}]'
",
        phys.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_construct_returns_everything_to_dirty() {
    let fx = Fixture::start(
        &config("fail.sh", 1, &["p-1", "p-2"]),
        &[("fail.sh", "echo boom >&2\nexit 1")],
    )
    .await;
    let running = fx.builder(quick_options()).start();
    let builder = running.builder().clone();
    wait_until("two failed builds", || {
        builder
            .status()
            .pools
            .get("virt")
            .is_some_and(|p| p.failed >= 2)
    })
    .await;
    running.stop().await.unwrap();

    let status = builder.status();
    let pool = &status.pools["virt"];
    assert_eq!(pool.built, 0);
    let last = pool.last_error.as_deref().unwrap_or_default();
    assert!(last.contains("exited with exit status: 1: boom"), "{last}");
    assert_eq!(status.held, 0);

    fx.assert_nothing_owned().await;
    let virt = fx.of_type("virt").await;
    assert_eq!(virt.len(), 1);
    assert_eq!(virt[0].state, "dirty");
    assert_eq!(virt[0].userdata.get(LEASED_RESOURCES), None, "{virt:?}");
    let phys = fx.of_type("phys").await;
    assert!(
        phys.iter().all(|p| p.state == "dirty" || p.state == "free"),
        "{phys:?}"
    );
    // Each failed build used one physical resource, which now needs cleaning.
    assert!(
        phys.iter().filter(|p| p.state == "dirty").count() >= 2,
        "{phys:?}"
    );
    fx.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_during_construct_releases_everything_to_dirty() {
    stop_during_construct(false).await;
}

/// As `mason builder` runs it: every call guarded by the shutdown token. Against a
/// healthy server the grace lets the releases of the interrupted build through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_builder_stopped_during_construct_still_releases_everything() {
    stop_during_construct(true).await;
}

async fn stop_during_construct(guarded: bool) {
    let fx = Fixture::start(
        &config("slow.sh", 1, &["p-1", "p-2"]),
        &[("slow.sh", "touch started\nsleep 60")],
    )
    .await;
    let token = CancellationToken::new();
    let builder = if guarded {
        let shutdown = Shutdown::new(token.clone(), shutdown::DEFAULT_GRACE);
        let http = HttpClient::builder(&fx.server.url, "mason")
            .on_retry(shutdown::note_retry)
            .build()
            .expect("client");
        fx.builder_with(Arc::new(shutdown.guard(Arc::new(http))), quick_options())
    } else {
        fx.builder(quick_options())
    };
    let running = tokio::spawn({
        let (builder, token) = (builder.clone(), token.clone());
        async move { builder.run(token).await }
    });
    // In construct: the virtual resource is held with its leased list recorded.
    fx.wait_for("a construct under way", |all| {
        all.iter()
            .any(|v| {
                v.rtype == "virt"
                    && v.state == "cleaning"
                    && v.userdata.get(LEASED_RESOURCES).is_some()
            })
            .then_some(())
    })
    .await;
    let started = fx.config_path.with_file_name("started");
    wait_until("the script started", || started.exists()).await;
    assert_eq!(builder.status().held, 2);
    token.cancel();
    running.await.unwrap().unwrap();

    fx.assert_nothing_owned().await;
    let virt = fx.of_type("virt").await;
    assert_eq!(virt[0].state, "dirty");
    let phys = fx.of_type("phys").await;
    assert_eq!(
        phys.iter().filter(|p| p.state == "dirty").count(),
        1,
        "{phys:?}"
    );
    assert_eq!(
        phys.iter().filter(|p| p.state == "free").count(),
        1,
        "{phys:?}"
    );
    fx.server.stop().await;
}

fn pool(rtype: &str, needs: &[(&str, u32)]) -> DynamicResourceLifeCycle {
    DynamicResourceLifeCycle {
        rtype: rtype.into(),
        initial_state: "dirty".into(),
        min_count: 1,
        max_count: 1,
        config: ConfigType {
            ctype: EXEC_CONVERTER.into(),
            content: "command: [sh, -c, 'echo {}']".into(),
        },
        needs: needs
            .iter()
            .map(|(t, n)| (t.to_string(), *n))
            .collect::<BTreeMap<_, _>>(),
        ..DynamicResourceLifeCycle::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn needs_that_cannot_be_met_are_reported_and_block_no_other_pool() {
    // The server knows three virtual pools; the builder's definitions (out of step with
    // the server's) need a type the server lacks, and more phys than exist.
    let config = "\
resources:
- type: phys
  names: [p-1, p-2]
- {type: ghostly, state: dirty, min-count: 1, max-count: 1}
- {type: greedy, state: dirty, min-count: 1, max-count: 1}
- {type: fine, state: dirty, min-count: 1, max-count: 1}
";
    let fx = Fixture::start(config, &[]).await;
    let pools = StaticPools(vec![
        pool("ghostly", &[("ghost", 1)]),
        pool("greedy", &[("phys", 3)]),
        pool("fine", &[("phys", 1)]),
    ]);
    let builder = fx.builder(quick_options()).with_pool_source(pools);
    let running = builder.start();

    fx.wait_for("the fine pool built", |all| {
        (built(all, "fine").len() == 1).then_some(())
    })
    .await;
    wait_until("both bad pools reported", || {
        let s = builder.status();
        ["ghostly", "greedy"]
            .iter()
            .all(|t| s.pools.get(*t).is_some_and(|p| p.blocked.is_some()))
    })
    .await;
    let status = builder.status();
    assert_eq!(
        status.pools["ghostly"].blocked.as_deref(),
        Some("needed resource type ghost does not exist on the server")
    );
    assert_eq!(
        status.pools["greedy"].blocked.as_deref(),
        Some("each build needs 3 phys, but the server has only 2")
    );
    assert!(status.pools["ghostly"].unmet_needs >= 1);
    assert!(status.pools["greedy"].unmet_needs >= 1);
    assert_eq!(status.pools["fine"].blocked, None);
    // The blocked pools hold nothing: their virtual resources stay dirty and unowned.
    for t in ["ghostly", "greedy"] {
        let v = fx.of_type(t).await;
        assert_eq!(
            (v[0].state.as_str(), v[0].owner.as_str()),
            ("dirty", ""),
            "{v:?}"
        );
    }
    running.stop().await.unwrap();
    fx.assert_nothing_owned().await;
    fx.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_need_busy_for_too_long_gives_everything_back() {
    // Two virtual resources need one phys each, and only one phys exists: the second
    // build waits, gives up after the fulfil timeout, and holds nothing meanwhile
    // except its own virtual resource.
    let fx = Fixture::start(
        "\
resources:
- type: phys
  names: [p-1]
- type: virt
  state: dirty
  min-count: 1
  max-count: 1
  needs: {phys: 1}
  config: {type: exec, content: 'command: [sh, -c, \"echo {}\"]'}
- {type: other, state: dirty, min-count: 1, max-count: 1}
",
        &[],
    )
    .await;
    let pools = StaticPools(vec![
        pool("virt", &[("phys", 1)]),
        pool("other", &[("phys", 1)]),
    ]);
    let builder = fx.builder(quick_options()).with_pool_source(pools);
    let running = builder.start();
    wait_until("one build gave up", || {
        builder
            .status()
            .pools
            .values()
            .any(|p| p.unmet_needs >= 1 && p.failed >= 1)
    })
    .await;
    let status = builder.status();
    assert_eq!(
        status.pools.values().map(|p| p.built).sum::<u64>(),
        1,
        "{status:?}"
    );
    let waiting = status.pools.values().find(|p| p.built == 0).unwrap();
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap_or_default()
            .starts_with("no free phys within 2s"),
        "{status:?}"
    );
    assert_eq!(waiting.blocked, None);
    running.stop().await.unwrap();
    fx.assert_nothing_owned().await;
    // The one phys is parked under the built virtual resource; nothing went dirty.
    let p = fx.get("p-1").await;
    assert!(p.state != "dirty" && p.state != "leased", "{p:?}");
    fx.server.stop().await;
}
