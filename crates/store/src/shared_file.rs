//! Files one request leaves for a later one, which may reach another replica: a bundle
//! uploaded for an offline depot or a software spec (`POST /vum-fileupload`, then a
//! `create` naming its id), an exported image (made by one call, downloaded by the next).
//!
//! Each is a blob (content-addressed, in the blob store every replica reads) named by a
//! document row of kind [`KIND`] whose id is the file's key (`upload/<uuid>`,
//! `export/<uuid>/<name>`). On the embedded default the same rows and blobs hold them, so
//! one code path serves both deployments.
//!
//! **Against garbage collection**, without the store lock (a sync holds it for minutes,
//! an upload must not wait for it): the row is written before the blob is stored, and
//! [`crate::gc`] lists the blobs before it reads what references them, so a blob stored
//! after the listing is not a candidate and one stored before it has its row already. A
//! blob that is already present (the same content shared twice) is kept by the
//! [`SHARED_LEASE`], which gc holds from reading the references until its deletes are
//! done and [`Store::share_file`] holds while it writes the row and looks for the blob.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::blob::{BlobId, hash_file};
use crate::error::StoreError;
use crate::meta::DocumentChange;
use crate::ops::LockWait;
use crate::store::Store;

/// The document kind of shared files' rows.
pub const KIND: &str = "shared-file";

/// Held while references to shared files' blobs are read and acted on (see the module
/// documentation).
pub(crate) const SHARED_LEASE: &str = "shared-files";

/// How long a share or an unshare waits for a garbage collection's deletes.
const LEASE_WAIT: LockWait = LockWait(Duration::from_secs(60));

/// An open shared file: its record and a reader of its bytes.
pub type OpenSharedFile = (SharedFile, Box<dyn Read + Send>);

/// A shared file as its row records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedFile {
    /// The blob holding the bytes (their sha-256).
    pub blob: String,
    pub size: u64,
    /// When it was shared (Unix seconds).
    pub created: i64,
}

impl SharedFile {
    pub fn blob_id(&self) -> Option<BlobId> {
        BlobId::parse(&self.blob)
    }
}

/// A key is a few `/`-separated parts of letters, digits, `-`, `_` and `.` (none only dots):
/// the server builds them from ids it made, and nothing else reaches the rows.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && key.split('/').all(|part| {
            !part.is_empty()
                && !part.bytes().all(|b| b == b'.')
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

fn invalid_key(key: &str) -> StoreError {
    StoreError::SharedFile { key: key.to_owned(), message: "not a valid shared file key".into() }
}

impl Store {
    /// Store the file at `staged` (consumed: moved into the blob store or removed) as the
    /// shared file `key`, replacing one of that key. On the embedded default `staged` must
    /// be on the store's filesystem (under [`Store::uploads_dir`]); the blob is then a rename.
    pub fn share_file(&self, key: &str, staged: &Path) -> Result<SharedFile, StoreError> {
        if !is_valid_key(key) {
            return Err(invalid_key(key));
        }
        let (blob, size) = hash_file(staged)?;
        let record = SharedFile { blob: blob.to_string(), size, created: crate::meta::now() };
        let body = serde_json::to_string(&record)
            .map_err(|e| StoreError::SharedFile { key: key.to_owned(), message: e.to_string() })?;
        let present = {
            let _lease = self.lease_waiting(SHARED_LEASE, LEASE_WAIT)?;
            self.meta.write_documents(&[DocumentChange { kind: KIND.into(), id: key.to_owned(), body: Some(body) }])?;
            self.blobs.contains(&blob)?
        };
        let stored = if present {
            std::fs::remove_file(staged).map_err(|e| StoreError::io(staged, e))
        } else {
            self.blobs.ingest_verified(&[(staged.to_path_buf(), blob.clone())])
        };
        if let Err(e) = stored {
            // No row names bytes that never arrived.
            let removed =
                self.meta.write_documents(&[DocumentChange { kind: KIND.into(), id: key.to_owned(), body: None }]);
            if let Err(r) = removed {
                tracing::warn!(key, "could not remove the record of a shared file that was not stored: {r}");
            }
            return Err(e);
        }
        tracing::debug!(key, blob = %blob, size, "file shared");
        Ok(record)
    }

    /// The shared file `key`, if its row exists and its blob is there.
    pub fn shared_file(&self, key: &str) -> Result<Option<SharedFile>, StoreError> {
        let Some((record, blob)) = self.record(key)? else { return Ok(None) };
        Ok(self.blobs.contains(&blob)?.then_some(record))
    }

    /// The shared file `key` and a reader of its bytes (streamed from the bucket on the
    /// cluster backends), if its row exists and its blob is there.
    pub fn open_shared_file(&self, key: &str) -> Result<Option<OpenSharedFile>, StoreError> {
        let Some((record, blob)) = self.record(key)? else { return Ok(None) };
        // Opened without asking first whether the blob is there: one request to the bucket.
        match self.blobs.open(&blob) {
            Ok(reader) => Ok(Some((record, reader))),
            Err(StoreError::ObjectStore { missing: true, .. }) => Ok(None),
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The row of `key` and the blob it names (a key outside the grammar has none).
    fn record(&self, key: &str) -> Result<Option<(SharedFile, BlobId)>, StoreError> {
        if !is_valid_key(key) {
            return Ok(None);
        }
        let Some(body) = self.meta.document(KIND, key)? else { return Ok(None) };
        let record = parse(key, &body)?;
        match record.blob_id() {
            Some(blob) => Ok(Some((record, blob))),
            None => {
                Err(StoreError::SharedFile { key: key.to_owned(), message: format!("names no blob: {}", record.blob) })
            }
        }
    }

    /// Every shared file whose key starts with `prefix`, `(key, record)`, oldest first.
    pub fn shared_files(&self, prefix: &str) -> Result<Vec<(String, SharedFile)>, StoreError> {
        let mut out = Vec::new();
        for (key, body) in self.meta.documents_of(KIND)? {
            if key.starts_with(prefix) {
                let record = parse(&key, &body)?;
                out.push((key, record));
            }
        }
        out.sort_by(|a, b| (a.1.created, &a.0).cmp(&(b.1.created, &b.0)));
        Ok(out)
    }

    /// Forget the shared files `keys` and free their blobs now when nothing else uses them
    /// and no other process holds the store; otherwise the next `mirror gc` frees them.
    pub fn unshare_files(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut blobs = Vec::new();
        for key in keys {
            if let Some(body) = self.meta.document(KIND, key)? {
                blobs.extend(parse(key, &body).ok().and_then(|r| r.blob_id()));
            }
        }
        let rows: Vec<DocumentChange> =
            keys.iter().map(|k| DocumentChange { kind: KIND.into(), id: k.clone(), body: None }).collect();
        self.meta.write_documents(&rows)?;
        if blobs.is_empty() {
            return Ok(());
        }
        // A sync or gc under way: leave the bytes to the next gc rather than wait for it.
        let _lock = match self.lock() {
            Ok(lock) => lock,
            Err(StoreError::Locked { .. } | StoreError::LeaseBusy { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let _lease = self.lease_waiting(SHARED_LEASE, LEASE_WAIT)?;
        let referenced = crate::gc::referenced_blobs(self)?;
        for blob in blobs.iter().filter(|b| !referenced.contains(b)) {
            self.blobs.delete(blob)?;
            tracing::debug!(blob = %blob, "freed the blob of an unshared file");
        }
        Ok(())
    }
}

fn parse(key: &str, body: &str) -> Result<SharedFile, StoreError> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::SharedFile { key: key.to_owned(), message: format!("unreadable record: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(store: &Store, bytes: &[u8]) -> std::path::PathBuf {
        let dir = Store::uploads_dir(store.root());
        std::fs::create_dir_all(&dir).unwrap();
        let file = tempfile::Builder::new().prefix(".t-").tempfile_in(&dir).unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        file.into_temp_path().keep().unwrap()
    }

    fn read(store: &Store, key: &str) -> Option<Vec<u8>> {
        let (_, mut reader) = store.open_shared_file(key).unwrap()?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        Some(out)
    }

    #[test]
    fn a_shared_file_is_read_back_and_freed_when_unshared() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let file = staged(&store, b"bundle bytes");
        let record = store.share_file("upload/u1", &file).unwrap();
        assert!(!file.exists(), "the staged file is consumed");
        assert_eq!((record.size, record.blob.as_str()), (12, BlobId::of_bytes(b"bundle bytes").as_str()));
        assert_eq!(read(&store, "upload/u1").as_deref(), Some(&b"bundle bytes"[..]));
        assert_eq!(store.shared_file("upload/u1").unwrap(), Some(record.clone()));
        assert_eq!(store.shared_files("upload/").unwrap(), vec![("upload/u1".to_owned(), record.clone())]);
        assert!(store.shared_files("export/").unwrap().is_empty());

        store.unshare_files(&["upload/u1".to_owned()]).unwrap();
        assert_eq!(store.shared_file("upload/u1").unwrap(), None);
        assert!(read(&store, "upload/u1").is_none());
        assert!(!store.blobs.contains(&record.blob_id().unwrap()).unwrap(), "the blob is freed at once");
    }

    #[test]
    fn the_same_content_twice_keeps_its_blob_until_both_are_unshared() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store.share_file("export/e1/image.iso", &staged(&store, b"same")).unwrap();
        let b = store.share_file("export/e2/image.iso", &staged(&store, b"same")).unwrap();
        assert_eq!(a.blob, b.blob);
        store.unshare_files(&["export/e1/image.iso".to_owned()]).unwrap();
        assert_eq!(read(&store, "export/e2/image.iso").as_deref(), Some(&b"same"[..]));
        store.unshare_files(&["export/e2/image.iso".to_owned()]).unwrap();
        assert!(!store.blobs.contains(&a.blob_id().unwrap()).unwrap());
    }

    #[test]
    fn garbage_collection_keeps_shared_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let record = store.share_file("upload/u2", &staged(&store, b"kept by its row")).unwrap();
        let orphan = store.blobs.put_bytes(b"orphan").unwrap();
        let report = store.gc(LockWait::NONE).unwrap();
        assert_eq!((report.blobs_kept, report.blobs_deleted), (1, 1));
        assert!(!store.blobs.contains(&orphan).unwrap());
        assert_eq!(read(&store, "upload/u2").as_deref(), Some(&b"kept by its row"[..]));
        assert_eq!(store.shared_file("upload/u2").unwrap(), Some(record));
    }

    #[test]
    fn a_blob_a_snapshot_uses_is_not_freed_with_an_unshared_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let config = crate::source::SourceConfig::new("s", "file:///x/index.xml").unwrap();
        let source = store.meta.add_source(&config).unwrap();
        let blob = store.blobs.put_bytes(b"vib").unwrap();
        let file = crate::meta::FileEntry { path: "vib20/a.vib".into(), blob: blob.clone(), size: 3 };
        store.meta.create_snapshot(source.id, &[file]).unwrap();
        store.share_file("upload/u3", &staged(&store, b"vib")).unwrap();
        store.unshare_files(&["upload/u3".to_owned()]).unwrap();
        assert!(store.blobs.contains(&blob).unwrap(), "the snapshot still serves it");
    }

    #[test]
    fn a_held_store_leaves_the_bytes_to_gc() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let record = store.share_file("upload/u4", &staged(&store, b"later")).unwrap();
        let held = store.lock().unwrap();
        store.unshare_files(&["upload/u4".to_owned()]).unwrap();
        assert_eq!(store.shared_file("upload/u4").unwrap(), None, "forgotten at once");
        drop(held);
        assert!(store.blobs.contains(&record.blob_id().unwrap()).unwrap(), "freed by gc, not now");
        assert_eq!(store.gc(LockWait::NONE).unwrap().blobs_deleted, 1);
    }

    #[test]
    fn keys_outside_the_grammar_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for key in ["", "upload/../x", "upload//x", "upload/a b", "/upload/x", "upload/x/", "up%2e/x", ".."] {
            assert!(!is_valid_key(key), "{key}");
            assert!(
                matches!(store.share_file(key, &staged(&store, b"x")), Err(StoreError::SharedFile { .. })),
                "{key}"
            );
            assert_eq!(store.shared_file(key).unwrap(), None, "{key}");
        }
        assert!(is_valid_key("export/0f0e-aa/offline-bundle.zip"));
    }
}
