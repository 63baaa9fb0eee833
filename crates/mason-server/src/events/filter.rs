//! The query of `GET /api/v2/events` and `/api/v2/events/stream`: filters (`type`,
//! `name`, `owner`, `kind`), the starting point (`after`, or `Last-Event-ID` on the
//! stream) and the page size (`limit`). Every bad value is a 400 that says what is
//! wrong and what is accepted.

use mason_types::event::{is_known_kind, KINDS};

use crate::error::ApiError;
use crate::params::Params;

/// Largest page of `GET /api/v2/events`.
pub const MAX_LIMIT: usize = mason_store::MAX_EVENT_LIMIT;

pub use mason_store::EventFilter;

/// The filters of a query; an unknown `kind` or a filter that cannot match anything
/// (an empty `name` or `type`) is a 400.
pub(crate) fn filter_from_params(p: &Params) -> Result<EventFilter, ApiError> {
    let mut filter = EventFilter::default();
    for (key, slot) in [
        ("type", &mut filter.rtype),
        ("name", &mut filter.name),
        ("owner", &mut filter.owner),
        ("kind", &mut filter.kind),
    ] {
        match p.opt(key) {
            None => {}
            // `owner=` (empty) is a real filter: events of unowned resources.
            Some("") if key != "owner" => {
                return Err(ApiError::bad_request(format!(
                    "invalid {key}: empty (leave the parameter out to match every {key})"
                )))
            }
            Some(v) => *slot = Some(v.to_string()),
        }
    }
    if let Some(kind) = &filter.kind {
        if !is_known_kind(kind) {
            return Err(ApiError::bad_request(format!(
                "invalid kind {kind:?}: want one of {}",
                KINDS.join(", ")
            )));
        }
    }
    Ok(filter)
}

/// `after=ID` (default 0: from the oldest kept event).
pub(crate) fn after_param(p: &Params) -> Result<Option<u64>, ApiError> {
    p.opt("after")
        .map(|text| parse_id("after", text))
        .transpose()
}

/// `limit=N`, 1 to [`MAX_LIMIT`] (default [`MAX_LIMIT`]).
pub(crate) fn limit_param(p: &Params) -> Result<usize, ApiError> {
    match p.opt("limit") {
        None => Ok(MAX_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "invalid limit {text:?}: want a whole number from 1 to {MAX_LIMIT}"
            ))),
        },
    }
}

/// An event id named `what` (`after`, `Last-Event-ID`).
pub(crate) fn parse_id(what: &str, text: &str) -> Result<u64, ApiError> {
    text.trim().parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid {what} {text:?}: want an event id (a whole number, 0 for the start)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use mason_types::event::Event;

    use super::*;

    fn params(q: &str) -> Params {
        Params::from_uri(&format!("/x?{q}").parse().unwrap())
    }

    fn event(kind: &str, old_owner: Option<&str>, new_owner: Option<&str>) -> Event {
        Event {
            id: 1,
            at: chrono::Utc::now(),
            kind: kind.into(),
            rtype: "t".into(),
            name: "r1".into(),
            old_state: Some("free".into()),
            new_state: Some("busy".into()),
            old_owner: old_owner.map(String::from),
            new_owner: new_owner.map(String::from),
            generation: None,
            actor: String::new(),
            request_id: None,
        }
    }

    #[test]
    fn owner_matches_before_or_after() {
        let acquire = event("acquire", Some(""), Some("alice"));
        let filter = |q| filter_from_params(&params(q)).unwrap();
        assert!(filter("owner=alice").matches(&acquire));
        assert!(filter("owner=").matches(&acquire), "it was unowned before");
        assert!(!filter("owner=bob").matches(&acquire));
        assert!(filter("type=t&name=r1&kind=acquire").matches(&acquire));
        assert!(!filter("kind=release").matches(&acquire));
        assert!(!filter("name=r2").matches(&acquire));
        let created = event("create", None, Some(""));
        assert!(!filter("owner=alice").matches(&created));
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        let err = |q| filter_from_params(&params(q)).unwrap_err().message;
        assert!(err("kind=steal").starts_with("invalid kind \"steal\": want one of acquire,"));
        assert_eq!(
            err("type="),
            "invalid type: empty (leave the parameter out to match every type)"
        );
        let limit = |q| limit_param(&params(q));
        assert_eq!(limit("").unwrap(), MAX_LIMIT);
        assert_eq!(limit("limit=1").unwrap(), 1);
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=99999999999999999999",
            "limit=x",
        ] {
            assert_eq!(limit(bad).unwrap_err().status, 400, "{bad}");
        }
        assert_eq!(after_param(&params("after=17")).unwrap(), Some(17));
        assert_eq!(after_param(&params("")).unwrap(), None);
        for bad in ["after=-1", "after=", "after=1e3", "after=abc"] {
            assert_eq!(after_param(&params(bad)).unwrap_err().status, 400, "{bad}");
        }
    }
}
