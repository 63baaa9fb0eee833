//! The store contract, written once and run against every backend.
//!
//! A backend's test file calls [`crate::store_conformance_suite!`] with an async expression
//! building a fresh [`Harness`]; the macro expands to one `#[tokio::test]` per case. Each
//! case gets its own empty store and a [`ManualClock`] it can move.
//!
//! Layout: [`leases`] (acquire, queue, acquire-by-state, release, update, reset, metrics,
//! races), [`sync`] (config sync and dynamic upkeep) and [`import`] (bulk import).

pub mod import;
pub mod leases;
pub mod sync;

use std::sync::Arc;

use std::time::Duration;

use mason_types::{BoskosConfig, Resource, UserData};

use crate::clock::ManualClock;
use crate::{AcquireByStateRequest, Error, ReleaseRequest, ResetRequest, Store, UpdateRequest};

/// A fresh store with the clock that stamps its writes.
pub struct Harness {
    /// The store under test (empty).
    pub store: Arc<dyn Store>,
    /// The clock the store reads; advance it to simulate time.
    pub clock: Arc<ManualClock>,
    /// Whatever must live as long as the store (a temporary directory, say).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl Harness {
    /// Load a config YAML (validated) into the store via `sync_config`.
    pub async fn with_config(&self, yaml: &str) {
        let config = BoskosConfig::parse_and_validate(yaml).expect("test config is valid");
        self.store.sync_config(&config).await.expect("sync_config");
    }

    /// Fetch one resource, panicking if absent.
    pub async fn get(&self, name: &str) -> Resource {
        self.store
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("get {name}: {e}"))
    }
}

/// Assert that `result` failed with an error whose message is `text`.
pub fn assert_err_text<T: std::fmt::Debug>(result: crate::Result<T>, text: &str) {
    match result {
        Ok(v) => panic!("expected error {text:?}, got Ok({v:?})"),
        Err(e) => assert_eq!(e.to_string(), text, "error variant {e:?}"),
    }
}

/// `POST /acquirebystate` as the cases write it.
pub fn by_state_req(
    state: &str,
    dest: &str,
    owner: &str,
    names: &[String],
) -> AcquireByStateRequest {
    AcquireByStateRequest {
        state: state.into(),
        dest: dest.into(),
        owner: owner.into(),
        names: names.to_vec(),
    }
}

/// `POST /release` as the cases write it.
pub fn release_req(name: &str, dest: &str, owner: &str) -> ReleaseRequest {
    ReleaseRequest {
        name: name.into(),
        dest: dest.into(),
        owner: owner.into(),
    }
}

/// `POST /update` as the cases write it.
pub fn update_req(
    name: &str,
    owner: &str,
    state: &str,
    userdata: Option<&UserData>,
) -> UpdateRequest {
    UpdateRequest {
        name: name.into(),
        owner: owner.into(),
        state: state.into(),
        userdata: userdata.cloned(),
    }
}

/// `POST /reset` as the cases write it.
pub fn reset_req(rtype: &str, state: &str, expire: Duration, dest: &str) -> ResetRequest {
    ResetRequest {
        rtype: rtype.into(),
        state: state.into(),
        expire,
        dest: dest.into(),
    }
}

/// Whether `e` is a `ResourceNotFound`.
pub fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::ResourceNotFound(_))
}

/// Expand to one test per conformance case. `$make` is an async expression that yields a
/// fresh [`Harness`]; with `optional $make` it yields `Option<Harness>` and a `None` skips
/// the case (for backends that need an external server; the harness decides when skipping
/// is allowed and says so loudly).
#[macro_export]
macro_rules! store_conformance_suite {
    (optional $make:expr) => {
        $crate::store_conformance_suite!(@list optional $make);
    };
    ($make:expr) => {
        $crate::store_conformance_suite!(@list required $make);
    };
    (@list $mode:ident $make:expr) => {
        $crate::store_conformance_suite!(@cases $mode $make;
            leases::acquire_unknown_type,
            leases::acquire_no_free_resource,
            leases::acquire_moves_and_stamps,
            leases::acquire_round_robin,
            leases::acquire_request_id_priority,
            leases::acquire_creates_dynamic_on_new_request,
            leases::acquire_by_state_all_or_nothing,
            leases::release_rules,
            leases::release_sets_expiration_from_lifespan,
            leases::update_rules,
            leases::reset_rules,
            leases::metric_counts,
            leases::racing_acquires_never_double_lease,
            leases::queue_is_visible_and_collected,
            sync::sync_is_idempotent,
            sync::sync_static_add_remove_defers_leased,
            sync::sync_moves_name_between_types,
            sync::sync_tops_up_pool_with_uuid_names,
            sync::sync_lame_duck_on_removal_then_cleanup,
            sync::sync_lifespan_expiry_marks_to_be_deleted,
            sync::sync_tombstone_deleted_and_replaced,
            sync::sync_scale_down_highest_names_first,
            sync::sync_owned_resources_never_touched,
            sync::sync_static_dynamic_adoption,
            import::import_keeps_every_field_and_leases_work,
            import::import_refuses_a_store_that_is_not_empty,
            import::import_merge_adds_missing_and_refuses_conflicts,
            import::import_replace_removes_everything_first,
            import::import_rejects_invalid_rows_and_changes_nothing,
            import::import_dry_run_writes_nothing,
            import::import_of_a_listed_store_is_the_identity
        );
    };
    (@cases required $make:expr; $($module:ident :: $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness: $crate::conformance::Harness = $make.await;
                $crate::conformance::$module::$case(harness).await;
            }
        )+
    };
    (@cases optional $make:expr; $($module:ident :: $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness: Option<$crate::conformance::Harness> = $make.await;
                let Some(harness) = harness else { return };
                $crate::conformance::$module::$case(harness).await;
            }
        )+
    };
}
