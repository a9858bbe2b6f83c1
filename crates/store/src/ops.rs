//! The store's operations, one call each, for every front end (the CLI, the API, the
//! scheduler, pushes over HTTP). Each call that changes the store takes the store lock
//! (waiting up to a bound while another process holds it), makes the directories agree
//! with the database after a crash ([`Store::reconcile`]), runs, refreshes the named views
//! of whatever it published, and returns a typed report. Front ends only render reports:
//! the invariants (one writer, views follow publications) live here.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::blob::BlobId;
use crate::carry::{self, ExportOptions, ExportReport, ImportReport};
use crate::error::StoreError;
use crate::gc::{self, GcReport};
use crate::meta::{CacheEntry, Document, DocumentChange, FileEntry, QuarantineRecord, SnapshotInfo, SyncRun};
use crate::schedule;
use crate::source::{Source, SourceConfig};
use crate::store::{Store, StoreLock};
use crate::sync::{self, Outcome, Progress, SyncOptions, SyncReport};
use crate::verify::{self, VerifyReport};
use crate::view::{self, RefreshResult};

/// How long an operation waits for the store lock before it says the store is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockWait(pub Duration);

impl LockWait {
    /// Fail at once when another process holds the lock (the CLI's default).
    pub const NONE: Self = Self(Duration::ZERO);
}

/// One view's refresh after a publication: its name and what happened.
pub type ViewRefresh = (String, RefreshResult);

/// One source's sync within [`Store::sync`]: a failure of one source does not stop the rest.
#[derive(Debug)]
pub struct SourceRun {
    pub source: String,
    pub result: Result<SyncReport, StoreError>,
}

/// What [`Store::sync`] did: each source's run, then the refreshed views.
#[derive(Debug, Default)]
pub struct SyncBatch {
    pub runs: Vec<SourceRun>,
    pub views: Vec<ViewRefresh>,
}

impl SyncBatch {
    /// Sources whose sync failed (not those with rejected payloads: they ran).
    pub fn failed(&self) -> Vec<&str> {
        self.runs.iter().filter(|r| r.result.is_err()).map(|r| r.source.as_str()).collect()
    }
}

/// What [`Store::push`] did.
#[derive(Debug)]
pub struct Pushed {
    pub report: SyncReport,
    pub views: Vec<ViewRefresh>,
}

/// What [`Store::rollback`] did.
#[derive(Debug)]
pub struct RolledBack {
    pub source: String,
    /// The snapshot published before (none: nothing was).
    pub from: Option<i64>,
    pub to: i64,
    pub views: Vec<ViewRefresh>,
}

/// What [`Store::plan_rollback`] found: what a rollback would publish, nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackPlan {
    pub source: String,
    /// The snapshot published now (none: nothing is).
    pub from: Option<i64>,
    /// The snapshot a rollback would publish.
    pub to: i64,
    /// Named views that include the source and would be rebuilt.
    pub views: Vec<String>,
}

/// What [`Store::plan_remove`] found: what removing a source would drop, nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovePlan {
    pub source: String,
    /// The published snapshot that would stop being served (none: nothing is).
    pub published: Option<i64>,
    /// Every snapshot of the source, oldest first, that would be forgotten.
    pub snapshots: Vec<i64>,
    /// Named views that include the source (they keep their last build).
    pub views: Vec<String>,
}

/// What [`Store::import`] did.
#[derive(Debug)]
pub struct Imported {
    pub report: ImportReport,
    pub views: Vec<ViewRefresh>,
}

/// Which sources [`Store::sync`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These, by name (each must exist).
    Named(Vec<String>),
    /// Every enabled source.
    Enabled,
    /// The enabled sources whose schedule is due at this time.
    Due(DateTime<Utc>),
    /// The due sources whose slot this caller claims (`MetaStore::claim_due`): what the
    /// scheduler of each replica syncs, so that a slot runs once however many replicas
    /// tick. Worked out under the store lock, after any other replica's sync recorded its run.
    Claimed(DateTime<Utc>),
}

impl Store {
    /// The store lock, retried for up to `wait` while another process or thread holds it.
    pub fn lock_waiting(&self, wait: LockWait) -> Result<StoreLock, StoreError> {
        let deadline = Instant::now() + wait.0;
        loop {
            match self.lock() {
                Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                taken => return taken,
            }
        }
    }

    /// Lock, then repair what a crash left: every changing operation starts here.
    fn begin(&self, wait: LockWait) -> Result<StoreLock, StoreError> {
        let lock = self.lock_waiting(wait)?;
        self.reconcile()?;
        Ok(lock)
    }

    /// Repair what a crash left (see [`Store::reconcile`]) unless another process holds the
    /// store (it will repair it itself): what a server does when it starts. Returns whether
    /// it ran.
    pub fn reconcile_if_idle(&self) -> Result<bool, StoreError> {
        match self.lock() {
            Ok(_lock) => self.reconcile().map(|()| true),
            Err(StoreError::Locked { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sync the selected sources one after another with their own transports; each
    /// source's outcome is reported, then the views of the sources that ran are refreshed.
    /// `progress` makes the progress sink of each source's run.
    pub fn sync(
        &self,
        selection: &Selection,
        options: &SyncOptions,
        wait: LockWait,
        progress: &dyn Fn(&str) -> Box<dyn Progress + '_>,
    ) -> Result<SyncBatch, StoreError> {
        let _lock = self.begin(wait)?;
        let names: Vec<String> = match selection {
            Selection::Named(names) => {
                for n in names {
                    self.meta.source(n)?;
                }
                names.clone()
            }
            Selection::Enabled => {
                self.meta.sources()?.into_iter().filter(|s| s.config.enabled).map(|s| s.config.name).collect()
            }
            Selection::Due(now) => schedule::due_sources(self, *now)?.into_iter().map(|s| s.config.name).collect(),
            Selection::Claimed(now) => {
                let mut claimed = Vec::new();
                for source in schedule::due_sources(self, *now)? {
                    let slot = schedule::due_slot(self, &source, *now)?;
                    if let Some(slot) = slot
                        && schedule::claim_slot(self, &source, slot)?
                    {
                        claimed.push(source.config.name);
                    }
                }
                claimed
            }
        };
        let mut batch = SyncBatch::default();
        for name in &names {
            let sink = progress(name);
            let result = self
                .meta
                .source(name)
                .and_then(|source| sync::transport_for(&source))
                .and_then(|t| sync::sync_source(self, name, t.as_ref(), options, sink.as_ref()));
            drop(sink);
            batch.runs.push(SourceRun { source: name.clone(), result });
        }
        batch.views = view::refresh_for_sources(self, &names).map_err(view_store_error)?;
        Ok(batch)
    }

    /// Publish an offline bundle (a local file) into the bundle source `name`, created if
    /// missing, verified whole as a sync verifies; views follow when it was accepted. A
    /// rejected bundle is a report with [`Outcome::Rejected`]: nothing new is published.
    pub fn push(
        &self,
        name: &str,
        bundle: &Path,
        options: &SyncOptions,
        wait: LockWait,
        progress: &dyn Progress,
    ) -> Result<Pushed, StoreError> {
        let _lock = self.begin(wait)?;
        let new_source = matches!(self.meta.source(name), Err(StoreError::UnknownSource(_)));
        let pushed = sync::push_bundle(self, name, bundle, options, progress);
        // A first bundle that is refused leaves no empty source behind.
        let refused = pushed.as_ref().map_or(true, |r| r.outcome == Outcome::Rejected && r.snapshot.is_none());
        if new_source && refused && self.meta.source(name).is_ok() {
            self.drop_source(name)?;
        }
        let report = pushed?;
        let views = if report.outcome == Outcome::Rejected {
            Vec::new()
        } else {
            view::refresh_for_sources(self, &[name.to_owned()]).map_err(view_store_error)?
        };
        Ok(Pushed { report, views })
    }

    /// Republish an earlier snapshot of a source (`to`, or the one before the published
    /// one); its views follow.
    pub fn rollback(&self, name: &str, to: Option<i64>, wait: LockWait) -> Result<RolledBack, StoreError> {
        let _lock = self.begin(wait)?;
        let (from, to) = self.republish(name, to)?;
        let views = view::refresh_for_sources(self, &[name.to_owned()]).map_err(view_store_error)?;
        Ok(RolledBack { source: name.to_owned(), from, to, views })
    }

    /// Import an export directory (`mirror import`), refused whole unless signed by
    /// `verify`'s key when one is given; views of the sources it published follow.
    pub fn import(
        &self,
        dir: &Path,
        verify: Option<&crate::carry_sign::PackageVerifier>,
        wait: LockWait,
        progress: &dyn Progress,
    ) -> Result<Imported, StoreError> {
        let _lock = self.begin(wait)?;
        let report = carry::import(self, dir, verify, progress)?;
        let mut published: Vec<String> = report.published.iter().map(|(s, _)| s.clone()).collect();
        published.dedup();
        let views = view::refresh_for_sources(self, &published).map_err(view_store_error)?;
        Ok(Imported { report, views })
    }

    /// Export snapshots for an air gap (`mirror export`).
    pub fn export(
        &self,
        dir: &Path,
        options: &ExportOptions,
        wait: LockWait,
        progress: &dyn Progress,
    ) -> Result<ExportReport, StoreError> {
        let _lock = self.begin(wait)?;
        carry::export(self, dir, options, progress)
    }

    /// Delete unreferenced blobs and stale partial downloads.
    pub fn gc(&self, wait: LockWait) -> Result<GcReport, StoreError> {
        let _lock = self.begin(wait)?;
        gc::collect(self)
    }

    /// What [`Store::gc`] would delete and free, changing nothing (`mirror gc --dry-run`).
    /// Under the lock (so no sync is half-way), without the crash repair `gc` starts with.
    pub fn plan_gc(&self, wait: LockWait) -> Result<GcReport, StoreError> {
        let _lock = self.lock_waiting(wait)?;
        gc::plan(self)
    }

    /// What [`Store::rollback`] would publish, changing nothing (`mirror rollback --dry-run`).
    pub fn plan_rollback(&self, name: &str, to: Option<i64>, wait: LockWait) -> Result<RollbackPlan, StoreError> {
        let _lock = self.lock_waiting(wait)?;
        let (_, from, to) = self.rollback_target(name, to)?;
        Ok(RollbackPlan { source: name.to_owned(), from, to, views: self.views_of(name)? })
    }

    /// What [`Store::remove_source`] would drop, changing nothing (`mirror remove --dry-run`).
    pub fn plan_remove(&self, name: &str, wait: LockWait) -> Result<RemovePlan, StoreError> {
        let _lock = self.lock_waiting(wait)?;
        let source = self.meta.source(name)?;
        let mut snapshots: Vec<i64> = self.meta.snapshots(source.id)?.iter().map(|s| s.id).collect();
        snapshots.sort_unstable();
        Ok(RemovePlan {
            source: name.to_owned(),
            published: self.meta.published(source.id)?,
            snapshots,
            views: self.views_of(name)?,
        })
    }

    /// The named views that include `source`.
    fn views_of(&self, source: &str) -> Result<Vec<String>, StoreError> {
        let records = view::list(self).map_err(view_store_error)?;
        Ok(records
            .into_iter()
            .filter(|r| r.definition.sources.iter().any(|s| s == source))
            .map(|r| r.definition.name)
            .collect())
    }

    /// Check every published byte against its name, and the database against itself.
    /// The run is recorded ([`Self::last_verify`]).
    pub fn verify(&self, wait: LockWait, progress: &dyn Progress) -> Result<VerifyReport, StoreError> {
        let _lock = self.begin(wait)?;
        let started_at = crate::meta::now();
        let report = verify::verify_with(self, progress)?;
        self.meta.record_verify(&crate::meta::VerifyRun {
            started_at,
            finished_at: crate::meta::now(),
            blobs_checked: report.blobs_checked as u64,
            snapshots_checked: report.snapshots_checked as u64,
            problems: report.problems.len() as u64,
            first_problem: report.problems.first().cloned(),
        })?;
        Ok(report)
    }

    /// The last whole-store verify (by any process), if one ran.
    pub fn last_verify(&self) -> Result<Option<crate::meta::VerifyRun>, StoreError> {
        self.meta.last_verify()
    }

    /// Add a source (its configuration validated first).
    pub fn add_source(&self, config: &SourceConfig, wait: LockWait) -> Result<Source, StoreError> {
        config.validate()?;
        let _lock = self.lock_waiting(wait)?;
        self.meta.add_source(config)
    }

    /// Remove a source: its published link, snapshots and views (blobs go at the next gc).
    pub fn remove_source(&self, name: &str, wait: LockWait) -> Result<(), StoreError> {
        let _lock = self.lock_waiting(wait)?;
        self.drop_source(name)
    }

    /// Forget what a source synced (its snapshots, published tree and HTTP validators),
    /// keeping its configuration: the next sync fetches everything again.
    pub fn flush_source(&self, name: &str, wait: LockWait) -> Result<Source, StoreError> {
        let _lock = self.begin(wait)?;
        let config = self.meta.source(name)?.config;
        self.drop_source(name)?;
        self.meta.add_source(&config)
    }

    /// Change a source's configuration (enable, disable, schedule, filters). A change of
    /// what the source keeps (`only_for`, filters) forgets the validators of its vendor
    /// list, so the next sync reads everything again.
    pub fn configure_source(
        &self,
        name: &str,
        wait: LockWait,
        change: impl FnOnce(&mut SourceConfig),
    ) -> Result<Source, StoreError> {
        let _lock = self.lock_waiting(wait)?;
        let mut source = self.meta.source(name)?;
        let before = source.config.clone();
        change(&mut source.config);
        source.config.validate()?;
        self.meta.update_source(&source)?;
        let keeps_other_content = before.only_for != source.config.only_for
            || before.platforms != source.config.platforms
            || before.vendors != source.config.vendors;
        if keeps_other_content {
            self.meta.cache_put(source.id, &source.config.url, &CacheEntry::default())?;
        }
        Ok(source)
    }

    /// Define a view and build it; the definition stays when the build fails (the record
    /// keeps why, and a later refresh tries again).
    pub fn add_view(
        &self,
        name: &str,
        sources: &[String],
        spec: Option<&[u8]>,
        wait: LockWait,
    ) -> Result<(view::ViewRecord, RefreshResult), view::ViewError> {
        let _lock = self.begin(wait)?;
        let record = view::add(self, name, sources, spec)?;
        let built = view::refresh(self, name);
        Ok((record, built))
    }

    /// Remove a view (blobs only it used go at the next gc).
    pub fn remove_view(&self, name: &str, wait: LockWait) -> Result<(), view::ViewError> {
        let _lock = self.lock_waiting(wait)?;
        view::remove(self, name)
    }

    /// Rebuild the named views (every view when `names` is empty).
    pub fn refresh_views(&self, names: &[String], wait: LockWait) -> Result<Vec<ViewRefresh>, view::ViewError> {
        let _lock = self.begin(wait)?;
        let names: Vec<String> = if names.is_empty() {
            view::list(self)?.into_iter().map(|r| r.definition.name).collect()
        } else {
            names.to_vec()
        };
        Ok(names
            .into_iter()
            .map(|n| {
                let r = view::refresh(self, &n);
                (n, r)
            })
            .collect())
    }

    /// Settle the status documents of syncs whose process died (they say `running` while no
    /// sync holds the store): what a reader calls before showing statuses. Does nothing
    /// while a sync runs.
    pub fn settle_interrupted_syncs(&self) -> Result<(), StoreError> {
        match self.lock() {
            Ok(_lock) => crate::status::settle_interrupted(self).map(drop),
            Err(StoreError::Locked { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every configured source.
    pub fn sources(&self) -> Result<Vec<Source>, StoreError> {
        self.meta.sources()
    }

    /// One source by name.
    pub fn source(&self, name: &str) -> Result<Source, StoreError> {
        self.meta.source(name)
    }

    /// The snapshot a source publishes, if any.
    pub fn published_snapshot(&self, source: &Source) -> Result<Option<i64>, StoreError> {
        self.meta.published(source.id)
    }

    /// A source's snapshots, oldest first.
    pub fn snapshots(&self, source: &Source) -> Result<Vec<SnapshotInfo>, StoreError> {
        self.meta.snapshots(source.id)
    }

    /// The files of one snapshot (path → blob).
    pub fn snapshot_files(&self, snapshot_id: i64) -> Result<Vec<FileEntry>, StoreError> {
        self.meta.snapshot_files(snapshot_id)
    }

    /// Every payload that failed verification, with its source and reason.
    pub fn quarantined(&self) -> Result<Vec<QuarantineRecord>, StoreError> {
        self.meta.quarantined()
    }

    /// A source's latest sync or push, if any.
    pub fn last_run(&self, source: &Source) -> Result<Option<SyncRun>, StoreError> {
        self.meta.last_run(source.id)
    }

    /// Every recorded sync run (CLI, scheduler, API) summed by source and outcome.
    pub fn run_stats(&self) -> Result<Vec<crate::meta::RunStats>, StoreError> {
        self.meta.run_stats()
    }

    /// The payloads stored: how many blobs, and their bytes (one `stat` each).
    pub fn blob_usage(&self) -> Result<(u64, u64), StoreError> {
        let ids = self.blobs.list()?;
        let bytes = ids.iter().map(|id| self.blobs.size(id).unwrap_or(0)).sum();
        Ok((ids.len() as u64, bytes))
    }

    /// Where a stored payload is on disk, when the blob store is local (hard links and
    /// `sendfile` need it).
    pub fn blob_path(&self, id: &BlobId) -> Option<PathBuf> {
        self.blobs.local_path(id)
    }

    /// The service's state: every document (one row per object).
    pub fn documents(&self) -> Result<Vec<Document>, StoreError> {
        self.meta.documents()
    }

    /// The documents of one kind, `(id, body)`.
    pub fn documents_of(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.meta.documents_of(kind)
    }

    /// One document's body, if it exists.
    pub fn document(&self, kind: &str, id: &str) -> Result<Option<String>, StoreError> {
        self.meta.document(kind, id)
    }

    /// Write (or, with no body, delete) documents in one transaction.
    pub fn write_documents(&self, changes: &[DocumentChange]) -> Result<(), StoreError> {
        self.meta.write_documents(changes)
    }

    /// Take the cluster-wide lease `name` (not the store lock: another name, so it never
    /// waits for a sync), retried for up to `wait`: what makes a read-modify-write of
    /// documents one at a time across processes and replicas. `Locked` when it stays held.
    pub fn lease_waiting(&self, name: &str, wait: LockWait) -> Result<crate::meta::Lease, StoreError> {
        let deadline = Instant::now() + wait.0;
        loop {
            if let Some(lease) = self.meta.try_lease(name)? {
                return Ok(lease);
            }
            if Instant::now() >= deadline {
                return Err(StoreError::LeaseBusy {
                    store: self.location().to_string(),
                    name: name.to_owned(),
                    waited_ms: wait.0.as_millis(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One scheduler step: sync the sources due at `now`, if no other process holds the
    /// store. `None` when nothing was due or the store was busy (the due sources wait for
    /// the next step; a failed run counts as a run and is retried at the next slot).
    pub fn run_due(&self, now: DateTime<Utc>, options: &SyncOptions) -> Option<SyncBatch> {
        let due = match schedule::due_sources(self, now) {
            Ok(d) if d.is_empty() => return None,
            Ok(d) => d,
            Err(e) => {
                tracing::error!("scheduled syncs: cannot read the sources: {e}");
                return None;
            }
        };
        let names: Vec<String> = due.into_iter().map(|s| s.config.name).collect();
        tracing::info!(sources = %names.join(", "), "scheduled sync starting");
        // Due-ness is worked out again under the lock and each slot claimed there, once
        // across replicas; a busy store claims nothing, so the next tick tries again.
        let selection = Selection::Claimed(now);
        match self.sync(&selection, options, LockWait::NONE, &|_| Box::new(sync::NoProgress)) {
            Ok(batch) if batch.runs.is_empty() => None,
            Ok(batch) => {
                for run in &batch.runs {
                    match &run.result {
                        Ok(r) => tracing::info!(
                            source = %run.source,
                            outcome = r.outcome.as_str(),
                            snapshot = r.snapshot.unwrap_or_default(),
                            rejected = r.rejected.len(),
                            "scheduled sync finished"
                        ),
                        Err(e) => tracing::error!(
                            source = %run.source,
                            "scheduled sync failed: {e}; retried at the next slot, the published snapshot stays"
                        ),
                    }
                }
                for (view, result) in &batch.views {
                    if let Err(e) = result {
                        tracing::error!(view = %view, "refreshing the view after a scheduled sync: {e}");
                    }
                }
                Some(batch)
            }
            Err(StoreError::Locked { .. }) => {
                tracing::info!("scheduled syncs wait: another process is using the store");
                None
            }
            Err(e) => {
                tracing::error!("scheduled syncs: {e}");
                None
            }
        }
    }
}

/// A view failure that is the store's own (database, disk) ends the operation.
fn view_store_error(e: view::ViewError) -> StoreError {
    match e {
        view::ViewError::Store(s) => s,
        other => StoreError::Sync { source_name: "views".into(), message: other.to_string() },
    }
}

/// Runs [`Store::run_due`] every `tick` on a thread of its own until the handle is
/// stopped or dropped: what `esxlcm serve` runs so that sources sync on their schedules.
#[derive(Debug)]
pub struct Scheduler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scheduler {
    /// Start the scheduler over the store at `location` (its own handle: syncs run beside
    /// the server's readers, each publication atomic).
    pub fn spawn(location: &crate::StoreLocation, tick: Duration) -> Result<Self, StoreError> {
        let root = location.root.as_path();
        let store = Store::open_location(location)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = std::sync::Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("esxlcm-scheduler".into())
            .spawn(move || {
                while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    store.run_due(Utc::now(), &SyncOptions::default());
                    // Sleep in short steps so that a stop is noticed quickly.
                    let until = Instant::now() + tick;
                    while Instant::now() < until && !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(200).min(tick));
                    }
                }
            })
            .map_err(|e| StoreError::io(root, e))?;
        Ok(Self { stop, thread: Some(thread) })
    }

    /// Stop after the step in progress (a running sync finishes first).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
