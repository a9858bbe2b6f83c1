//! `esxlcm store migrate`: a single-node store moved into a cluster store (PostgreSQL and
//! object storage), verified and resumable.
//!
//! Order makes it safe to stop anywhere and run again:
//! 1. blobs first, each checked against its sha-256 on the way in and skipped when the
//!    destination has it (a re-run uploads only what is missing);
//! 2. then, per source, the source (created if missing) and every snapshot in id order,
//!    each recorded with its origin (this store's id and the snapshot's id) in one
//!    transaction, so a re-run finds it and does not record it twice; the on-demand records
//!    and the last sync run (schedules stay on time) come with it;
//! 3. the publication last: the destination publishes what this store publishes;
//! 4. the service's documents (inventory, drafts, image library, settings, tasks);
//! 5. the named views: each definition becomes the destination's record (a row on the
//!    cluster backends), and the view is built there from the migrated snapshots — the
//!    same inputs, so the same depot documents and VIBs, served at the same URLs; only its
//!    build number starts again at 1. A view that does not build there (one that did not
//!    build here either) keeps its definition and the reason; the report names it. A re-run
//!    finds the definition and leaves an up-to-date build as it is.
//!
//! Verification compares, per source, the published snapshot's tree digest on both sides
//! and checks that every blob the destination's snapshots name is there.

use std::collections::HashMap;
use std::io;

use crate::blob::BlobId;
use crate::error::StoreError;
use crate::meta::{DocumentChange, SnapshotInfo, tree_digest};
use crate::source::Source;
use crate::store::Store;

/// What a migration did (a re-run reports what it still had to do).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MigrateReport {
    pub blobs_copied: u64,
    pub blobs_present: u64,
    pub bytes_copied: u64,
    pub sources_created: u64,
    pub snapshots_copied: u64,
    pub snapshots_present: u64,
    pub documents: u64,
    /// Sources whose published snapshot has the same tree digest on both sides.
    pub sources_verified: u64,
    /// Named views recorded and built in the destination.
    pub views_moved: Vec<String>,
    /// Named views recorded in the destination that did not build there: `name: why`.
    pub views_unbuilt: Vec<String>,
}

/// What the migration is doing, for a progress display.
pub trait MigrateProgress {
    /// `done` of `total` blobs handled, `bytes` copied so far.
    fn blobs(&self, done: u64, total: u64, bytes: u64);
    fn source(&self, name: &str);
}

/// No progress display.
pub struct Quiet;

impl MigrateProgress for Quiet {
    fn blobs(&self, _: u64, _: u64, _: u64) {}
    fn source(&self, _: &str) {}
}

impl Store {
    /// Move everything this store holds into `to`, under both stores' locks. See the
    /// module documentation for the order and what makes it resumable.
    pub fn migrate_into(&self, to: &Store, progress: &dyn MigrateProgress) -> Result<MigrateReport, StoreError> {
        let _from_lock = self.lock()?;
        let _to_lock = to.lock()?;
        let mut report = MigrateReport::default();
        self.copy_blobs(to, progress, &mut report)?;
        let origin = self.meta.store_id()?;
        for source in self.meta.sources()? {
            progress.source(&source.config.name);
            self.copy_source(to, &source, &origin, &mut report)?;
        }
        let documents: Vec<DocumentChange> = self
            .meta
            .documents()?
            .into_iter()
            .map(|d| DocumentChange { kind: d.kind, id: d.id, body: Some(d.body) })
            .collect();
        report.documents = documents.len() as u64;
        to.meta.write_documents(&documents)?;
        self.copy_views(to, &mut report)?;
        self.verify_migration(to, &mut report)?;
        Ok(report)
    }

    fn copy_blobs(
        &self,
        to: &Store,
        progress: &dyn MigrateProgress,
        report: &mut MigrateReport,
    ) -> Result<(), StoreError> {
        let ids = self.blobs.list()?;
        let total = ids.len() as u64;
        for (i, id) in ids.iter().enumerate() {
            if to.blobs.contains(id)? {
                report.blobs_present += 1;
            } else {
                let staged = to.staging_dir().join(format!("migrate-{id}.part"));
                let mut reader = self.blobs.open(id)?;
                let mut file = std::fs::File::create(&staged).map_err(|e| StoreError::io(&staged, e))?;
                let bytes = io::copy(&mut reader, &mut file).map_err(|e| StoreError::io(&staged, e))?;
                file.sync_all().map_err(|e| StoreError::io(&staged, e))?;
                drop(file);
                // Hashed again on the way in: a blob damaged on disk is refused, not moved.
                to.blobs.ingest(&staged, id)?;
                report.blobs_copied += 1;
                report.bytes_copied += bytes;
            }
            progress.blobs(i as u64 + 1, total, report.bytes_copied);
        }
        Ok(())
    }

    fn copy_source(
        &self,
        to: &Store,
        source: &Source,
        origin: &str,
        report: &mut MigrateReport,
    ) -> Result<(), StoreError> {
        let target = match to.meta.source(&source.config.name) {
            Ok(s) => s,
            Err(StoreError::UnknownSource(_)) => {
                report.sources_created += 1;
                to.meta.add_source(&source.config)?
            }
            Err(e) => return Err(e),
        };
        let mut snapshots: Vec<SnapshotInfo> = self.meta.snapshots(source.id)?;
        snapshots.sort_by_key(|s| s.id);
        let mut mapped: HashMap<i64, i64> = HashMap::new();
        for snap in &snapshots {
            let local = match to.meta.imported_snapshot(origin, snap.id)? {
                Some(id) => {
                    report.snapshots_present += 1;
                    id
                }
                None => {
                    let files = self.meta.snapshot_files(snap.id)?;
                    report.snapshots_copied += 1;
                    to.meta.create_imported_snapshot(target.id, &files, snap.created_at, origin, snap.id)?.id
                }
            };
            let remote = self.meta.snapshot_remote(snap.id)?;
            if !remote.is_empty() {
                to.meta.record_remote(target.id, &remote)?;
            }
            mapped.insert(snap.id, local);
        }
        if let Some(run) = self.meta.last_run(source.id)?
            && to.meta.last_run(target.id)?.is_none_or(|r| r.started_at < run.started_at)
        {
            let snapshot_id = run.snapshot_id.and_then(|s| mapped.get(&s).copied());
            to.meta.record_run(&crate::meta::SyncRun { source_id: target.id, snapshot_id, ..run })?;
        }
        if let Some(published) = self.meta.published(source.id)?
            && let Some(local) = mapped.get(&published)
        {
            to.meta.set_published(target.id, *local)?;
        }
        Ok(())
    }

    /// Each named view's definition recorded in the destination (unless there already),
    /// then the view built there (see the module documentation).
    fn copy_views(&self, to: &Store, report: &mut MigrateReport) -> Result<(), StoreError> {
        use crate::view::{self, ViewError, ViewRecord};
        let records = view::list(self)
            .map_err(|e| StoreError::Location(format!("listing the views of {}: {e}", self.root().display())))?;
        for r in records {
            let name = r.definition.name.clone();
            let in_destination = |e: ViewError| StoreError::Location(format!("moving view '{name}': {e}"));
            match view::get(to, &name) {
                Ok(_) => {}
                Err(ViewError::Unknown(_)) => {
                    let record = ViewRecord { definition: r.definition.clone(), build: None, last_error: None };
                    view::write_record(to, &record).map_err(in_destination)?;
                }
                Err(e) => return Err(in_destination(e)),
            }
            match view::refresh(to, &name) {
                Ok(_) => report.views_moved.push(name),
                Err(ViewError::Store(e)) => return Err(e),
                Err(e) => report.views_unbuilt.push(format!("{name}: {e}")),
            }
        }
        Ok(())
    }

    /// Every source publishes the same tree on both sides, and every blob the
    /// destination's snapshots name (but on-demand payloads not fetched yet) is there.
    fn verify_migration(&self, to: &Store, report: &mut MigrateReport) -> Result<(), StoreError> {
        let mismatch =
            |what: String| StoreError::Location(format!("migration check failed: {what}; run the migration again"));
        for source in self.meta.sources()? {
            let name = &source.config.name;
            let target = to.meta.source(name)?;
            let (Some(a), b) = (self.meta.published(source.id)?, to.meta.published(target.id)?) else { continue };
            let b = b.ok_or_else(|| mismatch(format!("'{name}' publishes nothing in the destination")))?;
            let (files_a, files_b) = (self.meta.snapshot_files(a)?, to.meta.snapshot_files(b)?);
            if tree_digest(&files_a) != tree_digest(&files_b) {
                return Err(mismatch(format!("'{name}' publishes a different tree in the destination")));
            }
            let remote: std::collections::HashSet<BlobId> =
                to.meta.snapshot_remote(b)?.into_iter().map(|r| r.blob).collect();
            for f in &files_b {
                if !remote.contains(&f.blob) && !to.blobs.contains(&f.blob)? {
                    return Err(mismatch(format!(
                        "'{name}': {} (blob {}) is missing in the destination",
                        f.path, f.blob
                    )));
                }
            }
            report.sources_verified += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ops::LockWait;
    use crate::sync::{NoProgress, SyncOptions};
    use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};

    fn push(store: &Store, source: &str, dir: &std::path::Path, seed: u64) -> i64 {
        let bundle = dir.join(format!("b{seed}.zip"));
        generate_to_bundle(&GeneratorConfig::tiny(seed), &bundle).unwrap();
        store
            .push(source, &bundle, &SyncOptions::default(), LockWait::NONE, &NoProgress)
            .unwrap()
            .report
            .snapshot
            .unwrap()
    }

    #[test]
    fn a_store_moves_whole_verified_and_a_rerun_has_nothing_left_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let from = Store::open(&dir.path().join("from")).unwrap();
        push(&from, "a", dir.path(), 1);
        let published = push(&from, "a", dir.path(), 2);
        push(&from, "b", dir.path(), 3);
        from.write_documents(&[DocumentChange { kind: "draft".into(), id: "d1".into(), body: Some("{}".into()) }])
            .unwrap();
        let to = Store::open(&dir.path().join("to")).unwrap();

        let first = from.migrate_into(&to, &Quiet).unwrap();
        assert_eq!((first.sources_created, first.snapshots_copied, first.sources_verified), (2, 3, 2));
        assert!(first.blobs_copied > 0 && first.blobs_present == 0);
        assert_eq!(first.documents, 1);
        let a = to.source("a").unwrap();
        let moved = to.published_snapshot(&a).unwrap().unwrap();
        assert_eq!(
            tree_digest(&to.snapshot_files(moved).unwrap()),
            tree_digest(&from.snapshot_files(published).unwrap())
        );
        assert_eq!(to.snapshots(&a).unwrap().len(), 2);

        let again = from.migrate_into(&to, &Quiet).unwrap();
        assert_eq!((again.blobs_copied, again.snapshots_copied, again.sources_created), (0, 0, 0));
        assert_eq!((again.blobs_present, again.snapshots_present), (first.blobs_copied, 3));
        assert_eq!(to.snapshots(&a).unwrap().len(), 2, "a re-run records nothing twice");
    }

    #[test]
    fn a_damaged_blob_is_refused_and_nothing_of_its_source_is_published() {
        let dir = tempfile::tempdir().unwrap();
        let from = Store::open(&dir.path().join("from")).unwrap();
        let snap = push(&from, "a", dir.path(), 4);
        let victim = from.snapshot_files(snap).unwrap().into_iter().find(|f| f.path.ends_with(".vib")).unwrap();
        let path = from.blobs.local_path(&victim.blob).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"damaged").unwrap();
        let to = Store::open(&dir.path().join("to")).unwrap();
        let e = from.migrate_into(&to, &Quiet).unwrap_err().to_string();
        assert!(e.contains(victim.blob.as_str()), "{e}");
        assert!(to.sources().unwrap().is_empty(), "a source was created before its blobs were all in");
    }
}
