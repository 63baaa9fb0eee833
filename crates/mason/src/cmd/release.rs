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
//! stderr as what happened (a resource nobody holds, a name that does not exist) with the
//! server's text at the end, and the exit code is the first failure's. `--target-state`
//! defaults to `dirty`, as `mason run --release-to`.

use clap::Args;
use mason_client::{BoskosApi, Error, HttpClient, ResourceQuery, VirtualError};
use mason_types::LEASED_RESOURCES;

use crate::cli::client_opts::ClientOpts;
use crate::cli::leased;
use crate::cli::translate::{exit_code, explain, fail, Asked};
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason release --name gce-project-3                        # to dirty: a janitor cleans it
mason release --name sandbox-7f3a --target-state free     # with its physical resources
mason release --name vm-1 --leased p-1,p-2 --owner-name ci-42   # against an upstream server
";

/// Options of `release`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// Name of the resource.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// State to release it to; a virtual resource's physical resources go there too.
    #[arg(long, value_name = "STATE", default_value = "dirty")]
    target_state: String,
    /// Physical resources of a virtual NAME to release with it (comma-separated; works on
    /// any server). Without it they are looked up on mason serve; `--leased ''` releases
    /// NAME alone without looking.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    leased: Option<Vec<String>>,
    #[command(flatten)]
    client: ClientOpts,
}

/// Release (with the physical resources of a virtual resource) and confirm on stdout.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let client = opts.client.client("mason release")?;
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
        let asked = Asked::Named {
            name,
            owner: client.owner(),
            verb: "release",
        };
        crate::cli::console::error(&format!(
            "failed to release resource {name:?}: {}",
            explain(err, asked)
        ));
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
            crate::cli::console::warn(&format!(
                "mason release: warning: {} does not list resources (not mason serve?), so \
                 only {name:?} is released; if it is a virtual resource, release its physical \
                 resources with --leased, or they stay held until a reaper takes them back",
                client.base_url()
            ));
            return Ok(Vec::new());
        }
        Err(e) => {
            let hint = format!(
                "cannot list the resources of {owner:?} to find its physical resources \
                 (name them with --leased, or --leased '' for none)"
            );
            return Err(Exit::new(
                exit_code(&e, false),
                format!("{}: {hint}: {}", context(), explain(&e, Asked::Other)),
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
        fail(context(), &err, Asked::Other)
    })
}
