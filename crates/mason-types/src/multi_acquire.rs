//! The JSON of `POST /api/v2/acquire`, the all-or-nothing acquire of several resources
//! (a Mason extension):
//!
//! ```json
//! {"owner":"job-1","request_id":"optional","lease_ttl":"30m","wait":"30s","priority":5,
//!  "resources":[{"type":"gce-project","state":"free","dest":"busy","count":2},
//!               {"type":"gke-cluster","state":"free","dest":"busy"}]}
//! ```
//!
//! Parsing is strict: an unknown key anywhere is refused, so a typo (`"cout": 2`) never
//! silently means something else. [`MultiAcquireBody::problems`] lists what is wrong with a
//! well-formed body: an empty `owner` or `resources`, an item without `type`, `state` or
//! `dest`, a `count` of 0 or over [`MAX_COUNT`], more than [`MAX_ITEMS`] items, the same
//! type and state twice, a `wait` over [`MAX_WAIT`], a `lease_ttl` of 0 or over the
//! server's cap. The answer is [`MultiAcquireAnswer`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::format_go_duration;
use crate::resource_v2::ResourceV2;

/// The most resources one item may ask for.
pub const MAX_COUNT: u32 = 1000;
/// The most items one request may hold.
pub const MAX_ITEMS: usize = 100;
/// The longest a request may wait for its set.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The request body of `POST /api/v2/acquire`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiAcquireBody {
    /// Who will hold the resources.
    pub owner: String,
    /// The caller's queue identity: the request keeps its place in the queue of every
    /// type it asks for across attempts (empty = none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Lease TTL for every resource granted (overrides the types' `lease-ttl`).
    #[serde(
        default,
        with = "crate::duration::go_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_ttl: Option<Duration>,
    /// What to acquire, all or nothing.
    pub resources: Vec<MultiAcquireItem>,
    /// How long the server may hold the request open until the set is granted (at most
    /// [`MAX_WAIT`]; absent or `0s` = answer at once).
    #[serde(
        default,
        with = "crate::duration::go_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub wait: Option<Duration>,
    /// Higher is served first; FIFO within a priority (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
}

/// One kind of resource wanted by a [`MultiAcquireBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiAcquireItem {
    /// The resource type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// The state the resources must be in.
    pub state: String,
    /// The state they are moved to.
    pub dest: String,
    /// How many (default 1).
    #[serde(default = "one")]
    pub count: u32,
}

/// The 200 answer of `POST /api/v2/acquire`: every resource granted, in the order of the
/// request's items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiAcquireAnswer {
    /// The granted resources, each with its generation.
    pub resources: Vec<ResourceV2>,
}

fn one() -> u32 {
    1
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

impl MultiAcquireBody {
    /// Parse a request body (strict: unknown keys are an error). The error text says
    /// where the JSON is wrong.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("invalid request body: {e}"))
    }

    /// The request id, when one is given and not empty.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref().filter(|id| !id.is_empty())
    }

    /// The time to wait, zero when none.
    pub fn wait(&self) -> Duration {
        self.wait.unwrap_or_default()
    }

    /// Everything wrong with this body, given the server's largest lease TTL; empty when
    /// it may be served.
    pub fn problems(&self, max_lease_ttl: Duration) -> Vec<String> {
        let mut out = Vec::new();
        if self.owner.is_empty() {
            out.push("owner must be set".to_string());
        }
        if self.resources.is_empty() {
            out.push("resources must list at least one item".to_string());
        }
        if self.resources.len() > MAX_ITEMS {
            out.push(format!(
                "resources holds {} items, at most {MAX_ITEMS} are allowed",
                self.resources.len()
            ));
        }
        for (i, item) in self.resources.iter().enumerate() {
            for (key, value) in [
                ("type", &item.rtype),
                ("state", &item.state),
                ("dest", &item.dest),
            ] {
                if value.is_empty() {
                    out.push(format!("resources[{i}].{key} must be set"));
                }
            }
            if item.count == 0 || item.count > MAX_COUNT {
                out.push(format!(
                    "resources[{i}].count must be between 1 and {MAX_COUNT}, got {}",
                    item.count
                ));
            }
            let earlier = self.resources[..i]
                .iter()
                .position(|e| e.rtype == item.rtype && e.state == item.state);
            if let Some(j) = earlier {
                out.push(format!(
                    "resources[{i}] asks again for type {:?} in state {:?} (as resources[{j}]); use one item with a count",
                    item.rtype, item.state
                ));
            }
        }
        if let Some(wait) = self.wait {
            if wait > MAX_WAIT {
                out.push(format!(
                    "wait {} is longer than the {} allowed",
                    format_go_duration(wait),
                    format_go_duration(MAX_WAIT)
                ));
            }
        }
        if let Some(problem) = self
            .lease_ttl
            .and_then(|t| lease_ttl_problem(t, max_lease_ttl))
        {
            out.push(problem);
        }
        out
    }
}

/// Why `ttl` cannot be a requested lease TTL under the server's cap `max` (`None` when it
/// can). Shared by `/api/v2/acquire` and the `lease_ttl=` query parameter.
pub fn lease_ttl_problem(ttl: Duration, max: Duration) -> Option<String> {
    if ttl.is_zero() {
        Some("lease_ttl must be more than 0".to_string())
    } else if ttl > max {
        Some(format!(
            "lease_ttl {} is over the server's maximum {} (--max-lease-ttl)",
            format_go_duration(ttl),
            format_go_duration(max)
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn parse(json: &str) -> Result<MultiAcquireBody, String> {
        MultiAcquireBody::from_json(json.as_bytes())
    }

    #[test]
    fn parses_the_issue_example_with_defaults() {
        let body = parse(
            r#"{"owner":"job-1","request_id":"optional","lease_ttl":"30m","resources":[{"type":"gce-project","state":"free","dest":"busy","count":2},{"type":"gke-cluster","state":"free","dest":"busy"}]}"#,
        )
        .unwrap();
        assert_eq!(body.owner, "job-1");
        assert_eq!(body.request_id(), Some("optional"));
        assert_eq!(body.lease_ttl, Some(Duration::from_secs(1800)));
        assert_eq!(body.resources[0].count, 2);
        assert_eq!(body.resources[1].count, 1);
        assert_eq!(body.wait(), Duration::ZERO);
        assert_eq!(body.priority, 0);
        assert!(body.problems(DAY).is_empty());
        let again = parse(&serde_json::to_string(&body).unwrap()).unwrap();
        assert_eq!(again, body);
    }

    #[test]
    fn strict_parsing_names_the_problem() {
        let err = parse(
            r#"{"owner":"o","resources":[{"type":"a","state":"free","dest":"busy","cout":2}]}"#,
        )
        .unwrap_err();
        assert!(err.contains("unknown field `cout`"), "{err}");
        let err = parse(r#"{"owner":"o","resources":[],"colour":"blue"}"#).unwrap_err();
        assert!(err.contains("unknown field `colour`"), "{err}");
        let err = parse(r#"{"owner":"o","resources":[{"type":"a"#).unwrap_err();
        assert!(err.starts_with("invalid request body: EOF"), "{err}");
        let err = parse(r#"{"resources":[]}"#).unwrap_err();
        assert!(err.contains("missing field `owner`"), "{err}");
        let err = parse(
            r#"{"owner":"o","resources":[{"type":"a","state":"free","dest":"busy","count":-1}]}"#,
        )
        .unwrap_err();
        assert!(err.contains("-1"), "{err}");
        let err = parse(r#"{"owner":"o","resources":[],"wait":"soon"}"#).unwrap_err();
        assert!(err.contains("invalid duration \"soon\""), "{err}");
    }

    #[test]
    fn every_problem_is_listed() {
        let body = parse(
            r#"{"owner":"","resources":[{"type":"a","state":"free","dest":"busy","count":0},{"type":"","state":"free","dest":"","count":1001},{"type":"a","state":"free","dest":"busy"}],"wait":"61s","lease_ttl":"25h"}"#,
        )
        .unwrap();
        assert_eq!(
            body.problems(DAY),
            [
                "owner must be set",
                "resources[0].count must be between 1 and 1000, got 0",
                "resources[1].type must be set",
                "resources[1].dest must be set",
                "resources[1].count must be between 1 and 1000, got 1001",
                "resources[2] asks again for type \"a\" in state \"free\" (as resources[0]); use one item with a count",
                "wait 1m1s is longer than the 1m0s allowed",
                "lease_ttl 25h0m0s is over the server's maximum 24h0m0s (--max-lease-ttl)",
            ]
        );
        let empty = parse(r#"{"owner":"o","resources":[]}"#).unwrap();
        assert_eq!(
            empty.problems(DAY),
            ["resources must list at least one item"]
        );
    }

    #[test]
    fn limits_are_inclusive() {
        let body = parse(&format!(
            r#"{{"owner":"o","wait":"1m","lease_ttl":"24h","resources":[{{"type":"a","state":"s","dest":"d","count":{MAX_COUNT}}}]}}"#
        ))
        .unwrap();
        assert!(body.problems(DAY).is_empty());
        assert_eq!(
            lease_ttl_problem(Duration::ZERO, DAY).as_deref(),
            Some("lease_ttl must be more than 0")
        );
        let many = MultiAcquireBody {
            owner: "o".into(),
            resources: (0..=MAX_ITEMS)
                .map(|i| MultiAcquireItem {
                    rtype: format!("t{i}"),
                    state: "s".into(),
                    dest: "d".into(),
                    count: 1,
                })
                .collect(),
            ..Default::default()
        };
        assert_eq!(
            many.problems(DAY),
            ["resources holds 101 items, at most 100 are allowed"]
        );
    }
}
