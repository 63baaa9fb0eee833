//! Controllers that keep a Boskos-compatible server's pools healthy. Each one talks
//! through [`mason_client::BoskosApi`], so it runs unchanged over HTTP against any server
//! (ours or upstream) or in process inside `mason up`.
//!
//! Layout:
//! - [`runner`]: the [`Loop`] trait every controller implements, and the runner that
//!   drives a loop until shutdown (wake-ups, one error policy, per-loop status).
//! - [`builder`]: the Mason builder (virtual resources built from leased physical ones).
//! - [`reaper`]: stale owned leases back to `dirty` (SPEC §7.1).
//! - [`cleaner`]: `toBeDeleted` dynamic resources → physical ones to `dirty` →
//!   `tombstone` (SPEC §7.2).
//! - [`janitor`]: `dirty` resources cleaned by an external program, fairly across types
//!   (SPEC §7.3).
//! - [`shutdown`]: server calls that give way to shutdown (a retry back-off ends at
//!   once, a request in flight gets a short grace), so a controller whose server is gone
//!   still stops promptly.
//! - [`spawn`]: starting a program whose file may be busy for a moment (`ETXTBSY`).
//! - [`types_source`]: the resource types a controller works on (flags and/or a watched
//!   config file).
#![warn(missing_docs)]

pub mod builder;
pub mod cleaner;
pub mod janitor;
pub mod reaper;
pub mod runner;
pub mod shutdown;
pub mod spawn;
pub mod types_source;

pub use runner::{Driver, ErrorPolicy, Loop, LoopError, LoopStatus, Next, StatusHandle, Waker};
