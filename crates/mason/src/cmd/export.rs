//! `mason export`: write a store's resources and dynamic pools as upstream Boskos'
//! Kubernetes objects — one `kind: List` of `ResourceObject`s (with `status`) and
//! `DRLCObject`s that `kubectl apply -f` takes — for moving back to upstream, or as a
//! backup `mason import` reads again to the same store.

use clap::{Args, ValueEnum};
use mason_store::ResourceFilter;
use mason_types::k8s;

use crate::cli::store_opts::StoreOpts;
use crate::exit;

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason export > boskos-objects.yaml                       # the SQLite file mason.db here
mason export --store postgres://mason@db/mason --format json --namespace test-pods
";

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    /// YAML, like `kubectl get -o yaml`.
    Yaml,
    /// JSON, like `kubectl get -o json`.
    Json,
}

/// Options of `export`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    store: StoreOpts,
    /// Output format.
    #[arg(long, value_enum, default_value = "yaml")]
    format: OutputFormat,
    /// Write this namespace into every object (default: none; `kubectl apply -n NS` decides).
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
}

/// Read the store and print its objects on stdout.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let store = opts.store.open_existing().await?;
    let resources = store.list(&ResourceFilter::default()).await?;
    let drlcs = store.drlcs().await?;
    let list = k8s::object_list(&resources, &drlcs, opts.namespace.as_deref());
    let format = match opts.format {
        OutputFormat::Yaml => k8s::Format::Yaml,
        OutputFormat::Json => k8s::Format::Json,
    };
    print!("{}", k8s::render(&list, format));
    tracing::info!(
        "exported {} and {} from {}",
        count(resources.len(), "resource"),
        count(drlcs.len(), "dynamic pool"),
        opts.store.store
    );
    Ok(exit::OK)
}

/// `1 resource`, `2 resources`.
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
