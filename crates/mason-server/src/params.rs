//! Query parameters the way Go's `r.URL.Query().Get(k)` reads them: every parameter is in
//! the URL (even for POST), the first value wins, a missing key reads as `""`, `+` is a
//! space and malformed escapes are kept as text rather than failing the request.

use axum::http::Uri;

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
}
