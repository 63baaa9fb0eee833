//! The Boskos API straight over a store, for `mason up`: the controllers of a one-process
//! deployment talk to the store directly instead of looping back over HTTP.
//!
//! This crate is the one place where the client side (the [`mason_client::BoskosApi`]
//! trait, the builder's [`PoolSource`](mason_controllers::builder::PoolSource) and
//! [`LeaseInventory`](mason_controllers::builder::LeaseInventory)) meets the store, so
//! the server crate needs no client and the client crate no store (see
//! `docs/architecture.md`).
//!
//! Layout:
//! - [`client`]: [`InProcessClient`], one owner's Boskos calls on a store. Store errors
//!   become the client errors the HTTP client produces for the status the server would
//!   answer ([`mason_store::Error::status`], then [`mason_client::Error::from_status`]).
//! - [`sources`]: [`StorePools`] (the dynamic pools the store keeps) and
//!   [`StoreInventory`] (resources by owner), the builder's and the cleaner's views of the
//!   store.

pub mod client;
pub mod sources;

pub use client::{client_error, InProcessClient};
pub use sources::{StoreInventory, StorePools};
