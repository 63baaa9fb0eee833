//! Paging and search of `GET /api/v2/resources` (what the dashboard's resource table
//! reads, usable at 100,000 resources).
//!
//! The plain call is unchanged: without `limit` and `cursor` the body is every matching
//! resource, least recently updated first. Paging is asked for with either parameter:
//! - `limit=N`: at most N resources (1 to [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when only a
//!   cursor is given);
//! - `cursor=C`: continue after the page that handed out `C`.
//!
//! A page is still a JSON array (so a reader of the plain call reads a page the same
//! way), in **name order**: a name never changes, so a cursor stays exact while leases
//! come and go (an order by last update would shift under every heartbeat). When more
//! resources follow, the answer carries the next cursor in `Mason-Next-Cursor` and the
//! next page's URL in `Link: <…>; rel="next"`; the last page carries neither. A cursor is
//! opaque (today the last name, hex-encoded, behind a format letter).
//!
//! `q=TEXT` (both modes) keeps resources whose name contains TEXT, ignoring case: the
//! dashboard's search box.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;
use mason_types::Resource;

use crate::error::ApiError;
use crate::params::Params;

/// Largest page.
pub(crate) const MAX_LIMIT: usize = 10_000;
/// Page size when a cursor comes without a limit.
pub(crate) const DEFAULT_LIMIT: usize = 1_000;
/// The response header with the next page's cursor.
pub(crate) const NEXT_CURSOR_HEADER: &str = "mason-next-cursor";

/// What a paged call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PageRequest {
    /// At most this many resources.
    pub(super) limit: usize,
    /// Only names after this one.
    pub(super) after: Option<String>,
}

impl PageRequest {
    /// The paging parameters of `p`; `None` for the plain (unpaged) call.
    pub(super) fn from_params(p: &Params) -> Result<Option<Self>, ApiError> {
        let (limit, cursor) = (p.opt("limit"), p.opt("cursor"));
        if limit.is_none() && cursor.is_none() {
            return Ok(None);
        }
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid limit {text:?}: want a whole number from 1 to {MAX_LIMIT}"
                    )))
                }
            },
        };
        let after = match cursor {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid cursor {c:?}: pass back the {NEXT_CURSOR_HEADER} value of the previous page"
                ))
            })?),
        };
        Ok(Some(Self { limit, after }))
    }

    /// This page of `all` (any order; the page is in name order), and the cursor of the
    /// next page when there is one.
    pub(super) fn cut(&self, mut all: Vec<Resource>) -> (Vec<Resource>, Option<String>) {
        if let Some(after) = &self.after {
            all.retain(|r| r.name.as_str() > after.as_str());
        }
        all.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let more = all.len() > self.limit;
        all.truncate(self.limit);
        let next = more
            .then(|| all.last().map(|r| encode_cursor(&r.name)))
            .flatten();
        (all, next)
    }
}

/// Keep the resources whose name contains `q`, ignoring case.
pub(super) fn search(all: &mut Vec<Resource>, q: &str) {
    let q = q.to_lowercase();
    all.retain(|r| r.name.to_lowercase().contains(&q));
}

/// Add `Mason-Next-Cursor` and `Link` for `next` to a page answer of `path?query`.
pub(super) fn add_next(response: &mut Response, path: &str, p: &Params, next: &str) {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in p.pairs().filter(|(k, _)| *k != "cursor") {
        query.append_pair(k, v);
    }
    query.append_pair("cursor", next);
    let link = format!("<{path}?{}>; rel=\"next\"", query.finish());
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(next) {
        headers.insert(HeaderName::from_static(NEXT_CURSOR_HEADER), v);
    }
    if let Ok(v) = HeaderValue::from_str(&link) {
        headers.insert(header::LINK, v);
    }
}

fn encode_cursor(name: &str) -> String {
    let mut out = String::with_capacity(1 + 2 * name.len());
    out.push('n');
    for b in name.bytes() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let hex = cursor.strip_prefix('n')?;
    if hex.len() % 2 != 0 || hex.is_empty() {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Params {
        Params::from_uri(&format!("/x?{q}").parse().unwrap())
    }

    fn named(names: &[&str]) -> Vec<Resource> {
        names
            .iter()
            .map(|n| Resource::new("t", *n, "free", chrono::Utc::now()))
            .collect()
    }

    #[test]
    fn cursors_round_trip_any_name() {
        for name in ["a", "gce-project-17", "ünïcødé/ name?&=", "\u{1F600}"] {
            assert_eq!(decode_cursor(&encode_cursor(name)).as_deref(), Some(name));
        }
        for bad in ["", "n", "x61", "n6", "nzz", "nff"] {
            assert_eq!(decode_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_plain_call_is_not_paged_and_bad_values_are_refused() {
        assert_eq!(PageRequest::from_params(&params("type=t")).unwrap(), None);
        let only_cursor = PageRequest::from_params(&params("cursor="))
            .unwrap()
            .unwrap();
        assert_eq!(only_cursor.limit, DEFAULT_LIMIT);
        for bad in [
            "limit=0",
            "limit=10001",
            "limit=-1",
            "limit=ten",
            "limit=",
            "cursor=zz",
        ] {
            let err = PageRequest::from_params(&params(bad)).unwrap_err();
            assert_eq!(err.status, 400, "{bad}");
            assert!(err.message.starts_with("invalid "), "{}", err.message);
        }
    }

    #[test]
    fn pages_walk_every_name_once_in_order() {
        let all = named(&["d", "b", "e", "a", "c"]);
        let mut seen = Vec::new();
        let mut request = PageRequest::from_params(&params("limit=2"))
            .unwrap()
            .unwrap();
        loop {
            let (page, next) = request.cut(all.clone());
            seen.extend(page.into_iter().map(|r| r.name));
            match next {
                Some(c) => request.after = Some(decode_cursor(&c).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e"]);
        // An exact fit has no next page.
        let (page, next) = PageRequest::from_params(&params("limit=5"))
            .unwrap()
            .unwrap()
            .cut(all);
        assert_eq!((page.len(), next), (5, None));
    }

    #[test]
    fn search_ignores_case() {
        let mut all = named(&["GCE-Project-1", "aws-2", "gce-project-3"]);
        search(&mut all, "gce-PROJECT");
        let names: Vec<_> = all.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["GCE-Project-1", "gce-project-3"]);
    }
}
