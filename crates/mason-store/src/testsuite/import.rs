//! Conformance cases for the all-or-nothing bulk import (`mason import`), through the
//! [`crate::Store`] trait only: every field kept, the acquire order and pool lifespans
//! right afterwards, the three modes, and refusals that change nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mason_types::{DynamicResourceLifeCycle, Resource, UserData};

use super::{assert_err_text, release_req, Harness};
use crate::{
    AcquireRequest, Error, ImportMode, ImportReport, ImportRequest, ResourceFilter, SyncReport,
};

/// Every resource by name, and every pool: what "the store is unchanged" compares.
async fn snapshot(h: &Harness) -> (Vec<Resource>, Vec<DynamicResourceLifeCycle>) {
    let mut resources = h
        .store
        .list(&ResourceFilter::default())
        .await
        .expect("list");
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    (resources, h.store.drlcs().await.expect("drlcs"))
}

fn at(text: &str) -> DateTime<Utc> {
    mason_types::resource::parse_wire_time(text).expect("time")
}

fn resource(name: &str, rtype: &str, state: &str, owner: &str, lastupdate: &str) -> Resource {
    Resource {
        owner: owner.to_string(),
        ..Resource::new(rtype, name, state, at(lastupdate))
    }
}

/// Upstream-like state: static and dynamic types, leases, user data, expiration dates,
/// times in the same second and with microseconds.
fn upstream_state() -> (Vec<Resource>, Vec<DynamicResourceLifeCycle>) {
    let mut busy = resource("proj-b", "project", "busy", "job-1", "2024-03-01T10:00:00Z");
    busy.userdata = UserData::from_iter([("build", "17"), ("yes", "on")]);
    let mut cluster = resource("c-1", "cluster", "free", "", "2024-03-01T10:00:05.123456Z");
    cluster
        .userdata
        .set_leased_resources(&["proj-z".to_string()]);
    cluster.expiration_date = Some(at("2099-01-01T00:00:00Z"));
    let mut leased = resource("c-2", "cluster", "busy", "job-2", "2024-03-01T10:00:06Z");
    leased.expiration_date = Some(at("2024-03-02T00:00:00Z"));
    let resources = vec![
        resource("proj-c", "project", "free", "", "2024-03-01T09:00:00Z"),
        resource("proj-a", "project", "free", "", "2024-03-01T09:00:00Z"),
        resource(
            "proj-d",
            "project",
            "free",
            "",
            "2024-03-01T08:59:59.999999Z",
        ),
        busy,
        resource("proj-z", "project", "c-1", "", "2024-03-01T10:00:05Z"),
        cluster,
        leased,
    ];
    let pool = DynamicResourceLifeCycle {
        rtype: "cluster".into(),
        initial_state: "dirty".into(),
        min_count: 1,
        max_count: 4,
        lifespan: Some(Duration::from_secs(3600)),
        needs: [("project".to_string(), 1)].into_iter().collect(),
        ..Default::default()
    };
    (resources, vec![pool])
}

fn request(mode: ImportMode) -> ImportRequest {
    let (resources, drlcs) = upstream_state();
    ImportRequest {
        resources,
        drlcs,
        mode,
        dry_run: false,
    }
}

fn sorted(mut resources: Vec<Resource>) -> Vec<Resource> {
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    resources
}

/// Every field survives; the acquire order, ownership and pool lifespans hold at once.
pub async fn import_keeps_every_field_and_leases_work(h: Harness) {
    let req = request(ImportMode::Empty);
    let report = h.store.import(&req).await.expect("import");
    assert_eq!(
        report.added,
        ["c-1", "c-2", "proj-a", "proj-b", "proj-c", "proj-d", "proj-z"]
    );
    assert_eq!(report.drlcs_added, ["cluster"]);
    let (resources, drlcs) = snapshot(&h).await;
    assert_eq!(resources, sorted(req.resources.clone()));
    assert_eq!(drlcs, req.drlcs);

    // Least recently updated first, to the microsecond, then by name within a time.
    let mut order = Vec::new();
    for _ in 0..3 {
        let got = h
            .store
            .acquire(&AcquireRequest {
                rtype: "project".into(),
                state: "free".into(),
                dest: "busy".into(),
                owner: "me".into(),
                ..Default::default()
            })
            .await
            .expect("acquire");
        order.push(got.resource.name);
    }
    assert_eq!(order, ["proj-d", "proj-a", "proj-c"]);

    // The imported lease belongs to its owner, and only to it.
    let err = h
        .store
        .release(&release_req("proj-b", "dirty", "someone-else"))
        .await;
    assert_err_text(
        err,
        "owner mismatch request by someone-else, currently owned by job-1",
    );
    let released = h
        .store
        .release(&release_req("proj-b", "dirty", "job-1"))
        .await
        .expect("release");
    assert_eq!(
        (released.state.as_str(), released.owner.as_str()),
        ("dirty", "")
    );
    // The imported pool's lifespan applies on release.
    let c2 = h
        .store
        .release(&release_req("c-2", "dirty", "job-2"))
        .await
        .expect("release");
    assert_eq!(
        c2.expiration_date,
        Some(c2.lastupdate + Duration::from_secs(3600))
    );
}

/// Without --merge or --replace, a store holding anything refuses, and keeps what it has.
pub async fn import_refuses_a_store_that_is_not_empty(h: Harness) {
    h.with_config("resources:\n- type: t\n  names: [r1]\n")
        .await;
    let before = snapshot(&h).await;
    assert_err_text(
        h.store.import(&request(ImportMode::Empty)).await,
        "the store is not empty: it holds 1 resource and 0 dynamic pools",
    );
    assert_eq!(snapshot(&h).await, before);
}

/// Merge adds what is missing, leaves identical rows alone, and refuses any difference
/// as a whole.
pub async fn import_merge_adds_missing_and_refuses_conflicts(h: Harness) {
    let full = request(ImportMode::Merge);
    let mut first = full.clone();
    first.resources.truncate(3);
    first.drlcs.clear();
    h.store.import(&first).await.expect("first part");
    let report = h.store.import(&full).await.expect("merge");
    assert_eq!(report.added, ["c-1", "c-2", "proj-b", "proj-z"]);
    assert_eq!(report.unchanged, ["proj-a", "proj-c", "proj-d"]);
    assert_eq!(report.drlcs_added, ["cluster"]);
    assert_eq!(snapshot(&h).await.0, sorted(full.resources.clone()));

    let before = snapshot(&h).await;
    let mut conflicting = full.clone();
    conflicting.resources[0].state = "dirty".into();
    conflicting.resources[3].owner = "job-9".into();
    conflicting.drlcs[0].max_count = 9;
    conflicting.resources.push(resource(
        "new-1",
        "project",
        "free",
        "",
        "2024-03-01T00:00:00Z",
    ));
    match h.store.import(&conflicting).await {
        Err(Error::ImportRefused(conflicts)) => assert_eq!(
            conflicts,
            [
                "dynamic pool \"cluster\" is in the store with another definition",
                "resource \"proj-c\" is in the store with another state",
                "resource \"proj-b\" is in the store with another owner",
            ]
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(snapshot(&h).await, before, "a refused merge writes nothing");
}

/// Replace removes every resource and pool first.
pub async fn import_replace_removes_everything_first(h: Harness) {
    h.with_config("resources:\n- type: old\n  names: [o1, o2]\n- type: dyn\n  max-count: 1\n")
        .await;
    let report = h
        .store
        .import(&request(ImportMode::Replace))
        .await
        .expect("replace");
    assert_eq!(report.drlcs_removed, ["dyn"]);
    assert!(report.removed.contains(&"o1".to_string()), "{report:?}");
    assert_eq!(report.added.len(), 7);
    let (resources, drlcs) = snapshot(&h).await;
    assert_eq!(resources, sorted(request(ImportMode::Replace).resources));
    assert_eq!(drlcs.len(), 1);
    assert_eq!(drlcs[0].rtype, "cluster");
}

/// An invalid request is refused with every problem named, and changes nothing.
pub async fn import_rejects_invalid_rows_and_changes_nothing(h: Harness) {
    h.with_config("resources:\n- type: t\n  names: [r1]\n")
        .await;
    let before = snapshot(&h).await;
    let mut bad = request(ImportMode::Merge);
    bad.resources.push(bad.resources[0].clone());
    bad.resources[1].rtype.clear();
    bad.resources[2].owner = "a\0b".into();
    bad.drlcs[0].min_count = 5;
    assert_err_text(
        h.store.import(&bad).await,
        "invalid import: resource \"proj-a\": type must be set; resource \"proj-d\": contains a \
         NUL character; resource \"proj-c\" is given twice; dynamic pool \"cluster\": min-count 5 \
         is more than max-count 4",
    );
    assert_eq!(snapshot(&h).await, before);
}

/// A dry run reports what it would write and writes nothing.
pub async fn import_dry_run_writes_nothing(h: Harness) {
    let mut req = request(ImportMode::Empty);
    req.dry_run = true;
    let report = h.store.import(&req).await.expect("dry run");
    assert_eq!(report.added.len(), 7);
    assert_eq!(report.drlcs_added, ["cluster"]);
    assert_eq!(snapshot(&h).await, (Vec::new(), Vec::new()));
    // And a real import afterwards still finds the store empty.
    req.dry_run = false;
    assert_eq!(h.store.import(&req).await.expect("import"), report);
}

/// What the store lists after an import imports back to the same store.
pub async fn import_of_a_listed_store_is_the_identity(h: Harness) {
    h.store
        .import(&request(ImportMode::Empty))
        .await
        .expect("import");
    let first = snapshot(&h).await;
    let again = ImportRequest {
        resources: first.0.clone(),
        drlcs: first.1.clone(),
        mode: ImportMode::Replace,
        dry_run: false,
    };
    h.store.import(&again).await.expect("replace with itself");
    assert_eq!(snapshot(&h).await, first);
    let merge = ImportRequest {
        mode: ImportMode::Merge,
        ..again
    };
    let report = h.store.import(&merge).await.expect("merge with itself");
    assert_eq!(
        report,
        ImportReport {
            unchanged: first.0.iter().map(|r| r.name.clone()).collect(),
            drlcs_unchanged: vec!["cluster".into()],
            ..Default::default()
        }
    );
    // A config sync on the imported state's own config changes nothing.
    let config = mason_types::BoskosConfig::parse_and_validate(
        "resources:\n- type: project\n  names: [proj-a, proj-b, proj-c, proj-d, proj-z]\n\
         - type: cluster\n  state: dirty\n  min-count: 1\n  max-count: 4\n  lifespan: 1h\n  \
         needs: {project: 1}\n",
    )
    .expect("config");
    let sync = h.store.sync_config(&config).await.expect("sync");
    assert_eq!(sync, SyncReport::default());
    assert_eq!(snapshot(&h).await, first);
}
