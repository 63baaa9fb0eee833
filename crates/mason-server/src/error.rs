//! Errors. [`ApiError`] is what a handler answers when it fails: the status and text of
//! upstream's handlers (`<prefix>: <message>\n`, `text/plain; charset=utf-8`,
//! `X-Content-Type-Options: nosniff`). Client mistakes are logged at debug level; store
//! faults are logged here (at most once a second per kind, with a count: `log_limit`)
//! and answered with a generic text so no internals leak — except a failing storage
//! ([`StoreError::Storage`]), whose text is ours and names the cause (disk full, the
//! file replaced, a missed deadline) so an operator sees it in the answer.
//! [`Error`] is the crate's error for start-up and serving.

mod log_limit;

use std::path::PathBuf;
use std::time::Instant;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mason_store::Error as StoreError;

/// A failed request, rendered the way upstream's `http.Error` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body without its trailing newline.
    pub message: String,
}

impl ApiError {
    /// An error with this status and text.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 405 Method Not Allowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, message)
    }

    /// Answer a store error with its status ([`StoreError::status`], the one mapping),
    /// prefixing the text with `prefix: ` when one is given (the per-route prefixes of
    /// SPEC §3). Faults (5xx) are logged here, with their causes, and answered with a
    /// generic text.
    pub fn from_store(prefix: Option<&str>, err: StoreError) -> Self {
        let with_prefix = |text: String| match prefix {
            Some(p) => format!("{p}: {text}"),
            None => text,
        };
        let status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let error = &err as &dyn std::error::Error;
        let limit = log_limit::LogLimit::global();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            if let Some(similar) = limit.admit("store unavailable", Instant::now()) {
                tracing::warn!(
                    error,
                    similar_since_last_line = similar,
                    "store unavailable"
                );
            }
            let generic = "the store is temporarily unavailable, try again later";
            let text = match &err {
                StoreError::Storage(cause) => format!("{generic}: {cause}"),
                _ => generic.into(),
            };
            return Self::new(status, with_prefix(text));
        }
        if status.is_server_error() {
            if let Some(similar) = limit.admit("store failure", Instant::now()) {
                tracing::error!(error, similar_since_last_line = similar, "store failure");
            }
            return Self::new(
                status,
                with_prefix("internal server error (details in the server log)".into()),
            );
        }
        tracing::debug!(error, status = status.as_u16(), "request refused");
        Self::new(status, with_prefix(err.to_string()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, format!("{}\n", self.message)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Start-up and serving failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not a valid Boskos config.
    #[error("invalid config {origin}: {source}")]
    ConfigInvalid {
        /// The file name, or `(inline)`.
        origin: String,
        /// Every problem found.
        #[source]
        source: mason_types::config::ConfigError,
    },
    /// The store refused or failed the config sync.
    #[error("config sync failed: {0}")]
    Sync(#[source] StoreError),
    /// The TLS certificate or key cannot be used (the text names the file and why).
    #[error("{0}")]
    Tls(String),
    /// A listener or socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_store_errors_to_upstream_statuses() {
        let cases = [
            (StoreError::ResourceNotFound("t".into()), 404),
            (StoreError::ResourceTypeNotFound("t".into()), 404),
            (
                StoreError::OwnerNotMatch {
                    request: "a".into(),
                    owner: "b".into(),
                },
                401,
            ),
            (
                StoreError::StateNotMatch {
                    expect: "a".into(),
                    current: "b".into(),
                },
                409,
            ),
            (StoreError::InvalidArgument("x".into()), 400),
            (StoreError::Unavailable("locked".into()), 503),
            (StoreError::Storage("the disk is full".into()), 503),
            (StoreError::backend("disk full"), 500),
        ];
        for (err, status) in cases {
            assert_eq!(ApiError::from_store(Some("P"), err).status.as_u16(), status);
        }
    }

    #[test]
    fn prefixes_and_hides_internals() {
        let e = ApiError::from_store(
            Some("Acquire failed"),
            StoreError::ResourceTypeNotFound("x".into()),
        );
        assert_eq!(
            e.message,
            "Acquire failed: resource type \"x\" does not exist"
        );
        let e = ApiError::from_store(None, StoreError::ResourceNotFound("x".into()));
        assert_eq!(e.message, "no available resource x, try again later.");
        let e = ApiError::from_store(Some("P"), StoreError::backend("secret path /var/db"));
        assert!(!e.message.contains("secret"), "{}", e.message);
        let e = ApiError::from_store(
            Some("Acquire failed"),
            StoreError::Storage("the SQLite store /x/m.db was deleted".into()),
        );
        assert_eq!(
            e.message,
            "Acquire failed: the store is temporarily unavailable, try again later: the \
             SQLite store /x/m.db was deleted"
        );
    }
}
