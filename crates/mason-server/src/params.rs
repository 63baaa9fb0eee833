//! Query parameters the way Go's `r.URL.Query().Get(k)` reads them: every parameter is in
//! the URL (even for POST), the first value wins, a missing key reads as `""`, `+` is a
//! space and malformed escapes are kept as text rather than failing the request.

use axum::http::Uri;

/// Whether `uri`'s decoded query holds a NUL character (such a request is refused with a
/// 400 by the request middleware, `routes::track`).
///
/// No resource name, type, state or owner can contain NUL (PostgreSQL cannot even store
/// one), so such a request can only be a mistake or a probe; answering 400 keeps both
/// backends identical instead of letting PostgreSQL fail with a 500.
pub(crate) fn query_has_nul(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        // Cheap test first: a NUL can only come from `%00` (a raw NUL is not a valid URI).
        q.contains("%00")
            && form_urlencoded::parse(q.as_bytes())
                .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    })
}

/// The decoded query string of one request.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Decode `uri`'s query.
    pub(crate) fn from_uri(uri: &Uri) -> Self {
        let query = uri.query().unwrap_or("");
        Self(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`, or `""`.
    pub(crate) fn get(&self, key: &str) -> &str {
        self.opt(key).unwrap_or("")
    }

    /// The first value of `key`, if the key is present (possibly empty).
    pub(crate) fn opt(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every `(key, value)` pair, in order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The first value of `key` when present and not empty.
    pub(crate) fn non_empty(&self, key: &str) -> Option<&str> {
        self.opt(key).filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_go() {
        let uri: Uri = "/x?names=a%2Cb&owner=a+b&owner=second&empty=&bad=%zz"
            .parse()
            .unwrap();
        let p = Params::from_uri(&uri);
        assert_eq!(p.get("names"), "a,b");
        assert_eq!(p.get("owner"), "a b");
        assert_eq!(p.get("missing"), "");
        assert_eq!(p.opt("empty"), Some(""));
        assert_eq!(p.non_empty("empty"), None);
        assert_eq!(p.get("bad"), "%zz");
    }

    #[test]
    fn finds_nul_only_when_decoded() {
        let has = |s: &str| query_has_nul(&s.parse::<Uri>().unwrap());
        assert!(has("/acquire?owner=a%00b"));
        assert!(has("/acquire?x%00=1"));
        assert!(
            !has("/acquire?owner=a%2500b"),
            "%25 is a literal percent sign"
        );
        assert!(!has("/acquire?owner=ab"));
        assert!(!has("/acquire"));
    }
}
