//! The reaper (SPEC §7.1): takes back leases whose holder stopped heartbeating.
//!
//! Every `period`, for each resource type and each source state (`busy`, `cleaning`,
//! `leased`, then the extra states), it calls `POST /reset` with `expire` and the target
//! state: the server moves every *owned* resource of that type and state not updated for
//! `expire` to the target state and clears its owner. Unowned resources are never
//! touched (server rule), so anything that heartbeats in time keeps its lease.
//!
//! The reset is a conditional server-side transition, so several reapers may run at once.
//! One failed call does not stop the sweep; the tick reports the failures afterwards and
//! the runner retries with backoff. A call abandoned at shutdown (see
//! [`crate::shutdown`]) ends the sweep at once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mason_client::BoskosApi;
use mason_types::state;

use crate::runner::{Loop, LoopError, Next};
use crate::types_source::TypeSource;

/// Upstream's owner name for the reaper.
pub const REAPER_OWNER: &str = "Reaper";

/// Tuning of a [`Reaper`] (upstream's flags and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaperOptions {
    /// Time between sweeps (`--period`, 1m).
    pub period: Duration,
    /// How long a lease may go without a heartbeat (`--expire`, 30m).
    pub expire: Duration,
    /// Where stale resources go (`--target-state`, `dirty`).
    pub target_state: String,
    /// States reset in addition to busy, cleaning and leased (`--extra-source-states`).
    pub extra_source_states: Vec<String>,
}

impl Default for ReaperOptions {
    fn default() -> Self {
        Self {
            period: Duration::from_secs(60),
            expire: Duration::from_secs(30 * 60),
            target_state: state::DIRTY.to_string(),
            extra_source_states: Vec::new(),
        }
    }
}

impl ReaperOptions {
    /// The states swept, in order, without duplicates.
    pub fn source_states(&self) -> Vec<String> {
        let mut states: Vec<String> = [state::BUSY, state::CLEANING, state::LEASED]
            .map(String::from)
            .to_vec();
        for s in &self.extra_source_states {
            if !states.contains(s) {
                states.push(s.clone());
            }
        }
        states
    }

    /// Reject options that cannot work.
    pub fn validate(&self) -> Result<(), LoopError> {
        if self.period.is_zero() {
            return Err(LoopError::Config(
                "the reaper period must be positive".into(),
            ));
        }
        if self.target_state.trim().is_empty() {
            return Err(LoopError::Config(
                "the target state must not be empty".into(),
            ));
        }
        if self.extra_source_states.iter().any(|s| s.trim().is_empty()) {
            return Err(LoopError::Config("an extra source state is empty".into()));
        }
        if self.source_states().contains(&self.target_state) {
            return Err(LoopError::Config(format!(
                "the target state {:?} is also a source state",
                self.target_state
            )));
        }
        Ok(())
    }
}

/// The reaper loop.
pub struct Reaper {
    client: Arc<dyn BoskosApi>,
    types: TypeSource,
    options: ReaperOptions,
    /// Resources reset since start (for status and tests).
    reaped_total: u64,
}

impl std::fmt::Debug for Reaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reaper")
            .field("owner", &self.client.owner())
            .field("types", &self.types)
            .field("options", &self.options)
            .finish()
    }
}

impl Reaper {
    /// A reaper over `types`, acting through `client`.
    pub fn new(
        client: Arc<dyn BoskosApi>,
        types: TypeSource,
        options: ReaperOptions,
    ) -> Result<Self, LoopError> {
        options.validate()?;
        Ok(Self {
            client,
            types,
            options,
            reaped_total: 0,
        })
    }

    /// Resources reset since start.
    pub fn reaped_total(&self) -> u64 {
        self.reaped_total
    }

    /// One sweep over every type and source state. Returns how many resources were reset.
    pub async fn sweep(&mut self) -> Result<u64, LoopError> {
        let types = self.types.types().to_vec();
        let states = self.options.source_states();
        let (mut reaped, mut failures, mut first_error) = (0u64, 0usize, None);
        for rtype in &types {
            for from in &states {
                match self
                    .client
                    .reset(rtype, from, self.options.expire, &self.options.target_state)
                    .await
                {
                    Ok(reset) => {
                        for (name, owner) in &reset {
                            tracing::info!(
                                resource = %name, rtype = %rtype, from = %from,
                                to = %self.options.target_state, previous_owner = %owner,
                                "reaped a stale lease"
                            );
                        }
                        reaped += reset.len() as u64;
                    }
                    // Shutdown (a guarded client): the other calls would fail alike.
                    Err(e @ mason_client::Error::Cancelled) => {
                        self.reaped_total += reaped;
                        return Err(e.into());
                    }
                    Err(e) => {
                        tracing::warn!(rtype = %rtype, state = %from, error = %e, "reset failed");
                        failures += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        self.reaped_total += reaped;
        match first_error {
            None => Ok(reaped),
            Some(e) if failures == types.len() * states.len() => Err(e.into()),
            Some(e) => Err(LoopError::Other(format!(
                "{failures} of {} reset calls failed, first: {e}",
                types.len() * states.len()
            ))),
        }
    }
}

#[async_trait]
impl Loop for Reaper {
    fn name(&self) -> &'static str {
        "reaper"
    }

    async fn tick(&mut self) -> Result<Next, LoopError> {
        self.sweep().await?;
        Ok(Next::After(self.options.period))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_states_keep_order_without_duplicates() {
        let o = ReaperOptions {
            extra_source_states: vec!["noSchedule".into(), "busy".into()],
            ..ReaperOptions::default()
        };
        assert_eq!(
            o.source_states(),
            ["busy", "cleaning", "leased", "noSchedule"]
        );
        assert!(o.validate().is_ok());
    }

    #[test]
    fn bad_options_are_rejected() {
        let target_is_source = ReaperOptions {
            target_state: "busy".into(),
            ..ReaperOptions::default()
        };
        assert!(target_is_source
            .validate()
            .unwrap_err()
            .to_string()
            .contains("also a source"));
        let zero = ReaperOptions {
            period: Duration::ZERO,
            ..ReaperOptions::default()
        };
        assert!(zero.validate().is_err());
        let empty = ReaperOptions {
            target_state: " ".into(),
            ..ReaperOptions::default()
        };
        assert!(empty.validate().is_err());
    }
}
