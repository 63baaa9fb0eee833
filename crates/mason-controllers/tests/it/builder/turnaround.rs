//! Measurement (prints, asserts no timing): how long a dirty virtual resource takes to be
//! free again when its need is free and its construct does nothing, with the default
//! builder options, over HTTP and in process, and when the embedder nudges the builder
//! on release. The release lands right after the builder's last idle poll (the test
//! dirties the resource as soon as it is free), so the un-nudged figures are the worst
//! case of the poll interval. Upstream's 15 s ticks need at least two periods. Run with
//! `--nocapture` to see the figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mason_client::{BoskosApi, VirtualClient};
use mason_controllers::builder::{
    Builder, BuilderOptions, ConstructError, ConvertError, Masonable, StaticPools, TypeToResources,
};
use mason_inprocess::InProcessClient;
use mason_types::{ConfigType, DynamicResourceLifeCycle, Resource, UserData};
use tokio_util::sync::CancellationToken;

use super::support::{built, Fixture, LIMIT};

struct Noop;

#[async_trait]
impl Masonable for Noop {
    async fn construct(
        &self,
        _resource: &Resource,
        _leased: &TypeToResources,
        _cancel: CancellationToken,
    ) -> Result<UserData, ConstructError> {
        Ok(UserData::new())
    }
}

fn noop(_content: &str) -> Result<Box<dyn Masonable>, ConvertError> {
    Ok(Box::new(Noop))
}

const CONFIG: &str = "\
resources:
- type: phys
  names: [p-1, p-2]
- type: virt
  state: dirty
  min-count: 1
  max-count: 1
  needs: {phys: 1}
  config: {type: noop}
";

async fn measure(fx: &Fixture, client: Arc<dyn BoskosApi>, label: &str, nudge: bool) {
    let pools = StaticPools(vec![DynamicResourceLifeCycle {
        rtype: "virt".into(),
        initial_state: "dirty".into(),
        min_count: 1,
        max_count: 1,
        config: ConfigType {
            ctype: "noop".into(),
            content: String::new(),
        },
        needs: [("phys".to_string(), 1)].into_iter().collect(),
        ..DynamicResourceLifeCycle::default()
    }]);
    let builder = Builder::new(client, BuilderOptions::default()).with_pool_source(pools);
    builder.register_config_converter("noop", noop).unwrap();
    let running = builder.start();
    fx.wait_for("the virtual resource built", |all| {
        (built(all, "virt").len() == 1).then_some(())
    })
    .await;

    let user = fx.client("ci-job");
    let mason = VirtualClient::new(user.clone());
    let mut samples = Vec::new();
    for _ in 0..20 {
        let lease = mason.acquire("virt", "free", "busy", None).await.unwrap();
        // Act as an instant janitor for the physical resource, then dirty the virtual one.
        for p in &lease.leased {
            user.release(&p.name, "free").await.unwrap();
        }
        user.release(&lease.resource.name, "dirty").await.unwrap();
        let start = Instant::now();
        if nudge {
            builder.nudge();
        }
        loop {
            let v = fx.get(&lease.resource.name).await;
            if v.state == "free" && v.owner.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < LIMIT,
                "not rebuilt within {LIMIT:?}: {v:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        samples.push(start.elapsed());
    }
    running.stop().await.unwrap();
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "turnaround dirty → free ({label}, no-op construct, idle poll {:?}, {} runs): min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        BuilderOptions::default().idle_poll,
        samples.len(),
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        ms(samples[samples.len() - 1]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turnaround_dirty_to_free_over_http() {
    let fx = Fixture::start(CONFIG, &[]).await;
    let client = fx.client("mason");
    measure(&fx, client, "HTTP", false).await;
    fx.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turnaround_dirty_to_free_in_process() {
    let fx = Fixture::start(CONFIG, &[]).await;
    let client: Arc<dyn BoskosApi> =
        Arc::new(InProcessClient::new(fx.server.store.clone(), "mason"));
    measure(&fx, client, "in process", false).await;
    fx.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turnaround_dirty_to_free_in_process_when_nudged() {
    let fx = Fixture::start(CONFIG, &[]).await;
    let client: Arc<dyn BoskosApi> =
        Arc::new(InProcessClient::new(fx.server.store.clone(), "mason"));
    measure(&fx, client, "in process, nudged on release", true).await;
    fx.server.stop().await;
}
