//! Host state from real ESXi hosts, so compliance and impact run on what hosts report.
//!
//! * [`commands`] — the read-only `esxcli --formatter=json` commands and the one `sh`
//!   script that runs them in a single SSH session, outputs between marker lines.
//! * [`ssh`] — the admin's own OpenSSH client as a child process (`BatchMode=yes`, their
//!   config, keys, known_hosts, ProxyJump), with a deadline and an output cap; failures
//!   classified (unreachable, authentication, host key, esxcli error, timeout) with advice.
//! * [`output`] — decoding what the host printed (untrusted bytes; fuzzed).
//! * [`document`] — the host-state document (each output verbatim under its key, plus
//!   `collected`), checked with `esxlcm_solver::host_state` before it leaves.
//! * [`host`], [`inventory`] — one host; many hosts with N workers and a per-host report.
//! * [`post`] — delivering documents to the service's API through `esxlcm-net`.
//! * [`agent`] — the Python agent for hosts where SSH is off (`localcli`).
//!
//! Nothing here prints; the binary renders the reports.

pub mod agent;
pub mod commands;
pub mod document;
pub mod host;
pub mod inventory;
pub mod output;
pub mod post;
pub mod ssh;

pub use document::{Document, DocumentError, Origin};
pub use host::{Target, collect, host_name};
pub use inventory::{Delivered, InventoryError, Outcome, collect_all, parse_inventory};
pub use ssh::{Failure, FailureKind, SshOptions};
