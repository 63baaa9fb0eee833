//! What `mason acquire` and `mason run` share about asking for several resources at once:
//! `--type TYPE[=COUNT]`, repeatable (`--type gce-project=2 --type gke-cluster`).
//!
//! One `--type` without a count is the plain Boskos acquire of one resource (and works
//! against any Boskos server). Several `--type`s, a count, or a `--priority` ask
//! `mason serve` for the whole set at once (`POST /api/v2/acquire`, all or nothing, so a
//! job never holds half a set while it waits for the other half; waiting is done by the
//! server, which hands the set over the moment it is free).
//!
//! Virtual resources in a set come with their physical resources, as a single one does
//! (see `cli::leased`). If taking them fails, nothing is kept: the failing virtual
//! resource goes to `dirty` (as for a single one) and every other resource of the set goes
//! back untouched to the state it was acquired from.

use std::sync::Arc;

use mason_client::{BoskosApi, Error, HttpClient, SetRequest, VirtualError, VirtualLease, Wait};
use mason_types::multi_acquire::{MultiAcquireItem, MAX_COUNT};
use mason_types::ResourceV2;

use crate::cli::leased;

/// One `--type` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeCount {
    /// The resource type.
    pub(crate) rtype: String,
    /// How many, when given (`TYPE=N`).
    pub(crate) count: Option<u32>,
}

/// clap value parser for `TYPE` or `TYPE=COUNT`.
pub(crate) fn type_count(text: &str) -> Result<TypeCount, String> {
    let (rtype, count) = match text.split_once('=') {
        None => (text, None),
        Some((rtype, n)) => {
            let count = n
                .parse::<u32>()
                .ok()
                .filter(|c| (1..=MAX_COUNT).contains(c))
                .ok_or_else(|| {
                    format!("the count in {text:?} must be a whole number from 1 to {MAX_COUNT}")
                })?;
            (rtype, Some(count))
        }
    };
    if rtype.is_empty() {
        return Err(format!(
            "{text:?} names no type (expected TYPE or TYPE=COUNT)"
        ));
    }
    Ok(TypeCount {
        rtype: rtype.to_string(),
        count,
    })
}

/// The single resource type asked for, when the flags ask for exactly one resource of
/// one type at the default priority (the plain Boskos acquire); `None` for a set.
pub(crate) fn single(types: &[TypeCount], priority: i32) -> Option<&str> {
    match types {
        [one] if one.count.is_none() && priority == 0 => Some(&one.rtype),
        _ => None,
    }
}

/// Acquire the set: one attempt without `wait`, else waiting per `wait` (the server
/// holds each attempt open until the set is free).
pub(crate) async fn acquire(
    client: &HttpClient,
    items: Vec<MultiAcquireItem>,
    priority: i32,
    wait: Option<&Wait>,
) -> Result<Vec<ResourceV2>, Error> {
    let set = SetRequest::new(items).priority(priority);
    match wait {
        None => client.acquire_many(&set, std::time::Duration::ZERO).await,
        Some(wait) => client.acquire_many_wait(&set, wait).await,
    }
}

/// After the grant: take the physical resources of every virtual resource in `granted`
/// into `dest`. On failure, give the rest back (see the module docs) and return why.
pub(crate) async fn take_leased(
    client: &HttpClient,
    granted: &[ResourceV2],
    dest: &str,
    origin: &str,
) -> Result<Vec<VirtualLease>, VirtualError> {
    let mut leases = Vec::with_capacity(granted.len());
    for (i, r) in granted.iter().enumerate() {
        match leased::take_leased(client, r.resource.clone(), dest).await {
            Ok(lease) => leases.push(lease),
            Err(e) => {
                let api: Arc<dyn BoskosApi> = Arc::new(client.clone());
                for lease in &leases {
                    for physical in &lease.leased {
                        let _ = api.release(&physical.name, &lease.resource.name).await;
                    }
                    let _ = api.release(&lease.resource.name, origin).await;
                }
                for rest in &granted[i + 1..] {
                    let _ = api.release(&rest.resource.name, origin).await;
                }
                return Err(e);
            }
        }
    }
    Ok(leases)
}

/// The set's items, each from `state` to `dest`. A type named twice is refused (its
/// counts should be one flag).
pub(crate) fn items(
    types: &[TypeCount],
    state: &str,
    dest: &str,
) -> Result<Vec<MultiAcquireItem>, String> {
    let mut items: Vec<MultiAcquireItem> = Vec::new();
    for t in types {
        if items.iter().any(|i| i.rtype == t.rtype) {
            return Err(format!(
                "--type {} is given twice; ask for several with --type {}=N",
                t.rtype, t.rtype
            ));
        }
        items.push(MultiAcquireItem {
            rtype: t.rtype.clone(),
            state: state.to_string(),
            dest: dest.to_string(),
            count: t.count.unwrap_or(1),
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_and_optional_count() {
        assert_eq!(
            type_count("gce-project").unwrap(),
            TypeCount {
                rtype: "gce-project".into(),
                count: None
            }
        );
        assert_eq!(type_count("gke=2").unwrap().count, Some(2));
        assert_eq!(type_count("gke=1000").unwrap().count, Some(1000));
        for bad in ["gke=0", "gke=1001", "gke=", "gke=two", "gke=-1"] {
            let e = type_count(bad).unwrap_err();
            assert!(e.contains("from 1 to 1000"), "{bad}: {e}");
        }
        assert!(type_count("=2").unwrap_err().contains("names no type"));
        assert!(type_count("").unwrap_err().contains("names no type"));
    }

    #[test]
    fn one_type_without_count_is_the_plain_acquire() {
        let one = [type_count("a").unwrap()];
        assert_eq!(single(&one, 0), Some("a"));
        assert_eq!(single(&one, 5), None, "a priority needs the set acquire");
        assert_eq!(single(&[type_count("a=1").unwrap()], 0), None);
        assert_eq!(
            single(&[type_count("a").unwrap(), type_count("b").unwrap()], 0),
            None
        );
    }

    #[test]
    fn items_keep_the_order_and_refuse_a_type_twice() {
        let types = [type_count("a=2").unwrap(), type_count("b").unwrap()];
        let items = items(&types, "free", "busy").unwrap();
        assert_eq!(
            items
                .iter()
                .map(|i| (i.rtype.as_str(), i.count, i.state.as_str(), i.dest.as_str()))
                .collect::<Vec<_>>(),
            [("a", 2, "free", "busy"), ("b", 1, "free", "busy")]
        );
        let twice = [type_count("a").unwrap(), type_count("a=2").unwrap()];
        assert!(super::items(&twice, "free", "busy")
            .unwrap_err()
            .contains("given twice"));
    }
}
