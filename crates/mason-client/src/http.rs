//! The HTTP transport of [`HttpClient`]: one exchange with retries, in the wire shape the
//! upstream Go client uses (SPEC §5.2, and the upstream wire log).
//!
//! Every parameter travels in the query string; `POST`s without a body still send
//! `Content-Length: 0` (some proxies refuse a bodiless POST otherwise); only `/update`
//! carries `Content-Type: application/json`, with or without a body. Basic auth is added
//! when configured. The response body is always read to the end, so the connection is
//! reused (upstream opens a new one after every error it does not read).

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{header, Method, Url};

use crate::api::{Error, Result};
use crate::auth::Credentials;
use crate::builder::HttpClientBuilder;
use crate::fencing::Fences;
use crate::retry::{is_retryable_status, RetryNotice, RetryPolicy};
use crate::url::endpoint;

/// An async client for any Boskos-compatible server (`mason serve` or upstream Boskos),
/// acting on behalf of one owner. Cheap to clone: clones share one connection pool.
///
/// ```no_run
/// # async fn demo() -> mason_client::Result<()> {
/// use mason_client::{BoskosApi, HttpClient};
/// let client = HttpClient::builder("http://127.0.0.1:8080", "ci-job-42").build()?;
/// let res = client.acquire("gce-project", "free", "busy", None).await?;
/// client.release(&res.name, "dirty").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    pub(crate) inner: Arc<Inner>,
}

/// What every clone shares.
pub(crate) struct Inner {
    /// The reqwest client (connection pool, timeouts).
    pub(crate) http: reqwest::Client,
    /// Server base URL; its path is kept as a prefix of every route.
    pub(crate) base: Url,
    /// Who the calls are made for.
    pub(crate) owner: String,
    /// Credentials sent with every request, if any.
    pub(crate) auth: Option<Credentials>,
    /// Retries for transport errors and 5xx.
    pub(crate) retry: RetryPolicy,
    /// Pause between polls of the waiting acquires.
    pub(crate) poll_interval: Duration,
    /// Lease TTL asked for on every acquire (`lease_ttl=`), if any.
    pub(crate) lease_ttl: Option<Duration>,
    /// The generations granted to this client, sent back on update and release.
    pub(crate) fences: Fences,
    /// Told before each retry, so a front end can show progress.
    pub(crate) on_retry: Option<crate::retry::RetryHook>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("base", &self.inner.base.as_str())
            .field("owner", &self.inner.owner)
            .field("auth", &self.inner.auth.as_ref().map(Credentials::describe))
            .field("retry", &self.inner.retry)
            .finish()
    }
}

/// One request to make.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) action: &'a str,
    pub(crate) params: Vec<(&'a str, &'a str)>,
    /// Request body; `POST`s without one send an empty body.
    pub(crate) body: Option<Vec<u8>>,
    /// Whether to send `Content-Type: application/json` (only `/update` does).
    pub(crate) json: bool,
    /// A limit for this exchange instead of the client's request timeout (long polls).
    pub(crate) timeout: Option<Duration>,
}

impl<'a> Call<'a> {
    pub(crate) fn post(action: &'a str, params: Vec<(&'a str, &'a str)>) -> Self {
        Self {
            method: Method::POST,
            action,
            params,
            body: None,
            json: false,
            timeout: None,
        }
    }

    pub(crate) fn get(action: &'a str, params: Vec<(&'a str, &'a str)>) -> Self {
        Self {
            method: Method::GET,
            action,
            params,
            body: None,
            json: false,
            timeout: None,
        }
    }
}

/// A 200 answer: its body and headers.
pub(crate) struct Reply {
    pub(crate) body: String,
    pub(crate) headers: HeaderMap,
}

/// The outcome of one attempt.
enum Attempt {
    Done(Result<Reply>),
    Retry(Error),
}

impl HttpClient {
    /// Start building a client for the server at `url` acting as `owner`.
    pub fn builder(url: impl Into<String>, owner: impl Into<String>) -> HttpClientBuilder {
        HttpClientBuilder::new(url, owner)
    }

    /// The server base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The pause between polls of [`HttpClient::acquire_wait`].
    pub fn poll_interval(&self) -> Duration {
        self.inner.poll_interval
    }

    /// The lease TTL this client asks for on every acquire, if any.
    pub fn lease_ttl(&self) -> Option<Duration> {
        self.inner.lease_ttl
    }

    /// Run `call`: the body of a 200 answer, or the typed error. Transport errors and 5xx
    /// are retried per the [`RetryPolicy`]; other statuses are returned at once.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<String> {
        self.send_reply(call).await.map(|reply| reply.body)
    }

    /// Like [`HttpClient::send`], keeping the answer's headers.
    pub(crate) async fn send_reply(&self, call: Call<'_>) -> Result<Reply> {
        let url = endpoint(&self.inner.base, call.action, &call.params);
        let mut attempt = 1;
        loop {
            match self.attempt(&call, &url).await? {
                Attempt::Done(result) => return result,
                Attempt::Retry(err) if self.inner.retry.has_more(attempt) => {
                    let pause = self.inner.retry.delay_after(attempt);
                    tracing::debug!(%url, attempt, ?pause, error = %err, "retrying");
                    if let Some(hook) = &self.inner.on_retry {
                        (hook.0)(&RetryNotice {
                            base: &self.inner.base,
                            next_attempt: attempt + 1,
                            attempts: self.inner.retry.attempts,
                            pause,
                            error: &err,
                        });
                    }
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Attempt::Retry(Error::Unreachable(msg)) => {
                    return Err(Error::Unreachable(format!(
                        "{msg} (after {attempt} attempts)"
                    )))
                }
                Attempt::Retry(err) => return Err(err),
            }
        }
    }

    async fn attempt(&self, call: &Call<'_>, url: &Url) -> Result<Attempt> {
        let mut request = self.inner.http.request(call.method.clone(), url.clone());
        match &call.body {
            Some(body) if !body.is_empty() => request = request.body(body.clone()),
            // hyper leaves out the length of an empty body; say it, as Go's client does.
            _ if call.method == Method::POST => {
                request = request.header(header::CONTENT_LENGTH, "0")
            }
            _ => {}
        }
        if call.json {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(timeout) = call.timeout {
            request = request.timeout(timeout);
        }
        if let Some(auth) = &self.inner.auth {
            request = auth.apply(request)?;
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Ok(transport(call, url, &e)),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let unknown_path = headers.contains_key(mason_types::headers::UNKNOWN_PATH);
        let challenged = headers.contains_key(header::WWW_AUTHENTICATE);
        let body = match response.text().await {
            Ok(b) => b,
            Err(e) => return Ok(transport(call, url, &e)),
        };
        Ok(match status {
            200 if unknown_path => Attempt::Done(Err(Error::UnknownPath { url: redact(url) })),
            200 => Attempt::Done(Ok(Reply { body, headers })),
            s if is_retryable_status(s) => {
                Attempt::Retry(Error::from_challenged_status(s, body, challenged))
            }
            s => Attempt::Done(Err(Error::from_challenged_status(s, body, challenged))),
        })
    }
}

/// A transport failure: retried unless it is a local mistake (bad request building).
fn transport(call: &Call<'_>, url: &Url, err: &reqwest::Error) -> Attempt {
    let msg = format!("{} {}: {}", call.method, redact(url), cause(err));
    if err.is_builder() || err.is_redirect() {
        Attempt::Done(Err(Error::Local(msg)))
    } else {
        Attempt::Retry(Error::Unreachable(msg))
    }
}

/// The URL without its query (parameters can be long and are not secret, but noisy).
pub(crate) fn redact(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// Why a transport failed, short: the innermost cause (`Connection refused (os error
/// 111)`, `dns error: …`), or "timed out". reqwest's own text names the URL (with its
/// query) and wraps the cause in several generic layers; the URL is said once by the
/// caller.
fn cause(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_string();
    }
    let mut innermost: Option<&dyn std::error::Error> = None;
    let mut source = std::error::Error::source(err);
    while let Some(next) = source {
        innermost = Some(next);
        source = next.source();
    }
    match innermost {
        Some(cause) => cause.to_string(),
        None => {
            let text = err.to_string();
            match text.find(" for url (") {
                Some(at) => text[..at].to_string(),
                None => text,
            }
        }
    }
}
