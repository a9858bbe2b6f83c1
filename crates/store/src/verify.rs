//! `mirror verify`: the database is sound, every blob hashes to its name, every snapshot's
//! files exist with their recorded sizes, and what is published is what the database says.

use std::fs;

use crate::blob::hash_file;
use crate::error::StoreError;
use crate::store::Store;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub blobs_checked: usize,
    pub snapshots_checked: usize,
    /// Blobs no snapshot references (not a problem: `mirror gc` removes them).
    pub unreferenced_blobs: usize,
    /// Partial downloads kept for resume (not a problem).
    pub partial_downloads: usize,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

pub fn verify(store: &Store) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    report.problems.extend(store.meta.integrity_check()?.into_iter().map(|p| format!("database: {p}")));
    let present = store.blobs.list()?;
    for id in &present {
        report.blobs_checked += 1;
        let Some(path) = store.blobs.local_path(id) else { continue };
        match hash_file(&path) {
            Ok((actual, _)) if &actual == id => {}
            Ok((actual, _)) => report.problems.push(format!("blob {id} is corrupt: its content hashes to {actual}")),
            Err(e) => report.problems.push(format!("blob {id}: {e}")),
        }
    }
    let present: std::collections::HashSet<_> = present.into_iter().collect();
    let referenced = store.meta.referenced_blobs()?;
    report.unreferenced_blobs = present.difference(&referenced).count();
    for snap in store.meta.all_snapshots()? {
        report.snapshots_checked += 1;
        for f in store.meta.snapshot_files(snap.id)? {
            if !present.contains(&f.blob) {
                report
                    .problems
                    .push(format!("snapshot {}: {} needs blob {}, which is missing", snap.id, f.path, f.blob));
            } else if store.blobs.size(&f.blob)? != f.size {
                report.problems.push(format!("snapshot {}: {} has a size other than recorded", snap.id, f.path));
            }
        }
    }
    for q in store.meta.quarantined()? {
        if crate::blob::BlobId::parse(&q.actual).is_some_and(|id| referenced.contains(&id)) {
            report.problems.push(format!("quarantined payload {} ({}) is referenced by a snapshot", q.name, q.path));
        }
    }
    for source in store.meta.sources()? {
        let name = &source.config.name;
        let Some((id, files)) = store.published_files(&source)? else { continue };
        if store.linked_snapshot(name) != Some(id) {
            report.problems.push(format!("source '{name}': published/{name} does not point at snapshot {id}"));
            continue;
        }
        let view = store.view_dir(id);
        for f in files {
            let path = view.join(&f.path);
            match fs::metadata(&path) {
                Ok(m) if m.len() == f.size => {}
                Ok(_) => report.problems.push(format!("source '{name}': served {} has the wrong size", f.path)),
                Err(_) => report.problems.push(format!("source '{name}': served {} is missing", f.path)),
            }
        }
    }
    let staging = store.staging_dir();
    if let Ok(entries) = fs::read_dir(&staging) {
        report.partial_downloads =
            entries.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".part")).count();
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::FileEntry;
    use crate::source::SourceConfig;

    #[test]
    fn finds_corrupt_and_missing_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let source = store.meta.add_source(&SourceConfig::new("s", "file:///x/index.xml").unwrap()).unwrap();
        let a = store.blobs.put_bytes(b"aaaa").unwrap();
        let b = store.blobs.put_bytes(b"bbbb").unwrap();
        let files = [
            FileEntry { path: "a".into(), blob: a.clone(), size: 4 },
            FileEntry { path: "d/b".into(), blob: b.clone(), size: 4 },
        ];
        let snap = store.meta.create_snapshot(source.id, &files).unwrap();
        store.publish(&source, snap.id).unwrap();
        let clean = verify(&store).unwrap();
        assert!(clean.is_clean(), "{:?}", clean.problems);
        assert_eq!((clean.blobs_checked, clean.snapshots_checked), (2, 1));

        // Corrupt one blob in place (the view shares its inode), delete the other.
        fs::write(store.blobs.local_path(&a).unwrap(), b"AAAA").unwrap();
        store.blobs.delete(&b).unwrap();
        let r = verify(&store).unwrap();
        assert!(r.problems.iter().any(|p| p.contains(&format!("blob {a} is corrupt"))), "{:?}", r.problems);
        assert!(r.problems.iter().any(|p| p.contains("d/b needs blob")), "{:?}", r.problems);
    }
}
