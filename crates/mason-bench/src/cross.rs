//! `mason bench --layer cross-process`: the lease server in *another process*, as real
//! clients see it.
//!
//! One `mason serve` per pool size and variant (a binary, over HTTP or HTTPS) is started on
//! a fresh SQLite file ([`server`]), all of them before the first measurement, and each
//! keeps its server and file to the end. Then, per round, per connection count, per pool
//! and per variant, in that interleaved order, the same load generator ([`threads`], one
//! OS thread and one blocking keep-alive connection per client, [`wire`]) measures:
//! - the **floor**: `GET /`, the server's no-op catch-all route;
//! - **cycles**: acquire (state → dest) plus release (dest → state).
//!
//! The ratio `2 × cycles/s ÷ floor requests/s` says how close a lease cycle comes to the
//! cheapest request the same server answers with the same connections. With reads on, one
//! connection also measures `GET /metric?type=T` and a `GET /metrics` scrape per pool.
//!
//! Giving two binaries (`--server-bin A=old --server-bin B=new`) compares them A/B in one
//! run, interleaved, which is the only fair comparison on a shared machine. Pools are
//! interleaved the same way (each round starts with the next pool in turn), so a drift of
//! the machine over the run, or the first minute of a server, does not fall on one pool:
//! measuring every round of one pool before the next pool's made 100 look faster than
//! 100,000 by more than the store explains (see docs/benchmarks.md).

mod auth;
mod report;
mod server;
mod threads;
mod tls;
mod wire;

use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Result};
use server::{ServerProcess, ServerSpec};
use threads::{Outcome, Run, Work};
use wire::Endpoint;

pub(crate) use auth::basic_header;
pub(crate) use report::{Cell, Summary};

/// One server under test: a binary, over plain HTTP or TLS.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    /// Short name in reports (`A`, `B`, or given as `LABEL=PATH`).
    pub(crate) label: String,
    /// The `mason` binary.
    pub(crate) binary: PathBuf,
    /// HTTPS with a generated certificate.
    pub(crate) tls: bool,
    /// `--auth-file` on the server, Basic credentials on every request.
    pub(crate) auth: bool,
    /// The server keeps a history (off: its fresh file is prepared without one).
    pub(crate) history: bool,
}

impl Variant {
    /// `A`, `A+tls`, `A+auth`, `A+tls+auth`, with `+nohist` when the history is off.
    pub(crate) fn name(&self) -> String {
        let mut name = self.label.clone();
        if self.tls {
            name.push_str("+tls");
        }
        if self.auth {
            name.push_str("+auth");
        }
        if !self.history {
            name.push_str("+nohist");
        }
        name
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The servers to compare.
    pub(crate) variants: Vec<Variant>,
    /// Pool sizes, one server per variant each.
    pub(crate) pools: Vec<usize>,
    /// Connection counts.
    pub(crate) connections: Vec<usize>,
    /// Rounds of the whole matrix (interleaved).
    pub(crate) rounds: usize,
    /// Unrecorded lead-in of every run.
    pub(crate) warmup: Duration,
    /// Measured time of every run.
    pub(crate) duration: Duration,
    /// Resource type, acquired-from state and held state.
    pub(crate) rtype: String,
    /// State acquired from.
    pub(crate) state: String,
    /// State held in.
    pub(crate) dest: String,
    /// Also measure `/metric` and a `/metrics` scrape.
    pub(crate) reads: bool,
}

/// Parse `--server-bin` values (`PATH` or `LABEL=PATH`); none means this executable.
pub(crate) fn binaries(specs: &[String]) -> Result<Vec<(String, PathBuf)>> {
    if specs.is_empty() {
        let me =
            std::env::current_exe().map_err(Error::io("cannot find the current executable"))?;
        return Ok(vec![("A".into(), me)]);
    }
    let mut out = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let default_label = char::from(b'A' + (i % 26) as u8).to_string();
        let (label, path) = match spec.split_once('=') {
            Some((l, p)) if !l.is_empty() && !l.contains('/') => (l.to_string(), p),
            _ => (default_label, spec.as_str()),
        };
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(Error::Usage(format!(
                "--server-bin {spec}: {} is not a file",
                path.display()
            )));
        }
        if out.iter().any(|(l, _)| *l == label) {
            return Err(Error::Usage(format!(
                "--server-bin: label {label} given twice"
            )));
        }
        out.push((label, path));
    }
    Ok(out)
}

/// Run the plan; `emit` gets every run's cell as soon as it is measured (for progress
/// and JSON lines). Returns every cell.
pub(crate) fn run(plan: &Plan, emit: &mut dyn FnMut(&Cell)) -> Result<Vec<Cell>> {
    let pki = if plan.variants.iter().any(|v| v.tls) {
        Some(tls::TestPki::generate()?)
    } else {
        None
    };
    let auth = if plan.variants.iter().any(|v| v.auth) {
        Some(auth::BenchAuth::generate()?)
    } else {
        None
    };
    let mut servers = Vec::new();
    for &pool in &plan.pools {
        for variant in &plan.variants {
            servers.push(start(plan, variant, pool, pki.as_ref(), auth.as_ref())?);
        }
    }
    let mut cells = Vec::new();
    for round in 1..=plan.rounds {
        for &connections in &plan.connections {
            for pool in in_turn(&plan.pools, round) {
                for served in servers.iter().filter(|s| s.pool == pool) {
                    let floor = measure(plan, &served.endpoint, Work::Floor, connections)?;
                    let cycle_work = Work::Cycle {
                        rtype: plan.rtype.clone(),
                        state: plan.state.clone(),
                        dest: plan.dest.clone(),
                    };
                    let cycles = measure(plan, &served.endpoint, cycle_work, connections)?;
                    let floor_rate = floor.requests_per_s();
                    for (work, outcome) in [(Work::Floor.name(), floor), ("cycle", cycles)] {
                        let cell = Cell {
                            variant: served.variant.clone(),
                            pool,
                            connections,
                            round,
                            work,
                            floor_requests_per_s: floor_rate,
                            outcome,
                        };
                        emit(&cell);
                        cells.push(cell);
                    }
                }
            }
        }
    }
    if plan.reads {
        for served in &servers {
            let reads = [
                Work::Metric {
                    rtype: plan.rtype.clone(),
                },
                Work::Scrape,
            ];
            for what in reads {
                let work = what.name();
                let outcome = measure(plan, &served.endpoint, what, 1)?;
                let cell = Cell {
                    variant: served.variant.clone(),
                    pool: served.pool,
                    connections: 1,
                    round: 1,
                    work,
                    floor_requests_per_s: 0.0,
                    outcome,
                };
                emit(&cell);
                cells.push(cell);
            }
        }
    }
    for served in servers {
        served.server.stop()?;
    }
    Ok(cells)
}

/// One started server: which variant serves which pool, and where.
struct Served {
    variant: Variant,
    pool: usize,
    server: ServerProcess,
    endpoint: Endpoint,
}

/// Start `variant`'s server on a fresh file holding `pool` resources.
fn start(
    plan: &Plan,
    variant: &Variant,
    pool: usize,
    pki: Option<&tls::TestPki>,
    auth: Option<&auth::BenchAuth>,
) -> Result<Served> {
    let mut endpoint = endpoint_for(variant, pki);
    let variant_auth = auth.filter(|_| variant.auth);
    endpoint.authorization = variant_auth.map(|a| a.header.clone());
    let spec = ServerSpec {
        binary: variant.binary.clone(),
        pool,
        rtype: plan.rtype.clone(),
        state: plan.state.clone(),
        tls: match (pki, variant.tls) {
            (Some(p), true) => Some(p.files()),
            _ => None,
        },
        auth_file: variant_auth.map(|a| a.file.clone()),
        history: variant.history,
    };
    let server = ServerProcess::start(&spec, endpoint.clone())?;
    eprintln!(
        "mason bench: {} serves pool {pool} as pid {} on {}",
        variant.name(),
        server.pid(),
        server.addr
    );
    let endpoint = Endpoint {
        addr: server.addr,
        ..endpoint
    };
    Ok(Served {
        variant: variant.clone(),
        pool,
        server,
        endpoint,
    })
}

/// The pools in the order round `round` (from 1) measures them: each round starts one
/// further along, so no pool is always first after the other connection count.
fn in_turn(pools: &[usize], round: usize) -> Vec<usize> {
    if pools.is_empty() {
        return Vec::new();
    }
    let first = (round.saturating_sub(1)) % pools.len();
    pools[first..]
        .iter()
        .chain(&pools[..first])
        .copied()
        .collect()
}

fn endpoint_for(variant: &Variant, pki: Option<&tls::TestPki>) -> Endpoint {
    Endpoint {
        addr: ([127, 0, 0, 1], 0).into(),
        tls: match (pki, variant.tls) {
            (Some(p), true) => Some(p.client()),
            _ => None,
        },
        authorization: None,
    }
}

fn measure(plan: &Plan, endpoint: &Endpoint, work: Work, connections: usize) -> Result<Outcome> {
    threads::measure(&Run {
        endpoint: endpoint.clone(),
        work,
        connections,
        warmup: plan.warmup,
        duration: plan.duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_round_starts_with_the_next_pool() {
        let pools = [100, 10_000, 100_000];
        assert_eq!(in_turn(&pools, 1), vec![100, 10_000, 100_000]);
        assert_eq!(in_turn(&pools, 2), vec![10_000, 100_000, 100]);
        assert_eq!(in_turn(&pools, 3), vec![100_000, 100, 10_000]);
        assert_eq!(in_turn(&pools, 4), in_turn(&pools, 1));
        assert!(in_turn(&[], 2).is_empty());
    }

    #[test]
    fn server_bins_take_labels_and_must_exist() {
        let me = std::env::current_exe().unwrap();
        let me = me.display().to_string();
        let got = binaries(&[me.clone(), format!("new={me}")]).unwrap();
        assert_eq!(got[0].0, "A");
        assert_eq!(got[1].0, "new");
        assert_eq!(binaries(&[]).unwrap()[0].0, "A");
        let err = binaries(&["/nonexistent/mason".into()]).unwrap_err();
        assert!(err.to_string().contains("is not a file"), "{err}");
        let err = binaries(&[format!("x={me}"), format!("x={me}")]).unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
    }
}
