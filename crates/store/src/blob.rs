//! Content-addressed payloads: every file of every snapshot (VIBs, metadata zips, index
//! documents) is stored once, named by its sha-256, however many sources carry it.
//!
//! [`BlobStore`] is the seam between the store and where payloads live: [`LocalBlobs`] keeps
//! blobs on disk as `blobs/sha256/<2 hex>/<64 hex>`; [`S3Blobs`] in an S3-compatible bucket
//! (`s3.rs`), and [`CachedBlobs`] is a bounded local read cache in front of either
//! (`cache.rs`). On disk a blob becomes visible only by a rename of a fully written,
//! fsynced and verified file, so a reader (or a crash) never sees half of one: a name that
//! exists always holds the bytes it names. The name itself is durable
//! (its directory fsynced, and a new shard directory's entry in `blobs/`) before
//! [`BlobStore::ingest`] returns, so metadata committed afterwards never names a blob a
//! power loss could take back.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::StoreError;

mod cache;
mod s3;

pub use cache::CachedBlobs;
pub use s3::{PART_SIZE, S3_ENV_VARS, S3Blobs, STREAM_BUFFER_BYTES};

/// A lowercase hex sha-256: the name of a blob.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(String);

impl BlobId {
    /// Accepts 64 hex digits in either case (depot metadata is not consistent).
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(t.to_ascii_lowercase()))
    }

    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// From a finished sha-256.
    pub fn from_digest(digest: &[u8]) -> Self {
        Self(hex::encode(digest))
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where blobs live. Local disk now; an object store later (`local_path` is `None` there,
/// and views are served by streaming instead of hard links).
pub trait BlobStore: Send + Sync {
    fn contains(&self, id: &BlobId) -> Result<bool, StoreError>;
    fn open(&self, id: &BlobId) -> Result<Box<dyn Read + Send>, StoreError>;
    /// The blob's bytes from `offset` to its end (an HTTP Range request served from the
    /// store). `offset` equal to the size gives an empty reader; past the size is an error
    /// naming both.
    fn open_at(&self, id: &BlobId, offset: u64) -> Result<Box<dyn Read + Send>, StoreError>;
    /// Publish a staged file under `id` after checking that its content hashes to `id`.
    /// The staged file is consumed (moved or removed).
    fn ingest(&self, staged: &Path, id: &BlobId) -> Result<(), StoreError>;
    /// Publish staged files whose content the caller hashed as it wrote them (each
    /// `(file, sha-256)`), consuming them. Local disk makes them durable with one barrier for
    /// the whole batch instead of two fsyncs per file; the rule stays that a blob's name
    /// appears only once its bytes are on disk.
    fn ingest_verified(&self, staged: &[(PathBuf, BlobId)]) -> Result<(), StoreError> {
        staged.iter().try_for_each(|(path, id)| self.ingest(path, id))
    }
    fn put_bytes(&self, bytes: &[u8]) -> Result<BlobId, StoreError>;
    fn delete(&self, id: &BlobId) -> Result<(), StoreError>;
    /// Every blob id present (for garbage collection and verification).
    fn list(&self) -> Result<Vec<BlobId>, StoreError>;
    fn size(&self, id: &BlobId) -> Result<u64, StoreError>;
    /// The file of a blob, when blobs are local files.
    fn local_path(&self, id: &BlobId) -> Option<PathBuf>;
}

/// Blobs as files under a directory, with a sibling staging directory on the same
/// filesystem (rename must be atomic).
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
    staging: PathBuf,
}

impl LocalBlobs {
    pub fn new(root: PathBuf, staging: PathBuf) -> Result<Self, StoreError> {
        for dir in [&root, &staging] {
            create_dir_durable(dir)?;
        }
        Ok(Self { root, staging })
    }

    fn path_of(&self, id: &BlobId) -> PathBuf {
        self.root.join(&id.0[..2]).join(&id.0)
    }
}

/// The error of an `open_at` past a blob's end.
pub(crate) fn offset_past_end(offset: u64, size: u64) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("offset {offset} is past the end of the blob ({size} bytes)"))
}

/// The sha-256 and length of a file's content.
pub fn hash_file(path: &Path) -> Result<(BlobId, u64), StoreError> {
    let mut file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    hash_reader(&mut file).map_err(|e| StoreError::io(path, e))
}

pub fn hash_reader(reader: &mut dyn Read) -> io::Result<(BlobId, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(buf.get(..n).unwrap_or_default());
        total += n as u64;
    }
    Ok((BlobId(hex::encode(hasher.finalize())), total))
}

/// fsync a directory so a rename or unlink in it survives a power loss.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(test)]
    synced::record(dir);
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, e))
}

/// Create `dir` (and missing parents) so that it survives a power loss: each directory
/// made here is fsynced into its parent. Existing directories cost one `stat`.
pub fn create_dir_durable(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        // Another thread or process made it meanwhile; it is theirs to sync, but syncing
        // the parent again is cheap and makes this call's promise hold regardless.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StoreError::io(dir, e)),
    }
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Make a directory tree written with plain writes durable: one `syncfs` on Linux; elsewhere
/// every file and directory under `root` is fsynced.
pub fn sync_tree(root: &Path) -> Result<(), StoreError> {
    if cfg!(target_os = "linux") {
        return sync_fs(root);
    }
    for entry in fs::read_dir(root).map_err(|e| StoreError::io(root, e))? {
        let path = entry.map_err(|e| StoreError::io(root, e))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path).and_then(|f| f.sync_all()).map_err(|e| StoreError::io(&path, e))?;
        }
    }
    sync_dir(root)
}

/// Test-only record of the directories fsynced on this thread, so tests can check that
/// the store makes the directory entries it creates durable.
#[cfg(test)]
pub(crate) mod synced {
    use std::cell::RefCell;
    use std::path::{Path, PathBuf};

    thread_local!(static SYNCED: RefCell<Vec<PathBuf>> = const { RefCell::new(Vec::new()) });

    pub fn record(path: &Path) {
        SYNCED.with(|s| s.borrow_mut().push(path.to_path_buf()));
    }

    /// What was synced since the last call.
    pub fn take() -> Vec<PathBuf> {
        SYNCED.with(|s| std::mem::take(&mut *s.borrow_mut()))
    }
}

/// Write out everything pending on the filesystem holding `path` (Linux `syncfs`): one
/// barrier for a batch of files and renames, where an fsync each costs a journal commit
/// each (about 2 ms apiece on the standard machine; see docs/PERFORMANCE.md).
#[cfg(target_os = "linux")]
pub fn sync_fs(path: &Path) -> Result<(), StoreError> {
    #[cfg(test)]
    synced::record(path);
    let f = File::open(path).map_err(|e| StoreError::io(path, e))?;
    rustix::fs::syncfs(&f).map_err(|e| StoreError::io(path, e.into()))
}

/// Elsewhere: the global `sync` has no error report, so fall back to the directory.
#[cfg(not(target_os = "linux"))]
pub fn sync_fs(path: &Path) -> Result<(), StoreError> {
    sync_dir(path)
}

impl BlobStore for LocalBlobs {
    fn contains(&self, id: &BlobId) -> Result<bool, StoreError> {
        let p = self.path_of(id);
        p.try_exists().map_err(|e| StoreError::io(&p, e))
    }

    fn open(&self, id: &BlobId) -> Result<Box<dyn Read + Send>, StoreError> {
        let p = self.path_of(id);
        Ok(Box::new(File::open(&p).map_err(|e| StoreError::io(&p, e))?))
    }

    fn open_at(&self, id: &BlobId, offset: u64) -> Result<Box<dyn Read + Send>, StoreError> {
        let p = self.path_of(id);
        let mut file = File::open(&p).map_err(|e| StoreError::io(&p, e))?;
        let size = file.metadata().map_err(|e| StoreError::io(&p, e))?.len();
        if offset > size {
            return Err(StoreError::io(&p, offset_past_end(offset, size)));
        }
        file.seek(SeekFrom::Start(offset)).map_err(|e| StoreError::io(&p, e))?;
        Ok(Box::new(file))
    }

    fn ingest(&self, staged: &Path, id: &BlobId) -> Result<(), StoreError> {
        let (actual, _) = hash_file(staged)?;
        if &actual != id {
            return Err(StoreError::BlobMismatch { expected: id.clone(), actual, file: staged.to_path_buf() });
        }
        let dest = self.path_of(id);
        if dest.exists() {
            // Same content already stored: one copy is enough.
            fs::remove_file(staged).map_err(|e| StoreError::io(staged, e))?;
            return Ok(());
        }
        // Bytes, then the shard directory's own entry (when new), then the name.
        File::open(staged).and_then(|f| f.sync_all()).map_err(|e| StoreError::io(staged, e))?;
        let dir = dest.parent().unwrap_or(&self.root);
        create_dir_durable(dir)?;
        fs::rename(staged, &dest).map_err(|e| StoreError::io(&dest, e))?;
        sync_dir(dir)
    }

    fn ingest_verified(&self, staged: &[(PathBuf, BlobId)]) -> Result<(), StoreError> {
        if staged.is_empty() {
            return Ok(());
        }
        if !cfg!(target_os = "linux") {
            return staged.iter().try_for_each(|(path, id)| self.ingest(path, id));
        }
        // Contents first, then names: a crash between the two leaves complete files in
        // staging, which the next run verifies and ingests again.
        sync_fs(&self.staging)?;
        for (path, id) in staged {
            let dest = self.path_of(id);
            if dest.exists() {
                fs::remove_file(path).map_err(|e| StoreError::io(path, e))?;
                continue;
            }
            let dir = dest.parent().unwrap_or(&self.root);
            fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
            fs::rename(path, &dest).map_err(|e| StoreError::io(&dest, e))?;
        }
        sync_fs(&self.root)
    }

    fn put_bytes(&self, bytes: &[u8]) -> Result<BlobId, StoreError> {
        let id = BlobId::of_bytes(bytes);
        if self.contains(&id)? {
            return Ok(id);
        }
        let tmp = self.staging.join(format!("put-{}-{}.tmp", id.0, std::process::id()));
        let mut f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| StoreError::io(&tmp, e))?;
        drop(f);
        self.ingest(&tmp, &id)?;
        Ok(id)
    }

    fn delete(&self, id: &BlobId) -> Result<(), StoreError> {
        let p = self.path_of(id);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&p, e)),
        }
    }

    fn list(&self) -> Result<Vec<BlobId>, StoreError> {
        let mut out = Vec::new();
        let top = fs::read_dir(&self.root).map_err(|e| StoreError::io(&self.root, e))?;
        for shard in top {
            let shard = shard.map_err(|e| StoreError::io(&self.root, e))?.path();
            if !shard.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&shard).map_err(|e| StoreError::io(&shard, e))? {
                let entry = entry.map_err(|e| StoreError::io(&shard, e))?;
                if let Some(id) = entry.file_name().to_str().and_then(BlobId::parse) {
                    out.push(id);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn size(&self, id: &BlobId) -> Result<u64, StoreError> {
        let p = self.path_of(id);
        Ok(fs::metadata(&p).map_err(|e| StoreError::io(&p, e))?.len())
    }

    fn local_path(&self, id: &BlobId) -> Option<PathBuf> {
        Some(self.path_of(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LocalBlobs) {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::new(dir.path().join("blobs"), dir.path().join("staging")).unwrap();
        (dir, blobs)
    }

    #[test]
    fn put_is_content_addressed_and_deduplicated() {
        let (_d, blobs) = store();
        let a = blobs.put_bytes(b"hello").unwrap();
        let b = blobs.put_bytes(b"hello").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(blobs.list().unwrap(), vec![a.clone()]);
        let mut s = String::new();
        blobs.open(&a).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        assert_eq!(blobs.size(&a).unwrap(), 5);
    }

    #[test]
    fn a_verified_batch_is_ingested_once_per_content() {
        let (d, blobs) = store();
        let a = d.path().join("staging/a.part");
        let b = d.path().join("staging/b.part");
        fs::write(&a, b"same").unwrap();
        fs::write(&b, b"same").unwrap();
        let id = BlobId::of_bytes(b"same");
        blobs.ingest_verified(&[(a.clone(), id.clone()), (b.clone(), id.clone())]).unwrap();
        assert_eq!(blobs.list().unwrap(), vec![id.clone()]);
        assert!(!a.exists() && !b.exists(), "both staged files are consumed");
        assert_eq!(fs::read(blobs.local_path(&id).unwrap()).unwrap(), b"same");
    }

    #[test]
    fn ingest_refuses_content_that_does_not_match_its_name() {
        let (d, blobs) = store();
        let staged = d.path().join("staging/x.part");
        fs::write(&staged, b"not hello").unwrap();
        let id = BlobId::of_bytes(b"hello");
        let err = blobs.ingest(&staged, &id).unwrap_err();
        assert!(matches!(err, StoreError::BlobMismatch { .. }), "{err}");
        assert!(!blobs.contains(&id).unwrap());
        assert!(staged.exists(), "the staged file stays for quarantine");
    }

    #[test]
    fn a_new_blob_is_durable_with_its_shard_directory() {
        let (_d, blobs) = store();
        synced::take();
        let id = blobs.put_bytes(b"first in its shard").unwrap();
        let shard = blobs.local_path(&id).unwrap().parent().unwrap().to_path_buf();
        let synced = synced::take();
        assert!(synced.contains(&blobs.root), "the new shard's entry in blobs/: {synced:?}");
        assert!(synced.contains(&shard), "the blob's name in its shard: {synced:?}");
        let again = blobs.put_bytes(b"first in its shard").unwrap();
        assert_eq!(again, id);
        assert!(synced::take().is_empty(), "a stored blob costs no fsync");
    }

    #[test]
    fn open_at_reads_from_an_offset_and_refuses_one_past_the_end() {
        let (_d, blobs) = store();
        let id = blobs.put_bytes(b"0123456789").unwrap();
        let read_from = |offset| {
            let mut out = Vec::new();
            blobs.open_at(&id, offset).unwrap().read_to_end(&mut out).unwrap();
            out
        };
        assert_eq!(read_from(0), b"0123456789");
        assert_eq!(read_from(4), b"456789");
        assert_eq!(read_from(10), b"");
        let err = blobs.open_at(&id, 11).err().unwrap().to_string();
        assert!(err.contains("offset 11 is past the end of the blob (10 bytes)"), "{err}");
    }

    #[test]
    fn blob_ids_are_validated_and_lowercased() {
        assert!(BlobId::parse("abc").is_none());
        let upper = "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824";
        assert_eq!(BlobId::parse(upper).unwrap(), BlobId::of_bytes(b"hello"));
        assert!(BlobId::parse(&"g".repeat(64)).is_none());
    }
}
