//! Building an [`HttpClient`]: server URL, owner, credentials (Basic or a token), the CA
//! bundle trusted for `https://` servers, timeouts, retries.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{Error, Result};
use crate::auth::Credentials;
use crate::http::{HttpClient, Inner};
use crate::retry::{RetryHook, RetryNotice, RetryPolicy};
use crate::url::parse_base;

/// Upstream's wait between two acquire polls.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(3);
/// Default limit for one HTTP exchange (upstream has none; a hung proxy should not hang us).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default limit for opening a connection (upstream's dialer: 30 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of an [`HttpClient`]; see [`HttpClient::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpClientBuilder {
    url: String,
    owner: String,
    username: Option<String>,
    password_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    request_timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    poll_interval: Duration,
    lease_ttl: Option<Duration>,
    on_retry: Option<RetryHook>,
}

impl HttpClientBuilder {
    pub(crate) fn new(url: impl Into<String>, owner: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            owner: owner.into(),
            username: None,
            password_file: None,
            token_file: None,
            ca_file: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            lease_ttl: None,
            on_retry: None,
        }
    }

    /// Basic auth with `username` and the password in `password_file`.
    pub fn basic_auth(
        self,
        username: impl Into<String>,
        password_file: impl Into<PathBuf>,
    ) -> Self {
        self.credentials(Some(username.into()), Some(password_file.into()))
    }

    /// Basic auth from optional parts, as command-line flags give them: both or neither
    /// must be set, else [`HttpClientBuilder::build`] fails with upstream's
    /// `username and passwordFile must be specified together`.
    pub fn credentials(mut self, username: Option<String>, password_file: Option<PathBuf>) -> Self {
        self.username = username;
        self.password_file = password_file;
        self
    }

    /// Send `Authorization: Bearer <token>` with the token in `token_file` (whitespace
    /// trimmed, re-read when it changes). Excludes Basic credentials.
    pub fn token_file(mut self, token_file: impl Into<PathBuf>) -> Self {
        self.token_file = Some(token_file.into());
        self
    }

    /// Trust the CA certificates of the PEM bundle `ca_file` for `https://` servers, in
    /// addition to the public roots (for a server with a private CA or a self-signed
    /// certificate).
    pub fn ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self
    }

    /// Limit for one HTTP exchange, connection included (default 60 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Limit for opening a TCP (and TLS) connection (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Attempts and back-off for transport errors and 5xx answers (default: 4 attempts,
    /// 1 s/4 s/9 s apart, like upstream).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Pause between two polls of the waiting acquires (default 3 s, like upstream).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Ask for this lease TTL on every acquire (`lease_ttl=` on `/acquire` and
    /// `/acquirebystate`, `lease_ttl` in `/api/v2/acquire`): a `mason serve` ends a lease
    /// that is not renewed for this long (at most its `--max-lease-ttl`). An upstream
    /// Boskos ignores it.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = Some(ttl);
        self
    }

    /// Call `hook` before each retry of a request (server unreachable or 5xx), e.g. to
    /// show "server not reachable at URL, retrying 2/4 in 4s". Retries are otherwise
    /// silent until the last attempt fails.
    pub fn on_retry(mut self, hook: impl Fn(&RetryNotice<'_>) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(RetryHook(Arc::new(hook)));
        self
    }

    /// Check everything and build the client.
    pub fn build(self) -> Result<HttpClient> {
        let base = parse_base(&self.url)?;
        if self.owner.trim().is_empty() {
            return Err(Error::Local("owner must not be empty".to_string()));
        }
        if self.poll_interval.is_zero() {
            return Err(Error::Local("poll interval must be positive".to_string()));
        }
        if self.lease_ttl.is_some_and(|t| t.is_zero()) {
            return Err(Error::Local("lease TTL must be positive".to_string()));
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Local("timeouts must be positive".to_string()));
        }
        let auth = Credentials::from_parts(self.username, self.password_file, self.token_file)?;
        if auth.is_some() && base.scheme() != "https" && !is_loopback(&base) {
            tracing::warn!(
                url = %base,
                "sending credentials over plain http; use an https server URL"
            );
        }
        let mut http = reqwest::Client::builder()
            .user_agent(concat!("mason-client/", env!("CARGO_PKG_VERSION")))
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout);
        if let Some(path) = &self.ca_file {
            for certificate in read_ca_file(path)? {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http
            .build()
            .map_err(|e| Error::Local(format!("cannot set up the HTTP client: {e}")))?;
        Ok(HttpClient {
            inner: Arc::new(Inner {
                http,
                base,
                owner: self.owner,
                auth,
                retry: self.retry,
                poll_interval: self.poll_interval,
                lease_ttl: self.lease_ttl,
                fences: Default::default(),
                on_retry: self.on_retry,
            }),
        })
    }
}

/// Whether the server is on this machine (credentials in clear text stay local).
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// The certificates of a PEM bundle; an unreadable file or one without a certificate is
/// an error.
fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Local(format!("cannot read CA file {}: {e}", path.display())))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&bytes)
        .map_err(|e| Error::Local(format!("invalid CA file {}: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(Error::Local(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_settings_with_clear_messages() {
        let err = |b: HttpClientBuilder| b.build().unwrap_err().to_string();
        let ok = || HttpClient::builder("http://127.0.0.1:1", "me");
        assert_eq!(
            err(HttpClient::builder("http://h", " ")),
            "owner must not be empty"
        );
        assert!(err(HttpClient::builder("h:1", "me")).starts_with("invalid server URL"));
        assert_eq!(
            err(ok().credentials(Some("alice".into()), None)),
            crate::auth::CREDENTIALS_TOGETHER
        );
        assert_eq!(
            err(ok().poll_interval(Duration::ZERO)),
            "poll interval must be positive"
        );
        assert_eq!(
            err(ok().lease_ttl(Duration::ZERO)),
            "lease TTL must be positive"
        );
        assert_eq!(
            err(ok().request_timeout(Duration::ZERO)),
            "timeouts must be positive"
        );
        let client = ok().build().unwrap();
        assert_eq!(client.base_url().as_str(), "http://127.0.0.1:1/");
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        assert!(err(ok().ca_file(&missing)).starts_with("cannot read CA file"));
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        assert!(err(ok().ca_file(&junk)).ends_with("holds no PEM certificate"));
        assert!(err(ok().token_file(&missing)).starts_with("cannot read token file"));
    }
}
