//! esxlcm's HTTP side. Built so far: publishing a depot directory as an online depot
//! ([`depot_http`]), a mirror store's published snapshots ([`store_http`]) and the
//! vLCM-compatible API ([`api`]: sessions, tasks, depots, depot content, cluster images
//! with drafts, validation, commits, compliance scans and export; docs/API.md has the
//! coverage per operation), and the web UI over it ([`ui`], under `/ui/`).

pub mod access_log;
pub mod api;
pub mod depot_http;
pub mod https;
pub mod metrics;
pub mod openapi;
mod read_ahead;
mod refused_body;
pub mod service;
pub mod store_http;
pub mod store_index;
pub mod ui;
