//! What every client subcommand shares: the connection flags (boskosctl's names),
//! building the [`HttpClient`] (with retry progress on stderr), and the server URL
//! check.

use std::time::Duration;

use clap::Args;
use mason_client::{HttpClient, RetryNotice, RetryPolicy};
use mason_types::{parse_go_duration, DurationError};

use crate::cli::console;
use crate::cli::credential_opts::CredentialOpts;
use crate::exit::{self, Exit};

/// Connection flags of the client subcommands.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection")]
pub(crate) struct ClientOpts {
    /// URL of the Boskos-compatible server, e.g. http://127.0.0.1:8080 (http:// is
    /// assumed without a scheme; a path prefix is kept).
    #[arg(long, env = "MASON_SERVER_URL", value_name = "URL", value_parser = server_url)]
    server_url: Option<String>,
    /// Who holds the leases [default: $USER@$HOSTNAME].
    #[arg(long, env = "MASON_OWNER", value_name = "NAME", default_value_t = default_owner(), hide_default_value = true)]
    pub(crate) owner_name: String,
    #[command(flatten)]
    pub(crate) credentials: CredentialOpts,
    /// Limit for one HTTP request, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = go_duration)]
    pub(crate) request_timeout: Duration,
    /// Attempts per request when the server is unreachable or answers 5xx (1s, 4s, 9s
    /// apart, each announced on stderr); other answers are never retried.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) request_attempts: u32,
}

impl ClientOpts {
    /// The server URL; a usage error naming both ways to give it when neither was used.
    pub(crate) fn server_url(&self) -> Result<&str, Exit> {
        self.server_url.as_deref().ok_or_else(missing_server_url)
    }

    /// Build the client for `command` (`mason release`); bad flags exit with the usage
    /// code.
    pub(crate) fn client(&self, command: &'static str) -> Result<HttpClient, Exit> {
        self.builder(command)?
            .build()
            .map_err(|e| Exit::new(exit::USAGE, format!("{command}: {e}")))
    }

    /// The builder, for commands that tune more (poll interval). Each retry is announced
    /// on stderr as `<command>: server not reachable at URL, retrying 2/4 in 1s …`.
    pub(crate) fn builder(
        &self,
        command: &'static str,
    ) -> Result<mason_client::HttpClientBuilder, Exit> {
        Ok(self
            .credentials
            .apply(HttpClient::builder(self.server_url()?, &self.owner_name))
            .request_timeout(self.request_timeout)
            .retry(RetryPolicy {
                attempts: self.request_attempts,
                ..RetryPolicy::default()
            })
            .on_retry(move |notice| console::warn(&retry_line(command, notice))))
    }
}

/// The usage error when no server URL was given.
pub(crate) fn missing_server_url() -> Exit {
    Exit::new(
        exit::USAGE,
        "mason: no server given: pass --server-url URL or set MASON_SERVER_URL \
         (e.g. http://127.0.0.1:8080)",
    )
}

/// `mason acquire: server not reachable at http://h:1/ (Connection refused), retrying 2/4
/// in 1s …`.
fn retry_line(command: &str, notice: &RetryNotice<'_>) -> String {
    let why = match notice.error {
        mason_client::Error::Unreachable(_) => format!(
            "server not reachable at {} ({})",
            notice.base,
            notice.error.transport_cause().unwrap_or("no answer")
        ),
        other => format!("server at {} failed: {other}", notice.base),
    };
    format!(
        "{command}: {why}, retrying {}/{} in {} …",
        notice.next_attempt,
        notice.attempts,
        mason_types::format_go_duration(notice.pause)
    )
}

/// clap value parser for `--server-url`: `http(s)://…` as given; without a scheme,
/// `http://` is assumed (`127.0.0.1:8080`, `localhost:8080`); any other scheme is an
/// error that says what is expected.
pub(crate) fn server_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty URL; expected http://HOST:PORT".to_string());
    }
    match text.split_once("://") {
        Some(("http" | "https", _)) => Ok(text.to_string()),
        Some((scheme, _)) => Err(format!(
            "the scheme must be http or https, not {scheme:?} (e.g. http://127.0.0.1:8080)"
        )),
        None => Ok(format!("http://{text}")),
    }
}

/// `$USER@$HOSTNAME`, with fallbacks when either is unset.
pub(crate) fn default_owner() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "mason".to_string());
    format!("{user}@{}", hostname())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// clap value parser for Go durations (`30s`, `1h30m`, `0`).
pub(crate) fn go_duration(text: &str) -> Result<Duration, DurationError> {
    parse_go_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_without_a_scheme_get_http() {
        assert_eq!(
            server_url("127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            server_url(" localhost:8080/boskos ").unwrap(),
            "http://localhost:8080/boskos"
        );
        assert_eq!(
            server_url("https://b.example").unwrap(),
            "https://b.example"
        );
        let err = server_url("ftp://b.example").unwrap_err();
        assert!(
            err.contains("http or https") && err.contains("\"ftp\""),
            "{err}"
        );
        assert!(server_url("").is_err());
    }

    #[test]
    fn the_missing_url_error_names_the_variable() {
        let err = missing_server_url();
        assert_eq!(err.code, exit::USAGE);
        assert!(err.message.contains("--server-url") && err.message.contains("MASON_SERVER_URL"));
    }

    #[test]
    fn default_owner_is_user_at_host() {
        let owner = default_owner();
        let (user, host) = owner.split_once('@').unwrap();
        assert!(!user.is_empty() && !host.is_empty(), "{owner}");
    }
}
