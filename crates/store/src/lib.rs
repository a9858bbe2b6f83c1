//! esxlcm's depot store and mirror: what `esxlcm mirror` runs on.
//!
//! * [`audit`] — the service's audit log (who, from where, what, the result), bounded.
//! * [`blob`] — payloads, content-addressed by sha-256 (one copy however many sources
//!   carry a file), written atomically (staging file, fsync, rename).
//! * [`ops`] — one call per operation (sync, push, rollback, import, export, gc, verify,
//!   source changes, the scheduler): lock, reconcile, run, refresh views, typed report.
//!   Front ends call these, never the steps.
//! * [`location`] — where the state lives: SQLite and a local directory (the default), or
//!   PostgreSQL and an S3-compatible bucket under several replicas.
//! * [`content`] — a snapshot's (or a named view's) files read from its rows and blobs,
//!   with no tree: what every replica of a cluster store serves.
//! * [`meta`] — the metadata database behind a trait (SQLite with WAL by default).
//! * [`store`] — the store directory: snapshots' views, atomic publication, rollback,
//!   retention, crash reconciliation.
//! * [`source`] — mirror sources (online depots, offline bundles, UMDS exports) and their
//!   filters.
//! * [`umds`] — finding the vendor indexes of a UMDS export (`hostupdate/<vendor>/`).
//! * [`transport`] — conditional and resumable GET over `file:`, `http:`, `https:`.
//! * [`sync`] — the engine: metadata first, then verified payloads, then a new snapshot.
//! * [`carry`] — `mirror export` / `mirror import`: snapshots across an air gap in
//!   checksummed chunk files, incremental, resumable.
//! * [`migrate`] — a single-node store moved into PostgreSQL and object storage, verified
//!   and resumable.
//! * [`ondemand`] — payloads of on-demand sources, fetched, verified and stored when
//!   first needed (a host's request, an export, a view build).
//! * [`shared_file`] — files one request leaves for a later one on any replica (uploaded
//!   bundles, exported images): blobs named by rows.
//! * [`gc`], [`verify`] — deleting unreferenced blobs; checking the whole store.
//! * [`subset`] — self-consistent subset depots (exactly some images' content), shared
//!   by image views and `--only-for` sources.
//! * [`view`] — named views: merged and image views of several sources, built into
//!   online depot trees of hard links, or (without trees) into rows over blobs, and
//!   published atomically.
//! * [`schedule`] — per-source sync schedules (hourly, daily, weekly, monthly; UTC) and
//!   their next slot.
//! * [`status`] — `status/<source>.json`: each sync's progress and outcome, for readers.
//!
//! Every sync of a source that completes with a changed depot tree records an immutable
//! snapshot (path → blob) and publishes it atomically; the previous one stays published
//! until then and stays available for rollback until retention removes it.

pub mod audit;
mod backends;
pub mod blob;
pub mod carry;
pub mod carry_sign;
pub mod content;
mod error;
pub mod gc;
pub mod location;
pub mod meta;
pub mod migrate;
pub mod ondemand;
pub mod ops;
pub mod schedule;
pub mod shared_file;
pub mod signatures;
pub mod source;
pub mod status;
pub mod store;
pub mod subset;
pub mod sync;
pub mod transport;
pub mod umds;
pub mod verify;
pub mod view;

/// The engine's steps below [`ops`], for the store's own tests only (feature
/// `test-internals`): each takes no lock and refreshes no view by itself.
#[cfg(feature = "test-internals")]
pub mod internals {
    use std::path::Path;

    use crate::{Store, StoreError, carry, gc, ondemand, sync, view};

    pub fn sync_source(
        store: &Store,
        name: &str,
        options: &sync::SyncOptions,
        progress: &dyn sync::Progress,
    ) -> Result<sync::SyncReport, StoreError> {
        let transport = sync::transport_for(&store.source(name)?)?;
        sync::sync_source(store, name, transport.as_ref(), options, progress)
    }

    pub fn add_view(
        store: &Store,
        name: &str,
        sources: &[String],
        spec: Option<&[u8]>,
    ) -> Result<view::ViewRecord, view::ViewError> {
        view::add(store, name, sources, spec)
    }

    pub fn refresh_view(store: &Store, name: &str) -> Result<view::Refreshed, view::ViewError> {
        view::refresh(store, name)
    }

    pub fn remove_view(store: &Store, name: &str) -> Result<(), view::ViewError> {
        view::remove(store, name)
    }

    pub fn gc(store: &Store) -> Result<gc::GcReport, StoreError> {
        gc::collect(store)
    }

    pub fn export(
        store: &Store,
        dir: &Path,
        options: &carry::ExportOptions,
    ) -> Result<carry::ExportReport, StoreError> {
        carry::export(store, dir, options, &sync::NoProgress)
    }

    pub fn fetch_missing(
        store: &Store,
        fetcher: &ondemand::OnDemand,
        source: &crate::source::Source,
        snapshot_id: i64,
    ) -> Result<usize, ondemand::OnDemandError> {
        ondemand::fetch_missing(store, fetcher, source, snapshot_id)
    }
}

pub use error::StoreError;
pub use location::StoreLocation;
pub use store::Store;
