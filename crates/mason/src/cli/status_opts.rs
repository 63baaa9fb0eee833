//! `--status-port` / `--status-address` of the standalone controllers (`builder`,
//! `reaper`, `cleaner`, `janitor`): a small listener serving the controller's loop status
//! at `GET /api/v2/status` (the JSON `mason serve` and `mason up` serve on their API
//! port). Off unless a port is given, so several controllers on one host never collide;
//! it binds 127.0.0.1 unless told otherwise, as the status is for the operator's tools
//! on the host (or a sidecar), not for the world. Port 0 picks a free port; the URL is
//! printed on stdout.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use clap::Args;
use mason_server::{status_router, StatusBoard};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cli::startup;

/// The status listener flags of a controller.
#[derive(Debug, Clone, Args)]
pub(crate) struct StatusOpts {
    /// Serve this controller's loop status as JSON at GET /api/v2/status on this port
    /// (0 picks a free one; the URL is printed) [default: no status listener].
    #[arg(long, value_name = "PORT")]
    pub(crate) status_port: Option<u16>,
    /// Address the status listener binds to.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub(crate) status_address: IpAddr,
}

impl StatusOpts {
    /// A status board for `process`, served until `token` is cancelled when a port was
    /// given. Binding failures are errors (the operator asked for the listener).
    pub(crate) async fn serve(
        &self,
        process: &str,
        tracker: &TaskTracker,
        token: &CancellationToken,
    ) -> anyhow::Result<StatusBoard> {
        let board = StatusBoard::new(process);
        let Some(port) = self.status_port else {
            return Ok(board);
        };
        let addr = SocketAddr::new(self.status_address, port);
        let listener =
            startup::listen(addr).with_context(|| format!("cannot listen on {addr} (status)"))?;
        let local = listener.local_addr().context("status listener address")?;
        println!("mason {process}: status on http://{local}/api/v2/status");
        tracing::info!("status listening on http://{local}");
        let (app, child) = (status_router(board.clone()), token.child_token());
        tracker.spawn(async move {
            if let Err(e) = mason_server::serve(listener, app, child).await {
                tracing::error!(error = %e, "status listener failed");
            }
        });
        Ok(board)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        opts: StatusOpts,
    }

    #[test]
    fn off_by_default_and_loopback_when_on() {
        let w = Wrapper::try_parse_from(["x"]).unwrap();
        assert_eq!(w.opts.status_port, None);
        let w = Wrapper::try_parse_from(["x", "--status-port=9090"]).unwrap();
        assert_eq!(w.opts.status_port, Some(9090));
        assert_eq!(w.opts.status_address.to_string(), "127.0.0.1");
        assert!(Wrapper::try_parse_from(["x", "--status-port=http"]).is_err());
    }
}
