//! The Boskos wire model shared by every Mason crate: resources, user data, metrics,
//! state names, Go-style durations and the resource pool config file.
//!
//! This crate does no IO: it is what a client embedding Mason pulls in, so it depends on
//! serde and little else.
//!
//! Layout:
//! - [`resource`]: the `Resource` JSON object and its timestamps.
//! - [`userdata`]: the string map carried by a resource, its merge rule and YAML-in-string values.
//! - [`state`]: the well-known state names.
//! - [`metric`]: the `/metric` JSON object.
//! - [`duration`]: Go duration syntax (`1h30m`, `300ms`), parsed and printed exactly.
//! - [`json`]: JSON text with Go's escaping, for byte-identical bodies.
//! - [`headers`]: the response headers `mason serve` adds.
//! - [`config`]: the Boskos resource config YAML, dynamic pools (DRLC) and validation.
//! - [`k8s`]: upstream's Kubernetes objects (`ResourceObject`, `DRLCObject`), read and
//!   written for migrations.
//! - [`resource_v2`]: the `/api/v2` resource object (the Boskos one plus the fencing
//!   generation and lease deadline) and the `Mason-Lease-Generation` header.
//! - [`multi_acquire`]: the JSON of `POST /api/v2/acquire` (all-or-nothing acquire of
//!   several resources) and its validation.
//! - [`status`]: `GET /api/v2/status`, the loop status of a process (and its builder).
#![deny(missing_docs)]

pub mod config;
pub mod duration;
pub mod event;
pub mod headers;
pub mod json;
pub mod k8s;
pub mod metric;
pub mod multi_acquire;
pub mod resource;
pub mod resource_v2;
pub mod state;
pub mod status;
pub mod userdata;

pub use config::{BoskosConfig, ConfigType, DynamicResourceLifeCycle, ResourceEntry};
pub use duration::{format_go_duration, parse_go_duration, DurationError};
pub use metric::Metric;
pub use resource::{Resource, Timestamp};
pub use resource_v2::{LeaseFacts, ResourceV2, GENERATION_HEADER};
pub use userdata::{UserData, LEASED_RESOURCES};
