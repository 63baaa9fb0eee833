//! `mason metrics`: boskosctl's `metrics` — print the `/metric` JSON of one type
//! (`{"type":…,"current":{state:count},"owner":{owner:count}}`).

use clap::Args;
use mason_client::BoskosApi;

use crate::cli::client_opts::ClientOpts;
use crate::cli::translate::{fail, Asked};
use crate::exit;

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason metrics --type sandbox       # {\"type\":\"sandbox\",\"current\":{\"free\":2},\"owner\":{\"\":2}}
mason metrics --type gce-project --server-url http://boskos:8080
";

/// Options of `metrics`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// Resource type.
    #[arg(long = "type", value_name = "TYPE")]
    rtype: String,
    #[command(flatten)]
    client: ClientOpts,
}

/// Fetch and print the metric JSON.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let client = opts.client.client("mason metrics")?;
    let context = || format!("failed to get metrics for resource {:?}", opts.rtype);
    let metric = client
        .metric(&opts.rtype)
        .await
        .map_err(|e| fail(context(), &e, Asked::Metric { rtype: &opts.rtype }))?;
    println!("{}", serde_json::to_string(&metric)?);
    Ok(exit::OK)
}
