//! "Resources may be available": the signal that wakes requests held open until their
//! set can be granted (`POST /api/v2/acquire` with `"wait"`), so nobody polls.
//!
//! A store sends [`Availability::Changed`] for a (type, state) after a commit that left
//! unowned resources there (a release, a reset, an expiry, a new resource) or dropped a
//! queue entry there (a lapsed request's reservation ended). SQLite sends it in process
//! after the commit; PostgreSQL has the database notify every replica on commit (see
//! `postgres/listener.rs`) and sends [`Availability::Unknown`] whenever signals may have
//! been missed. A receiver that lags behind should treat it as `Unknown` too.

use tokio::sync::broadcast;

/// How many signals a slow receiver may fall behind before it lags (and re-checks
/// everything).
const CAPACITY: usize = 1024;

/// The PostgreSQL notification channel carrying the signals.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) const CHANNEL: &str = "mason_availability";

/// A "resources may be available" signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Unowned resources of (type, state) appeared, or a reservation on them ended.
    Changed {
        /// The resource type.
        rtype: String,
        /// The state.
        state: String,
    },
    /// Signals may have been missed: re-check everything.
    Unknown,
}

impl Availability {
    /// The signal a notification payload (`<type>\t<state>`) carries; `Unknown` for a
    /// payload that is not one.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn from_payload(payload: &str) -> Self {
        match payload.split_once('\t') {
            Some((rtype, state)) => Availability::Changed {
                rtype: rtype.to_string(),
                state: state.to_string(),
            },
            None => Availability::Unknown,
        }
    }
}

/// The sending side a store keeps; every [`Signals::subscribe`] gets every later signal.
#[derive(Debug, Clone)]
pub(crate) struct Signals(broadcast::Sender<Availability>);

impl Default for Signals {
    fn default() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }
}

impl Signals {
    /// A new receiver.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Availability> {
        self.0.subscribe()
    }

    /// Send `signal` to every receiver (none listening is fine).
    pub(crate) fn send(&self, signal: Availability) {
        let _ = self.0.send(signal);
    }

    /// Resources of (`rtype`, `state`) may be available.
    pub(crate) fn changed(&self, rtype: &str, state: &str) {
        self.send(Availability::Changed {
            rtype: rtype.to_string(),
            state: state.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_type_and_state() {
        assert_eq!(
            Availability::from_payload("gce-project\tfree"),
            Availability::Changed {
                rtype: "gce-project".into(),
                state: "free".into()
            }
        );
        assert_eq!(Availability::from_payload("garbled"), Availability::Unknown);
    }

    #[tokio::test]
    async fn every_receiver_gets_every_signal() {
        let signals = Signals::default();
        let mut a = signals.subscribe();
        let mut b = signals.subscribe();
        signals.changed("t", "free");
        signals.send(Availability::Unknown);
        for rx in [&mut a, &mut b] {
            assert_eq!(
                rx.recv().await.unwrap(),
                Availability::Changed {
                    rtype: "t".into(),
                    state: "free".into()
                }
            );
            assert_eq!(rx.recv().await.unwrap(), Availability::Unknown);
        }
    }
}
