//! `mason acquire`: boskosctl's `acquire` — lease one resource and print it as JSON.
//!
//! With `--timeout 0` (the default) it makes one attempt, like boskosctl. With a timeout it
//! polls with one request ID (keeping its place in the server's queue) until a resource is
//! free, the timeout passes (exit 3) or SIGINT/SIGTERM arrives (exit 130 or 143). When
//! nothing is available and the server can tell why (no resource of the type is in that
//! state, or those in it still have an owner), it says so (see `cli::diagnose`).
//! `--state` and `--target-state` default to `free` and `busy`, as for `mason run`.
//!
//! A *virtual* resource (one the Mason builder made; see `leased`) comes with its physical
//! resources: they are taken too, into the same `--target-state` for the same owner. If
//! that fails, the virtual resource goes back to `dirty` and the command fails (exit 1, or
//! 4 when the server is unreachable). stdout still shows only the resource asked for,
//! unless `--output full` is given.
//!
//! Several `--type`s, a count (`--type gce-project=2`) or a `--priority` acquire a *set*,
//! all or nothing, from a `mason serve` (see `resource_set`): stdout is then one JSON
//! array of the `/api/v2` objects granted (each with its `"generation"`), or with
//! `--output full` `{"resources": [...], "leased": [<physical resource>, ...]}`.

use std::time::Duration;

use clap::{Args, ValueEnum};
use mason_client::{HttpClient, VirtualLease, Wait};
use mason_types::ResourceV2;

use crate::cli::client_opts::{go_duration, ClientOpts};
use crate::cli::diagnose;
use crate::cli::leased;
use crate::cli::signals::Interrupt;
use crate::cli::translate::{self, fail, Asked};
use crate::cmd::resource_set::{self, type_count, TypeCount};
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason acquire --type gce-project                            # one attempt: free -> busy
mason acquire --type sandbox --timeout 10m --output full    # wait; print its physical resources too
mason acquire --type gce-project=2 --type gke-cluster --timeout 10m   # a set, all or nothing
";

/// What `acquire` prints on stdout (one line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// The acquired resource's JSON, as boskosctl prints it.
    #[default]
    Resource,
    /// `{"resource": <resource>, "leased": [<physical resource>, ...]}`; `leased` is
    /// empty for a plain resource.
    Full,
}

/// Options of `acquire`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// Type of the resource to acquire; `TYPE=N` for N of them. Repeat for a set of
    /// several types, acquired all or nothing (a mason serve extension; printed as a JSON
    /// array). While a set waits (--timeout), the server holds each attempt open and keeps
    /// its place in the queue of every type.
    #[arg(long = "type", value_name = "TYPE[=N]", required = true, value_parser = type_count)]
    types: Vec<TypeCount>,
    /// Queue priority of a set: higher is served first (a mason serve extension; implies
    /// the set acquire).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    priority: i32,
    /// State the resource must be in.
    #[arg(long, value_name = "STATE", default_value = "free")]
    state: String,
    /// State to move it to; a virtual resource's physical resources go there too.
    #[arg(long, value_name = "STATE", default_value = "busy")]
    target_state: String,
    /// How long to wait for a free resource, Go duration; 0 = a single attempt.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = go_duration)]
    timeout: Duration,
    /// Pause between attempts while waiting, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = go_duration)]
    poll_interval: Duration,
    /// What to print: the resource, or the resource with the physical resources taken
    /// along with a virtual one.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = Output::Resource)]
    output: Output,
    #[command(flatten)]
    client: ClientOpts,
}

/// Acquire (with the physical resources of a virtual resource) and print the JSON
/// followed by a newline.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    const COMMAND: &str = "mason acquire";
    let client = opts
        .client
        .builder(COMMAND)?
        .poll_interval(opts.poll_interval)
        .build()
        .map_err(|e| Exit::new(exit::USAGE, format!("{COMMAND}: {e}")))?;
    // Signals are caught only while waiting; a single attempt stops as any program does.
    let interrupt = match opts.timeout.is_zero() {
        true => None,
        false => Some(Interrupt::on_signals()?),
    };
    let wait = interrupt.as_ref().map(|interrupt| {
        Wait::new()
            .timeout(opts.timeout)
            .cancel(interrupt.token.clone())
    });
    let Some(rtype) = resource_set::single(&opts.types, opts.priority) else {
        return acquire_set(&client, &opts, wait.as_ref(), interrupt.as_ref()).await;
    };
    let asked = (rtype, opts.state.as_str(), opts.target_state.as_str());
    let resource = match diagnose::acquire(&client, asked, wait.as_ref(), COMMAND).await {
        Ok(resource) => resource,
        Err(failed) => {
            let what = Asked::Acquire {
                rtype,
                state: &opts.state,
            };
            let mut exit = fail("failed to acquire a resource", &failed.error, what);
            if let (mason_client::Error::Cancelled, Some(interrupt)) = (&failed.error, &interrupt) {
                exit.code = interrupt.exit_code();
                exit.message = format!("{COMMAND}: interrupted while waiting for a resource");
            }
            if let Some(hint) = failed.hint {
                exit.message.push_str(&format!("\n{COMMAND}: {hint}"));
            }
            return Err(exit.into());
        }
    };
    let lease = leased::take_leased(&client, resource, &opts.target_state)
        .await
        .map_err(|e| {
            Exit::new(
                leased::exit_code(&e),
                format!("failed to acquire a resource: {e}"),
            )
        })?;
    println!("{}", render(&lease, opts.output));
    Ok(exit::OK)
}

/// The set path: acquire all or nothing, take the virtual resources' physical ones,
/// print the JSON array (or the full object).
async fn acquire_set(
    client: &HttpClient,
    opts: &Opts,
    wait: Option<&Wait>,
    interrupt: Option<&Interrupt>,
) -> anyhow::Result<u8> {
    const COMMAND: &str = "mason acquire";
    let items = resource_set::items(&opts.types, &opts.state, &opts.target_state)
        .map_err(|e| Exit::new(exit::USAGE, format!("{COMMAND}: {e}")))?;
    let granted = match resource_set::acquire(client, items, opts.priority, wait).await {
        Ok(granted) => granted,
        Err(mason_client::Error::Cancelled) => {
            let code = interrupt.map_or(exit::SIGINT, Interrupt::exit_code);
            let msg = format!("{COMMAND}: interrupted while waiting for the resources");
            return Err(Exit::new(code, msg).into());
        }
        Err(e) => {
            let msg = format!("{COMMAND}: failed to acquire the resources: {e}");
            return Err(Exit::new(translate::exit_code(&e, true), msg).into());
        }
    };
    let leases = resource_set::take_leased(client, &granted, &opts.target_state, &opts.state)
        .await
        .map_err(|e| {
            let msg = format!("{COMMAND}: failed to acquire the resources: {e}");
            Exit::new(leased::exit_code(&e), msg)
        })?;
    println!("{}", render_set(&granted, &leases, opts.output));
    Ok(exit::OK)
}

/// The stdout line for a set.
fn render_set(granted: &[ResourceV2], leases: &[VirtualLease], output: Output) -> String {
    let resources = serde_json::to_string(granted).expect("resources serialize");
    match output {
        Output::Resource => resources,
        Output::Full => {
            let leased: Vec<_> = leases.iter().flat_map(|l| l.leased.clone()).collect();
            format!(
                "{{\"resources\":{resources},\"leased\":{}}}",
                leased::json_array(&leased)
            )
        }
    }
}

/// The stdout line for `lease`.
fn render(lease: &VirtualLease, output: Output) -> String {
    match output {
        Output::Resource => lease.resource.to_wire_json(),
        Output::Full => format!(
            "{{\"resource\":{},\"leased\":{}}}",
            lease.resource.to_wire_json(),
            leased::json_array(&lease.leased)
        ),
    }
}

#[cfg(test)]
mod tests {
    use mason_types::resource::parse_wire_time;
    use mason_types::Resource;

    use super::*;

    #[test]
    fn full_output_nests_the_wire_json() {
        let at = parse_wire_time("2024-03-01T10:20:30Z").unwrap();
        let lease = VirtualLease {
            resource: Resource::new("v", "v-1", "busy", at),
            leased: vec![Resource::new("p", "p-1", "busy", at)],
        };
        assert_eq!(
            render(&lease, Output::Resource),
            lease.resource.to_wire_json()
        );
        let full: serde_json::Value = serde_json::from_str(&render(&lease, Output::Full)).unwrap();
        let back: Resource = serde_json::from_value(full["resource"].clone()).unwrap();
        assert_eq!(back, lease.resource);
        let leased: Vec<Resource> = serde_json::from_value(full["leased"].clone()).unwrap();
        assert_eq!(leased, lease.leased);
    }
}
