//! The transport flags of `mason serve` and `mason up`: HTTPS (`--tls-cert`/`--tls-key`),
//! the connection cap (`--max-connections`), and the header and idle timeouts (hidden:
//! the defaults suit every deployment, tests shorten them). Also raising the open-file
//! limit at start, which decides the default cap.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use mason_server::tls::{TlsFiles, TlsSource};
use mason_server::transport::limits::raise_fd_limit;
use mason_server::transport::{TransportOptions, DEFAULT_MAX_HEADER_BYTES};

use crate::cli::client_opts::go_duration;
use crate::exit::{self, Exit};

/// Transport flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct TransportOpts {
    /// Serve the API over HTTPS with this PEM certificate chain (leaf first); re-read
    /// when it changes. Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert; re-read when it changes.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Most client connections at once; more are answered 503 at once [default: the
    /// open-file limit minus a reserve].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// A request head must arrive within this time (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = go_duration, hide = true)]
    header_timeout: Duration,
    /// A keep-alive connection without a request this long is closed (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "75s", value_parser = go_duration, hide = true)]
    idle_timeout: Duration,
}

impl TransportOpts {
    /// Raise the open-file limit (logged), check the flags, and read the TLS pair (an
    /// unreadable or mismatched pair is a usage error naming the reason).
    pub(crate) fn prepare(
        &self,
        command: &str,
    ) -> anyhow::Result<(TransportOptions, Option<TlsSource>)> {
        let usage = |what: String| Exit::new(exit::USAGE, format!("mason {command}: {what}"));
        if self.header_timeout.is_zero() || self.idle_timeout.is_zero() {
            return Err(usage("timeouts must be more than 0".into()).into());
        }
        let limit = raise_fd_limit();
        let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
        tracing::info!(
            soft_before = %show(limit.soft_before),
            soft = %show(limit.soft),
            hard = %show(limit.hard),
            "open-file limit"
        );
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(
                TlsSource::load(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                })
                .map_err(|e| usage(e.to_string()))?,
            ),
            _ => None,
        };
        let options = TransportOptions {
            header_read_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections: self.max_connections.map(|n| n as usize),
        };
        Ok((options, tls))
    }

    /// `https` with TLS, else `http`.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        opts: TransportOpts,
    }

    #[test]
    fn defaults_and_pairs() {
        let w = Wrapper::try_parse_from(["x"]).unwrap();
        assert_eq!(w.opts.header_timeout, Duration::from_secs(10));
        assert_eq!(w.opts.idle_timeout, Duration::from_secs(75));
        assert_eq!(w.opts.max_connections, None);
        assert_eq!(w.opts.scheme(), "http");
        let defaults = TransportOptions::default();
        assert_eq!(defaults.header_read_timeout, w.opts.header_timeout);
        assert_eq!(defaults.idle_timeout, w.opts.idle_timeout);
        assert!(Wrapper::try_parse_from(["x", "--tls-cert", "c.pem"]).is_err());
        assert!(Wrapper::try_parse_from(["x", "--tls-key", "k.pem"]).is_err());
        assert!(Wrapper::try_parse_from(["x", "--max-connections", "0"]).is_err());
        let w = Wrapper::try_parse_from(["x", "--tls-cert", "c", "--tls-key", "k"]).unwrap();
        assert_eq!(w.opts.scheme(), "https");
    }

    #[test]
    fn a_missing_pair_is_a_usage_error_naming_the_file() {
        let w = Wrapper::try_parse_from([
            "x",
            "--tls-cert",
            "/nonexistent/c.pem",
            "--tls-key",
            "/nonexistent/k.pem",
        ])
        .unwrap();
        let err = w.opts.prepare("serve").unwrap_err();
        let exit = err.downcast_ref::<Exit>().expect("an Exit");
        assert_eq!(exit.code, exit::USAGE);
        assert!(
            exit.message.contains("/nonexistent/c.pem"),
            "{}",
            exit.message
        );
    }
}
