//! esxlcm's HTTP side. Built so far: publishing a depot directory as an online depot
//! ([`depot_http`]) and a mirror store's published snapshots ([`store_http`]). The
//! vLCM-compatible API (sessions, tasks, depots, drafts, compliance) is not built yet.

pub mod depot_http;
pub mod store_http;
