//! The `/metric` JSON object: counts of one type's resources by state and by owner.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counts of the resources of one type. Unowned resources are counted under the owner `""`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// The resource type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// Number of resources per state.
    #[serde(default)]
    pub current: BTreeMap<String, u64>,
    /// Number of resources per owner (`""` = not leased). The key is singular on the wire.
    #[serde(default)]
    pub owner: BTreeMap<String, u64>,
}
