//! The history flags of `mason serve` and `mason up`: how long and how many events the
//! store keeps (`--history-retention`, `--history-max-events`), and starting the
//! background pruner ([`mason_store::history::Pruner`]).

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use mason_store::history::Pruner;
use mason_store::{Retention, Store};
use mason_types::parse_go_duration;

/// How often the pruner looks for events beyond the retention.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Retention of the resource history.
#[derive(Debug, Clone, Args)]
pub(crate) struct HistoryOpts {
    /// Keep events for this long: a Go duration, or whole days (`14d`); 0 keeps them
    /// for ever.
    #[arg(long, value_name = "DURATION", default_value = "14d", value_parser = retention_period)]
    pub(crate) history_retention: Duration,
    /// Keep at most this many events (the oldest go first); 0 for no limit.
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub(crate) history_max_events: u64,
}

impl HistoryOpts {
    /// What these flags keep.
    pub(crate) fn retention(&self) -> Retention {
        Retention::from_flags(self.history_retention, self.history_max_events)
    }

    /// Prune `store` in the background until the returned pruner is dropped (`None`
    /// when nothing is ever pruned).
    pub(crate) fn start_pruner(&self, store: Arc<dyn Store>) -> Option<Pruner> {
        Pruner::start(store, self.retention(), PRUNE_EVERY)
    }
}

/// A Go duration, or a whole number of days (`14d`, which Go durations lack).
fn retention_period(text: &str) -> Result<Duration, String> {
    if let Some(days) = text.strip_suffix('d') {
        return days
            .parse::<u64>()
            .ok()
            .and_then(|d| d.checked_mul(24 * 3600))
            .map(Duration::from_secs)
            .ok_or_else(|| format!("invalid duration {text:?}: want whole days such as 14d"));
    }
    parse_go_duration(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        history: HistoryOpts,
    }

    #[test]
    fn defaults_and_days() {
        let w = Wrapper::try_parse_from(["x"]).unwrap();
        assert_eq!(
            w.history.history_retention,
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(w.history.history_max_events, 10_000_000);
        assert_eq!(w.history.retention(), Retention::DEFAULT);
        let w = Wrapper::try_parse_from([
            "x",
            "--history-retention",
            "36h",
            "--history-max-events",
            "0",
        ])
        .unwrap();
        assert_eq!(w.history.history_retention, Duration::from_secs(36 * 3600));
        assert_eq!(w.history.retention().max_events, None);
        let w = Wrapper::try_parse_from(["x", "--history-retention", "0"]).unwrap();
        assert!(!w.history.retention().keeps_everything());
        assert_eq!(w.history.retention().max_age, None);
        for bad in ["14x", "d", "-1d", "1.5d", "soon"] {
            let arg = format!("--history-retention={bad}");
            let err = Wrapper::try_parse_from(["x", arg.as_str()]).unwrap_err();
            assert!(err.to_string().contains("invalid"), "{bad}: {err}");
        }
    }
}
