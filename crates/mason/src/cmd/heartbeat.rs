//! `mason heartbeat`: boskosctl's `heartbeat` — keep a lease alive from a shell script.
//!
//! Every `--period` it sends `/update` for the resource given as JSON (what `mason
//! acquire` printed), with the resource's state. Unlike boskosctl it sends **no user
//! data**: boskosctl re-sends the user data captured at acquire time, silently undoing
//! later changes to those keys. It stops with exit 0 at `--timeout` or on SIGINT/SIGTERM,
//! and with exit 1 after more than `--retries` consecutive failures.
//!
//! It never heartbeats a lost lease: when the server says the lease is gone (resource
//! missing, owned by someone else, in another state, or — with the `"generation"` of a
//! `mason serve` answer in the JSON — a stale generation) it stops at once with exit 5
//! and says why. When the JSON carries a `"lease_ttl"` (the `/api/v2` object `mason
//! acquire --type T=N` prints), the lease is also lost when no heartbeat was accepted for
//! a whole TTL, counted from the moment the last accepted one was sent: exit 5 too,
//! without waiting for the server to be reachable again.

use std::time::Duration;

use clap::Args;
use mason_client::{BoskosApi, LostLease};
use mason_types::{format_go_duration, ResourceV2};
use tokio::time::Instant;

use crate::cli::client_opts::{go_duration, ClientOpts};
use crate::cli::console;
use crate::cli::signals::Interrupt;
use crate::cli::translate::{explain, Asked};
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason heartbeat --resource \"$(mason acquire --type gce-project)\" &   # until 5h or a signal
mason heartbeat --resource \"$RESOURCE_JSON\" --period 1m --timeout 2h
";

/// Options of `heartbeat`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// The resource, as the JSON printed by `mason acquire`.
    #[arg(long, value_name = "JSON")]
    resource: String,
    /// Pause between heartbeats, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = go_duration)]
    period: Duration,
    /// Stop heartbeating after this long, Go duration.
    #[arg(long, value_name = "DURATION", default_value = "5h", value_parser = go_duration)]
    timeout: Duration,
    /// Consecutive failures tolerated before giving up.
    #[arg(long, value_name = "N", default_value_t = 10)]
    retries: u32,
    #[command(flatten)]
    client: ClientOpts,
}

/// Heartbeat until the timeout, a signal, too many failures or a lost lease.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let (resource, generation) = parse_resource(&opts.resource)?;
    let ttl = resource.lease.lease_ttl;
    let resource = resource.resource;
    if opts.period.is_zero() {
        return Err(Exit::new(exit::USAGE, "mason: --period must be positive").into());
    }
    if let Some(ttl) = ttl.filter(|ttl| opts.period >= *ttl) {
        let msg = format!(
            "mason: --period must be shorter than the lease TTL ({}) of the resource",
            format_go_duration(ttl)
        );
        return Err(Exit::new(exit::USAGE, msg).into());
    }
    let client = opts.client.client("mason heartbeat")?;
    if let Some(generation) = generation {
        client.set_generation(&resource.name, generation);
    }
    let cancel = Interrupt::on_signals()?.token;
    let name = &resource.name;
    let deadline = Instant::now() + opts.timeout;
    let mut next = Instant::now() + opts.period;
    // When the last accepted heartbeat (or the start) was sent: the lease's deadline at
    // the server is no earlier than this plus the TTL.
    let mut renewed = Instant::now();
    let mut failures = 0;
    let mut last_error: Option<String> = None;
    loop {
        let expiry = ttl.map(|ttl| renewed + ttl);
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                println!("received interrupt, stopping heartbeats for resource {name:?}");
                return Ok(exit::OK);
            }
            () = sleep_until_opt(expiry) => return Err(expired(name, ttl, last_error.as_deref())),
            () = tokio::time::sleep_until(next.min(deadline)) => {}
        }
        if Instant::now() >= deadline {
            println!("reached timeout, stopping heartbeats for resource {name:?}");
            return Ok(exit::OK);
        }
        // Keep the rhythm, but never fire a burst to catch up after a slow call.
        next += opts.period;
        if next < Instant::now() {
            next = Instant::now() + opts.period;
        }
        let sent = Instant::now();
        let outcome = tokio::select! {
            biased;
            outcome = client.update(name, &resource.state, None) => outcome,
            () = sleep_until_opt(expiry) => return Err(expired(name, ttl, last_error.as_deref())),
        };
        match outcome {
            Ok(()) => {
                failures = 0;
                renewed = sent;
                println!("heartbeat sent for resource {name:?}");
            }
            Err(e) => {
                let asked = Asked::Named {
                    name,
                    owner: client.owner(),
                    verb: "heartbeat",
                };
                let explained = explain(&e, asked);
                console::warn(&format!(
                    "failed to send heartbeat for resource {name:?}: {explained}"
                ));
                if let Some(lost) = LostLease::from_error(name, &e) {
                    let msg = format!("stopping heartbeats: {lost}");
                    return Err(Exit::new(exit::LEASE_LOST, msg).into());
                }
                last_error = Some(e.to_string());
                failures += 1;
                if failures > opts.retries {
                    let msg = format!(
                        "stopping heartbeats for resource {name:?}: {failures} consecutive failures"
                    );
                    return Err(Exit::new(exit::FAILURE, msg).into());
                }
            }
        }
    }
}

/// The `--resource` JSON: a Boskos object, or the `/api/v2` object with its
/// `"generation"` (returned when present).
fn parse_resource(json: &str) -> Result<(ResourceV2, Option<u64>), Exit> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| Exit::new(exit::USAGE, format!("mason: invalid --resource JSON: {e}")))?;
    let generation = value.get("generation").is_some();
    let resource: ResourceV2 = serde_json::from_value(value)
        .map_err(|e| Exit::new(exit::USAGE, format!("mason: invalid --resource JSON: {e}")))?;
    if resource.resource.name.is_empty() || resource.resource.state.is_empty() {
        let msg = "mason: --resource JSON must have a non-empty \"name\" and \"state\"";
        return Err(Exit::new(exit::USAGE, msg));
    }
    let generation = generation.then_some(resource.generation());
    Ok((resource, generation))
}

fn expired(name: &str, ttl: Option<Duration>, last: Option<&str>) -> anyhow::Error {
    let lost = LostLease::expired(name, ttl.unwrap_or_default(), last);
    Exit::new(exit::LEASE_LOST, format!("stopping heartbeats: {lost}")).into()
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_boskos_and_v2_objects() {
        let plain = r#"{"type":"t","name":"r","state":"busy","owner":"o","lastupdate":"2026-01-01T00:00:00Z","userdata":{}}"#;
        let (r, generation) = parse_resource(plain).unwrap();
        assert_eq!((r.resource.name.as_str(), generation), ("r", None));
        assert_eq!(r.lease.lease_ttl, None);
        let v2 = r#"{"type":"t","name":"r","state":"busy","owner":"o","lastupdate":"2026-01-01T00:00:00Z","userdata":{},"generation":9,"lease_ttl":"1m0s"}"#;
        let (r, generation) = parse_resource(v2).unwrap();
        assert_eq!(generation, Some(9));
        assert_eq!(r.lease.lease_ttl, Some(Duration::from_secs(60)));
        assert_eq!(parse_resource("{}").unwrap_err().code, exit::USAGE);
        assert_eq!(parse_resource("nope").unwrap_err().code, exit::USAGE);
    }
}
