//! Test-only: the deployment files under `deploy/` (Kubernetes manifests, the Dockerfile,
//! the systemd unit) start `mason` with command lines and environment variables that
//! nothing else checks, so they rot silently when a flag is renamed. This module reads
//! every one of them and runs this binary's own argument parser on each command line,
//! with each environment variable turned into the flag that reads it: an unknown flag, a
//! bad value, a variable no flag reads, or a variable shadowed by a flag on the same
//! command line fails the test. The children check what their format adds (mounted
//! config files, probes, ports, volumes, users).
//!
//! Layout:
//! - `kubernetes`: every manifest, the kustomizations, the Service and the pod specs.
//! - `dockerfile`: `ENTRYPOINT`/`CMD`, `HEALTHCHECK`, `ENV`, `USER`, `VOLUME`.
//! - `systemd`: `ExecStart`, `Environment`, the example environment file.

mod dockerfile;
mod kubernetes;
mod systemd;

use std::path::PathBuf;

use clap::{ArgMatches, Command, CommandFactory};

/// `deploy/` at the repository root.
fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// The value of an environment variable a deployment file sets.
#[derive(Debug, Clone)]
enum EnvValue {
    /// A literal (or resolved) value.
    Known(String),
    /// Filled in at run time (e.g. from the pod's metadata): only its name is checked.
    Runtime,
}

/// One way a deployment file starts `mason`.
#[derive(Debug, Clone)]
struct Invocation {
    /// Which file and which part of it, for messages.
    origin: String,
    /// The arguments after the program name.
    args: Vec<String>,
    /// Environment variables set for it, in order (a later one overrides).
    env: Vec<(String, EnvValue)>,
}

/// A parsed invocation: the subcommand names and the matches of the innermost one.
struct Parsed {
    /// e.g. `["serve"]`.
    subcommands: Vec<String>,
    /// Matches of the innermost subcommand.
    matches: ArgMatches,
}

impl Parsed {
    /// A flag's value as the innermost subcommand parsed it (`None` when the subcommand
    /// has no such flag or it is unset).
    fn value<T: Clone + Send + Sync + 'static>(&self, id: &str) -> Option<T> {
        self.matches.try_get_one::<T>(id).ok().flatten().cloned()
    }
}

/// The CLI with every `env = …` removed, so the test process's own environment cannot
/// change what is parsed.
fn cli_without_env() -> Command {
    fn strip(cmd: Command) -> Command {
        cmd.mut_args(|a| a.env(None)).mut_subcommands(strip)
    }
    strip(crate::Cli::command())
}

/// Every argument that reads an environment variable: (subcommand path, variable, long
/// flag). Global flags have an empty path.
fn env_table() -> Vec<(Vec<String>, String, String)> {
    fn walk(cmd: &Command, path: &[String], out: &mut Vec<(Vec<String>, String, String)>) {
        for arg in cmd.get_arguments() {
            if let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) {
                out.push((
                    path.to_vec(),
                    env.to_string_lossy().into_owned(),
                    long.to_string(),
                ));
            }
        }
        for sub in cmd.get_subcommands() {
            let mut p = path.to_vec();
            p.push(sub.get_name().to_string());
            walk(sub, &p, out);
        }
    }
    let mut out = Vec::new();
    walk(&crate::Cli::command(), &[], &mut out);
    out
}

fn parse(args: &[String]) -> Result<Parsed, String> {
    let argv = std::iter::once("mason".to_string()).chain(args.iter().cloned());
    let mut matches = cli_without_env()
        .try_get_matches_from(argv)
        .map_err(|e| e.render().to_string())?;
    let mut subcommands = Vec::new();
    while let Some((name, sub)) = matches.subcommand() {
        subcommands.push(name.to_string());
        let sub = sub.clone();
        matches = sub;
    }
    Ok(Parsed {
        subcommands,
        matches,
    })
}

/// Run the parser on `inv`; every environment variable must be read by a flag of the
/// chosen subcommand (or a global one) that the command line does not also set. Returns
/// the parse with the variables applied.
fn check(inv: &Invocation) -> Result<Parsed, String> {
    let fail = |why: String| format!("{}: `mason {}`: {why}", inv.origin, inv.args.join(" "));
    let bare = parse(&inv.args).map_err(fail)?;
    let table = env_table();
    let mut args = inv.args.clone();
    let mut last: Vec<(String, EnvValue)> = Vec::new();
    for (name, value) in &inv.env {
        last.retain(|(n, _)| n != name);
        last.push((name.clone(), value.clone()));
    }
    for (name, value) in &last {
        let Some((_, _, long)) = table
            .iter()
            .find(|(path, env, _)| env == name && bare.subcommands.starts_with(path))
        else {
            return Err(fail(format!(
                "environment variable {name} is read by no flag of `mason {}`",
                bare.subcommands.join(" ")
            )));
        };
        let flag = format!("--{long}");
        if inv
            .args
            .iter()
            .any(|a| a == &flag || a.starts_with(&format!("{flag}=")))
        {
            return Err(fail(format!(
                "environment variable {name} is shadowed by {flag} on the command line"
            )));
        }
        if let EnvValue::Known(v) = value {
            args.push(format!("{flag}={v}"));
        }
    }
    parse(&args).map_err(|e| fail(format!("with the environment applied: {e}")))
}

#[test]
fn an_unknown_flag_a_bad_value_or_a_stray_variable_is_caught() {
    let inv = |args: &[&str], env: &[(&str, &str)]| Invocation {
        origin: "example".into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: env
            .iter()
            .map(|(n, v)| (n.to_string(), EnvValue::Known(v.to_string())))
            .collect(),
    };
    let ok = check(&inv(
        &["serve", "--port=9000"],
        &[("MASON_STORE", "sqlite:///d/m.db"), ("MASON_LOG", "debug")],
    ))
    .unwrap();
    assert_eq!(ok.subcommands, ["serve"]);
    assert_eq!(ok.value::<u16>("port"), Some(9000));
    for (args, env, want) in [
        (
            &["serve", "--prot=9000"][..],
            &[][..],
            "unexpected argument '--prot'",
        ),
        (
            &["serve", "--port=x"],
            &[],
            "invalid value 'x' for '--port <PORT>'",
        ),
        (
            &["serve"],
            &[("MASON_STORE", "mysql://x")],
            "unsupported store URL",
        ),
        (
            &["serve"],
            &[("MASON_STOR", "x")],
            "MASON_STOR is read by no flag of `mason serve`",
        ),
        (
            &["serve", "--store=sqlite://a.db"],
            &[("MASON_STORE", "sqlite://b.db")],
            "MASON_STORE is shadowed by --store",
        ),
        (
            &["serve"],
            &[("MASON_SERVER_URL", "http://x")],
            "MASON_SERVER_URL is read by no flag",
        ),
    ] {
        let err = check(&inv(args, env)).err().unwrap_or_default();
        assert!(err.contains(want), "{args:?} {env:?}: {err}");
    }
}
