//! The optional query parameters of Mason's lease-safety extension, read the way
//! [`crate::params::Params`] reads everything (present-but-empty counts as absent, like
//! `request_id`):
//!
//! - `lease_ttl=DURATION` on `/acquire` and `/acquirebystate`: a Go duration, more than 0
//!   and at most the server's `--max-lease-ttl`; anything else is a 400 (never a silent
//!   clamp, so a caller never holds a shorter lease than it asked for without knowing);
//! - `generation=N` on `/release` and `/update`: the fencing generation the caller was
//!   granted, a whole number; anything else is a 400.
//!
//! Upstream clients send neither and see no difference. A valid value goes to the
//! store's request; a bad one is refused before the store is asked.

use std::time::Duration;

use mason_types::multi_acquire::lease_ttl_problem;
use mason_types::parse_go_duration;

use crate::error::ApiError;
use crate::params::Params;

/// `lease_ttl=`, checked against the cap `max`.
pub(crate) fn lease_ttl(p: &Params, max: Duration) -> Result<Option<Duration>, ApiError> {
    let Some(text) = p.non_empty("lease_ttl") else {
        return Ok(None);
    };
    let ttl =
        parse_go_duration(text).map_err(|e| ApiError::bad_request(format!("lease_ttl: {e}")))?;
    match lease_ttl_problem(ttl, max) {
        Some(problem) => Err(ApiError::bad_request(problem)),
        None => Ok(Some(ttl)),
    }
}

/// `generation=`.
pub(crate) fn generation(p: &Params) -> Result<Option<u64>, ApiError> {
    let Some(text) = p.non_empty("generation") else {
        return Ok(None);
    };
    text.parse::<u64>().map(Some).map_err(|_| {
        ApiError::bad_request(format!(
            "generation must be a whole number (the one the lease was granted with), got {text:?}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use axum::http::Uri;

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn params(query: &str) -> Params {
        Params::from_uri(&format!("/x?{query}").parse::<Uri>().unwrap())
    }

    #[test]
    fn lease_ttl_is_optional_and_checked() {
        assert_eq!(lease_ttl(&params(""), DAY).unwrap(), None);
        assert_eq!(lease_ttl(&params("lease_ttl="), DAY).unwrap(), None);
        assert_eq!(
            lease_ttl(&params("lease_ttl=1h30m"), DAY).unwrap(),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(lease_ttl(&params("lease_ttl=24h"), DAY).unwrap(), Some(DAY));
        let err = |q: &str| lease_ttl(&params(q), DAY).unwrap_err();
        assert_eq!(err("lease_ttl=25h").status.as_u16(), 400);
        assert_eq!(
            err("lease_ttl=25h").message,
            "lease_ttl 25h0m0s is over the server's maximum 24h0m0s (--max-lease-ttl)"
        );
        assert_eq!(err("lease_ttl=0s").message, "lease_ttl must be more than 0");
        assert_eq!(
            err("lease_ttl=soon").message,
            "lease_ttl: time: invalid duration \"soon\""
        );
        assert_eq!(
            err("lease_ttl=-1m").message,
            "lease_ttl: negative duration \"-1m\" is not allowed"
        );
    }

    #[test]
    fn generation_is_optional_and_a_whole_number() {
        assert_eq!(generation(&params("")).unwrap(), None);
        assert_eq!(generation(&params("generation=")).unwrap(), None);
        assert_eq!(generation(&params("generation=17")).unwrap(), Some(17));
        for bad in ["-1", "1.5", "x", "99999999999999999999999"] {
            let e = generation(&params(&format!("generation={bad}"))).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{bad}");
            assert!(e.message.contains(bad), "{}", e.message);
        }
    }
}
