//! esxlcm's depot store and mirror: what `esxlcm mirror` runs on.
//!
//! * [`blob`] — payloads, content-addressed by sha-256 (one copy however many sources
//!   carry a file), written atomically (staging file, fsync, rename).
//! * [`meta`] — the metadata database behind a trait (SQLite with WAL by default).
//! * [`store`] — the store directory: snapshots' views, atomic publication, rollback,
//!   retention, crash reconciliation.
//! * [`source`] — mirror sources (online depots, offline bundles) and their filters.
//! * [`transport`] — conditional and resumable GET over `file:`, `http:`, `https:`.
//! * [`sync`] — the engine: metadata first, then verified payloads, then a new snapshot.
//! * [`carry`] — `mirror export` / `mirror import`: snapshots across an air gap in
//!   checksummed chunk files, incremental, resumable.
//! * [`gc`], [`verify`] — deleting unreferenced blobs; checking the whole store.
//!
//! Every sync of a source that completes with a changed depot tree records an immutable
//! snapshot (path → blob) and publishes it atomically; the previous one stays published
//! until then and stays available for rollback until retention removes it.

pub mod blob;
pub mod carry;
mod error;
pub mod gc;
pub mod meta;
pub mod source;
pub mod store;
pub mod sync;
pub mod transport;
pub mod verify;

pub use error::StoreError;
pub use store::Store;
