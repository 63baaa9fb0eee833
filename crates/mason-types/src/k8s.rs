//! Upstream Boskos' Kubernetes objects (SPEC §7.7), for moving state between an upstream
//! installation and Mason in both directions: `mason import` reads what `kubectl get`
//! prints, `mason export` writes what `kubectl apply` takes. No IO here: inputs arrive
//! as text and outputs leave as text.
//!
//! Layout:
//! - [`objects`]: `ResourceObject`, `DRLCObject` and the `kind: List` around them, as
//!   upstream's Go types serialize them, with conversions from Mason's model.
//! - [`mod@read`]: parsing YAML/JSON input, checking every field ([`Reader`] → [`ObjectSet`]).
//! - [`problem`]: what is wrong and where ([`Problem`], [`ReadError`]).
//! - `fields`: checked field access used by [`mod@read`].
//! - [`mod@write`]: rendering resources and pools as a list of objects.
//! - `yaml`: the YAML writer (every string quoted, so YAML 1.1 readers keep strings).
//! - [`compare`]: input pools against a config's dynamic pools.

pub mod compare;
mod fields;
pub mod objects;
pub mod problem;
pub mod read;
pub mod write;
mod yaml;

pub use compare::{compare_pools, PoolDifference};
pub use objects::{
    format_object_time, to_store_precision, DrlcObject, Object, ObjectList, ResourceObject,
    API_VERSION,
};
pub use problem::{Place, Problem, ReadError};
pub use read::{count_by_type_and_state, ObjectSet, Reader, StateCount};
pub use write::{object_list, render, Format};

#[cfg(test)]
mod tests;
