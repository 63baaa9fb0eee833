//! The custom resources upstream Boskos keeps its state in (SPEC §7.7), as serde types:
//! `ResourceObject` (one per resource, named after it) and `DRLCObject` (one per dynamic
//! pool, named after its type), and the conversions to and from Mason's own model.
//!
//! Field names, their order and which ones are left out when empty follow upstream's Go
//! types, so `kubectl apply` takes what [`super::write`] renders from them. Reading goes
//! through [`super::read`] instead, which checks every field and names the one at fault.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::config::{ConfigType, DynamicResourceLifeCycle};
use crate::resource::{Resource, Timestamp};

/// `apiVersion` of both custom resources.
pub const API_VERSION: &str = "boskos.k8s.io/v1";
/// `kind` of a resource object.
pub const RESOURCE_KIND: &str = "ResourceObject";
/// `kind` of a list of resource objects.
pub const RESOURCE_LIST_KIND: &str = "ResourceObjectList";
/// `kind` of a dynamic pool object.
pub const DRLC_KIND: &str = "DRLCObject";
/// `kind` of a list of dynamic pool objects.
pub const DRLC_LIST_KIND: &str = "DRLCObjectList";
/// `kind` of the generic list `kubectl get … -o yaml` prints (`apiVersion: v1`).
pub const LIST_KIND: &str = "List";

/// The part of Kubernetes' object metadata Boskos uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObjectMeta {
    /// Object name: the resource name, or the pool's type.
    pub name: String,
    /// Namespace; left out so `kubectl apply -n NS` chooses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `ResourceObject.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResourceSpec {
    /// The resource type.
    #[serde(rename = "type")]
    pub rtype: String,
}

/// `ResourceObject.status`: everything that changes with leases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// Current state (left out when empty, as upstream).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub state: String,
    /// Current owner; always present, `""` when unowned.
    pub owner: String,
    /// RFC 3339, with as many fraction digits as the time has (none for whole seconds).
    pub last_update: String,
    /// User data (left out when empty).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub user_data: BTreeMap<String, String>,
    /// RFC 3339, left out when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
}

/// One resource as upstream stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceObject {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// Always [`RESOURCE_KIND`].
    pub kind: String,
    /// Name (and namespace).
    pub metadata: ObjectMeta,
    /// The type.
    pub spec: ResourceSpec,
    /// State, owner, times and user data.
    pub status: ResourceStatus,
}

/// `DRLCObject.spec` (keys as upstream's Go struct, `lifespan` in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrlcSpec {
    /// State of new resources.
    pub state: String,
    /// The most resources kept.
    #[serde(rename = "max-count")]
    pub max_count: u32,
    /// The fewest resources kept.
    #[serde(rename = "min-count")]
    pub min_count: u32,
    /// Lifetime after each release, integer nanoseconds; left out when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifespan: Option<u64>,
    /// Builder settings (always present; its fields are left out when empty).
    pub config: ConfigType,
    /// Resources of other types needed per resource (always present).
    pub needs: BTreeMap<String, u32>,
}

/// One dynamic pool as upstream stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrlcObject {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// Always [`DRLC_KIND`].
    pub kind: String,
    /// Name = the pool's resource type.
    pub metadata: ObjectMeta,
    /// The pool definition.
    pub spec: DrlcSpec,
}

/// Format a time for a custom resource: RFC 3339 in UTC with `Z`, whole seconds exactly
/// as upstream writes them, and any sub-second digits the time carries (so a time Mason
/// wrote to the microsecond comes back unchanged).
pub fn format_object_time(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A time cut to the microsecond, the precision Mason's stores keep.
pub fn to_store_precision(t: Timestamp) -> Timestamp {
    DateTime::<Utc>::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

impl ResourceObject {
    /// The object for a resource; `namespace` is written into the metadata when given.
    pub fn from_resource(r: &Resource, namespace: Option<&str>) -> Self {
        Self {
            api_version: API_VERSION.to_string(),
            kind: RESOURCE_KIND.to_string(),
            metadata: ObjectMeta {
                name: r.name.clone(),
                namespace: namespace.map(str::to_string),
            },
            spec: ResourceSpec {
                rtype: r.rtype.clone(),
            },
            status: ResourceStatus {
                state: r.state.clone(),
                owner: r.owner.clone(),
                last_update: format_object_time(&r.lastupdate),
                user_data: r.userdata.as_map().clone(),
                expiration_date: r.expiration_date.as_ref().map(format_object_time),
            },
        }
    }
}

impl DrlcObject {
    /// The object for a dynamic pool; `namespace` is written into the metadata when given.
    pub fn from_drlc(d: &DynamicResourceLifeCycle, namespace: Option<&str>) -> Self {
        Self {
            api_version: API_VERSION.to_string(),
            kind: DRLC_KIND.to_string(),
            metadata: ObjectMeta {
                name: d.rtype.clone(),
                namespace: namespace.map(str::to_string),
            },
            spec: DrlcSpec {
                state: d.initial_state.clone(),
                max_count: d.max_count,
                min_count: d.min_count,
                lifespan: d
                    .lifespan
                    .map(|l| l.as_nanos().min(i64::MAX as u128) as u64),
                config: d.config.clone(),
                needs: d.needs.clone(),
            },
        }
    }
}

/// One item of a `kind: List`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Object {
    /// A resource.
    Resource(ResourceObject),
    /// A dynamic pool.
    Drlc(DrlcObject),
}

/// The generic list `kubectl get … -o yaml` prints and `kubectl apply -f` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectList {
    /// Always `v1`.
    pub api_version: String,
    /// Always [`LIST_KIND`].
    pub kind: String,
    /// The objects.
    pub items: Vec<Object>,
}
