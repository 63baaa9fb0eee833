//! Why nothing can be acquired, when the server can tell. The server only answers "no
//! available resource"; two causes deserve a word before anyone waits for 30 minutes:
//!
//! - no resource of the type is in the state asked for (a typo such as `--state fre`):
//!   said with the type's current states and a "did you mean" (from `/metric`, which
//!   every Boskos server has);
//! - resources are in that state but still have an owner, and only unowned ones are
//!   handed out (from `mason serve`'s resource list; upstream servers cannot tell).
//!
//! Either is only a hint: the wait goes on, since a resource may yet be moved there.

use mason_client::{BoskosApi, Error, HttpClient, ResourceQuery, Wait};
use mason_types::config::did_you_mean;
use mason_types::{state, Metric, Resource};

use crate::cli::console;

/// An acquire that failed, with a hint when the server could tell why.
pub(crate) struct Failed {
    /// The client error.
    pub(crate) error: Error,
    /// Why nothing was available, when known.
    pub(crate) hint: Option<String>,
}

/// Acquire a `rtype` resource in `state` into `dest`. Without `wait`, one attempt (no
/// request id, as boskosctl). With `wait`: when the first attempt finds nothing, the
/// reason is looked up and, if there is one, shown as a warning by `command` before the
/// wait goes on with the same request id (so the place in the queue is kept).
pub(crate) async fn acquire(
    client: &HttpClient,
    (rtype, state, dest): (&str, &str, &str),
    wait: Option<&Wait>,
    command: &str,
) -> Result<Resource, Failed> {
    let Some(wait) = wait else {
        return match client.acquire(rtype, state, dest, None).await {
            Ok(resource) => Ok(resource),
            Err(error) => {
                let hint = match &error {
                    Error::NotFound(_) => why_none(client, rtype, state).await,
                    _ => None,
                };
                Err(Failed { error, hint })
            }
        };
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    match client.acquire(rtype, state, dest, Some(&request_id)).await {
        Ok(resource) => return Ok(resource),
        Err(Error::NotFound(_)) => {
            if let Some(hint) = why_none(client, rtype, state).await {
                console::warn(&format!("{command}: warning: {hint}"));
            }
        }
        Err(error) => return Err(Failed { error, hint: None }),
    }
    client
        .acquire_wait_with_id(rtype, state, dest, &request_id, wait)
        .await
        .map_err(|error| Failed { error, hint: None })
}

/// A hint for "nothing of `rtype` in `state` is available", when there is one to give.
pub(crate) async fn why_none(client: &HttpClient, rtype: &str, state: &str) -> Option<String> {
    let metric = client.metric(rtype).await.ok()?;
    if metric.current.get(state).copied().unwrap_or(0) == 0 {
        return Some(no_such_state(&metric, state));
    }
    let listed = client
        .resources(&ResourceQuery::new().rtype(rtype).state(state))
        .await
        .ok()
        .flatten()?;
    held_in_state(&listed, rtype, state)
}

/// `no "t" resource is in state "fre" (its states now: free 2, busy 1); did you mean "free"?`
fn no_such_state(metric: &Metric, wanted: &str) -> String {
    let states: Vec<String> = metric
        .current
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let mut candidates: Vec<&str> = metric.current.keys().map(String::as_str).collect();
    candidates.extend(state::KNOWN_STATES);
    let rtype = &metric.rtype;
    let head = format!(
        "no {rtype:?} resource is in state {wanted:?} (its states now: {})",
        states.join(", ")
    );
    match did_you_mean(wanted, &candidates).filter(|s| *s != wanted) {
        Some(close) => format!("{head}; did you mean {close:?}?"),
        None => format!("{head}; waiting until one is moved there"),
    }
}

/// When every resource in `state` has an owner: who holds them and how to let go.
fn held_in_state(listed: &[mason_types::Resource], rtype: &str, state: &str) -> Option<String> {
    if listed.is_empty() || listed.iter().any(|r| r.owner.is_empty()) {
        return None;
    }
    let mut owners: Vec<&str> = listed.iter().map(|r| r.owner.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    let example = &listed[0];
    Some(format!(
        "{} {rtype:?} resource(s) in state {state:?} still have an owner ({}), and only \
         unowned ones are handed out; an owner lets go with: mason release --name {} \
         --owner-name {} --target-state {state}",
        listed.len(),
        owners.join(", "),
        example.name,
        example.owner
    ))
}

#[cfg(test)]
mod tests {
    use mason_types::resource::parse_wire_time;
    use mason_types::Resource;

    use super::*;

    #[test]
    fn a_state_typo_gets_a_suggestion() {
        let mut metric = Metric {
            rtype: "sandbox".into(),
            ..Metric::default()
        };
        metric.current.insert("free".into(), 2);
        metric.current.insert("busy".into(), 1);
        assert_eq!(
            no_such_state(&metric, "fre"),
            "no \"sandbox\" resource is in state \"fre\" (its states now: busy 1, free 2); did you mean \"free\"?"
        );
        assert!(no_such_state(&metric, "dirty").ends_with("waiting until one is moved there"));
    }

    #[test]
    fn owned_resources_in_the_state_are_named() {
        let at = parse_wire_time("2024-03-01T10:20:30Z").unwrap();
        let mut held = Resource::new("t", "t-1", "free", at);
        held.owner = "bob".into();
        let hint = held_in_state(std::slice::from_ref(&held), "t", "free").unwrap();
        assert!(hint.contains("still have an owner (bob)"), "{hint}");
        assert!(hint.contains("mason release --name t-1 --owner-name bob --target-state free"));
        let free = Resource::new("t", "t-2", "free", at);
        assert_eq!(held_in_state(&[held, free], "t", "free"), None);
    }
}
