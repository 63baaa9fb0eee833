//! End-to-end tests of the Mason builder against a real `mason serve` (in process,
//! HTTP on 127.0.0.1:0), with the exec converter running real shell scripts.

mod failures;
mod lifecycle;
mod recovery;
mod routes;
mod support;
mod turnaround;
