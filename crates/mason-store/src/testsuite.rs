//! The store's test suite (cargo feature `testsuite`; dev only): the conformance cases
//! every backend must pass, the harnesses that give each case a fresh store on each
//! engine, and a throwaway PostgreSQL server ([`postgres`]) for tests that need one.
//!
//! Production builds leave all of this out: the `mason` binary depends on `mason-store`
//! without the feature. This crate's own integration tests (`tests/it`) switch it on
//! through a dev-dependency on the crate itself, and `mason-testkit` switches it on for
//! the other crates' tests (re-exporting [`postgres`] as `mason_testkit::postgres`). The
//! PostgreSQL helper lives here rather than in `mason-testkit` because the store's own
//! tests need it and `mason-testkit` depends on `mason-server`, which depends on this
//! crate: the store's tests would otherwise build the whole server.
//!
//! Running the suite: [`crate::store_conformance_suite!`] with an async expression that
//! builds a fresh [`Harness`] expands to one `#[tokio::test]` per case. Each case gets
//! its own empty store and a [`ManualClock`] it can move.
//!
//! Layout: [`acquire`] (acquire, the request queue, dynamic creation), [`leases`]
//! (acquire-by-state, release, update, reset, metrics, races), [`sync`] (config sync and
//! dynamic upkeep), [`import`] (bulk import), [`fencing`] (fencing generations),
//! [`multi`] (all-or-nothing sets, the ranked queue, availability signals),
//! [`history`] (the events table: replay, kinds, reads, pruning),
//! [`quota`] (per-user lease quotas), [`ttl`] (lease TTLs and expiry), [`retry`]
//! (repeated releases and updates after a lost answer),
//! [`postgres`] (the throwaway server; with the `postgres` feature).

pub mod acquire;
pub mod fencing;
pub mod history;
pub mod import;
pub mod leases;
pub mod multi;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod quota;
pub mod retry;
pub mod sync;
pub mod ttl;

use std::sync::Arc;
use std::time::Duration;

use mason_types::{BoskosConfig, Resource, UserData};

use crate::clock::ManualClock;
use crate::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use crate::{
    AcquireByStateRequest, AcquireRequest, Error, ReleaseRequest, ResetRequest, Store,
    UpdateRequest, DEFAULT_REQUEST_TTL,
};

/// The pool most lease cases start from: four static resources of type `t` (free), one of
/// type `other` (dirty).
pub(crate) const POOL: &str =
    "resources:\n- type: t\n  names: [r1, r2, r3, r4]\n- type: other\n  state: dirty\n  names: [o1]\n";

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
    /// SQLite in memory, on a clock standing at upstream's test epoch.
    pub fn sqlite_in_memory() -> Harness {
        let clock = Arc::new(ManualClock::at_upstream_epoch());
        let store = SqliteStore::in_memory(clock.clone()).expect("open SQLite in memory");
        Harness {
            store: Arc::new(store),
            clock,
            guard: None,
        }
    }

    /// SQLite on a file in a temporary directory (which lives as long as the harness):
    /// the exclusive file lock and the checkpoint thread come into play.
    pub fn sqlite_on_file() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::at_upstream_epoch());
        let store = SqliteStore::open(SqliteOptions {
            path: Some(dir.path().join("mason.db")),
            synchronous: Synchronous::Normal,
            request_ttl: DEFAULT_REQUEST_TTL,
            clock: clock.clone(),
            create: false,
            timeout: crate::DEFAULT_STORE_TIMEOUT,
        })
        .expect("open a SQLite file");
        Harness {
            store: Arc::new(store),
            clock,
            guard: Some(Box::new(dir)),
        }
    }

    /// PostgreSQL on a fresh database of the throwaway server, or `None` when there is
    /// no PostgreSQL (the test then skips, loudly; under `CI=true` it fails instead, see
    /// [`postgres::fresh_database_or_skip`]).
    #[cfg(feature = "postgres")]
    pub async fn postgres_or_skip(test: &str) -> Option<Harness> {
        let url = postgres::fresh_database_or_skip(test).await?;
        Some(Self::postgres_on(&url).await)
    }

    /// PostgreSQL on the database at `url` (one of [`postgres::fresh_database`]'s),
    /// emptied first: a fresh store for each case of a property test, without creating a
    /// database for each.
    #[cfg(feature = "postgres")]
    pub async fn postgres_emptied(url: &str) -> Harness {
        let harness = Self::postgres_on(url).await;
        postgres::empty_store(url)
            .await
            .unwrap_or_else(|e| panic!("cannot empty the test database: {e}"));
        harness
    }

    /// PostgreSQL on the database at `url` (the schema is created when missing).
    #[cfg(feature = "postgres")]
    async fn postgres_on(url: &str) -> Harness {
        let url: crate::StoreUrl = url.parse().expect("a postgres URL");
        let clock = Arc::new(ManualClock::at_upstream_epoch());
        let options = crate::open::StoreOptions {
            clock: clock.clone(),
            ..Default::default()
        };
        let store = crate::open(&url, options)
            .await
            .expect("open the PostgreSQL store");
        assert_eq!(store.backend(), "postgres");
        Harness {
            store,
            clock,
            guard: None,
        }
    }

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

/// Whether `e` is a `ResourceNotFound`.
pub fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::ResourceNotFound(_))
}

/// `POST /acquire` as the cases write it.
pub fn acquire_req(
    rtype: &str,
    state: &str,
    dest: &str,
    owner: &str,
    request_id: Option<&str>,
) -> AcquireRequest {
    AcquireRequest {
        actor: None,
        rtype: rtype.into(),
        state: state.into(),
        dest: dest.into(),
        owner: owner.into(),
        request_id: request_id.map(str::to_string),
        ..Default::default()
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
        actor: None,
        state: state.into(),
        dest: dest.into(),
        owner: owner.into(),
        names: names.to_vec(),
        ..Default::default()
    }
}

/// `POST /release` as the cases write it.
pub fn release_req(name: &str, dest: &str, owner: &str) -> ReleaseRequest {
    ReleaseRequest {
        actor: None,
        name: name.into(),
        dest: dest.into(),
        owner: owner.into(),
        generation: None,
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
        actor: None,
        name: name.into(),
        owner: owner.into(),
        state: state.into(),
        userdata: userdata.cloned(),
        generation: None,
    }
}

/// `POST /reset` as the cases write it.
pub fn reset_req(rtype: &str, state: &str, expire: Duration, dest: &str) -> ResetRequest {
    ResetRequest {
        actor: None,
        rtype: rtype.into(),
        state: state.into(),
        expire,
        dest: dest.into(),
    }
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
            acquire::acquire_unknown_type,
            acquire::acquire_no_free_resource,
            acquire::acquire_moves_and_stamps,
            acquire::acquire_round_robin,
            acquire::acquire_request_id_priority,
            acquire::acquire_creates_dynamic_on_new_request,
            acquire::queue_is_visible_and_collected,
            leases::acquire_by_state_all_or_nothing,
            leases::release_rules,
            leases::release_sets_expiration_from_lifespan,
            leases::update_rules,
            leases::reset_rules,
            leases::metric_counts,
            leases::racing_acquires_never_double_lease,
            leases::a_refused_call_leaves_no_lock_behind,
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
            import::import_of_a_listed_store_is_the_identity,
            fencing::generations_fence_release_and_update,
            fencing::generations_are_never_reused,
            multi::set_is_all_or_nothing,
            multi::set_refusals_change_nothing,
            multi::set_places_rank_by_priority_then_arrival,
            multi::head_of_line_set_blocks_later_singles,
            multi::set_grows_dynamic_pools_on_first_attempt,
            multi::held_places_outlive_the_request_ttl,
            multi::racing_sets_never_share_a_resource,
            multi::availability_is_signalled_after_commits,
            history::history_replays_a_random_run,
            history::heartbeats_add_no_events,
            history::every_kind_appears_where_it_should,
            history::reads_filter_and_page,
            history::bad_event_queries_are_refused,
            history::pruning_keeps_the_newest_and_ids,
            history::changes_are_announced,
            history::an_idempotent_sync_writes_no_event,
            quota::quota_counts_a_holder_over_all_its_owners,
            quota::quota_counts_leases_granted_without_a_limit,
            quota::quota_limits_acquire_by_state,
            quota::quota_limits_sets,
            quota::quota_holds_under_concurrent_grants,
            ttl::ttl_grant_renew_refuse_and_expire,
            ttl::ttl_from_request_type_or_none,
            ttl::expiry_is_oldest_first_within_the_limit,
            ttl::expired_and_fenced_calls_are_refused_in_order,
            retry::a_repeated_release_is_answered_as_done,
            retry::a_repeat_after_another_transition_is_refused,
            retry::a_repeated_update_is_answered_as_done
        );
    };
    (@cases required $make:expr; $($module:ident :: $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness: $crate::testsuite::Harness = $make.await;
                $crate::testsuite::$module::$case(harness).await;
            }
        )+
    };
    (@cases optional $make:expr; $($module:ident :: $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness: Option<$crate::testsuite::Harness> = $make.await;
                let Some(harness) = harness else { return };
                $crate::testsuite::$module::$case(harness).await;
            }
        )+
    };
}
