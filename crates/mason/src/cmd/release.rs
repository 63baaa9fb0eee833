//! `mason release`: boskosctl's `release` — give a resource back by name, moving it to
//! `--target-state`. Needs no local state: it works from any process of the same owner.

use clap::Args;
use mason_client::BoskosApi;

use super::client_opts::{fail, ClientOpts};
use crate::exit;

/// Options of `release`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    client: ClientOpts,
    /// Name of the resource.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// State to release it to (e.g. dirty).
    #[arg(long, value_name = "STATE")]
    target_state: String,
}

/// Release and confirm on stdout.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let client = opts.client.client()?;
    match client.release(&opts.name, &opts.target_state).await {
        Ok(()) => {
            println!("released resource {:?}", opts.name);
            Ok(exit::OK)
        }
        Err(e) => Err(fail(
            format!("failed to release resource {:?}", opts.name),
            &e,
            false,
        )
        .into()),
    }
}
