//! esxlcm's HTTP side. Built so far: publishing a depot directory as an online depot
//! ([`depot_http`]), a mirror store's published snapshots ([`store_http`]) and the
//! vLCM-compatible API ([`api`]: sessions, tasks, depots, depot content; drafts and
//! compliance are not built yet).

pub mod api;
pub mod depot_http;
pub mod store_http;
