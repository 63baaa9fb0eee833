//! SPEC §4.11 "UpdateAllDynamicResources": upstream's scenarios, planned and applied in
//! memory, plus the per-type pool deletion rule and name generation.

use mason_types::state::{BUSY, FREE, TOMBSTONE, TO_BE_DELETED};

use super::*;

#[test]
fn empty_store_plans_nothing() {
    let (plan, _) = upkeep(&Snapshot::default());
    assert!(plan.is_empty() && plan.deferred.is_empty());
}

#[test]
fn pool_within_bounds_is_left_alone() {
    let before = snapshot(
        vec![dynamic("dt_1", "dt", FREE), fixed("t_1", "t", FREE)],
        vec![drlc("dt", 1, 4)],
    );
    let (plan, after) = upkeep(&before);
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(rows(&after), rows(&before));
}

#[test]
fn expired_free_resources_are_marked_others_untouched() {
    let before = snapshot(
        vec![
            dynamic("dt_1", "dt", FREE).expiring(now() + Duration::from_secs(3600)),
            dynamic("dt_2", "dt", FREE).expiring(t0()),
            dynamic("dt_3", "dt", BUSY).owned_by("owner").expiring(t0()),
            dynamic("dt_4", "dt", TO_BE_DELETED).expiring(t0()),
        ],
        vec![drlc("dt", 1, 4)],
    );
    let (plan, after) = upkeep(&before);
    let future = (now() + Duration::from_secs(3600)).to_rfc3339();
    assert_eq!(
        rows(&after),
        lines(&[
            &format!("dt_1 dt free - t0 D exp={future}"),
            "dt_2 dt toBeDeleted - now D exp=t0",
            "dt_3 dt busy owner t0 D exp=t0",
            "dt_4 dt toBeDeleted - t0 D exp=t0",
        ])
    );
    assert!(
        plan.deferred.is_empty(),
        "an expired lease is not a pending deletion"
    );
}

#[test]
fn expiry_is_strictly_after_the_expiration_date() {
    let before = snapshot(
        vec![dynamic("dt_1", "dt", FREE).expiring(now())],
        vec![drlc("dt", 0, 1)],
    );
    let (plan, _) = upkeep(&before);
    assert!(
        plan.is_empty(),
        "expiring exactly now is not expired yet: {plan:?}"
    );
}

#[test]
fn empty_pool_with_zero_min_creates_nothing() {
    let before = snapshot(vec![], vec![drlc("dt", 0, 4)]);
    let (plan, after) = upkeep(&before);
    assert!(plan.is_empty());
    assert_eq!(pools(&after), lines(&["dt 0/4"]));
}

#[test]
fn empty_pool_is_topped_up_to_min_in_its_initial_state() {
    let mut pool = drlc("dt", 2, 4);
    pool.initial_state = "dirty".into();
    let before = snapshot(vec![], vec![pool]);
    let (_, after) = upkeep(&before);
    assert_eq!(
        rows(&after),
        lines(&[
            "new-dynamic-res-1 dt dirty - now D",
            "new-dynamic-res-2 dt dirty - now D"
        ])
    );
}

#[test]
fn scale_down_marks_highest_names_first() {
    let before = snapshot(
        vec![
            dynamic("dt_1", "dt", FREE),
            dynamic("dt_2", "dt", FREE),
            dynamic("dt_4", "dt", BUSY).owned_by("owner"),
        ],
        vec![drlc("dt", 1, 2)],
    );
    let (_, after) = upkeep(&before);
    assert_eq!(
        rows(&after),
        lines(&[
            "dt_1 dt free - t0 D",
            "dt_2 dt toBeDeleted - now D",
            "dt_4 dt busy owner t0 D"
        ])
    );
}

#[test]
fn tombstones_are_deleted_and_replaced() {
    let before = snapshot(
        vec![
            dynamic("dt_1", "dt", FREE),
            dynamic("dt_2", "dt", BUSY).owned_by("owner"),
            dynamic("dt_3", "dt", TO_BE_DELETED),
            dynamic("dt_4", "dt", TOMBSTONE),
        ],
        vec![drlc("dt", 4, 8)],
    );
    let (_, after) = upkeep(&before);
    assert_eq!(
        rows(&after),
        lines(&[
            "dt_1 dt free - t0 D",
            "dt_2 dt busy owner t0 D",
            "dt_3 dt toBeDeleted - t0 D",
            "new-dynamic-res-1 dt free - now D",
        ])
    );
}

#[test]
fn leased_over_max_only_free_ones_are_marked() {
    let before = snapshot(
        vec![
            dynamic("dt_1", "dt", FREE),
            dynamic("dt_2", "dt", BUSY).owned_by("owner"),
            dynamic("dt_3", "dt", BUSY).owned_by("owner"),
            dynamic("dt_4", "dt", BUSY).owned_by("owner"),
        ],
        vec![drlc("dt", 1, 2)],
    );
    let (_, after) = upkeep(&before);
    assert_eq!(
        rows(&after),
        lines(&[
            "dt_1 dt toBeDeleted - now D",
            "dt_2 dt busy owner t0 D",
            "dt_3 dt busy owner t0 D",
            "dt_4 dt busy owner t0 D",
        ])
    );
}

#[test]
fn removed_pool_retires_all_free_and_defers_leased() {
    let before = snapshot(
        vec![
            dynamic("dt_1", "dt", FREE),
            dynamic("dt_2", "dt", FREE),
            dynamic("dt_3", "dt", TOMBSTONE),
            dynamic("dt_4", "dt", BUSY).owned_by("owner"),
        ],
        vec![drlc("dt", 0, 0)],
    );
    let (plan, after) = upkeep(&before);
    assert_eq!(
        rows(&after),
        lines(&[
            "dt_1 dt toBeDeleted - now D",
            "dt_2 dt toBeDeleted - now D",
            "dt_4 dt busy owner t0 D",
        ])
    );
    assert_eq!(pools(&after), lines(&["dt 0/0"]));
    assert_eq!(plan.deferred, vec!["dt_4".to_string()]);
    assert!(plan.delete_drlcs.is_empty());
}

#[test]
fn removed_pool_is_deleted_when_nothing_remains() {
    let (plan, after) = upkeep(&snapshot(vec![], vec![drlc("dt", 0, 0)]));
    assert_eq!(plan.delete_drlcs, vec!["dt".to_string()]);
    assert!(after.drlcs.is_empty());
}

#[test]
fn removed_pool_is_deleted_when_only_tombstones_remain() {
    let before = snapshot(
        vec![
            dynamic("dt_1", "dt", TOMBSTONE),
            dynamic("dt_3", "dt", TOMBSTONE),
        ],
        vec![drlc("dt", 0, 0)],
    );
    let (plan, after) = upkeep(&before);
    assert_eq!(plan.delete.len(), 2);
    assert!(after.resources.is_empty());
    assert!(after.drlcs.is_empty());
}

#[test]
fn removed_pool_with_a_leased_tombstone_stays() {
    let before = snapshot(
        vec![dynamic("dt_1", "dt", TOMBSTONE).owned_by("cleaner")],
        vec![drlc("dt", 0, 0)],
    );
    let (plan, after) = upkeep(&before);
    assert!(plan.delete.is_empty() && plan.delete_drlcs.is_empty());
    assert_eq!(pools(&after), lines(&["dt 0/0"]));
}

#[test]
fn pool_deletion_uses_per_type_counts() {
    // Upstream accumulates add/delete counts across pools, so pool `b` (processed after
    // `a`, which needs two new resources) would survive; per-type counts delete it.
    let before = snapshot(vec![], vec![drlc("a", 2, 2), drlc("b", 0, 0)]);
    let (plan, after) = upkeep(&before);
    assert_eq!(plan.create.len(), 2);
    assert_eq!(plan.delete_drlcs, vec!["b".to_string()]);
    assert_eq!(pools(&after), lines(&["a 2/2"]));
}

#[test]
fn static_resources_of_a_pool_type_are_ignored() {
    let before = snapshot(
        vec![fixed("s-1", "dt", FREE), fixed("s-2", "dt", TOMBSTONE)],
        vec![drlc("dt", 1, 1)],
    );
    let (_, after) = upkeep(&before);
    assert_eq!(
        rows(&after),
        lines(&[
            "s-1 dt free - t0 S",
            "s-2 dt tombstone - t0 S",
            "new-dynamic-res-1 dt free - now D"
        ])
    );
}

#[test]
fn generated_names_never_reuse_existing_ones() {
    let before = snapshot(
        vec![fixed("new-dynamic-res-1", "other", FREE)],
        vec![drlc("dt", 2, 2)],
    );
    let (plan, _) = upkeep(&before);
    let names: Vec<&str> = plan
        .create
        .iter()
        .map(|c| c.resource.name.as_str())
        .collect();
    assert_eq!(names, vec!["new-dynamic-res-2", "new-dynamic-res-3"]);

    // A generator stuck on a taken name creates nothing rather than looping forever.
    let plan = plan_dynamic_upkeep(&before, now(), || "new-dynamic-res-1".to_string());
    assert!(plan.create.is_empty());
}

#[test]
fn guards_carry_the_snapshot_version() {
    let before = snapshot(
        vec![dynamic("dt_1", "dt", TOMBSTONE)],
        vec![drlc("dt", 0, 1)],
    );
    let (plan, _) = upkeep(&before);
    assert_eq!(plan.delete.len(), 1);
    assert_eq!(plan.delete[0].state, TOMBSTONE);
    assert_eq!(plan.delete[0].lastupdate, t0());

    // If the row changed after the snapshot (here: re-leased), applying skips it.
    let mut changed = before.clone();
    changed.resources[0].resource.owner = "late".into();
    let after = apply(&changed, &plan);
    assert_eq!(rows(&after), lines(&["dt_1 dt tombstone late t0 D"]));
}
