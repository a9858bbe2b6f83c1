//! `mirror verify`: the database is sound, every blob hashes to its name, every snapshot's
//! files exist with their recorded sizes, what is published is what the database says, and
//! every named view's published build serves only verified blobs its metadata names.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use esxlcm_depot::source::{Depot, OpenOptions};

use crate::blob::{BlobId, hash_file, hash_reader};
use crate::error::StoreError;
use crate::store::Store;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub blobs_checked: usize,
    pub snapshots_checked: usize,
    /// Named views whose published build was checked.
    pub views_checked: usize,
    /// Blobs no snapshot references (not a problem: `mirror gc` removes them).
    pub unreferenced_blobs: usize,
    /// Partial downloads kept for resume (not a problem).
    pub partial_downloads: usize,
    /// Payloads of on-demand sources not fetched yet (not a problem: fetched when first
    /// needed), counted once per blob.
    pub not_fetched: usize,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

pub fn verify(store: &Store) -> Result<VerifyReport, StoreError> {
    verify_with(store, &crate::sync::NoProgress)
}

/// [`verify`], telling `progress` the blob bytes to hash (`Planned`) and each blob hashed
/// (`Bytes`).
pub fn verify_with(store: &Store, progress: &dyn crate::sync::Progress) -> Result<VerifyReport, StoreError> {
    use crate::sync::SyncEvent;
    let mut report = VerifyReport::default();
    report.problems.extend(store.meta.integrity_check()?.into_iter().map(|p| format!("database: {p}")));
    let present = store.blobs.list()?;
    let sizes: Vec<u64> = present.iter().map(|id| store.blobs.size(id).unwrap_or(0)).collect();
    progress.event(&SyncEvent::Planned { files: present.len(), bytes: sizes.iter().sum() });
    let mut corrupt = HashSet::new();
    for (id, size) in present.iter().zip(&sizes) {
        report.blobs_checked += 1;
        // Hashed from wherever the blob lives: a local file, or streamed from the bucket.
        let hashed = match store.blobs.local_path(id) {
            Some(path) => hash_file(&path),
            None => store
                .blobs
                .open(id)
                .and_then(|mut r| hash_reader(&mut r).map_err(|e| StoreError::io(Path::new(id.as_str()), e))),
        };
        progress.event(&SyncEvent::Bytes(*size));
        match hashed {
            Ok((actual, _)) if &actual == id => {}
            Ok((actual, _)) => {
                report.problems.push(format!("blob {id} is corrupt: its content hashes to {actual}"));
                corrupt.insert(id.clone());
            }
            Err(e) => {
                report.problems.push(format!("blob {id}: {e}"));
                corrupt.insert(id.clone());
            }
        }
    }
    let present: HashSet<_> = present.into_iter().collect();
    // What gc would delete: kept by no snapshot, view build or shared file.
    let referenced = crate::gc::referenced_blobs(store)?;
    report.unreferenced_blobs = present.iter().filter(|b| !referenced.contains(*b)).count();
    let mut not_fetched = HashSet::new();
    for snap in store.meta.all_snapshots()? {
        report.snapshots_checked += 1;
        let remote: HashSet<(String, BlobId)> =
            store.meta.snapshot_remote(snap.id)?.into_iter().map(|r| (r.path, r.blob)).collect();
        for f in store.meta.snapshot_files(snap.id)? {
            if !present.contains(&f.blob) && remote.contains(&(f.path.clone(), f.blob.clone())) {
                not_fetched.insert(f.blob);
            } else if !present.contains(&f.blob) {
                report
                    .problems
                    .push(format!("snapshot {}: {} needs blob {}, which is missing", snap.id, f.path, f.blob));
            } else if store.blobs.size(&f.blob)? != f.size {
                report.problems.push(format!("snapshot {}: {} has a size other than recorded", snap.id, f.path));
            }
        }
    }
    report.not_fetched = not_fetched.len();
    for q in store.meta.quarantined()? {
        if BlobId::parse(&q.actual).is_some_and(|id| referenced.contains(&id)) {
            report.problems.push(format!("quarantined payload {} ({}) is referenced by a snapshot", q.name, q.path));
        }
    }
    for source in store.meta.sources()? {
        let name = &source.config.name;
        let Some((id, files)) = store.published_files(&source)? else { continue };
        if !store.has_trees() {
            // Served from the rows: every file's blob must be in the blob store (an on-demand
            // payload not fetched yet is fetched when first asked for).
            for f in files.iter().filter(|f| !present.contains(&f.blob) && !not_fetched.contains(&f.blob)) {
                report
                    .problems
                    .push(format!("source '{name}': served {} needs blob {}, which is missing", f.path, f.blob));
            }
            continue;
        }
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
                // Not fetched yet: linked in when first fetched.
                Err(_) if not_fetched.contains(&f.blob) => {}
                Err(_) => report.problems.push(format!("source '{name}': served {} is missing", f.path)),
            }
        }
    }
    verify_views(store, &present, &corrupt, &mut report);
    let staging = store.staging_dir();
    if let Ok(entries) = fs::read_dir(&staging) {
        report.partial_downloads =
            entries.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".part")).count();
    }
    Ok(report)
}

/// Each named view with a build: `named-views/published/<name>` points at the recorded
/// build, its metadata reads, every VIB file the metadata names is present and is the
/// verified blob it declares (a hard link of it, or equal bytes), and that blob is one the
/// build records (so gc keeps it). Problems name the view and the file.
fn verify_views(store: &Store, present: &HashSet<BlobId>, corrupt: &HashSet<BlobId>, report: &mut VerifyReport) {
    let records = match crate::view::list(store) {
        Ok(r) => r,
        Err(e) => {
            report.problems.push(format!("views: {e}"));
            return;
        }
    };
    for record in records {
        let Some(build) = &record.build else { continue };
        report.views_checked += 1;
        let name = &record.definition.name;
        let mut problem = |what: String| report.problems.push(format!("view '{name}': {what}"));
        // `view refresh` relinks the recorded build, or builds anew when its directory is gone;
        // it keeps a build whose snapshots are current, so damaged files need the view anew.
        let relink = format!("`esxlcm mirror view refresh {name}` repairs it");
        let refresh = format!(
            "`esxlcm mirror view remove {name}`, then `esxlcm mirror view add {name}` with its sources (and spec) \
             again, rebuilds it"
        );
        if !store.has_trees() {
            verify_view_rows(store, name, build, present, corrupt, &refresh, &mut problem);
            continue;
        }
        let link = crate::view::published_dir(store.root()).join(name);
        let build_name = format!("{name}.{}", build.number);
        match fs::read_link(&link) {
            Ok(target) if target.file_name().is_some_and(|n| n.to_string_lossy() == build_name) => {}
            Ok(target) => {
                problem(format!(
                    "published/{name} points at {}, not at build {}; {relink}",
                    target.display(),
                    build.number
                ));
                continue;
            }
            Err(_) => {
                problem(format!("build {} is recorded but published/{name} is missing; {relink}", build.number));
                continue;
            }
        }
        if !link.is_dir() {
            problem(format!("the directory of build {} is missing; {relink}", build.number));
            continue;
        }
        let mut recorded = HashSet::new();
        for b in &build.blobs {
            match BlobId::parse(b) {
                Some(id) if present.contains(&id) => {
                    recorded.insert(id);
                }
                Some(id) => {
                    problem(format!("build {} needs blob {id}, which is missing", build.number));
                    recorded.insert(id);
                }
                None => problem(format!("its record names '{b}', which is not a sha-256")),
            }
        }
        let depot = match Depot::open_path(&link, &OpenOptions::default()) {
            Ok(d) => d,
            Err(e) => {
                problem(format!("its metadata cannot be read ({e}); {refresh}"));
                continue;
            }
        };
        for (id, relative, declared) in view_vibs(&depot, &mut problem) {
            let Some(file) = crate::store::safe_join(&link, &relative) else {
                problem(format!("{relative}: the metadata names a file outside the view"));
                continue;
            };
            let Some(blob) = declared else {
                problem(format!("{relative}: the metadata declares no sha-256 for VIB {id}; {refresh}"));
                continue;
            };
            if let Err(what) = check_view_file(store, &file, &blob, &recorded, corrupt) {
                problem(format!("{relative}: {what}; {refresh}"));
            }
        }
    }
}

/// A view's build kept as rows (a store without trees): every file's blob is in the blob
/// store with the recorded size and is not corrupt, and is one the build records; the
/// metadata reads from the rows, and every VIB it names is a file of the build that is the
/// blob it declares.
fn verify_view_rows(
    store: &Store,
    name: &str,
    build: &crate::view::ViewBuild,
    present: &HashSet<BlobId>,
    corrupt: &HashSet<BlobId>,
    refresh: &str,
    problem: &mut dyn FnMut(String),
) {
    let files = match store.meta.view_files(name, build.number) {
        Ok(f) if f.is_empty() => {
            problem(format!("build {} is recorded but has no files; {refresh}", build.number));
            return;
        }
        Ok(f) => f,
        Err(e) => {
            problem(format!("the files of build {} cannot be read: {e}", build.number));
            return;
        }
    };
    let recorded: HashSet<BlobId> = build.blobs.iter().filter_map(|b| BlobId::parse(b)).collect();
    for f in &files {
        if !present.contains(&f.blob) {
            problem(format!("{} needs blob {}, which is missing; {refresh}", f.path, f.blob));
        } else if corrupt.contains(&f.blob) {
            problem(format!("{} serves blob {}, which is corrupt (see above); {refresh}", f.path, f.blob));
        } else if store.blobs.size(&f.blob).ok() != Some(f.size) {
            problem(format!("{}: blob {} has a size other than recorded; {refresh}", f.path, f.blob));
        }
        if !recorded.contains(&f.blob) {
            problem(format!("{}: blob {} is not one the build's record names; {refresh}", f.path, f.blob));
        }
    }
    let by_path: std::collections::HashMap<String, BlobId> =
        files.iter().map(|f| (f.path.clone(), f.blob.clone())).collect();
    let depot = match store.files_depot(files, &format!("view {name}")) {
        Ok(d) => d,
        Err(e) => {
            problem(format!("its metadata cannot be read ({e}); {refresh}"));
            return;
        }
    };
    for (id, relative, declared) in view_vibs(&depot, problem) {
        let served = crate::view::normal_path(&relative).and_then(|p| by_path.get(&p));
        match (served, declared) {
            (None, _) => problem(format!("{relative}: named by the view's metadata but not a file of the build")),
            (Some(_), None) => problem(format!("{relative}: the metadata declares no sha-256 for VIB {id}; {refresh}")),
            (Some(blob), Some(declared)) if *blob != declared => problem(format!(
                "{relative}: serves blob {blob}, not the verified blob its metadata names ({declared}); {refresh}"
            )),
            _ => {}
        }
    }
}

/// Every VIB a view's metadata names: its id, its path in the view and the sha-256 the
/// metadata declares for it (if any). A VIB without a usable path is reported and skipped.
fn view_vibs(depot: &Depot, problem: &mut dyn FnMut(String)) -> Vec<(String, String, Option<BlobId>)> {
    let mut out = Vec::new();
    for (meta, vib) in depot.all_vibs() {
        let id = vib.id();
        let relative = match depot.vib_path(meta, vib) {
            Ok(p) => p,
            Err(e) => {
                problem(format!("VIB {id}: {e}"));
                continue;
            }
        };
        let declared = vib.location.as_ref().and_then(|l| {
            let sha256 = matches!(l.checksum.checksum_type.to_ascii_lowercase().as_str(), "sha-256" | "sha256");
            if sha256 { BlobId::parse(&l.checksum.value) } else { None }
        });
        out.push((id.to_string(), relative, declared));
    }
    out
}

/// A view file is the verified blob its metadata declares: the same inode (a hard link),
/// or the same bytes (a copy where links were refused).
fn check_view_file(
    store: &Store,
    file: &Path,
    blob: &BlobId,
    recorded: &HashSet<BlobId>,
    corrupt: &HashSet<BlobId>,
) -> Result<(), String> {
    let meta = match fs::metadata(file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("named by the view's metadata but missing".into());
        }
        Err(e) => return Err(format!("cannot be read ({e})")),
    };
    if !recorded.contains(blob) {
        return Err(format!("blob {blob} is not one the build records (gc would not keep it)"));
    }
    if corrupt.contains(blob) {
        return Err(format!("it serves blob {blob}, which is corrupt (see above)"));
    }
    let linked = store
        .blobs
        .local_path(blob)
        .and_then(|p| fs::metadata(p).ok())
        .is_some_and(|b| (b.dev(), b.ino()) == (meta.dev(), meta.ino()));
    if linked {
        return Ok(());
    }
    match hash_file(file) {
        Ok((actual, _)) if &actual == blob => Ok(()),
        Ok((actual, _)) => {
            Err(format!("not the verified blob its metadata names ({blob}): its content hashes to {actual}"))
        }
        Err(e) => Err(format!("cannot be read ({e})")),
    }
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
