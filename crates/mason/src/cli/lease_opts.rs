//! The lease flags of `mason serve` and `mason up`, defined once and flattened into
//! both: the longest TTL a request may ask for (`--max-lease-ttl`) and how long an
//! acquire whose client went away keeps its grant before it is rolled back
//! (`--disconnect-grace`). Both commands apply them to the server the same way
//! ([`LeaseOpts::apply`]).

use std::time::Duration;

use clap::Args;
use mason_server::lease::LeaseControl;

use crate::cli::client_opts::go_duration;

/// The lease limits of a server command.
#[derive(Debug, Clone, Args)]
pub(crate) struct LeaseOpts {
    /// The longest lease TTL a request may ask for (`lease_ttl=` on /acquire and
    /// /acquirebystate, `"lease_ttl"` of /api/v2/acquire); more is a 400. Go duration.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = go_duration)]
    pub(crate) max_lease_ttl: Duration,
    /// How long after an acquire's client went away before its answer was written the
    /// grant is rolled back (released to the state it came from). Go duration; 0: at once.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = go_duration)]
    pub(crate) disconnect_grace: Duration,
}

impl LeaseOpts {
    /// Set these limits on the server's lease control (at start-up, before serving).
    pub(crate) fn apply(&self, lease: &LeaseControl) {
        lease.set_max_lease_ttl(self.max_lease_ttl);
        lease.set_disconnect_grace(self.disconnect_grace);
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        opts: LeaseOpts,
    }

    #[test]
    fn defaults_and_go_durations() {
        let w = Wrapper::try_parse_from(["x"]).unwrap();
        assert_eq!(w.opts.max_lease_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(w.opts.disconnect_grace, Duration::ZERO);
        let w = Wrapper::try_parse_from(["x", "--max-lease-ttl=2h", "--disconnect-grace=1m30s"])
            .unwrap();
        assert_eq!(w.opts.max_lease_ttl, Duration::from_secs(7200));
        assert_eq!(w.opts.disconnect_grace, Duration::from_secs(90));
        assert!(Wrapper::try_parse_from(["x", "--disconnect-grace=soon"]).is_err());
    }

    #[test]
    fn apply_sets_both_limits() {
        let lease = LeaseControl::default();
        let w =
            Wrapper::try_parse_from(["x", "--max-lease-ttl=1h", "--disconnect-grace=2s"]).unwrap();
        w.opts.apply(&lease);
        assert_eq!(lease.max_lease_ttl(), Duration::from_secs(3600));
        assert_eq!(lease.disconnect_grace(), Duration::from_secs(2));
    }
}
