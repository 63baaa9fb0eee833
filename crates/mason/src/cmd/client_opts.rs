//! What every client subcommand shares: the connection flags (boskosctl's names), building
//! the [`HttpClient`], turning a client error into a documented exit code, and a
//! cancellation token fired by SIGINT/SIGTERM.

use std::time::Duration;

use clap::Args;
use mason_client::{Error, HttpClient, RetryPolicy};
use mason_types::{parse_go_duration, DurationError};
use tokio_util::sync::CancellationToken;

use crate::cmd::credential_opts::CredentialOpts;
use crate::exit::{self, Exit};

/// Exit code when a wait is interrupted by SIGINT/SIGTERM (the shell's 128 + SIGINT).
pub(crate) const INTERRUPTED: u8 = 130;

/// Connection flags of the client subcommands.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientOpts {
    /// URL of the Boskos-compatible server (a path prefix is kept); env MASON_SERVER_URL.
    #[arg(long, env = "MASON_SERVER_URL", value_name = "URL")]
    pub(crate) server_url: String,
    /// Who holds the leases [default: $USER@$HOSTNAME]; env MASON_OWNER.
    #[arg(long, env = "MASON_OWNER", value_name = "NAME", default_value_t = default_owner(), hide_default_value = true)]
    pub(crate) owner_name: String,
    #[command(flatten)]
    pub(crate) credentials: CredentialOpts,
    /// Limit for one HTTP request, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = go_duration)]
    pub(crate) request_timeout: Duration,
    /// Attempts per request when the server is unreachable or answers 5xx (1s, 4s, 9s
    /// apart); other answers are never retried.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) request_attempts: u32,
}

impl ClientOpts {
    /// Build the client; bad flags exit with the usage code.
    pub(crate) fn client(&self) -> Result<HttpClient, Exit> {
        self.builder()
            .build()
            .map_err(|e| Exit::new(exit::USAGE, format!("mason: {e}")))
    }

    /// The builder, for commands that tune more (poll interval).
    pub(crate) fn builder(&self) -> mason_client::HttpClientBuilder {
        self.credentials
            .apply(HttpClient::builder(&self.server_url, &self.owner_name))
            .request_timeout(self.request_timeout)
            .retry(RetryPolicy {
                attempts: self.request_attempts,
                ..RetryPolicy::default()
            })
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

/// The exit code for a client error. `acquiring`: whether "nothing free" means "no
/// resource" (acquire, run) rather than a plain failure (release of an unknown name...).
pub(crate) fn exit_code(err: &Error, acquiring: bool) -> u8 {
    match err {
        Error::Unreachable(_) => exit::UNREACHABLE,
        Error::BadRequest(_) => exit::USAGE,
        Error::NotFound(_) | Error::Timeout { .. } if acquiring => exit::NO_RESOURCE,
        Error::Cancelled => INTERRUPTED,
        _ => exit::FAILURE,
    }
}

/// `<context>: <err>` with the error's exit code.
pub(crate) fn fail(context: impl std::fmt::Display, err: &Error, acquiring: bool) -> Exit {
    Exit::new(exit_code(err, acquiring), format!("{context}: {err}"))
}

/// A token cancelled by the first SIGINT or SIGTERM (later ones are ignored: the command
/// is already winding down).
pub(crate) fn cancel_on_signal() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{signal, SignalKind};
    let token = CancellationToken::new();
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let fire = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        fire.cancel();
    });
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_tell_failures_apart() {
        let nf = Error::NotFound("x".into());
        assert_eq!(exit_code(&nf, true), exit::NO_RESOURCE);
        assert_eq!(exit_code(&nf, false), exit::FAILURE);
        let timeout = Error::Timeout {
            waited: Duration::from_secs(1),
            last: Box::new(nf),
        };
        assert_eq!(exit_code(&timeout, true), exit::NO_RESOURCE);
        assert_eq!(
            exit_code(&Error::Unreachable("x".into()), true),
            exit::UNREACHABLE
        );
        assert_eq!(
            exit_code(&Error::BadRequest("x".into()), false),
            exit::USAGE
        );
        assert_eq!(
            exit_code(&Error::TypeNotFound("x".into()), true),
            exit::FAILURE
        );
        assert_eq!(
            exit_code(&Error::OwnerMismatch("x".into()), false),
            exit::FAILURE
        );
        assert_eq!(exit_code(&Error::Cancelled, true), INTERRUPTED);
    }

    #[test]
    fn default_owner_is_user_at_host() {
        let owner = default_owner();
        let (user, host) = owner.split_once('@').unwrap();
        assert!(!user.is_empty() && !host.is_empty(), "{owner}");
    }
}
