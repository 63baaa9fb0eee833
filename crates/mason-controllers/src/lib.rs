//! Controllers that keep a Boskos-compatible server's pools healthy. Each one talks
//! through [`mason_client::BoskosApi`], so it runs unchanged over HTTP against any server
//! (ours or upstream) or in process inside `mason up`.
//!
//! Layout:
//! - [`runner`]: the [`Loop`] trait every controller implements, and the runner that
//!   drives a loop until shutdown (wake-ups, one error policy, per-loop status).
//! - [`builder`]: the Mason builder (virtual resources built from leased physical ones).
#![warn(missing_docs)]

pub mod builder;
pub mod runner;

pub use runner::{Driver, ErrorPolicy, Loop, LoopError, LoopStatus, Next, StatusHandle, Waker};
