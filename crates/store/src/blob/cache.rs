//! A bounded local read cache in front of another [`BlobStore`] (a replica's copy of the
//! payloads it serves most, in its data directory, in front of the bucket).
//!
//! Entries live at `DIR/sha256/<2 hex>/<64 hex>`, written to `DIR/tmp/` and renamed into
//! place only once their bytes hash to their name, so a reader never sees a partial entry.
//! A miss streams from the inner store while filling the cache (write-through); a fill cut
//! short (an error, a reader that stops early) is discarded, and so is an object larger
//! than the cap (streamed, not cached). The bytes held stay under the cap: the least
//! recently used entries are evicted. Entries found on disk at start are checked against
//! their sha-256 before their first use; a corrupt one is dropped and fetched again, never
//! served. Writes and deletes go to the inner store (a delete drops the entry too).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::{BlobId, BlobStore, hash_file, offset_past_end};
use crate::error::StoreError;

/// See the module documentation.
pub struct CachedBlobs {
    inner: Box<dyn BlobStore>,
    cache: Arc<Cache>,
}

struct Cache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
    fills: AtomicU64,
}

#[derive(Default)]
struct Index {
    entries: HashMap<BlobId, Entry>,
    /// Last use → entry: the first is the one to evict.
    by_use: BTreeMap<u64, BlobId>,
    clock: u64,
    bytes: u64,
}

struct Entry {
    size: u64,
    used: u64,
    /// Hashed since this process found it (entries filled here are hashed as they are written).
    verified: bool,
}

impl Index {
    fn touch(&mut self, id: &BlobId) {
        self.clock += 1;
        let clock = self.clock;
        if let Some(entry) = self.entries.get_mut(id) {
            self.by_use.remove(&entry.used);
            entry.used = clock;
            self.by_use.insert(clock, id.clone());
        }
    }

    fn insert(&mut self, id: &BlobId, size: u64, verified: bool) {
        if self.entries.contains_key(id) {
            self.touch(id);
            return;
        }
        self.clock += 1;
        self.entries.insert(id.clone(), Entry { size, used: self.clock, verified });
        self.by_use.insert(self.clock, id.clone());
        self.bytes += size;
    }

    fn remove(&mut self, id: &BlobId) -> bool {
        match self.entries.remove(id) {
            Some(entry) => {
                self.by_use.remove(&entry.used);
                self.bytes = self.bytes.saturating_sub(entry.size);
                true
            }
            None => false,
        }
    }
}

impl Cache {
    fn lock(&self) -> MutexGuard<'_, Index> {
        // A panic elsewhere while holding the lock leaves a consistent index (every
        // mutation completes before returning), so a poisoned lock is still usable.
        self.index.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn path_of(&self, id: &BlobId) -> PathBuf {
        self.dir.join("sha256").join(&id.as_str()[..2]).join(id.as_str())
    }

    fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Drop the entry and its file.
    fn forget(&self, id: &BlobId) {
        self.lock().remove(id);
        remove_quietly(&self.path_of(id));
    }

    /// Evict least recently used entries until the bytes held fit the cap.
    fn evict(&self) {
        let mut victims = Vec::new();
        {
            let mut index = self.lock();
            while index.bytes > self.max_bytes {
                let Some((_, id)) = index.by_use.pop_first() else { break };
                if let Some(entry) = index.entries.remove(&id) {
                    index.bytes = index.bytes.saturating_sub(entry.size);
                }
                victims.push(id);
            }
        }
        for id in victims {
            tracing::debug!(blob = %id, "evicted from the blob cache");
            // A reader that has the file open keeps reading it (unlink, not truncate).
            remove_quietly(&self.path_of(&id));
        }
    }

    /// The entry's file, opened, when it is cached and sound.
    fn open_cached(&self, id: &BlobId) -> Result<Option<File>, StoreError> {
        let verified = match self.lock().entries.get(id) {
            None => return Ok(None),
            Some(entry) => entry.verified,
        };
        let path = self.path_of(id);
        if !verified {
            match hash_file(&path) {
                Ok((actual, size)) if &actual == id => {
                    let mut index = self.lock();
                    if let Some(entry) = index.entries.get_mut(id) {
                        entry.verified = true;
                        let recorded = entry.size;
                        entry.size = size;
                        index.bytes = index.bytes.saturating_sub(recorded) + size;
                    }
                }
                Ok((actual, _)) => {
                    tracing::warn!(file = %path.display(), blob = %id, actual = %actual, "corrupt blob cache entry dropped; fetching it again");
                    self.forget(id);
                    return Ok(None);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable blob cache entry dropped; fetching it again");
                    self.forget(id);
                    return Ok(None);
                }
            }
        }
        match File::open(&path) {
            Ok(file) => {
                self.lock().touch(id);
                Ok(Some(file))
            }
            // Evicted meanwhile (or removed by hand).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.lock().remove(id);
                Ok(None)
            }
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }
}

fn remove_quietly(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(file = %path.display(), error = %e, "cannot remove a blob cache file"),
    }
}

impl CachedBlobs {
    /// A cache of at most `max_bytes` in `dir` in front of `inner`. Entries left in `dir`
    /// by an earlier run are kept (and checked before their first use); unfinished fills
    /// are removed.
    pub fn new(inner: Box<dyn BlobStore>, dir: PathBuf, max_bytes: u64) -> Result<Self, StoreError> {
        let cache = Cache { dir, max_bytes, index: Mutex::default(), fills: AtomicU64::new(0) };
        let tmp = cache.tmp_dir();
        match fs::remove_dir_all(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&tmp, e)),
        }
        fs::create_dir_all(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        let root = cache.dir.join("sha256");
        fs::create_dir_all(&root).map_err(|e| StoreError::io(&root, e))?;
        // Oldest first, so the least recently written are evicted first.
        let mut found = Vec::new();
        for shard in fs::read_dir(&root).map_err(|e| StoreError::io(&root, e))? {
            let shard = shard.map_err(|e| StoreError::io(&root, e))?.path();
            if !shard.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&shard).map_err(|e| StoreError::io(&shard, e))? {
                let entry = entry.map_err(|e| StoreError::io(&shard, e))?;
                let Some(id) = entry.file_name().to_str().and_then(BlobId::parse) else { continue };
                let meta = entry.metadata().map_err(|e| StoreError::io(&entry.path(), e))?;
                found.push((meta.modified().ok(), id, meta.len()));
            }
        }
        found.sort();
        {
            let mut index = cache.lock();
            for (_, id, size) in &found {
                index.insert(id, *size, false);
            }
        }
        cache.evict();
        tracing::info!(dir = %cache.dir.display(), entries = found.len(), max_bytes, "blob cache");
        Ok(Self { inner, cache: Arc::new(cache) })
    }

    /// Bytes held in the cache now.
    pub fn cached_bytes(&self) -> u64 {
        self.cache.lock().bytes
    }

    /// Whether `id` is in the cache now.
    pub fn is_cached(&self, id: &BlobId) -> bool {
        self.cache.lock().entries.contains_key(id)
    }

    /// A reader of the inner store's `id` that fills the cache as it goes, or a plain one
    /// if the cache cannot take a file now.
    fn fill(&self, id: &BlobId, reader: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        let n = self.cache.fills.fetch_add(1, Ordering::Relaxed);
        let tmp = self.cache.tmp_dir().join(format!("{}.{}.{n}.part", id.as_str(), std::process::id()));
        match File::create(&tmp) {
            Ok(file) => Box::new(Fill {
                inner: reader,
                cache: self.cache.clone(),
                id: id.clone(),
                tmp: Some((tmp, BufWriter::with_capacity(256 * 1024, file))),
                hasher: Sha256::new(),
                written: 0,
            }),
            Err(e) => {
                tracing::warn!(file = %tmp.display(), error = %e, "cannot fill the blob cache; streaming without it");
                reader
            }
        }
    }
}

/// A miss: the inner store's bytes, copied into a temp file and hashed on the way.
struct Fill {
    inner: Box<dyn Read + Send>,
    cache: Arc<Cache>,
    id: BlobId,
    /// `None` once the fill is finished or given up.
    tmp: Option<(PathBuf, BufWriter<File>)>,
    hasher: Sha256,
    written: u64,
}

impl Fill {
    fn give_up(&mut self) {
        if let Some((path, writer)) = self.tmp.take() {
            drop(writer);
            remove_quietly(&path);
        }
    }

    /// At the end of the inner stream: publish the entry if its bytes are the blob's.
    fn finish(&mut self) {
        let Some((tmp, writer)) = self.tmp.take() else { return };
        let actual = BlobId::from_digest(&std::mem::take(&mut self.hasher).finalize());
        if actual != self.id {
            tracing::warn!(blob = %self.id, actual = %actual, "the store sent other bytes than the blob's; not cached");
            drop(writer);
            remove_quietly(&tmp);
            return;
        }
        let dest = self.cache.path_of(&self.id);
        let published = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|_file| fs::create_dir_all(dest.parent().unwrap_or(&self.cache.dir)))
            .and_then(|()| fs::rename(&tmp, &dest));
        match published {
            Ok(()) => {
                self.cache.lock().insert(&self.id, self.written, true);
                self.cache.evict();
            }
            Err(e) => {
                tracing::warn!(file = %dest.display(), error = %e, "cannot add to the blob cache");
                remove_quietly(&tmp);
            }
        }
    }
}

impl Read for Fill {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                self.give_up();
                return Err(e);
            }
        };
        if n == 0 {
            if !buf.is_empty() {
                self.finish();
            }
            return Ok(0);
        }
        if let Some((_, writer)) = &mut self.tmp {
            let bytes = buf.get(..n).unwrap_or_default();
            self.written += n as u64;
            self.hasher.update(bytes);
            if self.written > self.cache.max_bytes {
                // Larger than the whole cache: streamed, not cached.
                self.give_up();
            } else if let Err(e) = writer.write_all(bytes) {
                tracing::warn!(error = %e, "writing a blob cache entry; streaming without the cache");
                self.give_up();
            }
        }
        Ok(n)
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        // A reader that stopped early: the partial copy is discarded.
        self.give_up();
    }
}

impl BlobStore for CachedBlobs {
    fn contains(&self, id: &BlobId) -> Result<bool, StoreError> {
        self.inner.contains(id)
    }

    fn open(&self, id: &BlobId) -> Result<Box<dyn Read + Send>, StoreError> {
        if let Some(file) = self.cache.open_cached(id)? {
            return Ok(Box::new(file));
        }
        let reader = self.inner.open(id)?;
        Ok(self.fill(id, reader))
    }

    fn open_at(&self, id: &BlobId, offset: u64) -> Result<Box<dyn Read + Send>, StoreError> {
        if offset == 0 {
            return self.open(id);
        }
        match self.cache.open_cached(id)? {
            Some(mut file) => {
                let path = self.cache.path_of(id);
                let size = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
                if offset > size {
                    return Err(StoreError::io(&path, offset_past_end(offset, size)));
                }
                file.seek(SeekFrom::Start(offset)).map_err(|e| StoreError::io(&path, e))?;
                Ok(Box::new(file))
            }
            // A range of an uncached blob is passed through (a fill needs the whole).
            None => self.inner.open_at(id, offset),
        }
    }

    fn ingest(&self, staged: &Path, id: &BlobId) -> Result<(), StoreError> {
        self.inner.ingest(staged, id)
    }

    fn ingest_verified(&self, staged: &[(PathBuf, BlobId)]) -> Result<(), StoreError> {
        self.inner.ingest_verified(staged)
    }

    fn put_bytes(&self, bytes: &[u8]) -> Result<BlobId, StoreError> {
        self.inner.put_bytes(bytes)
    }

    fn delete(&self, id: &BlobId) -> Result<(), StoreError> {
        self.inner.delete(id)?;
        self.cache.forget(id);
        Ok(())
    }

    fn list(&self) -> Result<Vec<BlobId>, StoreError> {
        self.inner.list()
    }

    fn size(&self, id: &BlobId) -> Result<u64, StoreError> {
        if let Some(entry) = self.cache.lock().entries.get(id).filter(|e| e.verified) {
            return Ok(entry.size);
        }
        self.inner.size(id)
    }

    /// Cache files come and go: callers stream instead.
    fn local_path(&self, _id: &BlobId) -> Option<PathBuf> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::LocalBlobs;

    fn cached(max: u64) -> (tempfile::TempDir, CachedBlobs) {
        let d = tempfile::tempdir().unwrap();
        let inner = LocalBlobs::new(d.path().join("blobs"), d.path().join("staging")).unwrap();
        let c = CachedBlobs::new(Box::new(inner), d.path().join("cache"), max).unwrap();
        (d, c)
    }

    fn read_all(mut r: Box<dyn Read + Send>) -> Vec<u8> {
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn a_reader_that_stops_early_leaves_no_entry_and_no_temp_file() {
        let (d, c) = cached(1 << 20);
        let id = c.put_bytes(&vec![7u8; 200_000]).unwrap();
        let mut r = c.open(&id).unwrap();
        let mut part = vec![0u8; 1000];
        r.read_exact(&mut part).unwrap();
        drop(r);
        assert!(!c.is_cached(&id));
        assert_eq!(fs::read_dir(d.path().join("cache/tmp")).unwrap().count(), 0);
        assert_eq!(read_all(c.open(&id).unwrap()).len(), 200_000);
        assert!(c.is_cached(&id));
        assert_eq!(c.cached_bytes(), 200_000);
    }

    #[test]
    fn least_recently_used_entries_go_first() {
        let (_d, c) = cached(250);
        let ids: Vec<BlobId> = (0..3u8).map(|i| c.put_bytes(&[i; 100]).unwrap()).collect();
        read_all(c.open(&ids[0]).unwrap());
        read_all(c.open(&ids[1]).unwrap());
        read_all(c.open(&ids[0]).unwrap()); // 0 is now more recent than 1
        read_all(c.open(&ids[2]).unwrap());
        assert!(c.is_cached(&ids[0]) && c.is_cached(&ids[2]) && !c.is_cached(&ids[1]));
        assert_eq!(c.cached_bytes(), 200);
    }

    #[test]
    fn delete_drops_the_entry() {
        let (d, c) = cached(1000);
        let id = c.put_bytes(b"gone soon").unwrap();
        read_all(c.open(&id).unwrap());
        assert!(c.is_cached(&id));
        c.delete(&id).unwrap();
        assert!(!c.is_cached(&id) && !c.contains(&id).unwrap());
        assert!(!d.path().join("cache/sha256").join(&id.as_str()[..2]).join(id.as_str()).exists());
    }
}
