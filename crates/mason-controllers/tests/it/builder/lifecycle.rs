//! The acceptance flow of issue 4: a virtual pool built by an exec script, leased through
//! the Mason client, released dirty, recycled and rebuilt.

use mason_client::{VirtualClient, VirtualError};
use mason_types::LEASED_RESOURCES;

use super::support::{built, quick_options, wait_until, Fixture};

pub(crate) const CONFIG: &str = "\
resources:
- type: phys
  state: free
  names: [p-1, p-2, p-3, p-4]
- type: virt
  state: dirty
  min-count: 2
  max-count: 4
  needs: {phys: 1}
  config:
    type: exec
    content: |
      command: [./build.sh, demo]
      timeout: 10s
";

/// Prints the user data a real converter would: where the virtual resource lives and
/// which physical resource it was built from (read from the JSON on stdin).
pub(crate) const BUILD_SH: &str = r#"input=$(cat)
phys=$(printf '%s' "$input" | sed -n 's/.*"leased":{"phys":\[{"type":"phys","name":"\([^"]*\)".*/\1/p')
printf '{"endpoint":"virt://%s","built-from":"%s","arg":"%s"}' "$MASON_RESOURCE_NAME" "$phys" "$1""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_pool_is_built_leased_released_and_rebuilt() {
    let fx = Fixture::start(CONFIG, &[("build.sh", BUILD_SH)]).await;
    let running = fx.builder(quick_options()).start();

    // Within seconds: two virtual resources free, with the converter's user data and
    // leasedResources, their physical resources parked in a state named after them.
    let ready = fx
        .wait_for("two built virtual resources", |all| {
            let b = built(all, "virt");
            (b.len() == 2).then_some(b)
        })
        .await;
    for v in &ready {
        let names = v.userdata.leased_resources().unwrap();
        assert_eq!(names.len(), 1);
        assert_eq!(
            v.userdata.get(LEASED_RESOURCES),
            Some(format!("- {}\n", names[0]).as_str())
        );
        assert_eq!(
            v.userdata.get("endpoint"),
            Some(format!("virt://{}", v.name).as_str())
        );
        assert_eq!(v.userdata.get("built-from"), Some(names[0].as_str()));
        assert_eq!(v.userdata.get("arg"), Some("demo"));
        let p = fx.get(&names[0]).await;
        assert_eq!((p.state.as_str(), p.owner.as_str()), (v.name.as_str(), ""));
    }

    // The Mason client hands out a virtual resource with its physical one.
    let user = VirtualClient::new(fx.client("ci-job"));
    let lease = user.acquire("virt", "free", "busy", None).await.unwrap();
    assert_eq!(
        (lease.resource.state.as_str(), lease.resource.owner.as_str()),
        ("busy", "ci-job")
    );
    let names = lease.resource.userdata.leased_resources().unwrap();
    assert_eq!(
        lease
            .leased
            .iter()
            .map(|r| r.name.clone())
            .collect::<Vec<_>>(),
        names
    );
    for p in &lease.leased {
        assert_eq!((p.state.as_str(), p.owner.as_str()), ("busy", "ci-job"));
        assert_eq!(fx.get(&p.name).await.owner, "ci-job");
    }
    assert_eq!(lease.all().count(), 2);

    // Released to dirty together: the builder recycles and rebuilds it from another
    // physical resource (the old one is dirty, waiting for a janitor).
    let vname = lease.resource.name.clone();
    let old = names[0].clone();
    user.release_lease(&lease, "dirty").await.unwrap();
    assert_eq!(fx.get(&old).await.state, "dirty");
    let rebuilt = fx
        .wait_for("the released virtual resource rebuilt", |all| {
            built(all, "virt").into_iter().find(|v| v.name == vname)
        })
        .await;
    let new = rebuilt.userdata.leased_resources().unwrap();
    assert_ne!(new, vec![old.clone()]);
    assert_eq!(rebuilt.userdata.get("built-from"), Some(new[0].as_str()));
    assert_eq!(fx.get(&old).await.state, "dirty");

    // The builder counts a build after its last call to the server, so the rebuilt
    // resource can be seen free a moment before the count moves.
    wait_until("the builder counts the third build", || {
        running.status().pools["virt"].built >= 3
    })
    .await;
    let status = running.status();
    let pool = &status.pools["virt"];
    assert_eq!(pool.converter, "exec");
    assert!(pool.built >= 3, "{status:?}");
    assert_eq!(pool.failed, 0, "{status:?}");
    assert_eq!(pool.blocked, None);
    running.stop().await.unwrap();
    fx.assert_nothing_owned().await;
    fx.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mason_client_returns_the_virtual_resource_when_its_physical_ones_are_gone() {
    let fx = Fixture::start(CONFIG, &[("build.sh", BUILD_SH)]).await;
    let running = fx.builder(quick_options()).start();
    let ready = fx
        .wait_for("two built virtual resources", |all| {
            let b = built(all, "virt");
            (b.len() == 2).then_some(b)
        })
        .await;
    running.stop().await.unwrap();

    // Someone takes the parked physical resource of one virtual resource.
    let victim = &ready[0];
    let pname = victim.userdata.leased_resources().unwrap().remove(0);
    let thief = fx.client("thief");
    thief
        .acquire_by_state(&victim.name, "busy", std::slice::from_ref(&pname))
        .await
        .unwrap();

    let user = VirtualClient::new(fx.client("ci-job"));
    let mut got_error = false;
    for _ in 0..2 {
        match user.acquire("virt", "free", "busy", None).await {
            Ok(lease) => {
                assert_ne!(lease.resource.name, victim.name);
                user.release_lease(&lease, "free").await.unwrap();
            }
            Err(e) => {
                assert!(
                    matches!(e, VirtualError::Leased { ref name, .. } if *name == victim.name),
                    "{e}"
                );
                got_error = true;
                break;
            }
        }
    }
    assert!(
        got_error,
        "the virtual resource with a missing physical one was never offered"
    );
    let v = fx.get(&victim.name).await;
    assert_eq!((v.state.as_str(), v.owner.as_str()), ("dirty", ""));
    assert_eq!(fx.get(&pname).await.owner, "thief");
    fx.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_resources_without_needs_lease_alone() {
    let config = "\
resources:
- type: solo
  state: dirty
  min-count: 1
  max-count: 1
  config:
    type: exec
    content: 'command: [sh, -c, \"echo {}\"]'
";
    let fx = Fixture::start(config, &[]).await;
    let running = fx.builder(quick_options()).start();
    fx.wait_for("the solo resource free", |all| {
        all.iter()
            .any(|r| r.rtype == "solo" && r.state == "free")
            .then_some(())
    })
    .await;
    let solo = fx.of_type("solo").await.remove(0);
    assert_eq!(solo.userdata.get(LEASED_RESOURCES), Some("[]\n"));
    running.stop().await.unwrap();

    let user = VirtualClient::new(fx.client("ci-job"));
    let lease = user.acquire("solo", "free", "busy", None).await.unwrap();
    assert!(lease.leased.is_empty());
    user.release_lease(&lease, "dirty").await.unwrap();
    fx.assert_nothing_owned().await;
    fx.server.stop().await;
}
