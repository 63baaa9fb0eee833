//! `mason release`: boskosctl's `release` — give a resource back by name, moving it to
//! `--target-state`. Needs no local state: it works from any process of the same owner.
//!
//! A *virtual* resource (see `leased`) goes back together with its physical resources,
//! which are released to the same state. Their names come from `--leased` when given
//! (any server); otherwise from the virtual resource's `leasedResources`, read through
//! `mason serve`'s `GET /api/v2/resources?owner=`. An upstream Boskos server has no such
//! route: then only `--name` is released, with a warning that its physical resources (if
//! any) must be named with `--leased` or stay held until a reaper takes them back.
//!
//! Every release is attempted; each success is confirmed on stdout, each failure shown on
//! stderr, and the exit code is the first failure's.

use clap::Args;
use mason_client::{BoskosApi, Error, HttpClient, ResourceQuery, VirtualError};
use mason_types::LEASED_RESOURCES;

use super::client_opts::{exit_code, fail, ClientOpts};
use super::leased;
use crate::exit::{self, Exit};

/// Options of `release`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    client: ClientOpts,
    /// Name of the resource.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// State to release it to (e.g. dirty); a virtual resource's physical resources go
    /// there too.
    #[arg(long, value_name = "STATE")]
    target_state: String,
    /// Physical resources of a virtual NAME to release with it (comma-separated; works on
    /// any server). Without it they are looked up on mason serve; `--leased ''` releases
    /// NAME alone without looking.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    leased: Option<Vec<String>>,
}

/// Release (with the physical resources of a virtual resource) and confirm on stdout.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let client = opts.client.client()?;
    let leased = match opts.leased {
        Some(names) => names.into_iter().filter(|n| !n.is_empty()).collect(),
        None => lookup(&client, &opts.name).await?,
    };
    let errors = match leased::virtual_client(&client)
        .release_names(&opts.name, &leased, &opts.target_state)
        .await
    {
        Ok(()) => Vec::new(),
        Err(VirtualError::Release(errors)) => errors,
        Err(e) => vec![(opts.name.clone(), Error::Local(e.to_string()))],
    };
    for name in std::iter::once(&opts.name).chain(&leased) {
        if !errors.iter().any(|(failed, _)| failed == name) {
            println!("released resource {name:?}");
        }
    }
    let Some((_, first)) = errors.first() else {
        return Ok(exit::OK);
    };
    for (name, err) in &errors {
        eprintln!("failed to release resource {name:?}: {err}");
    }
    Err(Exit::new(exit_code(first, false), "").into())
}

/// The names in `name`'s `leasedResources`, found among the caller's resources as
/// `mason serve` lists them. None when `name` is not held by the caller (its release
/// then fails with the server's reason) or is plain; none, with a warning, when the
/// server cannot list resources (upstream Boskos).
async fn lookup(client: &HttpClient, name: &str) -> Result<Vec<String>, Exit> {
    let owner = client.owner();
    let context = || format!("failed to release resource {name:?}");
    let held = match client.resources(&ResourceQuery::new().owner(owner)).await {
        Ok(Some(held)) => held,
        Ok(None) => {
            eprintln!(
                "mason release: warning: {} does not list resources (not mason serve?), so \
                 only {name:?} is released; if it is a virtual resource, release its physical \
                 resources with --leased, or they stay held until a reaper takes them back",
                client.base_url()
            );
            return Ok(Vec::new());
        }
        Err(e) => {
            let hint = format!(
                "cannot list the resources of {owner:?} to find its physical resources \
                 (name them with --leased, or --leased '' for none)"
            );
            return Err(Exit::new(
                exit_code(&e, false),
                format!("{}: {hint}: {e}", context()),
            ));
        }
    };
    let Some(resource) = held.into_iter().find(|r| r.name == name) else {
        return Ok(Vec::new());
    };
    resource.userdata.leased_resources().map_err(|e| {
        let err = Error::Local(format!(
            "unreadable {LEASED_RESOURCES} ({e}); name its physical resources with --leased"
        ));
        fail(context(), &err, false)
    })
}
