//! A builder that died mid-build left resources owned by its name; the next one with the
//! same owner name releases them at start and the pool recovers to min-count.

use mason_types::UserData;

use super::lifecycle::{BUILD_SH, CONFIG};
use super::support::{built, quick_options, wait_until, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_a_dead_builder_are_released_and_the_pool_recovers() {
    let fx = Fixture::start(CONFIG, &[("build.sh", BUILD_SH)]).await;

    // What a builder killed during a construct leaves behind: a virtual resource in
    // cleaning with its leased list, and the physical resource in leased, both owned.
    let dead = fx.client("mason");
    let v = dead
        .acquire("virt", "dirty", "cleaning", None)
        .await
        .unwrap();
    let p = dead.acquire("phys", "free", "leased", None).await.unwrap();
    let mut ud = UserData::new();
    ud.set_leased_resources(std::slice::from_ref(&p.name));
    dead.update(&v.name, "cleaning", Some(&ud)).await.unwrap();

    let builder = fx.builder(quick_options());
    let running = builder.start();
    wait_until("leftovers released", || builder.status().recovered == 2).await;
    let ready = fx
        .wait_for("the pool back at min-count", |all| {
            let b = built(all, "virt");
            (b.len() == 2).then_some(b)
        })
        .await;
    assert!(ready.iter().any(|r| r.name == v.name));
    // The physical resource the dead builder held needs cleaning before reuse.
    assert_eq!(fx.get(&p.name).await.state, "dirty");
    running.stop().await.unwrap();
    fx.assert_nothing_owned().await;
    fx.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_definitions_are_reloaded_when_the_file_changes() {
    let fx = Fixture::start(CONFIG, &[("build.sh", BUILD_SH)]).await;
    // The builder's file starts without the virtual pool.
    std::fs::write(
        &fx.config_path,
        "resources:\n- type: phys\n  names: [p-1, p-2, p-3, p-4]\n",
    )
    .unwrap();
    let builder = fx.builder(quick_options());
    let running = builder.start();
    wait_until("the first load", || builder.status().pool_loads >= 1).await;
    assert!(builder.status().pools.is_empty());

    // A broken file keeps the old definitions and is reported.
    std::fs::write(&fx.config_path, "resources: [").unwrap();
    wait_until("the error reported", || {
        builder.status().pool_source_error.is_some()
    })
    .await;

    mason_testkit::write_config(&fx.config_path, CONFIG);
    fx.wait_for("the pool built after the reload", |all| {
        (built(all, "virt").len() == 2).then_some(())
    })
    .await;
    assert_eq!(builder.status().pool_source_error, None);
    running.stop().await.unwrap();
    fx.server.stop().await;
}
