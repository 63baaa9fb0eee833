//! Reading the `Authorization` header: HTTP Basic (what upstream's Go client sends with
//! `--username`/`--password-file`) or `Bearer <token>`. Anything else is malformed and
//! answered 401 with the reason; nothing here can panic on hostile input (a header that
//! is not ASCII, is very long, is not base64, holds no `:` or a user name that is not
//! UTF-8).

use axum::http::{header, HeaderMap};
use base64::Engine;

/// The longest `Authorization` header read; longer ones are refused unread (a Basic
/// header of a 256-character user and password is about 700 bytes).
pub(crate) const MAX_HEADER_BYTES: usize = 4096;

/// Credentials presented by a request.
#[derive(PartialEq, Eq)]
pub(crate) enum Credentials {
    /// HTTP Basic: a UTF-8 user name and the password's bytes.
    Basic { user: String, password: Vec<u8> },
    /// A bearer token.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { user, .. } => write!(f, "Basic({user:?}, <password>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<token>)"),
        }
    }
}

/// Why a request's credentials could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// No `Authorization` header.
    Missing,
    /// A header that is not Basic or Bearer, or not well-formed; the reason.
    Malformed(&'static str),
}

/// The credentials of a request.
pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Credentials, Unreadable> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Unreadable::Missing);
    };
    if values.next().is_some() {
        return Err(Unreadable::Malformed("more than one Authorization header"));
    }
    if value.len() > MAX_HEADER_BYTES {
        return Err(Unreadable::Malformed(
            "the Authorization header is too long",
        ));
    }
    let text = value
        .to_str()
        .map_err(|_| Unreadable::Malformed("the Authorization header is not visible ASCII"))?;
    let (scheme, rest) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
    let rest = rest.trim_start();
    if scheme.eq_ignore_ascii_case("basic") {
        basic(rest)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || rest.contains(' ') {
            return Err(Unreadable::Malformed(
                "a Bearer header holds exactly one token",
            ));
        }
        Ok(Credentials::Bearer(rest.to_string()))
    } else {
        Err(Unreadable::Malformed(
            "unsupported authorization scheme (use Basic or Bearer)",
        ))
    }
}

fn basic(encoded: &str) -> Result<Credentials, Unreadable> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| Unreadable::Malformed("the Basic credentials are not valid base64"))?;
    let colon = decoded
        .iter()
        .position(|b| *b == b':')
        .ok_or(Unreadable::Malformed("the Basic credentials hold no ':'"))?;
    let user = String::from_utf8(decoded[..colon].to_vec())
        .map_err(|_| Unreadable::Malformed("the Basic user name is not UTF-8"))?;
    if user.is_empty() {
        return Err(Unreadable::Malformed("the Basic user name is empty"));
    }
    Ok(Credentials::Basic {
        user,
        password: decoded[colon + 1..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn read(value: &[u8]) -> Result<Credentials, Unreadable> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).unwrap(),
        );
        from_headers(&headers)
    }

    fn malformed(value: &[u8]) -> &'static str {
        match read(value) {
            Err(Unreadable::Malformed(why)) => why,
            other => panic!("{value:?}: {other:?}"),
        }
    }

    #[test]
    fn reads_what_upstreams_client_sends() {
        // From the upstream wire log: alice / s3cret-pw.
        assert_eq!(
            read(b"Basic YWxpY2U6czNjcmV0LXB3").unwrap(),
            Credentials::Basic {
                user: "alice".into(),
                password: b"s3cret-pw".to_vec()
            }
        );
        // Scheme names are case-insensitive; a password may hold ':' and be empty.
        assert_eq!(
            read(b"basic YTpiOmM=").unwrap(),
            Credentials::Basic {
                user: "a".into(),
                password: b"b:c".to_vec()
            }
        );
        assert_eq!(
            read(b"Basic YTo=").unwrap(),
            Credentials::Basic {
                user: "a".into(),
                password: vec![]
            }
        );
        assert_eq!(
            read(b"Bearer abc.def").unwrap(),
            Credentials::Bearer("abc.def".into())
        );
    }

    #[test]
    fn refuses_malformed_headers_with_a_reason() {
        assert_eq!(from_headers(&HeaderMap::new()), Err(Unreadable::Missing));
        assert!(malformed(b"Basic !!!").contains("base64"));
        assert!(malformed(b"Basic YWxpY2U=").contains("no ':'"));
        // "\xff\xfe:pw" — a user name that is not UTF-8.
        assert!(malformed(b"Basic //46cHc=").contains("not UTF-8"));
        assert!(malformed(b"Basic OnB3").contains("empty"));
        assert!(malformed(b"Basic").contains("no ':'"));
        assert!(malformed(b"Bearer").contains("exactly one token"));
        assert!(malformed(b"Bearer a b").contains("exactly one token"));
        assert!(malformed(b"Digest username=x").contains("unsupported"));
        assert!(malformed(b"").contains("unsupported"));
        assert!(malformed("Basic é".as_bytes()).contains("visible ASCII"));
        assert!(malformed(&vec![b'a'; MAX_HEADER_BYTES + 1]).contains("too long"));
        let mut two = HeaderMap::new();
        two.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        two.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(
            from_headers(&two),
            Err(Unreadable::Malformed("more than one Authorization header"))
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Any header value a client can send is read or refused with a reason; never a
        /// panic.
        #[test]
        fn any_header_is_read_or_refused(value in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                let mut headers = HeaderMap::new();
                headers.insert(header::AUTHORIZATION, value);
                let _ = from_headers(&headers);
            }
        }

        /// Basic credentials of arbitrary bytes: the user name is what comes before the
        /// first ':' (RFC 7617), read exactly when it is non-empty UTF-8; the password is
        /// the rest, byte for byte. Anything else is malformed.
        #[test]
        fn basic_pairs_round_trip_or_are_malformed(
            user in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            password in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        ) {
            let mut pair = user.clone();
            pair.push(b':');
            pair.extend_from_slice(&password);
            let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&pair));
            let got = read(value.as_bytes());
            let colon = pair.iter().position(|b| *b == b':').unwrap();
            let (name, rest) = (&pair[..colon], &pair[colon + 1..]);
            match std::str::from_utf8(name) {
                Ok(name) if !name.is_empty() => proptest::prop_assert_eq!(
                    got,
                    Ok(Credentials::Basic { user: name.to_string(), password: rest.to_vec() })
                ),
                _ => proptest::prop_assert!(matches!(got, Err(Unreadable::Malformed(_)))),
            }
        }
    }
}
