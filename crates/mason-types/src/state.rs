//! Well-known resource states. The server treats states as opaque strings; these are the
//! names every Boskos component agrees on.

/// In use by a job (convention).
pub const BUSY: &str = "busy";
/// Being cleaned by a janitor, Mason or the cleaner.
pub const CLEANING: &str = "cleaning";
/// Needs cleaning.
pub const DIRTY: &str = "dirty";
/// Ready to use; the default initial state.
pub const FREE: &str = "free";
/// A physical resource held by the builder to make a virtual one.
pub const LEASED: &str = "leased";
/// A dynamic resource scheduled for deletion.
pub const TO_BE_DELETED: &str = "toBeDeleted";
/// Safe to delete; the server removes the resource.
pub const TOMBSTONE: &str = "tombstone";
/// Metrics bucket for every state not in [`KNOWN_STATES`].
pub const OTHER: &str = "other";

/// The states Prometheus reports by name (everything else is counted as [`OTHER`]).
pub const KNOWN_STATES: [&str; 7] = [
    BUSY,
    CLEANING,
    DIRTY,
    FREE,
    LEASED,
    TO_BE_DELETED,
    TOMBSTONE,
];

/// Whether `state` is one of [`KNOWN_STATES`].
pub fn is_known(state: &str) -> bool {
    KNOWN_STATES.contains(&state)
}
