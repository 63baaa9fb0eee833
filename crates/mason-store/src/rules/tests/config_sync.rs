//! SPEC §4.11 "SyncResources": upstream's scenarios, planned and applied in memory.

use mason_types::state::{BUSY, DIRTY, FREE, TOMBSTONE, TO_BE_DELETED};

use super::*;

#[test]
fn migration_keeps_pre_dynamic_resources_and_counts_them() {
    let before = snapshot(
        vec![
            fixed("res-1", "t", FREE),
            fixed("dt_1", "mason", FREE),
            fixed("dt_2", "mason", FREE),
        ],
        vec![],
    );
    let yaml =
        "resources:\n- type: t\n  names: [res-1]\n- type: mason\n  min-count: 2\n  max-count: 4\n";
    let (plan, after) = sync(&before, Some(yaml));
    assert!(plan.delete.is_empty() && plan.create.is_empty(), "{plan:?}");
    assert_eq!(
        rows(&after),
        lines(&[
            "res-1 t free - t0 S",
            "dt_1 mason free - t0 D",
            "dt_2 mason free - t0 D"
        ])
    );
    assert_eq!(pools(&after), lines(&["mason 2/4"]));
}

#[test]
fn empty_store_and_empty_config_plan_nothing() {
    let (plan, after) = sync(&Snapshot::default(), None);
    assert!(plan.is_empty() && plan.deferred.is_empty(), "{plan:?}");
    assert!(after.resources.is_empty() && after.drlcs.is_empty());
}

#[test]
fn append_creates_static_names_and_fills_new_pool() {
    let before = snapshot(vec![fixed("res-1", "t", FREE)], vec![]);
    let yaml = "resources:\n- type: t\n  names: [res-1, res-2]\n- type: dt\n  min-count: 1\n  max-count: 2\n";
    let (_, after) = sync(&before, Some(yaml));
    assert_eq!(
        rows(&after),
        lines(&[
            "res-1 t free - t0 S",
            "res-2 t free - now S",
            "new-dynamic-res-1 dt free - now D"
        ])
    );
    assert_eq!(pools(&after), lines(&["dt 1/2"]));

    // Nothing changed since: a second sync writes nothing (idempotent).
    let (again, same) = sync(&after, Some(yaml));
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(rows(&same), rows(&after));
}

#[test]
fn configured_state_applies_at_creation_only() {
    let yaml = "resources:\n- type: a\n  state: dirty\n  names: [n1]\n";
    let (_, after) = sync(&Snapshot::default(), Some(yaml));
    assert_eq!(rows(&after), lines(&["n1 a dirty - now S"]));

    let before = snapshot(vec![fixed("n1", "a", FREE)], vec![]);
    let (plan, after) = sync(&before, Some(yaml));
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(rows(&after), lines(&["n1 a free - t0 S"]));
}

#[test]
fn emptied_config_deletes_static_and_retires_dynamic() {
    let before = snapshot(
        vec![fixed("res", "t", FREE), dynamic("dt_1", "dt", FREE)],
        vec![drlc("dt", 1, 2)],
    );
    let (plan, after) = sync(&before, None);
    assert_eq!(rows(&after), lines(&["dt_1 dt toBeDeleted - now D"]));
    assert_eq!(
        pools(&after),
        lines(&["dt 0/0"]),
        "pool parked at 0/0 while resources remain"
    );
    assert!(plan.deferred.is_empty());
}

#[test]
fn emptied_config_deletes_pool_without_resources() {
    let before = snapshot(vec![], vec![drlc("dt", 1, 2)]);
    let (plan, after) = sync(&before, None);
    assert_eq!(plan.delete_drlcs, vec!["dt".to_string()]);
    assert!(after.drlcs.is_empty());
    assert!(after.resources.is_empty());
}

#[test]
fn emptied_config_leaves_leased_resources_alone() {
    let before = snapshot(
        vec![
            fixed("res", "t", BUSY).owned_by("o"),
            dynamic("dt_1", "dt", BUSY).owned_by("o"),
        ],
        vec![drlc("dt", 1, 2)],
    );
    let (plan, after) = sync(&before, None);
    assert_eq!(
        rows(&after),
        lines(&["res t busy o t0 S", "dt_1 dt busy o t0 D"])
    );
    assert_eq!(pools(&after), lines(&["dt 0/0"]));
    let mut deferred = plan.deferred.clone();
    deferred.sort();
    assert_eq!(deferred, vec!["dt_1".to_string(), "res".to_string()]);
    assert!(plan.delete.is_empty() && plan.mark_to_be_deleted.is_empty());
}

const APPEND_AND_DELETE: &str = "resources:\n- type: t\n  names: [res-2]\n- type: dt\n  min-count: 1\n  max-count: 2\n- type: dt2\n  min-count: 1\n  max-count: 2\n";

#[test]
fn append_and_delete_with_tombstones() {
    let before = snapshot(
        vec![
            fixed("res-1", "t", TOMBSTONE),
            dynamic("dt_1", "dt", TO_BE_DELETED),
            dynamic("dt_2", "dt", FREE),
            dynamic("dt_3", "dt", FREE),
        ],
        vec![drlc("dt", 1, 3)],
    );
    let (_, after) = sync(&before, Some(APPEND_AND_DELETE));
    assert_eq!(
        rows(&after),
        lines(&[
            "res-2 t free - now S",
            "dt_1 dt toBeDeleted - t0 D",
            "dt_2 dt free - t0 D",
            "dt_3 dt free - t0 D",
            "new-dynamic-res-1 dt2 free - now D",
        ])
    );
    assert_eq!(pools(&after), lines(&["dt 1/2", "dt2 1/2"]));
}

#[test]
fn append_and_delete_with_leased_resources() {
    let before = snapshot(
        vec![
            fixed("res-1", "t", BUSY).owned_by("o"),
            dynamic("dt_1", "dt", FREE),
            dynamic("dt_2", "dt", TOMBSTONE),
            dynamic("dt_3", "dt", BUSY).owned_by("o"),
        ],
        vec![drlc("dt", 1, 3)],
    );
    let (plan, after) = sync(&before, Some(APPEND_AND_DELETE));
    assert_eq!(
        rows(&after),
        lines(&[
            "res-1 t busy o t0 S",
            "res-2 t free - now S",
            "dt_1 dt free - t0 D",
            "dt_3 dt busy o t0 D",
            "new-dynamic-res-1 dt2 free - now D",
        ])
    );
    assert_eq!(
        plan.deferred,
        vec!["res-1".to_string()],
        "static removal waits for release"
    );
}

#[test]
fn static_names_change_across_types() {
    let before = snapshot(vec![fixed("res-1", "t", TOMBSTONE)], vec![]);
    let yaml = "resources:\n- type: t\n  names: [res-2]\n- type: t2\n  names: [res-3]\n";
    let (_, after) = sync(&before, Some(yaml));
    assert_eq!(
        rows(&after),
        lines(&["res-2 t free - now S", "res-3 t2 free - now S"])
    );
    assert!(after.drlcs.is_empty());
}

const DT_2_4: &str = "resources:\n- type: dt\n  min-count: 2\n  max-count: 4\n";

#[test]
fn expired_resource_is_marked_and_keeps_its_expiration() {
    let before = snapshot(
        vec![
            dynamic("dt_1", "dt", FREE).expiring(t0()),
            dynamic("dt_2", "dt", FREE),
            dynamic("dt_3", "dt", TOMBSTONE).expiring(t0()),
            dynamic("dt_4", "dt", FREE),
        ],
        vec![drlc("dt", 2, 4)],
    );
    let (_, after) = sync(&before, Some(DT_2_4));
    assert_eq!(
        rows(&after),
        lines(&[
            "dt_1 dt toBeDeleted - now D exp=t0",
            "dt_2 dt free - t0 D",
            "dt_4 dt free - t0 D"
        ])
    );
    assert_eq!(pools(&after), lines(&["dt 2/4"]));
}

#[test]
fn expired_leased_resources_are_untouched() {
    let before = snapshot(
        vec![
            dynamic("dt_1", "dt", TOMBSTONE).expiring(t0()),
            dynamic("dt_2", "dt", FREE),
            dynamic("dt_3", "dt", BUSY).owned_by("o").expiring(t0()),
            dynamic("dt_4", "dt", BUSY).owned_by("o"),
        ],
        vec![drlc("dt", 1, 4)],
    );
    let yaml = "resources:\n- type: dt\n  min-count: 1\n  max-count: 3\n";
    let (_, after) = sync(&before, Some(yaml));
    assert_eq!(
        rows(&after),
        lines(&[
            "dt_2 dt free - t0 D",
            "dt_3 dt busy o t0 D exp=t0",
            "dt_4 dt busy o t0 D"
        ])
    );
    assert_eq!(pools(&after), lines(&["dt 1/3"]));
}

#[test]
fn expired_resource_is_replaced_up_to_min_counting_to_be_deleted() {
    let before = snapshot(
        vec![
            dynamic("dt_1", "dt", FREE).expiring(t0()),
            dynamic("dt_2", "dt", FREE),
            dynamic("dt_3", "dt", TOMBSTONE).expiring(t0()),
            dynamic("dt_4", "dt", FREE),
        ],
        vec![drlc("dt", 4, 6)],
    );
    let yaml = "resources:\n- type: dt\n  min-count: 4\n  max-count: 6\n";
    let (_, after) = sync(&before, Some(yaml));
    assert_eq!(
        rows(&after),
        lines(&[
            "dt_1 dt toBeDeleted - now D exp=t0",
            "new-dynamic-res-1 dt free - now D",
            "dt_2 dt free - t0 D",
            "dt_4 dt free - t0 D",
        ])
    );
}

#[test]
fn lowering_max_with_deletions_in_flight() {
    let before = snapshot(
        vec![
            dynamic("dt_1", "dt", FREE),
            dynamic("dt_2", "dt", FREE),
            dynamic("dt_3", "dt", FREE),
            dynamic("dt_4", "dt", TO_BE_DELETED),
            dynamic("dt_5", "dt", TOMBSTONE),
        ],
        vec![drlc("dt", 1, 6)],
    );
    let yaml = "resources:\n- type: dt\n  min-count: 1\n  max-count: 1\n";
    let (_, after) = sync(&before, Some(yaml));
    assert_eq!(
        rows(&after),
        lines(&[
            "dt_1 dt free - t0 D",
            "dt_2 dt toBeDeleted - now D",
            "dt_3 dt toBeDeleted - now D",
            "dt_4 dt toBeDeleted - t0 D",
        ])
    );
    assert_eq!(pools(&after), lines(&["dt 1/1"]));
}

#[test]
fn raising_min_with_deletions_in_flight_adds_only_the_gap() {
    let before = snapshot(
        vec![
            dynamic("dt_1", "dt", FREE),
            dynamic("dt_2", "dt", TO_BE_DELETED),
            dynamic("dt_3", "dt", TO_BE_DELETED),
            dynamic("dt_4", "dt", TOMBSTONE),
        ],
        vec![drlc("dt", 1, 6)],
    );
    let yaml = "resources:\n- type: dt\n  min-count: 4\n  max-count: 6\n";
    let (_, after) = sync(&before, Some(yaml));
    assert_eq!(
        rows(&after),
        lines(&[
            "dt_1 dt free - t0 D",
            "dt_2 dt toBeDeleted - t0 D",
            "dt_3 dt toBeDeleted - t0 D",
            "new-dynamic-res-1 dt free - now D",
        ])
    );
    assert_eq!(pools(&after), lines(&["dt 4/6"]));
}

#[test]
fn static_type_becoming_dynamic_adopts_existing_resources() {
    let before = snapshot(
        (0..3)
            .map(|i| fixed(&format!("test-resource-{i}"), "test-resource", FREE))
            .collect(),
        vec![],
    );
    let yaml =
        "resources:\n- type: test-resource\n  state: free\n  min-count: 10\n  max-count: 10\n";
    let (plan, after) = sync(&before, Some(yaml));
    assert_eq!(
        plan.set_static.len(),
        3,
        "adopted resources lose the static flag"
    );
    let mut expected: Vec<String> = (0..3)
        .map(|i| format!("test-resource-{i} test-resource free - t0 D"))
        .collect();
    expected.extend((1..=7).map(|i| format!("new-dynamic-res-{i} test-resource free - now D")));
    expected.sort();
    assert_eq!(rows(&after), expected);
    assert_eq!(pools(&after), lines(&["test-resource 10/10"]));
}

#[test]
fn dynamic_type_becoming_static_retires_the_extras() {
    let mut resources: Vec<StoredResource> = (0..3)
        .map(|i| dynamic(&format!("test-resource-{i}"), "test-resource", FREE))
        .collect();
    resources.extend((54..61).map(|i| {
        dynamic(
            &format!("fd957edc-4148-49e8-af83-53d38bcd4e{i}"),
            "test-resource",
            FREE,
        )
    }));
    let before = snapshot(resources, vec![drlc("test-resource", 10, 10)]);
    let yaml = "resources:\n- type: test-resource\n  state: free\n  names: [test-resource-0, test-resource-1, test-resource-2]\n";
    let (_, after) = sync(&before, Some(yaml));
    let mut expected: Vec<String> = (0..3)
        .map(|i| format!("test-resource-{i} test-resource free - t0 S"))
        .collect();
    expected.extend((54..61).map(|i| {
        format!("fd957edc-4148-49e8-af83-53d38bcd4e{i} test-resource toBeDeleted - now D")
    }));
    expected.sort();
    assert_eq!(rows(&after), expected);
    assert_eq!(pools(&after), lines(&["test-resource 0/0"]));

    // The cleaner tombstones the extras; the next sync deletes them and the pool.
    let mut cleaned = after.clone();
    for s in cleaned.resources.iter_mut().filter(|s| !s.is_static) {
        s.resource.state = TOMBSTONE.into();
    }
    let (plan, last) = sync(&cleaned, Some(yaml));
    assert_eq!(plan.delete.len(), 7);
    assert_eq!(plan.delete_drlcs, vec!["test-resource".to_string()]);
    let statics: Vec<String> = expected
        .iter()
        .filter(|l| l.ends_with(" S"))
        .cloned()
        .collect();
    assert_eq!(rows(&last), statics);
    assert!(last.drlcs.is_empty());
}

#[test]
fn moving_a_name_to_another_type_recreates_it() {
    let before = snapshot(vec![fixed("n1", "a", DIRTY)], vec![]);
    let yaml = "resources:\n- type: b\n  names: [n1]\n";
    let (plan, after) = sync(&before, Some(yaml));
    assert_eq!(plan.delete.len(), 1);
    assert_eq!(plan.create.len(), 1);
    assert_eq!(rows(&after), lines(&["n1 b free - now S"]));
}

#[test]
fn moving_a_leased_name_waits_for_its_release() {
    let before = snapshot(vec![fixed("n1", "a", BUSY).owned_by("job")], vec![]);
    let yaml = "resources:\n- type: b\n  names: [n1]\n";
    let (plan, after) = sync(&before, Some(yaml));
    assert_eq!(plan.deferred, vec!["n1".to_string()]);
    assert!(plan.is_empty(), "nothing written while leased: {plan:?}");
    assert_eq!(rows(&after), lines(&["n1 a busy job t0 S"]));

    let mut released = after.clone();
    released.resources[0].resource.owner.clear();
    released.resources[0].resource.state = DIRTY.into();
    let (_, moved) = sync(&released, Some(yaml));
    assert_eq!(rows(&moved), lines(&["n1 b free - now S"]));
}

#[test]
fn pool_definition_changes_are_written_and_unchanged_ones_are_not() {
    let yaml = "resources:\n- type: dt\n  min-count: 1\n  max-count: 2\n";
    let (_, first) = sync(&Snapshot::default(), Some(yaml));
    let changed = "resources:\n- type: dt\n  min-count: 1\n  max-count: 2\n  lifespan: 1h\n  config:\n    type: exec\n    content: make\n";
    let (plan, after) = sync(&first, Some(changed));
    assert_eq!(plan.upsert_drlcs.len(), 1);
    assert_eq!(
        plan.upsert_drlcs[0].lifespan,
        Some(Duration::from_secs(3600))
    );
    assert_eq!(plan.upsert_drlcs[0].config.ctype, "exec");
    assert!(plan.create.is_empty() && plan.mark_to_be_deleted.is_empty());
    let (again, _) = sync(&after, Some(changed));
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn pool_back_in_the_config_leaves_lame_duck_state() {
    let before = snapshot(
        vec![dynamic("dt_1", "dt", TO_BE_DELETED)],
        vec![drlc("dt", 0, 0)],
    );
    let yaml = "resources:\n- type: dt\n  min-count: 1\n  max-count: 2\n";
    let (plan, after) = sync(&before, Some(yaml));
    assert_eq!(pools(&after), lines(&["dt 1/2"]));
    assert!(
        plan.create.is_empty(),
        "the toBeDeleted one still counts toward min-count"
    );
    assert!(plan.delete_drlcs.is_empty());
}

#[test]
fn static_names_of_a_pool_type_are_not_pool_members() {
    // A type with both static names and a pool: the named ones are static and do not
    // count toward the pool.
    let before = snapshot(vec![fixed("s-1", "mixed", FREE)], vec![]);
    let yaml = "resources:\n- type: mixed\n  names: [s-1]\n- type: mixed\n  min-count: 1\n  max-count: 1\n";
    let (_, after) = sync(&before, Some(yaml));
    assert_eq!(
        rows(&after),
        lines(&[
            "s-1 mixed free - t0 S",
            "new-dynamic-res-1 mixed free - now D"
        ])
    );
}
