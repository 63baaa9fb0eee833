//! Client side of the Boskos API, usable against `mason serve` or an upstream Boskos.
//!
//! Layout:
//! - [`api`]: the [`BoskosApi`] trait every controller talks through, and its typed
//!   [`Error`]. The HTTP client implements it; `mason up` uses an in-process one.
//! - [`HttpClient`] (`http`, `builder`, `ops`): the HTTP implementation, in upstream's wire
//!   shape, with Basic auth from a password file or a bearer token from a token file
//!   (`auth`), a private CA for `https://` servers, timeouts and retries on transport
//!   errors and 5xx only (`retry`); status codes become typed errors
//!   ([`Error::from_status`], in `status`, the one mapping every client uses);
//!   URLs keep the base path (`url`).
//! - `wait`: [`HttpClient::acquire_wait`] and [`HttpClient::acquire_by_state_wait`], polling
//!   with one request ID and a progress hook.
//! - [`queue`]: [`HttpClient::queue`], the waiting requests (a `mason serve` extension).
//! - [`inventory`]: [`HttpClient::resources`], resources listed by type, state or owner (a
//!   `mason serve` extension).
//! - [`drlcs`]: [`HttpClient::drlcs`], the dynamic pools (a `mason serve` extension).
//! - `extension`: reading an extension route, and "unsupported" on upstream servers.
//! - [`history`]: [`HttpClient::events`] and [`HttpClient::follow_events`], the resource
//!   history and its live stream, and [`HttpClient::resource`] (`mason serve` extensions).
//! - `fencing`: the generation granted for each acquired resource, sent back as
//!   `generation=` on update and release (a `mason serve` extension).
//! - [`multi`]: [`HttpClient::acquire_many`] and [`HttpClient::acquire_many_wait`], the
//!   all-or-nothing acquire of several resources (a `mason serve` extension).
//! - [`lease`]: [`LeaseGuard`], a lease kept alive by a background heartbeat, which tells
//!   a lost lease apart from a failing heartbeat.
//! - [`virtual_client`]: [`VirtualClient`], the Mason client (a virtual resource leased
//!   together with its physical ones).
#![deny(missing_docs)]

pub mod api;
mod auth;
mod builder;
pub mod drlcs;
mod extension;
mod fencing;
pub mod history;
mod http;
pub mod inventory;
pub mod lease;
pub mod multi;
mod ops;
pub mod queue;
mod retry;
mod status;
mod url;
pub mod virtual_client;
mod wait;

pub use api::{BoskosApi, Error, Result};
pub use auth::{CREDENTIALS_TOGETHER, ONE_KIND_OF_CREDENTIALS};
pub use builder::{
    HttpClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_POLL_INTERVAL, DEFAULT_REQUEST_TIMEOUT,
};
pub use history::{EventFollower, EventQuery, EventsFrom};
pub use http::HttpClient;
pub use inventory::ResourceQuery;
pub use lease::{HeartbeatStatus, LeaseGuard, LostLease, LostReason};
pub use multi::SetRequest;
pub use queue::QueueEntry;
pub use reqwest::Url;
pub use retry::{RetryNotice, RetryPolicy};
pub use virtual_client::{VirtualClient, VirtualError, VirtualLease};
pub use wait::{ProgressHook, Wait, WaitProgress};
