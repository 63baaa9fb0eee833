//! Client side of the Boskos API, usable against `mason serve` or an upstream Boskos.
//!
//! Layout:
//! - [`api`]: the [`BoskosApi`] trait every controller talks through, and its typed
//!   [`Error`]. The HTTP client implements it; `mason up` uses an in-process one.
#![deny(missing_docs)]

pub mod api;

pub use api::{BoskosApi, Error, Result};
