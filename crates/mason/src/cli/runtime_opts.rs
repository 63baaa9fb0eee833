//! How many threads answer requests in `mason serve` and `mason up`: the
//! `--worker-threads` flag (env `MASON_WORKER_THREADS`). Without it the runtime keeps
//! Tokio's default, one worker per CPU (or `TOKIO_WORKER_THREADS`, which Tokio reads).
//!
//! Why a flag and not a new default. A SQLite store runs every call on a thread of its own
//! (see `mason_store::sqlite`), and the request waiting for it is woken from outside the
//! async runtime; with as many workers as CPUs, on a small machine that wake-up often
//! lands on a sleeping worker, which wakes up only to look for work. Measured
//! cross-process on the 2-CPU development VM, pool 10,000, one worker against two
//! (docs/benchmarks.md, "One Tokio worker on a 2-CPU machine"): at 8 connections +20 %
//! cycles on an idle machine, +18 % beside one CPU burner and +16 % beside two, with 1.6
//! instead of 2.6–3.1 context switches per cycle; but at 1 connection +10 % idle, +19 %
//! beside one burner, −10 % beside two and −35 % beside one burner and a build: one worker
//! preempted by another process stalls every request. So one worker pays on a dedicated
//! small machine with concurrent clients, and that is the operator's call.

use std::num::NonZeroUsize;

use clap::Args;

/// The runtime flags of a server command.
#[derive(Debug, Clone, Args)]
pub(crate) struct RuntimeOpts {
    /// Threads that answer requests (default: one per CPU). On a dedicated 1–2 CPU
    /// machine with a SQLite store and several concurrent clients, 1 serves more cycles.
    #[arg(long, env = "MASON_WORKER_THREADS", value_name = "N")]
    pub(crate) worker_threads: Option<NonZeroUsize>,
}

impl RuntimeOpts {
    /// The worker count to build the runtime with; `None` leaves it to Tokio.
    pub(crate) fn workers(&self) -> Option<usize> {
        self.worker_threads.map(NonZeroUsize::get)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        opts: RuntimeOpts,
    }

    #[test]
    fn a_positive_count_is_taken_and_zero_refused() {
        let ok = Wrapper::try_parse_from(["t", "--worker-threads", "2"]).expect("2 accepted");
        assert_eq!(ok.opts.workers(), Some(2));
        let err = Wrapper::try_parse_from(["t", "--worker-threads", "0"])
            .err()
            .expect("0 refused");
        assert!(err.to_string().contains("--worker-threads"), "{err}");
    }
}
