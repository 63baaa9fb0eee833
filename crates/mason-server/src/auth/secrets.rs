//! The secrets of the auth file and how they are made and checked: argon2id password
//! hashes (PHC strings, `mason auth hash`), random bearer tokens stored as
//! `sha256:<hex>` (`mason auth token`), and the dummy hash that makes a request naming an
//! unknown user cost as much as one with a wrong password.

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 of a bearer token.
pub(crate) type TokenDigest = [u8; 32];

/// Largest argon2 memory cost accepted from an auth file (KiB): one verification at this
/// cost takes 256 MiB for as long as it runs. OWASP's recommendation is 19 MiB.
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;
/// Largest argon2 time cost (passes) accepted from an auth file.
pub const MAX_ITERATIONS: u32 = 16;
/// Largest argon2 parallelism (lanes) accepted from an auth file.
pub const MAX_LANES: u32 = 8;

/// Bytes of a token made by [`new_token`].
const TOKEN_BYTES: usize = 32;

/// A secret could not be made (the system's random source failed) or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(String);

/// An argon2id PHC string for `password` with the recommended cost (19 MiB, 2 passes,
/// 1 lane) and a fresh random salt.
pub fn hash_password(password: &[u8]) -> Result<String, SecretError> {
    hash_password_with_cost(password, Params::DEFAULT_M_COST, Params::DEFAULT_T_COST)
}

/// An argon2id PHC string with a chosen memory cost (KiB) and number of passes. Tests use
/// the smallest cost so that they stay fast; deployments should keep the default.
pub fn hash_password_with_cost(
    password: &[u8],
    memory_kib: u32,
    iterations: u32,
) -> Result<String, SecretError> {
    if password.is_empty() {
        return Err(SecretError("the password is empty".into()));
    }
    let params = Params::new(memory_kib, iterations, 1, None)
        .map_err(|e| SecretError(format!("bad argon2 cost: {e}")))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| SecretError(format!("cannot hash the password: {e}")))
}

/// Parse a `password-hash` value: an argon2id (version 19) PHC string with salt and hash,
/// whose cost is within [`MAX_MEMORY_KIB`], [`MAX_ITERATIONS`] and [`MAX_LANES`].
pub(crate) fn check_password_hash(text: &str) -> Result<PasswordHash, String> {
    let expected = "expected an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash) as printed by `mason auth hash`";
    if !text.starts_with("$argon2id$") {
        let scheme = text
            .strip_prefix('$')
            .and_then(|t| t.split('$').next())
            .filter(|s| !s.is_empty());
        return Err(match scheme {
            Some(s) => format!("unsupported hash scheme {s:?}; {expected}"),
            None => format!("not a password hash; {expected}"),
        });
    }
    let hash = PasswordHash::new(text).map_err(|e| format!("malformed hash ({e}); {expected}"))?;
    if hash.version.is_some_and(|v| v != u32::from(Version::V0x13)) {
        return Err(format!("unsupported argon2 version; {expected}"));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(format!("the salt or the hash is missing; {expected}"));
    }
    let params = Params::try_from(&hash).map_err(|e| format!("bad argon2 parameters ({e})"))?;
    if params.m_cost() > MAX_MEMORY_KIB
        || params.t_cost() > MAX_ITERATIONS
        || params.p_cost() > MAX_LANES
    {
        return Err(format!(
            "argon2 cost m={},t={},p={} is above the limit m={MAX_MEMORY_KIB},t={MAX_ITERATIONS},p={MAX_LANES}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ));
    }
    Ok(hash)
}

/// Whether `password` matches `hash` (argon2: slow on purpose; run it off the async
/// threads). The final comparison inside argon2 is constant-time.
pub(crate) fn password_matches(hash: &PasswordHash, password: &[u8]) -> bool {
    Argon2::default().verify_password(password, hash).is_ok()
}

/// Spend the time of one verification at the default cost, for a user name that does not
/// exist (so the answer does not tell which user names exist).
pub(crate) fn verify_dummy(password: &[u8]) {
    static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash_password(b"mason-dummy-password")
            .ok()
            .and_then(|text| PasswordHash::new(&text).ok())
    });
    if let Some(hash) = dummy {
        let _ = password_matches(hash, password);
    }
}

/// A fresh random token (64 hex digits) and its `token-hash` value.
pub fn new_token() -> Result<(String, String), SecretError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| SecretError(format!("the system's random source failed: {e}")))?;
    let token = hex(&bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The `token-hash` value of `token`: `sha256:<64 lowercase hex digits>`.
pub fn token_hash(token: &str) -> String {
    format!("sha256:{}", hex(&token_digest(token)))
}

/// The SHA-256 of `token`.
pub(crate) fn token_digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// Parse a `token-hash` value.
pub(crate) fn parse_token_hash(text: &str) -> Result<TokenDigest, String> {
    let expected = "expected sha256:<64 hex digits> as printed by `mason auth token`";
    let Some(hex_part) = text.strip_prefix("sha256:") else {
        return Err(match text.split_once(':') {
            Some((scheme, _)) => format!("unsupported hash scheme {scheme:?}; {expected}"),
            None => format!("not a token hash; {expected}"),
        });
    };
    let digits = hex_part.as_bytes();
    if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(format!("malformed SHA-256 digest; {expected}"));
    }
    let mut digest = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).map_err(|_| expected.to_string())?;
        digest[i] = u8::from_str_radix(text, 16).map_err(|_| expected.to_string())?;
    }
    Ok(digest)
}

/// Constant-time equality of two digests.
pub(crate) fn digests_equal(a: &TokenDigest, b: &TokenDigest) -> bool {
    a.ct_eq(b).into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_round_trip_and_are_salted() {
        let a = hash_password_with_cost(b"s3cret", 8, 1).unwrap();
        let b = hash_password_with_cost(b"s3cret", 8, 1).unwrap();
        assert_ne!(a, b, "a fresh salt each time");
        let parsed = check_password_hash(&a).unwrap();
        assert!(password_matches(&parsed, b"s3cret"));
        assert!(!password_matches(&parsed, b"s3cret "));
        assert!(hash_password(b"").is_err());
        let default = hash_password(b"x").unwrap();
        assert!(
            default.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{default}"
        );
    }

    #[test]
    fn foreign_or_broken_hashes_are_refused_clearly() {
        let cases = [
            (
                "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
                "unsupported hash scheme \"2b\"",
            ),
            (
                "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
                "unsupported hash scheme \"argon2i\"",
            ),
            ("plaintext", "not a password hash"),
            ("", "not a password hash"),
            (
                "$argon2id$v=19$m=19456,t=2,p=1",
                "the salt or the hash is missing",
            ),
            (
                "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
                "unsupported argon2 version",
            ),
            (
                "$argon2id$v=19$m=9999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
                "above the limit",
            ),
            ("$argon2id$v=19$m=zz$c2FsdA$aGFzaA", "malformed hash"),
        ];
        for (text, expected) in cases {
            let err = check_password_hash(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn tokens_and_their_hashes() {
        let (token, hash) = new_token().unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(hash, token_hash(&token));
        let digest = parse_token_hash(&hash).unwrap();
        assert!(digests_equal(&digest, &token_digest(&token)));
        assert!(!digests_equal(&digest, &token_digest("other")));
        assert_ne!(new_token().unwrap().0, token);
        // The SHA-256 of "abc", a published test vector.
        assert_eq!(
            token_hash("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(
            parse_token_hash(&token_hash("abc").to_uppercase().replace("SHA256", "sha256")).is_ok()
        );
        for (bad, expected) in [
            ("md5:0123", "unsupported hash scheme \"md5\""),
            ("abc", "not a token hash"),
            ("sha256:xyz", "malformed SHA-256 digest"),
            ("sha256:", "malformed SHA-256 digest"),
        ] {
            assert!(
                parse_token_hash(bad).unwrap_err().contains(expected),
                "{bad}"
            );
        }
    }

    /// A valid hash of cost m=8,t=1,p=1 (cheap: the format is under test, not argon2).
    fn cheap_hash() -> &'static str {
        static HASH: OnceLock<String> = OnceLock::new();
        HASH.get_or_init(|| hash_password_with_cost(b"pw", 8, 1).unwrap())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        /// Any text is a hash of a known format or an error naming what was expected;
        /// never a panic. Only argon2id strings can pass.
        #[test]
        fn any_text_is_a_known_hash_or_an_error(text in "\\PC{0,120}") {
            if let Err(e) = check_password_hash(&text) {
                proptest::prop_assert!(!e.is_empty());
            } else {
                proptest::prop_assert!(text.starts_with("$argon2id$"));
            }
            if parse_token_hash(&text).is_ok() {
                proptest::prop_assert!(text.starts_with("sha256:"));
            }
        }

        /// A valid hash cut short or with one character replaced is refused or still
        /// parses; never a panic.
        #[test]
        fn damaged_hashes_never_panic(cut in 0usize..200, at in 0usize..200, with in proptest::char::any()) {
            let valid = cheap_hash();
            let cut = &valid[..cut.min(valid.len())];
            let _ = check_password_hash(cut);
            let mut chars: Vec<char> = valid.chars().collect();
            let at = at % chars.len();
            chars[at] = with;
            let damaged: String = chars.into_iter().collect();
            let _ = check_password_hash(&damaged);
            let token = token_hash("t");
            let _ = parse_token_hash(&token[..cut.len().min(token.len())]);
        }
    }
}
