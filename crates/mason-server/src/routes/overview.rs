//! `GET /api/v2/overview`: one row per resource type, everything the dashboard's
//! overview shows in one answer:
//! - `states`: counts by state (the numbers `/metric` reports), `total`, `free`, and
//!   `leased` (resources with an owner);
//! - `waiting`: live `request_id` entries queued for the type;
//! - `dynamic`: `min`, `max` and `current` of a dynamic pool (`null` for static types);
//! - `oldest_lease`: the owned resource heard from least recently (`name`, `owner`,
//!   `state`, `since` = its last update, i.e. its acquire or latest heartbeat);
//! - `builder`: the builder's counters for the pool when a builder runs in this process
//!   (`mason up`), from the [`crate::StatusBoard`].
//!
//! Types appear when they have resources or a dynamic pool definition, sorted by name.
//! The answer is computed from one read of the resources, the pool definitions and the
//! queue; it is meant for dashboards, which ask again when the event stream says
//! something changed.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use mason_store::ResourceFilter;
use mason_types::status::PoolStatus;
use mason_types::{state, DynamicResourceLifeCycle, Resource, Timestamp};
use serde::Serialize;

use crate::error::ApiError;
use crate::respond;
use crate::state::AppState;

/// The answer.
#[derive(Debug, Serialize)]
struct Overview {
    /// The server's clock, so ages are computed against it.
    now: Timestamp,
    types: Vec<TypeRow>,
}

#[derive(Debug, Default, Serialize)]
struct TypeRow {
    #[serde(rename = "type")]
    rtype: String,
    total: u64,
    free: u64,
    leased: u64,
    states: BTreeMap<String, u64>,
    waiting: u64,
    dynamic: Option<Dynamic>,
    oldest_lease: Option<Lease>,
    builder: Option<PoolStatus>,
}

#[derive(Debug, Serialize)]
struct Dynamic {
    min: u64,
    max: u64,
    current: u64,
}

#[derive(Debug, Serialize)]
struct Lease {
    name: String,
    owner: String,
    state: String,
    since: Timestamp,
}

pub(super) async fn handle(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.store();
    let fail = |e| ApiError::from_store(Some("overview failed"), e);
    let resources = store.list(&ResourceFilter::default()).await.map_err(fail)?;
    let pools = store.drlcs().await.map_err(fail)?;
    let queue = store.queue().await.map_err(fail)?;
    let builder = state.status().snapshot().builder;

    let mut rows = fold(&resources, &pools);
    for entry in &queue {
        row(&mut rows, &entry.rtype).waiting += 1;
    }
    if let Some(builder) = builder {
        for (rtype, pool) in builder.pools {
            row(&mut rows, &rtype).builder = Some(pool);
        }
    }
    let overview = Overview {
        now: state.clock().now(),
        types: rows.into_values().collect(),
    };
    Ok(respond::json(
        serde_json::to_string(&overview).expect("overview serializes"),
    ))
}

fn row<'a>(rows: &'a mut BTreeMap<String, TypeRow>, rtype: &str) -> &'a mut TypeRow {
    rows.entry(rtype.to_string()).or_insert_with(|| TypeRow {
        rtype: rtype.to_string(),
        ..TypeRow::default()
    })
}

/// Counts, dynamic pools and the oldest lease of each type.
fn fold(resources: &[Resource], pools: &[DynamicResourceLifeCycle]) -> BTreeMap<String, TypeRow> {
    let mut rows = BTreeMap::new();
    for r in resources {
        let row = row(&mut rows, &r.rtype);
        row.total += 1;
        *row.states.entry(r.state.clone()).or_default() += 1;
        if r.state == state::FREE {
            row.free += 1;
        }
        if !r.owner.is_empty() {
            row.leased += 1;
            if row
                .oldest_lease
                .as_ref()
                .is_none_or(|l| r.lastupdate < l.since)
            {
                row.oldest_lease = Some(Lease {
                    name: r.name.clone(),
                    owner: r.owner.clone(),
                    state: r.state.clone(),
                    since: r.lastupdate,
                });
            }
        }
    }
    for pool in pools {
        let row = row(&mut rows, &pool.rtype);
        row.dynamic = Some(Dynamic {
            min: u64::from(pool.min_count),
            max: u64::from(pool.max_count),
            current: row.total,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn folds_counts_pools_and_the_oldest_lease() {
        let at = |s| chrono::Utc.timestamp_opt(s, 0).unwrap();
        let leased = |name: &str, owner: &str, t| {
            let mut r = Resource::new("t", name, "busy", at(t));
            r.owner = owner.into();
            r
        };
        let resources = vec![
            leased("a", "alice", 30),
            leased("b", "bob", 10),
            Resource::new("t", "c", "free", at(5)),
            Resource::new("v", "v1", "dirty", at(1)),
        ];
        let pool: DynamicResourceLifeCycle = serde_json::from_value(serde_json::json!({
            "type": "v", "min-count": 1, "max-count": 3, "state": "dirty"
        }))
        .unwrap();
        let rows = fold(&resources, &[pool]);
        let t = &rows["t"];
        assert_eq!((t.total, t.free, t.leased), (3, 1, 2));
        assert_eq!(t.states["busy"], 2);
        let oldest = t.oldest_lease.as_ref().unwrap();
        assert_eq!((oldest.name.as_str(), oldest.since), ("b", at(10)));
        assert!(t.dynamic.is_none());
        let v = &rows["v"];
        let d = v.dynamic.as_ref().unwrap();
        assert_eq!((d.min, d.max, d.current), (1, 3, 1));
        assert!(v.oldest_lease.is_none());
    }
}
