//! The `/api/v2` resource object: the Boskos [`Resource`] with Mason's lease facts
//! ([`LeaseFacts`]: the fencing generation and the server-enforced lease TTL) added as
//! extra keys. The Boskos routes keep answering the plain [`Resource`], byte for byte as
//! upstream; only `/api/v2` answers (and the multi-resource acquire) carry these keys.
//!
//! ```json
//! {"type":"t","name":"r1","state":"busy","owner":"job-1","lastupdate":"2026-01-02T03:04:05Z",
//!  "userdata":{},"generation":17,"lease_ttl":"30m0s","lease_deadline":"2026-01-02T03:34:05Z"}
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::resource::{format_wire_time, parse_wire_time, Resource, Timestamp};

/// The HTTP response header carrying the generation(s) of what `/acquire` and
/// `/acquirebystate` granted: a comma-separated list, one number per resource in the
/// order of the body (one number for `/acquire`).
pub const GENERATION_HEADER: &str = "Mason-Lease-Generation";

/// What Mason knows about a resource's lease beyond the Boskos object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseFacts {
    /// The fencing generation: it changes on every grant and every end of a lease and is
    /// never reused, so a holder that sends the generation it was granted can never act
    /// on a lease that has since moved on.
    #[serde(default)]
    pub generation: u64,
    /// The lease's TTL, when the server enforces one (renewals push the deadline to
    /// now + TTL).
    #[serde(
        default,
        with = "crate::duration::go_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_ttl: Option<Duration>,
    /// When the server ends the lease unless it is renewed first.
    #[serde(default, with = "deadline", skip_serializing_if = "Option::is_none")]
    pub lease_deadline: Option<Timestamp>,
}

/// A resource as `/api/v2` shows it: every key of the Boskos object, then
/// [`LeaseFacts`]' keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceV2 {
    /// The Boskos object.
    #[serde(flatten)]
    pub resource: Resource,
    /// Mason's lease facts.
    #[serde(flatten)]
    pub lease: LeaseFacts,
}

impl ResourceV2 {
    /// The resource with `lease`.
    pub fn new(resource: Resource, lease: LeaseFacts) -> Self {
        Self { resource, lease }
    }

    /// The fencing generation.
    pub fn generation(&self) -> u64 {
        self.lease.generation
    }
}

/// `Mason-Lease-Generation` for `generations`: `"7"`, or `"7, 9"` for several.
pub fn format_generation_header(generations: impl IntoIterator<Item = u64>) -> String {
    generations
        .into_iter()
        .map(|g| g.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Read a `Mason-Lease-Generation` value; `None` when it is not a list of numbers.
pub fn parse_generation_header(value: &str) -> Option<Vec<u64>> {
    value
        .split(',')
        .map(|part| part.trim().parse::<u64>().ok())
        .collect()
}

mod deadline {
    use super::*;

    pub(super) fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format_wire_time(t)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => parse_wire_time(s)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ResourceV2 {
        let at = parse_wire_time("2026-01-02T03:04:05Z").unwrap();
        let mut r = Resource::new("t", "r1", "busy", at);
        r.owner = "job-1".into();
        ResourceV2::new(
            r,
            LeaseFacts {
                generation: 17,
                lease_ttl: Some(Duration::from_secs(1800)),
                lease_deadline: Some(parse_wire_time("2026-01-02T03:34:05Z").unwrap()),
            },
        )
    }

    #[test]
    fn boskos_keys_first_then_lease_facts() {
        let json = serde_json::to_string(&sample()).unwrap();
        assert_eq!(
            json,
            r#"{"type":"t","name":"r1","state":"busy","owner":"job-1","lastupdate":"2026-01-02T03:04:05Z","userdata":{},"generation":17,"lease_ttl":"30m0s","lease_deadline":"2026-01-02T03:34:05Z"}"#
        );
        let back: ResourceV2 = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn no_ttl_means_no_ttl_keys_and_a_boskos_reader_ignores_the_rest() {
        let mut v = sample();
        v.lease.lease_ttl = None;
        v.lease.lease_deadline = None;
        let json = serde_json::to_string(&v).unwrap();
        assert!(
            json.ends_with(r#""userdata":{},"generation":17}"#),
            "{json}"
        );
        let plain: Resource = serde_json::from_str(&json).unwrap();
        assert_eq!(plain, v.resource);
        // A plain Boskos object reads as generation 0 without a lease.
        let v2: ResourceV2 = serde_json::from_str(&v.resource.to_wire_json()).unwrap();
        assert_eq!(v2.lease, LeaseFacts::default());
    }

    #[test]
    fn generation_header_lists_one_number_per_resource() {
        assert_eq!(format_generation_header([7]), "7");
        assert_eq!(format_generation_header([7, 9]), "7, 9");
        assert_eq!(parse_generation_header("7"), Some(vec![7]));
        assert_eq!(parse_generation_header("7, 9"), Some(vec![7, 9]));
        assert_eq!(parse_generation_header("7,x"), None);
        assert_eq!(parse_generation_header(""), None);
    }
}
