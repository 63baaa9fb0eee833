//! `mason metrics`: boskosctl's `metrics` — print the `/metric` JSON of one type
//! (`{"type":…,"current":{state:count},"owner":{owner:count}}`).

use clap::Args;
use mason_client::BoskosApi;

use super::client_opts::{fail, ClientOpts};
use crate::exit;

/// Options of `metrics`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    client: ClientOpts,
    /// Resource type.
    #[arg(long = "type", value_name = "TYPE")]
    rtype: String,
}

/// Fetch and print the metric JSON.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let client = opts.client.client()?;
    let context = || format!("failed to get metrics for resource {:?}", opts.rtype);
    let metric = client
        .metric(&opts.rtype)
        .await
        .map_err(|e| fail(context(), &e, false))?;
    println!("{}", serde_json::to_string(&metric)?);
    Ok(exit::OK)
}
