//! Helpers shared by this crate's integration tests (each test binary uses a part).
#![allow(dead_code)]

pub(crate) mod pg;
