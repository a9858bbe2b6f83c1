//! Garbage collection: delete the blobs no snapshot, view build or shared file references, partial
//! downloads (a later sync starts those again), and quarantined payloads older than
//! [`QUARANTINE_RETENTION_DAYS`] with their records (and files no record names). Run under
//! the store lock, so no sync is between storing a payload and recording the snapshot
//! that uses it.

use crate::error::StoreError;
use crate::store::Store;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub blobs_kept: usize,
    pub blobs_deleted: usize,
    pub bytes_freed: u64,
    /// Partial downloads removed from `staging/`.
    pub partial_removed: usize,
    /// Quarantined payloads removed (past retention, or named by no record).
    pub quarantine_removed: usize,
}

/// How long a quarantined payload is kept to look at.
pub const QUARANTINE_RETENTION_DAYS: i64 = 30;

pub(crate) fn collect(store: &Store) -> Result<GcReport, StoreError> {
    collect_at(store, crate::meta::now())
}

/// [`collect`] as if it were `now` (Unix seconds): quarantine retention counts from it.
pub(crate) fn collect_at(store: &Store, now: i64) -> Result<GcReport, StoreError> {
    run(store, now, Mode::Delete)
}

/// What [`collect`] would delete and free, deleting nothing (`mirror gc --dry-run`).
pub(crate) fn plan(store: &Store) -> Result<GcReport, StoreError> {
    run(store, crate::meta::now(), Mode::Plan)
}

/// How long gc waits for a share of a file to finish writing its row.
const SHARED_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Every blob something keeps: the snapshots (and the payloads they will fetch), named
/// views' builds (which keep theirs after the snapshots that brought them are gone) and
/// shared files (uploads and exports waiting for their next request).
pub(crate) fn referenced_blobs(store: &Store) -> Result<std::collections::HashSet<crate::blob::BlobId>, StoreError> {
    let mut referenced = store.meta.referenced_blobs()?;
    referenced.extend(crate::view::referenced_blobs(store)?);
    for (_, record) in store.shared_files("")? {
        referenced.extend(record.blob_id());
    }
    Ok(referenced)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Delete,
    Plan,
}

/// One walk for both modes, so the plan counts exactly what a collection deletes.
fn run(store: &Store, now: i64, mode: Mode) -> Result<GcReport, StoreError> {
    let delete = mode == Mode::Delete;
    // Listed before the references are read: a shared file's row is written before its
    // blob is stored, so a blob listed here already has its row (crate::shared_file).
    let present = store.blobs.list()?;
    // A plan deletes nothing, so it races with no share (and writes no lease file).
    let _shared = if delete {
        Some(store.lease_waiting(crate::shared_file::SHARED_LEASE, crate::ops::LockWait(SHARED_WAIT))?)
    } else {
        None
    };
    let referenced = referenced_blobs(store)?;
    let mut report = GcReport::default();
    for id in present {
        if referenced.contains(&id) {
            report.blobs_kept += 1;
            continue;
        }
        let size = store.blobs.size(&id).unwrap_or(0);
        if delete {
            store.blobs.delete(&id)?;
            tracing::debug!(blob = %id, size, "deleted unreferenced blob");
        }
        report.blobs_deleted += 1;
        report.bytes_freed += size;
    }
    let staging = store.staging_dir();
    for entry in std::fs::read_dir(&staging).map_err(|e| StoreError::io(&staging, e))? {
        let path = entry.map_err(|e| StoreError::io(&staging, e))?.path();
        if path.is_file() {
            report.bytes_freed += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if delete {
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            }
            report.partial_removed += usize::from(path.extension().is_some_and(|e| e == "part"));
        }
    }
    let cutoff = now - QUARANTINE_RETENTION_DAYS * 86_400;
    // The records within retention name the quarantined files kept; the rest go.
    let named: std::collections::HashSet<String> =
        store.meta.quarantined()?.into_iter().filter(|q| q.at >= cutoff).map(|q| q.file).collect();
    if delete {
        store.meta.forget_quarantined_before(cutoff)?;
    }
    let quarantine = store.quarantine_dir();
    for entry in std::fs::read_dir(&quarantine).map_err(|e| StoreError::io(&quarantine, e))? {
        let entry = entry.map_err(|e| StoreError::io(&quarantine, e))?;
        let file = format!("quarantine/{}", entry.file_name().to_string_lossy());
        if !named.contains(&file) {
            let path = entry.path();
            report.bytes_freed += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if delete {
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            }
            report.quarantine_removed += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::FileEntry;
    use crate::source::SourceConfig;

    #[test]
    fn deletes_only_unreferenced_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let source = store.meta.add_source(&SourceConfig::new("s", "file:///x/index.xml").unwrap()).unwrap();
        let kept = store.blobs.put_bytes(b"kept").unwrap();
        let old = store.blobs.put_bytes(b"old").unwrap();
        let orphan = store.blobs.put_bytes(b"orphan").unwrap();
        std::fs::write(store.staging_dir().join("x.part"), b"partial").unwrap();
        let s1 = store.meta.create_snapshot(source.id, &[FileEntry { path: "a".into(), blob: old.clone(), size: 3 }]);
        let s1 = s1.unwrap();
        store.meta.create_snapshot(source.id, &[FileEntry { path: "a".into(), blob: kept.clone(), size: 4 }]).unwrap();
        let planned = plan(&store).unwrap();
        assert!(store.blobs.contains(&orphan).unwrap(), "a plan deletes nothing");
        assert!(store.staging_dir().join("x.part").exists(), "a plan deletes nothing");
        let r = collect(&store).unwrap();
        assert_eq!(planned, r, "the plan counts what the collection deletes");
        assert_eq!((r.blobs_kept, r.blobs_deleted, r.bytes_freed, r.partial_removed), (2, 1, 13, 1));
        assert!(!store.blobs.contains(&orphan).unwrap());
        store.delete_snapshot(&s1).unwrap();
        let r = collect(&store).unwrap();
        assert_eq!((r.blobs_kept, r.blobs_deleted), (1, 1));
        assert!(store.blobs.contains(&kept).unwrap() && !store.blobs.contains(&old).unwrap());
    }

    #[test]
    fn quarantine_is_kept_for_its_retention_then_removed() {
        use crate::meta::QuarantineRecord;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let record = |file: &str, at: i64| QuarantineRecord {
            source: "s".into(),
            name: "v".into(),
            path: "vib20/v.vib".into(),
            expected: "e".into(),
            actual: "a".into(),
            size: 3,
            file: format!("quarantine/{file}"),
            reason: "checksum".into(),
            at,
        };
        let now = 100 * 86_400;
        for (file, at) in [("old", now - 31 * 86_400), ("new", now - 86_400)] {
            std::fs::write(store.quarantine_dir().join(file), b"bad").unwrap();
            store.meta.record_quarantine(&record(file, at)).unwrap();
        }
        std::fs::write(store.quarantine_dir().join("stray"), b"bad").unwrap();
        let r = collect_at(&store, now).unwrap();
        assert_eq!(r.quarantine_removed, 2, "the old one and the one no record names");
        assert!(store.quarantine_dir().join("new").exists());
        let left: Vec<String> = store.meta.quarantined().unwrap().into_iter().map(|q| q.file).collect();
        assert_eq!(left, ["quarantine/new"]);
    }
}
