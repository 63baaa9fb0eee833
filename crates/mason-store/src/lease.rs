//! The lease rules, written once for every backend: which checks a transition makes and
//! in which order, which error a refusal or a miss is, what a transition writes, when a
//! new dynamic resource is made, how expiry and lifespans work, how counts fold into
//! metrics and how the request queue ranks.
//!
//! A backend (`sqlite/`, `postgres/`) holds only SQL, transactions and row decoding. It
//! calls in here for every decision, with what its transaction read, and binds the values
//! decided here into its statements. Nothing here does IO, so every rule is unit-tested
//! once and both backends are held to it by the shared conformance suite.
//!
//! Layout:
//! - [`check`]: the owner-then-state checks of the calls on a held resource, and their
//!   errors.
//! - [`acquire`]: request ids and queue expiry, the two 404s of a miss, growing a dynamic
//!   pool, the all-or-nothing names of `acquirebystate`.
//! - [`multi`]: the all-or-nothing acquire of a set (`acquire_many`).
//! - [`queue`]: how the request queue ranks (priority, arrival) and reserves (counts).
//! - [`end`]: release's expiration rules, reset's idle cutoff.
//! - [`quota`]: per-user lease quotas, and how the backends keep them exact.
//! - [`transition`]: what a grant, an end of lease and a touch write.
//! - [`tag`]: a transition's label in the history (kind, actor, request id).
//! - [`retry`]: retry safety — a repeat of the last release is answered 200, changing
//!   nothing (after a 503, a retry never makes things worse).
//! - [`ttl`]: lease TTLs — which TTL a grant gets, renewal, the refusal of a lease whose
//!   deadline passed, what expiry writes.
//! - [`views`]: what the read calls show — metrics folded from counts, the ranked queue.
//!
//! ## Adding a transition
//!
//! 1. A request struct in `request.rs` and a method on [`crate::Store`].
//! 2. Its decisions here: a function from the request, the clock and what the transaction
//!    read to the values to write or the error to answer.
//! 3. In each backend: one SQL function in `writes.rs` (the statement, bound from those
//!    values) and the call in its `Store` impl, inside one transaction (`txn.rs`).
//! 4. A conformance case in `testsuite/` (run on both engines) and, for a lease
//!    transition, a step of the model test (`tests/it/model/`).
//!
//! ## Adding state to every grant or end of lease
//!
//! A fencing generation, a lease deadline, the holder, the last transition: the value is
//! decided in [`transition`] ([`Grant`], [`EndOfLease`]), the column is added to both
//! schemas and to `rows.rs`, and its `SET` goes into the statements of each backend's
//! `writes.rs`, which are the only statements that change a resource row. An `events`
//! row or kept counts written in the same transaction go there too: next to each write
//! in SQLite, as a common table expression of the same statement in PostgreSQL (whose
//! hot paths stay single statements, one round trip).

pub(crate) mod acquire;
pub(crate) mod check;
pub(crate) mod end;
pub(crate) mod multi;
pub(crate) mod queue;
pub(crate) mod quota;
pub(crate) mod retry;
pub(crate) mod tag;
pub(crate) mod transition;
pub(crate) mod ttl;
pub(crate) mod views;

pub(crate) use tag::Tag;
pub(crate) use transition::{EndOfLease, Grant, Touch};
