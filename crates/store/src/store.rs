//! The store directory and its published views.
//!
//! ```text
//! STORE/meta.sqlite            metadata (SQLite, WAL)
//! STORE/blobs/<2>/<sha-256>    payloads, content-addressed
//! STORE/staging/               partial downloads (kept for resume) and temporary files
//! STORE/quarantine/            payloads that failed verification, never served
//! STORE/views/<snapshot-id>/   a snapshot's depot tree, hard links to blobs
//! STORE/published/<source>     symlink to ../views/<id>: what is served
//! STORE/lock                   held by sync, gc, rollback and remove
//! ```
//!
//! A view is built in a temporary directory and renamed into place; publishing swaps the
//! source's symlink with a rename. Both are atomic, so a server reading
//! `published/<source>/…` sees the old snapshot or the new one, never a mix. The database
//! says which snapshot is published; [`Store::reconcile`] makes the directories agree
//! with it after a crash.
//!
//! **Durability.** Every step is on disk before the step that depends on it, so a power
//! loss (not only a killed process) leaves the previous snapshot published:
//! 1. blobs: bytes fsynced, then renamed to their name, then the shard directory fsynced
//!    (and a new shard's entry in `blobs/`) — or, for a batch, one `syncfs` before and one
//!    after the renames ([`crate::blob`]);
//! 2. only then the database commits the snapshot that names them (SQLite WAL,
//!    `synchronous=FULL`);
//! 3. the view: hard links in a temporary directory, all written out (`syncfs` on Linux,
//!    every file and directory fsynced elsewhere), renamed into `views/`, `views/` fsynced;
//! 4. the database records the publication;
//! 5. the symlink: made beside the old one, renamed over it, `published/` fsynced.
//!
//! Directories are fsynced once per batch of entries, not per file. A crash between 4 and
//! 5 leaves the link one snapshot behind the database, which [`Store::reconcile`] repairs
//! at the next start; nothing is ever published that was not complete on disk first.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::blob::{BlobId, BlobStore, create_dir_durable, sync_dir, sync_tree};
use crate::error::StoreError;
use crate::location::StoreLocation;
use crate::meta::{FileEntry, MetaStore, SnapshotInfo};
use crate::source::Source;

pub struct Store {
    root: PathBuf,
    location: StoreLocation,
    /// Snapshots are also materialised as directory trees of hard links under `views/`,
    /// and `published/<source>` links name what is served (the embedded default only; on
    /// the cluster backends the database rows are all there is).
    trees: bool,
    pub(crate) blobs: std::sync::Arc<dyn BlobStore>,
    pub(crate) meta: Box<dyn MetaStore>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("root", &self.root).finish_non_exhaustive()
    }
}

/// Held while a command changes the store; released on drop, and when its holder dies: an
/// OS file lock on one node, a database lease (PostgreSQL advisory lock) on the cluster
/// backends, so one replica at a time syncs, publishes or collects garbage.
#[derive(Debug)]
pub struct StoreLock {
    _held: Held,
}

#[derive(Debug)]
enum Held {
    File(#[allow(dead_code, reason = "held for its drop")] File),
    Lease(#[allow(dead_code, reason = "held for its drop")] crate::meta::Lease),
}

/// The lease that stands for the store lock on the cluster backends.
const STORE_LEASE: &str = "store";

impl Store {
    /// Open (creating if needed) the single-node store at `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        Self::open_location(&StoreLocation::local(root))
    }

    /// Open (creating if needed) the store at `location`: the embedded default, or
    /// PostgreSQL and an S3-compatible bucket with `location.root` as this node's directory.
    pub fn open_location(location: &StoreLocation) -> Result<Self, StoreError> {
        Self::open_with(location, &[])
    }

    /// [`Store::open_location`] with S3 client variables (`AWS_ENDPOINT_URL`, …) given
    /// rather than read from the environment, which a test cannot change safely.
    #[cfg(feature = "test-internals")]
    pub fn open_location_with_env(location: &StoreLocation, vars: &[(&str, &str)]) -> Result<Self, StoreError> {
        Self::open_with(location, vars)
    }

    fn open_with(location: &StoreLocation, vars: &[(&str, &str)]) -> Result<Self, StoreError> {
        let root = location.root.as_path();
        let trees = location.is_local();
        let subdirs: &[&str] =
            if trees { &["staging", "quarantine", "views", "published"] } else { &["staging", "quarantine"] };
        for sub in subdirs {
            create_dir_durable(&root.join(sub))?;
        }
        let blobs = std::sync::Arc::from(crate::backends::blobs(location, vars)?);
        let meta = crate::backends::meta(location)?;
        Ok(Self { root: root.to_path_buf(), location: location.clone(), trees, blobs, meta })
    }

    /// A single-node store that keeps no directory trees, as the cluster backends do: the
    /// store's own tests of the tree-less paths run on it without a database server.
    #[cfg(feature = "test-internals")]
    pub fn open_without_trees(root: &Path) -> Result<Self, StoreError> {
        let mut store = Self::open(root)?;
        store.trees = false;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// Whether snapshots are served from directory trees under [`Store::views_dir`] and
    /// [`Store::published_dir`] (the embedded default); otherwise from the database rows
    /// and blobs ([`Store::published_file`], [`Store::open_blob_at`]).
    pub fn has_trees(&self) -> bool {
        self.trees
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.root.join("staging")
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    pub fn views_dir(&self) -> PathBuf {
        self.root.join("views")
    }

    /// The directory served for all sources: `published/<source>/index.xml`.
    pub fn published_dir(&self) -> PathBuf {
        self.root.join("published")
    }

    /// Where bundles pushed over HTTP are received (`serve --store --push-token-file`),
    /// each removed once published or refused.
    pub fn uploads_dir(root: &Path) -> PathBuf {
        root.join("uploads")
    }

    pub fn view_dir(&self, snapshot_id: i64) -> PathBuf {
        self.views_dir().join(snapshot_id.to_string())
    }

    /// Take the store's write lock, failing at once if another process (or replica) holds it.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        if !self.trees {
            return match self.meta.try_lease(STORE_LEASE)? {
                Some(lease) => Ok(StoreLock { _held: Held::Lease(lease) }),
                None => Err(StoreError::Locked { path: PathBuf::from(self.location.to_string()) }),
            };
        }
        let path = self.root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(StoreLock { _held: Held::File(file) }),
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked { path: self.root.clone() }),
            Err(fs::TryLockError::Error(e)) => Err(StoreError::io(&path, e)),
        }
    }

    /// The files of the snapshot a source publishes (path → blob), if any: what a server
    /// needs to serve it without the materialised view.
    pub fn published_files(&self, source: &Source) -> Result<Option<(i64, Vec<FileEntry>)>, StoreError> {
        match self.meta.published(source.id)? {
            Some(id) => Ok(Some((id, self.meta.snapshot_files(id)?))),
            None => Ok(None),
        }
    }

    /// Build `views/<id>` from the snapshot's files (hard links to blobs; copies where the
    /// filesystem refuses links). Idempotent: an existing view is complete by construction.
    pub fn materialise(&self, snapshot_id: i64) -> Result<PathBuf, StoreError> {
        if !self.trees {
            return Err(StoreError::NotOnClusterBackends("a snapshot as a directory tree"));
        }
        let dest = self.view_dir(snapshot_id);
        if dest.is_dir() {
            return Ok(dest);
        }
        let files = self.meta.snapshot_files(snapshot_id)?;
        let tmp = self.views_dir().join(format!(".tmp-{snapshot_id}-{}", std::process::id()));
        remove_dir_if_exists(&tmp)?;
        // Payloads of on-demand sources that are not fetched yet are left out: the server
        // links each one in when it is first fetched ([`Store::link_into_view`]).
        let mut remote: Option<HashSet<(String, BlobId)>> = None;
        for f in &files {
            if !self.blobs.contains(&f.blob)? {
                if remote.is_none() {
                    let r = self.meta.snapshot_remote(snapshot_id)?;
                    remote = Some(r.into_iter().map(|p| (p.path, p.blob)).collect());
                }
                if remote.as_ref().is_some_and(|r| r.contains(&(f.path.clone(), f.blob.clone()))) {
                    continue;
                }
                return Err(StoreError::Sync {
                    source_name: format!("snapshot {snapshot_id}"),
                    message: format!("{} needs blob {}, which is missing (run `esxlcm mirror verify`)", f.path, f.blob),
                });
            }
            let target = safe_join(&tmp, &f.path).ok_or_else(|| StoreError::Sync {
                source_name: format!("snapshot {snapshot_id}"),
                message: format!("path '{}' is not a safe relative path", f.path),
            })?;
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
            }
            match self.blobs.local_path(&f.blob) {
                Some(blob) => {
                    if fs::hard_link(&blob, &target).is_err() {
                        fs::copy(&blob, &target).map_err(|e| StoreError::io(&blob, e))?;
                    }
                }
                None => {
                    let mut r = self.blobs.open(&f.blob)?;
                    let mut w = File::create(&target).map_err(|e| StoreError::io(&target, e))?;
                    io::copy(&mut r, &mut w).map_err(|e| StoreError::io(&target, e))?;
                }
            }
        }
        fs::create_dir_all(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        // Every link of the view on disk before its name: a view that exists is complete.
        sync_tree(&tmp)?;
        fs::rename(&tmp, &dest).map_err(|e| StoreError::io(&dest, e))?;
        sync_dir(&self.views_dir())?;
        Ok(dest)
    }

    /// Link a stored blob into a snapshot's materialised tree at `path` (an on-demand
    /// payload fetched after the tree was made): a hard link (or copy) under a temporary
    /// name, renamed into place, the directory fsynced. Returns the file's path.
    pub fn link_into_view(&self, snapshot_id: i64, file: &FileEntry) -> Result<PathBuf, StoreError> {
        let view = self.view_dir(snapshot_id);
        let target = safe_join(&view, &file.path).ok_or_else(|| StoreError::Sync {
            source_name: format!("snapshot {snapshot_id}"),
            message: format!("path '{}' is not a safe relative path", file.path),
        })?;
        if target.exists() || !view.is_dir() {
            return Ok(target);
        }
        let parent = target.parent().unwrap_or(&view).to_path_buf();
        fs::create_dir_all(&parent).map_err(|e| StoreError::io(&parent, e))?;
        // A hard link to the (complete, verified) blob appears whole under its name; a
        // concurrent request that linked it first leaves nothing to do.
        if let Some(blob) = self.blobs.local_path(&file.blob) {
            match fs::hard_link(&blob, &target) {
                Ok(()) => return sync_dir(&parent).map(|()| target),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(target),
                Err(e) => tracing::warn!("cannot hard-link {} ({e}); copying it", blob.display()),
            }
        }
        // Copied under a temporary name, then renamed into place.
        let base = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = parent.join(format!(".{base}.tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = fs::remove_file(&tmp);
        let mut r = self.blobs.open(&file.blob)?;
        let mut w = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        io::copy(&mut r, &mut w).and_then(|_| w.sync_all()).map_err(|e| StoreError::io(&tmp, e))?;
        fs::rename(&tmp, &target).map_err(|e| StoreError::io(&target, e))?;
        sync_dir(&parent)?;
        Ok(target)
    }

    /// Link into a snapshot's tree every file whose blob the store now holds but the tree
    /// lacks (on-demand payloads fetched since, or fetched by a later prefetch sync).
    /// Returns how many were linked.
    pub fn fill_view(&self, snapshot_id: i64) -> Result<usize, StoreError> {
        let view = self.view_dir(snapshot_id);
        if !view.is_dir() {
            return Ok(0);
        }
        let mut linked = 0;
        for f in self.meta.snapshot_files(snapshot_id)? {
            let present = safe_join(&view, &f.path).is_some_and(|p| p.exists());
            if !present && self.blobs.contains(&f.blob)? {
                self.link_into_view(snapshot_id, &f)?;
                linked += 1;
            }
        }
        Ok(linked)
    }

    /// Publish a snapshot of `source`: view first, then the database, then the symlink. On
    /// the cluster backends the database row is the publication: one transaction, seen by
    /// every replica's next request.
    pub fn publish(&self, source: &Source, snapshot_id: i64) -> Result<(), StoreError> {
        if !self.trees {
            return self.meta.set_published(source.id, snapshot_id);
        }
        self.materialise(snapshot_id)?;
        self.meta.set_published(source.id, snapshot_id)?;
        self.link_published(&source.config.name, snapshot_id)
    }

    fn link_published(&self, name: &str, snapshot_id: i64) -> Result<(), StoreError> {
        swap_symlink(&self.published_dir(), name, &PathBuf::from("../views").join(snapshot_id.to_string()))
    }

    /// Which snapshot `published/<name>` points at, if any.
    pub fn linked_snapshot(&self, name: &str) -> Option<i64> {
        let target = fs::read_link(self.published_dir().join(name)).ok()?;
        let id = target.strip_prefix("../views").ok()?.to_str()?;
        id.parse().ok()
    }

    /// Make the directories agree with the database after a crash: published symlinks
    /// point at the published snapshots' views, leftovers of interrupted writes go.
    /// Partial downloads (`staging/*.part`) stay for resume.
    pub fn reconcile(&self) -> Result<(), StoreError> {
        if !self.trees {
            return self.settle_node_state();
        }
        let sources = self.meta.sources()?;
        let mut names = HashSet::new();
        for s in &sources {
            names.insert(s.config.name.clone());
            if let Some(id) = self.meta.published(s.id)? {
                self.materialise(id)?;
                // On-demand payloads stored but not linked yet (a crash between the two).
                self.fill_view(id)?;
                self.link_published(&s.config.name, id)?;
            }
        }
        let published = self.published_dir();
        for entry in fs::read_dir(&published).map_err(|e| StoreError::io(&published, e))? {
            let entry = entry.map_err(|e| StoreError::io(&published, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let keep = names.contains(&name)
                && sources.iter().any(|s| s.config.name == name && self.linked_snapshot(&name).is_some());
            if !keep {
                fs::remove_file(entry.path()).map_err(|e| StoreError::io(&entry.path(), e))?;
            }
        }
        let snapshots: HashSet<i64> = self.meta.all_snapshots()?.iter().map(|s| s.id).collect();
        let views = self.views_dir();
        for entry in fs::read_dir(&views).map_err(|e| StoreError::io(&views, e))? {
            let entry = entry.map_err(|e| StoreError::io(&views, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let known = name.parse::<i64>().is_ok_and(|id| snapshots.contains(&id));
            if !known {
                remove_dir_if_exists(&entry.path())?;
            }
        }
        self.settle_node_state()
    }

    /// This node's leftovers of a crash: sync statuses left `running`, temporary files.
    fn settle_node_state(&self) -> Result<(), StoreError> {
        // A sync's status left `running` by a process that died is not running.
        for source in crate::status::settle_interrupted(self)? {
            tracing::warn!(source = %source, "a sync was interrupted (its process stopped); marked failed");
        }
        let staging = self.staging_dir();
        for entry in fs::read_dir(&staging).map_err(|e| StoreError::io(&staging, e))? {
            let entry = entry.map_err(|e| StoreError::io(&staging, e))?;
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Delete a snapshot and its view (its blobs go at the next gc).
    pub fn delete_snapshot(&self, snapshot: &SnapshotInfo) -> Result<(), StoreError> {
        self.meta.delete_snapshot(snapshot.id)?;
        remove_dir_if_exists(&self.view_dir(snapshot.id))
    }

    /// Keep the newest `keep` snapshots of a source and the published one; delete the rest.
    pub fn apply_retention(&self, source: &Source) -> Result<Vec<i64>, StoreError> {
        let published = self.meta.published(source.id)?;
        let mut snaps = self.meta.snapshots(source.id)?;
        snaps.sort_by_key(|s| std::cmp::Reverse(s.id));
        let keep = usize::try_from(source.config.retention.max(1)).unwrap_or(usize::MAX);
        let mut deleted = Vec::new();
        for s in snaps.iter().skip(keep) {
            if Some(s.id) == published {
                continue;
            }
            self.delete_snapshot(s)?;
            deleted.push(s.id);
        }
        Ok(deleted)
    }

    /// Republish an earlier snapshot: `to`, or the newest one older than the published one.
    /// Takes no lock: [`Store::rollback`] is the operation.
    pub(crate) fn republish(&self, name: &str, to: Option<i64>) -> Result<(Option<i64>, i64), StoreError> {
        let (source, current, target) = self.rollback_target(name, to)?;
        self.publish(&source, target)?;
        Ok((current, target))
    }

    /// The source, its published snapshot and the one a rollback to `to` (default: the
    /// newest older than the published one) would publish; changes nothing.
    pub(crate) fn rollback_target(
        &self,
        name: &str,
        to: Option<i64>,
    ) -> Result<(Source, Option<i64>, i64), StoreError> {
        let source = self.meta.source(name)?;
        let current = self.meta.published(source.id)?;
        let snaps = self.meta.snapshots(source.id)?;
        let target = match to {
            Some(id) => snaps.iter().find(|s| s.id == id).map(|s| s.id),
            None => snaps.iter().filter(|s| current.is_none_or(|c| s.id < c)).map(|s| s.id).max(),
        };
        let Some(target) = target else {
            return Err(match to {
                Some(id) => StoreError::UnknownSnapshot { source_name: name.to_owned(), id },
                None => StoreError::Sync {
                    source_name: name.to_owned(),
                    message: "no earlier snapshot to roll back to".into(),
                },
            });
        };
        Ok((source, current, target))
    }

    /// Remove a source: its published link, views and database rows (blobs at the next gc).
    pub(crate) fn drop_source(&self, name: &str) -> Result<(), StoreError> {
        let source = self.meta.source(name)?;
        let snaps = self.meta.snapshots(source.id)?;
        let link = self.published_dir().join(name);
        match fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&link, e)),
        }
        self.meta.remove_source(name)?;
        crate::status::remove(self, name)?;
        for s in snaps {
            remove_dir_if_exists(&self.view_dir(s.id))?;
        }
        Ok(())
    }
}

/// Join a depot-relative path under `root`, refusing anything that could leave it.
pub fn safe_join(root: &Path, relative: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p if p.contains('\\') || p.contains('\0') => return None,
            p => out.push(p),
        }
    }
    (out != root).then_some(out)
}

pub(crate) fn remove_dir_if_exists(dir: &Path) -> Result<(), StoreError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(dir, e)),
    }
}

/// Point `dir/name` at `target`: a new symlink made beside it and renamed over it, then
/// `dir` fsynced. Nothing is done when it already points there.
pub(crate) fn swap_symlink(dir: &Path, name: &str, target: &Path) -> Result<(), StoreError> {
    let link = dir.join(name);
    if fs::read_link(&link).is_ok_and(|t| t == target) {
        return Ok(());
    }
    let tmp = dir.join(format!(".tmp-{name}-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| StoreError::io(&tmp, e))?;
    fs::rename(&tmp, &link).map_err(|e| StoreError::io(&link, e))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceConfig;

    #[test]
    fn safe_join_refuses_escapes() {
        let root = Path::new("/s");
        assert_eq!(safe_join(root, "a/b.vib").unwrap(), Path::new("/s/a/b.vib"));
        assert!(safe_join(root, "../x").is_none());
        assert!(safe_join(root, "").is_none());
    }

    #[test]
    fn publish_switches_the_link_and_rollback_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let source = store.meta.add_source(&SourceConfig::new("s", "file:///nowhere/index.xml").unwrap()).unwrap();
        let put = |content: &[u8]| {
            let blob = store.blobs.put_bytes(content).unwrap();
            FileEntry { path: "index.xml".into(), blob, size: content.len() as u64 }
        };
        let a = store.meta.create_snapshot(source.id, &[put(b"one")]).unwrap();
        crate::blob::synced::take();
        store.publish(&source, a.id).unwrap();
        // The view's content before its name, its name before the link, the link itself.
        let synced = crate::blob::synced::take();
        let at =
            |p: &Path| synced.iter().position(|s| s == p).unwrap_or_else(|| panic!("{p:?} not synced: {synced:?}"));
        let view_content = synced.iter().position(|s| s.starts_with(store.views_dir()) && s != &store.views_dir());
        assert!(view_content.is_some_and(|c| c < at(&store.views_dir())), "{synced:?}");
        assert!(at(&store.views_dir()) < at(&store.published_dir()), "{synced:?}");
        let served = store.published_dir().join("s/index.xml");
        assert_eq!(fs::read(&served).unwrap(), b"one");
        let b = store.meta.create_snapshot(source.id, &[put(b"two")]).unwrap();
        store.publish(&source, b.id).unwrap();
        assert_eq!(fs::read(&served).unwrap(), b"two");
        assert_eq!(store.republish("s", None).unwrap(), (Some(b.id), a.id));
        assert_eq!(fs::read(&served).unwrap(), b"one");
        assert!(store.republish("s", None).is_err(), "nothing older than the first snapshot");
        assert_eq!(store.republish("s", Some(b.id)).unwrap(), (Some(a.id), b.id));

        // A crash that left the link behind the database is repaired.
        store.link_published("s", a.id).unwrap();
        remove_dir_if_exists(&store.view_dir(b.id)).unwrap();
        store.reconcile().unwrap();
        assert_eq!(fs::read(&served).unwrap(), b"two");
        let _lock = store.lock().unwrap();
        assert!(matches!(store.lock().unwrap_err(), StoreError::Locked { .. }));
    }

    #[test]
    fn retention_keeps_the_newest_and_the_published() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut cfg = SourceConfig::new("s", "file:///nowhere/index.xml").unwrap();
        cfg.retention = 2;
        let source = store.meta.add_source(&cfg).unwrap();
        let mut ids = Vec::new();
        for i in 0..5u8 {
            let blob = store.blobs.put_bytes(&[i]).unwrap();
            let snap = store.meta.create_snapshot(source.id, &[FileEntry { path: "f".into(), blob, size: 1 }]).unwrap();
            ids.push(snap.id);
        }
        store.publish(&source, ids[0]).unwrap();
        let deleted = store.apply_retention(&source).unwrap();
        assert_eq!(deleted, vec![ids[2], ids[1]]);
        let left: Vec<i64> = store.meta.snapshots(source.id).unwrap().iter().map(|s| s.id).collect();
        assert_eq!(left, vec![ids[0], ids[3], ids[4]]);
        assert!(!store.view_dir(ids[1]).exists());
    }
}
