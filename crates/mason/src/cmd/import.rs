//! `mason import FILE...`: move an upstream Boskos installation's state into a Mason
//! store. Reads what `kubectl get resources.boskos.k8s.io,dynamicresourcelifecycles.boskos.k8s.io
//! -o yaml` prints (or JSON, typed lists, single objects, several documents; `-` is
//! stdin), checks every object (any problem: every one is listed and nothing is written,
//! exit 2), compares the dynamic pools with `--config` when given, and writes every
//! resource — leases included — in one transaction. The store must be empty unless
//! `--merge` or `--replace` says otherwise; `--dry-run` shows what would be written.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use mason_store::{ImportMode, ImportReport, ImportRequest, StoreUrl};
use mason_types::k8s::{self, ObjectSet, Reader};
use mason_types::{BoskosConfig, Resource};

use super::export::count;
use crate::cli::store_opts::StoreOpts;
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
kubectl get resources.boskos.k8s.io,dynamicresourcelifecycles.boskos.k8s.io -o yaml > state.yaml
mason import --dry-run --config resources.yaml --with-drlcs state.yaml   # check, compare, count
mason import --store postgres://mason@db/mason --with-drlcs state.yaml
";

/// Options of `import`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    store: StoreOpts,
    /// Files of upstream objects, YAML or JSON (`-` reads stdin).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// The resource config the server will run with: every difference between its
    /// dynamic pools and the input's DRLCObjects is reported.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Also import the dynamic pool definitions (DRLCObjects); without it a server
    /// creates them from its config.
    #[arg(long)]
    with_drlcs: bool,
    /// Print what would be written, per type and state, and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Add to a store that is not empty: resources (and pools) missing from it are added,
    /// identical ones are left alone, a different one refuses the whole import.
    #[arg(long, conflicts_with = "replace")]
    merge: bool,
    /// Replace everything the store holds (resources and dynamic pools) with the input.
    #[arg(long)]
    replace: bool,
}

/// Read, check, compare, write.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let set = read_inputs(&opts.files)?;
    if let Some(path) = &opts.config {
        let config = load_config(path)?;
        for difference in k8s::compare_pools(&set.drlcs, &config) {
            eprintln!("mason import: note: {difference}");
        }
    }
    let mode = if opts.replace {
        ImportMode::Replace
    } else if opts.merge {
        ImportMode::Merge
    } else {
        ImportMode::Empty
    };
    let request = ImportRequest {
        resources: set.resources.clone(),
        drlcs: if opts.with_drlcs {
            set.drlcs.clone()
        } else {
            Vec::new()
        },
        mode,
        dry_run: opts.dry_run,
    };
    let report = if opts.dry_run && !store_exists(&opts.store.store) {
        // Nothing to compare with, and a dry run creates no file.
        mason_store::rules::plan_import(&[], &[], &request)
            .map(|plan| plan.report)
            .map_err(refused)?
    } else {
        let store = opts.store.open().await?;
        store.import(&request).await.map_err(refused)?
    };
    print!("{}", summary(&opts, &set, &report));
    Ok(exit::OK)
}

/// A refused import: nothing was written.
fn refused(e: mason_store::Error) -> anyhow::Error {
    let code = match e {
        mason_store::Error::InvalidArgument(_) => exit::USAGE,
        _ => exit::FAILURE,
    };
    Exit::new(code, format!("mason import: nothing was imported: {e}")).into()
}

fn store_exists(url: &StoreUrl) -> bool {
    match url {
        StoreUrl::Sqlite {
            path: Some(path), ..
        } => path.exists(),
        _ => true,
    }
}

/// Every input, read and checked as one set.
fn read_inputs(files: &[PathBuf]) -> anyhow::Result<ObjectSet> {
    let stdin = PathBuf::from("-");
    if files.iter().filter(|f| **f == stdin).count() > 1 {
        return Err(Exit::new(exit::USAGE, "mason import: `-` (stdin) given twice").into());
    }
    let mut reader = Reader::new();
    for file in files {
        let (source, text) = if *file == stdin {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read stdin")?;
            ("<stdin>".to_string(), text)
        } else {
            let text = std::fs::read_to_string(file).map_err(|e| {
                Exit::new(
                    exit::USAGE,
                    format!("mason import: cannot read {}: {e}", file.display()),
                )
            })?;
            (file.display().to_string(), text)
        };
        reader.read(&source, &text);
    }
    reader.finish().map_err(|e| {
        Exit::new(
            exit::USAGE,
            format!("mason import: nothing was imported: {e}"),
        )
        .into()
    })
}

fn load_config(path: &PathBuf) -> anyhow::Result<BoskosConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Exit::new(
            exit::USAGE,
            format!("mason import: cannot read {}: {e}", path.display()),
        )
    })?;
    BoskosConfig::parse_and_validate(&text).map_err(|e| {
        Exit::new(
            exit::USAGE,
            format!("mason import: {}: invalid config: {e}", path.display()),
        )
        .into()
    })
}

/// What was (or would be) written, per type and state, then pools and the rest.
fn summary(opts: &Opts, set: &ObjectSet, report: &ImportReport) -> String {
    let added: std::collections::HashSet<&str> = report.added.iter().map(String::as_str).collect();
    let written: Vec<&Resource> = set
        .resources
        .iter()
        .filter(|r| added.contains(r.name.as_str()))
        .collect();
    let counts = k8s::count_by_type_and_state(written.iter().copied());
    let mut out = String::new();
    let verb = if opts.dry_run { "would write" } else { "wrote" };
    out.push_str(&format!(
        "{verb} {} into {}{}\n",
        count(written.len(), "resource"),
        opts.store.store,
        if opts.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    ));
    if !counts.is_empty() {
        let type_w = counts
            .keys()
            .map(|(t, _)| t.len())
            .max()
            .unwrap_or(0)
            .max(4);
        let state_w = counts
            .keys()
            .map(|(_, s)| s.len())
            .max()
            .unwrap_or(0)
            .max(5);
        out.push_str(&format!(
            "  {:type_w$}  {:state_w$}  {:>9}  {:>6}\n",
            "TYPE", "STATE", "RESOURCES", "LEASED"
        ));
        for ((rtype, state), c) in &counts {
            out.push_str(&format!(
                "  {rtype:type_w$}  {state:state_w$}  {:>9}  {:>6}\n",
                c.total, c.owned
            ));
        }
    }
    if !report.unchanged.is_empty() {
        out.push_str(&format!(
            "{} already in the store, identical: left alone\n",
            count(report.unchanged.len(), "resource")
        ));
    }
    if !report.removed.is_empty() || !report.drlcs_removed.is_empty() {
        out.push_str(&format!(
            "replaced: {} and {} removed first\n",
            count(report.removed.len(), "resource"),
            count(report.drlcs_removed.len(), "dynamic pool")
        ));
    }
    if opts.with_drlcs {
        if !report.drlcs_added.is_empty() {
            out.push_str(&format!(
                "{verb} dynamic pools: {}\n",
                report.drlcs_added.join(", ")
            ));
        }
        if !report.drlcs_unchanged.is_empty() {
            out.push_str(&format!(
                "dynamic pools already in the store, identical: {}\n",
                report.drlcs_unchanged.join(", ")
            ));
        }
    } else if !set.drlcs.is_empty() {
        let names: Vec<&str> = set.drlcs.iter().map(|d| d.rtype.as_str()).collect();
        out.push_str(&format!(
            "dynamic pools not imported (no --with-drlcs; a server creates pools from its config): {}\n",
            names.join(", ")
        ));
    }
    out
}
