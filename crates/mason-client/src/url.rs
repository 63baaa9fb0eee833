//! Request URLs: `<base>/<action>?<query>`, with the query encoded the way Go's
//! `url.Values.Encode` does it (keys sorted, space → `+`, everything outside
//! `A-Z a-z 0-9 - _ . ~` percent-encoded, so `,` becomes `%2C`).
//!
//! Unlike upstream's Go client, the path of the base URL is **kept**: with a base of
//! `https://proxy.example/boskos` the acquire call goes to `https://proxy.example/boskos/acquire`
//! (upstream would drop `/boskos`). That lets the server sit behind a path-routing proxy;
//! a base without a path behaves exactly like upstream.

use reqwest::Url;

use crate::api::{Error, Result};

/// Parse and check a server base URL (`http` or `https`, no query, no fragment).
pub(crate) fn parse_base(text: &str) -> Result<Url> {
    let url = Url::parse(text.trim())
        .map_err(|e| Error::Local(format!("invalid server URL {text:?}: {e}")))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(Error::Local(format!(
                "invalid server URL {text:?}: scheme must be http or https, not {other:?}"
            )))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::Local(format!(
            "invalid server URL {text:?}: no host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Local(format!(
            "invalid server URL {text:?}: must not have a query or fragment"
        )));
    }
    Ok(url)
}

/// `base` + `/action` (base path kept) + Go-encoded `params`.
pub(crate) fn endpoint(base: &Url, action: &str, params: &[(&str, &str)]) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}/{}", action.trim_start_matches('/')));
    let query = encode_query(params);
    url.set_query(if query.is_empty() { None } else { Some(&query) });
    url
}

/// Go's `url.Values.Encode` for single-valued keys: sorted by key, `k=v` joined by `&`.
pub(crate) fn encode_query(params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (key, value) in sorted {
        if !out.is_empty() {
            out.push('&');
        }
        escape_into(&mut out, key);
        out.push('=');
        escape_into(&mut out, value);
    }
    out
}

/// `text` as one path segment: everything outside `A-Z a-z 0-9 - _ . ~` percent-encoded
/// (a `/` or a space in a resource name stays part of the name).
pub(crate) fn escape_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out.replace('+', "%20")
}

/// Go's `url.QueryEscape`.
fn escape_into(out: &mut String, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(byte >> 4)] as char);
                out.push(HEX[usize::from(byte & 0xf)] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_keys_like_the_upstream_wire_log() {
        let q = encode_query(&[
            ("type", "t1"),
            ("state", "free"),
            ("dest", "busy"),
            ("owner", "upstream-go-driver"),
        ]);
        assert_eq!(q, "dest=busy&owner=upstream-go-driver&state=free&type=t1");
    }

    #[test]
    fn escapes_like_go_query_escape() {
        let q = encode_query(&[("names", "t1-a,t1-b,t1-c"), ("owner", "a b/c@d~e.f_g")]);
        assert_eq!(q, "names=t1-a%2Ct1-b%2Ct1-c&owner=a+b%2Fc%40d~e.f_g");
        assert_eq!(encode_query(&[("k", "é")]), "k=%C3%A9");
    }

    #[test]
    fn keeps_the_base_path_prefix() {
        let base = parse_base("http://127.0.0.1:8080/boskos/").unwrap();
        let url = endpoint(&base, "acquire", &[("type", "t")]);
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/boskos/acquire?type=t");
        let bare = parse_base("http://h:1").unwrap();
        assert_eq!(
            endpoint(&bare, "/metric", &[]).as_str(),
            "http://h:1/metric"
        );
    }

    #[test]
    fn rejects_bad_base_urls() {
        for bad in ["ftp://h/", "not a url", "http://h/?x=1", "http://h/#f"] {
            assert!(matches!(parse_base(bad), Err(Error::Local(_))), "{bad}");
        }
    }
}
