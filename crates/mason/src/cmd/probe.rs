//! `mason probe [URL]`: one `GET` that succeeds on a 2xx answer — the health check of
//! the container image, whose small runtime base has no curl or wget. Exits 0 when the
//! server answers 2xx within `--timeout`, 1 otherwise (with the reason on stderr).

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use http_body_util::Empty;
use hyper::header::HOST;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use mason_types::{parse_go_duration, DurationError};
use tokio::net::TcpStream;

use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason probe                                       # GET http://127.0.0.1:8080/healthz
mason probe http://127.0.0.1:8080/healthz/ready --timeout 1s
";

/// Options of `probe`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// What to GET (plain http://).
    #[arg(value_name = "URL", default_value = "http://127.0.0.1:8080/healthz")]
    url: String,
    /// Limit for connecting and answering, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = go_duration)]
    timeout: Duration,
}

/// GET the URL once.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let uri: Uri = opts.url.parse().map_err(|e| {
        Exit::new(
            exit::USAGE,
            format!("mason probe: bad URL {:?}: {e}", opts.url),
        )
    })?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(Exit::new(
            exit::USAGE,
            format!(
                "mason probe: bad URL {:?}: expected http://HOST:PORT/PATH",
                opts.url
            ),
        )
        .into());
    }
    match tokio::time::timeout(opts.timeout, get(&uri)).await {
        Ok(Ok(())) => Ok(exit::OK),
        Ok(Err(e)) => {
            Err(Exit::new(exit::FAILURE, format!("mason probe: {}: {e:#}", opts.url)).into())
        }
        Err(_) => Err(Exit::new(
            exit::FAILURE,
            format!(
                "mason probe: {}: no answer within {:?}",
                opts.url, opts.timeout
            ),
        )
        .into()),
    }
}

async fn get(uri: &Uri) -> anyhow::Result<()> {
    let authority = uri.authority().context("no host")?;
    let address = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let stream = TcpStream::connect(&address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake")?;
    tokio::spawn(async move {
        // Ends with the connection; a failure shows up as the request's error.
        let _ = connection.await;
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::get(path)
        .header(HOST, authority.as_str())
        .body(Empty::<Bytes>::new())
        .context("build request")?;
    let response = sender.send_request(request).await.context("request")?;
    if !response.status().is_success() {
        bail!("answered {}", response.status());
    }
    Ok(())
}

/// clap value parser for Go durations.
fn go_duration(text: &str) -> Result<Duration, DurationError> {
    parse_go_duration(text)
}
