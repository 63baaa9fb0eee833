//! Conformance cases for config sync and dynamic upkeep (SPEC §2.3, §4.8, §4.9, §4.11),
//! through the [`crate::Store`] trait only.

use std::time::Duration;

use mason_types::{state, BoskosConfig, Resource};

use super::{by_state_req, release_req, Harness};
use crate::{AcquireRequest, ResourceFilter, SyncReport};

/// Resources of `rtype`, by name.
async fn of_type(h: &Harness, rtype: &str) -> Vec<Resource> {
    let filter = ResourceFilter {
        rtype: Some(rtype.into()),
        ..Default::default()
    };
    let mut out = h.store.list(&filter).await.expect("list");
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Every resource, by name.
async fn everything(h: &Harness) -> Vec<Resource> {
    let mut out = h
        .store
        .list(&ResourceFilter::default())
        .await
        .expect("list");
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn names(resources: &[Resource]) -> Vec<String> {
    resources.iter().map(|r| r.name.clone()).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Sync with a YAML config (validated) and return the report.
async fn sync(h: &Harness, yaml: &str) -> SyncReport {
    let config = BoskosConfig::parse_and_validate(yaml).expect("test config is valid");
    h.store.sync_config(&config).await.expect("sync_config")
}

/// Lease one named resource, whatever its state, moving it to `dest`.
async fn lease(h: &Harness, name: &str, dest: &str, owner: &str) {
    let current = h.get(name).await.state;
    h.store
        .acquire_by_state(&by_state_req(&current, dest, owner, &[name.to_string()]))
        .await
        .expect("lease");
}

/// The pool of `rtype` as the store holds it, if any.
async fn pool(h: &Harness, rtype: &str) -> Option<(u32, u32)> {
    let drlcs = h.store.drlcs().await.expect("drlcs");
    drlcs
        .iter()
        .find(|d| d.rtype == rtype)
        .map(|d| (d.min_count, d.max_count))
}

const MIXED: &str = "resources:\n- type: t\n  names: [a, b]\n- type: d\n  state: dirty\n  min-count: 2\n  max-count: 3\n";

/// A second sync of the same config writes nothing: empty report, `lastupdate`s kept.
pub async fn sync_is_idempotent(h: Harness) {
    let first = sync(&h, MIXED).await;
    assert_eq!(first.created.len(), 4, "{first:?}");
    assert_eq!(first.drlcs_upserted, strings(&["d"]));
    let before = everything(&h).await;
    h.clock.advance(Duration::from_secs(60));
    let second = sync(&h, MIXED).await;
    assert!(
        second.is_empty() && second.deferred.is_empty(),
        "{second:?}"
    );
    assert_eq!(everything(&h).await, before, "no row was rewritten");
    assert!(h
        .store
        .sync_dynamic()
        .await
        .expect("sync_dynamic")
        .is_empty());
    assert_eq!(everything(&h).await, before);
}

/// New static names are created free (or in the entry's state), unowned, with empty user
/// data and `lastupdate` = now; removed ones are deleted unless leased, and a leased one
/// goes at the first sync after its release.
pub async fn sync_static_add_remove_defers_leased(h: Harness) {
    let start = h.clock.peek();
    sync(
        &h,
        "resources:\n- type: t\n  names: [a, b, c]\n- type: u\n  state: dirty\n  names: [x]\n",
    )
    .await;
    let t = of_type(&h, "t").await;
    assert_eq!(names(&t), strings(&["a", "b", "c"]));
    for r in &t {
        assert_eq!((r.state.as_str(), r.owner.as_str()), ("free", ""));
        assert!(r.userdata.is_empty() && r.expiration_date.is_none());
        assert!(r.lastupdate >= start && r.lastupdate <= h.clock.peek());
    }
    assert_eq!(h.get("x").await.state, "dirty");

    lease(&h, "b", "busy", "job").await;
    let report = sync(
        &h,
        "resources:\n- type: t\n  names: [a]\n- type: u\n  state: free\n  names: [x]\n",
    )
    .await;
    assert_eq!(report.deleted, strings(&["c"]));
    assert_eq!(report.deferred, strings(&["b"]));
    assert_eq!(
        h.get("b").await.owner,
        "job",
        "a leased resource is never deleted"
    );
    assert_eq!(
        h.get("x").await.state,
        "dirty",
        "configured state only applies at creation"
    );

    h.store
        .release(&release_req("b", "dirty", "job"))
        .await
        .expect("release");
    let report = sync(
        &h,
        "resources:\n- type: t\n  names: [a]\n- type: u\n  names: [x]\n",
    )
    .await;
    assert_eq!(report.deleted, strings(&["b"]));
    assert!(report.deferred.is_empty());
    assert_eq!(names(&of_type(&h, "t").await), strings(&["a"]));
}

/// A name moving to another type is deleted and created again; while leased it waits.
pub async fn sync_moves_name_between_types(h: Harness) {
    sync(&h, "resources:\n- type: t1\n  names: [n1, n2]\n").await;
    lease(&h, "n2", "busy", "job").await;
    let moved = "resources:\n- type: t2\n  names: [n1, n2]\n";
    let report = sync(&h, moved).await;
    assert_eq!(report.deferred, strings(&["n2"]));
    let n1 = h.get("n1").await;
    assert_eq!((n1.rtype.as_str(), n1.state.as_str()), ("t2", "free"));
    assert_eq!(h.get("n2").await.rtype, "t1", "leased: stays where it is");

    h.store
        .release(&release_req("n2", "dirty", "job"))
        .await
        .expect("release");
    sync(&h, moved).await;
    let n2 = h.get("n2").await;
    assert_eq!(
        (n2.rtype.as_str(), n2.state.as_str(), n2.owner.as_str()),
        ("t2", "free", "")
    );
    assert!(of_type(&h, "t1").await.is_empty());
}

/// A new pool is filled to min-count with UUID names in its state; `drlcs()` mirrors the
/// config, including changes to it.
pub async fn sync_tops_up_pool_with_uuid_names(h: Harness) {
    let report = sync(&h, MIXED).await;
    let d = of_type(&h, "d").await;
    assert_eq!(d.len(), 2);
    for r in &d {
        assert!(
            uuid::Uuid::parse_str(&r.name).is_ok(),
            "UUID name: {}",
            r.name
        );
        assert_eq!((r.state.as_str(), r.owner.as_str()), ("dirty", ""));
        assert!(report.created.contains(&r.name));
    }
    let drlcs = h.store.drlcs().await.expect("drlcs");
    assert_eq!(drlcs.len(), 1);
    assert_eq!(
        (drlcs[0].rtype.as_str(), drlcs[0].initial_state.as_str()),
        ("d", "dirty")
    );
    assert_eq!(
        (drlcs[0].min_count, drlcs[0].max_count, drlcs[0].lifespan),
        (2, 3, None)
    );

    let changed = "resources:\n- type: t\n  names: [a, b]\n- type: d\n  state: dirty\n  min-count: 3\n  max-count: 3\n  lifespan: 2h\n  config:\n    type: exec\n    content: make\n";
    let report = sync(&h, changed).await;
    assert_eq!(report.drlcs_upserted, strings(&["d"]));
    assert_eq!(report.created.len(), 1, "raised min-count: one more");
    let drlcs = h.store.drlcs().await.expect("drlcs");
    assert_eq!(drlcs[0].lifespan, Some(Duration::from_secs(7200)));
    assert_eq!(
        (
            drlcs[0].config.ctype.as_str(),
            drlcs[0].config.content.as_str()
        ),
        ("exec", "make")
    );
    assert_eq!(of_type(&h, "d").await.len(), 3);
}

/// A pool gone from the config is parked at 0/0, its free resources go `toBeDeleted`,
/// leased ones wait; once the cleaner tombstones them they are deleted, then the pool.
pub async fn sync_lame_duck_on_removal_then_cleanup(h: Harness) {
    sync(&h, MIXED).await;
    let members = names(&of_type(&h, "d").await);
    lease(&h, &members[0], "busy", "job").await;

    let report = sync(&h, "resources:\n- type: t\n  names: [a, b]\n").await;
    assert_eq!(pool(&h, "d").await, Some((0, 0)));
    assert_eq!(report.marked_for_deletion, vec![members[1].clone()]);
    assert_eq!(report.deferred, vec![members[0].clone()]);
    assert_eq!(h.get(&members[0]).await.state, "busy");
    assert_eq!(h.get(&members[1]).await.state, state::TO_BE_DELETED);

    h.store
        .release(&release_req(&members[0], "dirty", "job"))
        .await
        .expect("release");
    let report = h.store.sync_dynamic().await.expect("sync_dynamic");
    assert_eq!(report.marked_for_deletion, vec![members[0].clone()]);

    // The cleaner: toBeDeleted → cleaning (leased) → tombstone.
    for name in &members {
        lease(&h, name, "cleaning", "cleaner").await;
    }
    let report = h.store.sync_dynamic().await.expect("sync_dynamic");
    assert!(
        report.is_empty(),
        "leased by the cleaner: untouched {report:?}"
    );
    for name in &members {
        h.store
            .release(&release_req(name, state::TOMBSTONE, "cleaner"))
            .await
            .expect("release");
    }
    let report = h.store.sync_dynamic().await.expect("sync_dynamic");
    let mut expected = members.clone();
    expected.sort();
    assert_eq!(report.deleted, expected);
    assert_eq!(report.drlcs_deleted, strings(&["d"]));
    assert!(report.created.is_empty());
    assert!(of_type(&h, "d").await.is_empty());
    assert_eq!(pool(&h, "d").await, None);

    // Config emptied at the storage level: static ones go, nothing else remains.
    let report = h
        .store
        .sync_config(&BoskosConfig::default())
        .await
        .expect("sync_config");
    assert_eq!(report.deleted, strings(&["a", "b"]));
    assert!(everything(&h).await.is_empty());
}

/// Past its expiration date an unowned resource goes `toBeDeleted` (expiration kept) and,
/// counted as active, is not replaced yet; an expired leased one is untouched.
pub async fn sync_lifespan_expiry_marks_to_be_deleted(h: Harness) {
    sync(
        &h,
        "resources:\n- type: e\n  min-count: 2\n  max-count: 2\n  lifespan: 1h\n",
    )
    .await;
    let members = names(&of_type(&h, "e").await);
    let (a, b) = (&members[0], &members[1]);
    for name in [a, b] {
        lease(&h, name, "busy", "job").await;
        h.store
            .release(&release_req(name, "free", "job"))
            .await
            .expect("release");
    }
    lease(&h, b, "busy", "job2").await;
    let expires = h
        .get(a)
        .await
        .expiration_date
        .expect("released with a lifespan");

    h.clock.advance(Duration::from_secs(30 * 60));
    assert!(h
        .store
        .sync_dynamic()
        .await
        .expect("sync_dynamic")
        .is_empty());

    h.clock.advance(Duration::from_secs(31 * 60));
    let report = h.store.sync_dynamic().await.expect("sync_dynamic");
    assert_eq!(report.marked_for_deletion, vec![a.clone()]);
    assert!(
        report.created.is_empty(),
        "toBeDeleted still counts toward min-count"
    );
    let ra = h.get(a).await;
    assert_eq!(ra.state, state::TO_BE_DELETED);
    assert_eq!(ra.expiration_date, Some(expires), "expiration date kept");
    let rb = h.get(b).await;
    assert_eq!(
        (rb.state.as_str(), rb.owner.as_str()),
        ("busy", "job2"),
        "leased: untouched"
    );
}

/// A tombstone is deleted and the pool refilled to min-count with a new name.
pub async fn sync_tombstone_deleted_and_replaced(h: Harness) {
    sync(
        &h,
        "resources:\n- type: p\n  min-count: 2\n  max-count: 2\n",
    )
    .await;
    let members = names(&of_type(&h, "p").await);
    let req = AcquireRequest {
        actor: None,
        rtype: "p".into(),
        state: "free".into(),
        dest: "cleaning".into(),
        owner: "cleaner".into(),
        ..Default::default()
    };
    let gone = h.store.acquire(&req).await.expect("acquire").resource.name;
    h.store
        .release(&release_req(&gone, state::TOMBSTONE, "cleaner"))
        .await
        .expect("release");

    let report = h.store.sync_dynamic().await.expect("sync_dynamic");
    assert_eq!(report.deleted, vec![gone.clone()]);
    assert_eq!(report.created.len(), 1);
    let now = names(&of_type(&h, "p").await);
    assert_eq!(now.len(), 2);
    assert!(!now.contains(&gone));
    assert!(now
        .iter()
        .all(|n| members.contains(n) || report.created.contains(n)));
}

/// Lowering max-count marks unowned resources by name, highest first.
pub async fn sync_scale_down_highest_names_first(h: Harness) {
    sync(
        &h,
        "resources:\n- type: p\n  min-count: 4\n  max-count: 4\n",
    )
    .await;
    let mut members = names(&of_type(&h, "p").await);
    members.sort();
    let report = sync(
        &h,
        "resources:\n- type: p\n  min-count: 1\n  max-count: 1\n",
    )
    .await;
    assert_eq!(report.marked_for_deletion, members[1..].to_vec());
    assert_eq!(h.get(&members[0]).await.state, "free");
}

/// Leased resources are never touched, even over max-count: only free ones go.
pub async fn sync_owned_resources_never_touched(h: Harness) {
    sync(
        &h,
        "resources:\n- type: p\n  min-count: 3\n  max-count: 3\n",
    )
    .await;
    let mut members = names(&of_type(&h, "p").await);
    members.sort();
    // Lease the two highest names: scale-down must skip them.
    lease(&h, &members[1], "busy", "job").await;
    lease(&h, &members[2], "busy", "job").await;
    let before = [h.get(&members[1]).await, h.get(&members[2]).await];
    let report = sync(
        &h,
        "resources:\n- type: p\n  min-count: 1\n  max-count: 1\n",
    )
    .await;
    assert_eq!(report.marked_for_deletion, vec![members[0].clone()]);
    assert_eq!([h.get(&members[1]).await, h.get(&members[2]).await], before);
}

/// A static type turned dynamic adopts its resources (kept, counted toward min/max);
/// turned static again, the generated extras are retired and the pool parked at 0/0.
pub async fn sync_static_dynamic_adoption(h: Harness) {
    let statics = "resources:\n- type: r\n  names: [r-0, r-1, r-2]\n";
    sync(&h, statics).await;
    let kept = everything(&h).await;

    let report = sync(
        &h,
        "resources:\n- type: r\n  min-count: 5\n  max-count: 5\n",
    )
    .await;
    assert!(report.deleted.is_empty(), "{report:?}");
    assert_eq!(report.created.len(), 2, "3 adopted + 2 new = min-count 5");
    let all = of_type(&h, "r").await;
    assert_eq!(all.len(), 5);
    assert!(
        kept.iter().all(|k| all.contains(k)),
        "adopted resources are untouched"
    );

    let report = sync(&h, statics).await;
    let mut extras = report.marked_for_deletion.clone();
    extras.sort();
    let mut created = all
        .iter()
        .filter(|r| !kept.contains(r))
        .map(|r| r.name.clone())
        .collect::<Vec<_>>();
    created.sort();
    assert_eq!(extras, created);
    assert_eq!(pool(&h, "r").await, Some((0, 0)));
    for k in &kept {
        assert_eq!(
            &h.get(&k.name).await,
            k,
            "named again in the config: untouched"
        );
    }
    // The named ones are static now: upkeep ignores them even once the pool is gone.
    for name in &extras {
        lease(&h, name, "cleaning", "cleaner").await;
        h.store
            .release(&release_req(name, state::TOMBSTONE, "cleaner"))
            .await
            .expect("release");
    }
    let report = h.store.sync_dynamic().await.expect("sync_dynamic");
    assert_eq!(report.deleted, extras);
    assert_eq!(report.drlcs_deleted, strings(&["r"]));
    assert_eq!(
        names(&of_type(&h, "r").await),
        strings(&["r-0", "r-1", "r-2"])
    );
}
