//! A snapshot's files read from what the store records — its database rows (path → blob)
//! and the blobs they name — with no directory tree: served to hosts file by file
//! ([`Store::published_file`], a named view's [`Store::view_file`], [`Store::open_blob_at`])
//! and read as a depot ([`Store::snapshot_depot`]) by the API's catalog. This is how every replica of a
//! cluster store serves every source: the rows and the bucket are shared, so what one
//! replica published another serves at its next request.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Arc;

use esxlcm_depot::source::{Container, ContainerError, Depot, OpenOptions, SourceError};

use crate::blob::{BlobId, BlobStore};
use crate::error::StoreError;
use crate::meta::FileEntry;
use crate::store::Store;

/// A file a request names, as recorded: which snapshot, which blob, how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedFile {
    pub source: String,
    pub snapshot: i64,
    /// When the snapshot was made (seconds since the epoch): a served file's Last-Modified.
    pub created_at: i64,
    pub file: FileEntry,
}

/// Why a path names no servable file, in words for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotServed {
    /// No such source, or it has published nothing yet.
    NoSource(String),
    /// The snapshot is not (or no longer) kept.
    NoSnapshot(String),
    /// The snapshot has no such file.
    NoFile,
}

impl Store {
    /// The file at depot-relative `path` of `source`'s published snapshot, or of its
    /// snapshot `snapshot`. Each call reads the published row once, so a request sees one
    /// snapshot whole, whatever a publication on another replica does meanwhile.
    pub fn published_file(
        &self,
        source: &str,
        snapshot: Option<i64>,
        path: &str,
    ) -> Result<Result<ServedFile, NotServed>, StoreError> {
        let s = match self.meta.source(source) {
            Ok(s) => s,
            Err(StoreError::UnknownSource(_)) => {
                return Ok(Err(NotServed::NoSource(format!("no source '{source}' in this store"))));
            }
            Err(e) => return Err(e),
        };
        let id = match snapshot {
            Some(id) => id,
            None => match self.meta.published(s.id)? {
                Some(id) => id,
                None => {
                    return Ok(Err(NotServed::NoSource(format!(
                        "'{source}' has published nothing yet (sync it first)"
                    ))));
                }
            },
        };
        let Some(info) = self.meta.snapshots(s.id)?.into_iter().find(|x| x.id == id) else {
            return Ok(Err(NotServed::NoSnapshot(format!(
                "snapshot {id} of '{source}' does not exist: it was never made, or retention removed it \
                 (see esxlcm mirror status)"
            ))));
        };
        Ok(match self.meta.snapshot_file(id, path)? {
            Some(file) => Ok(ServedFile { source: source.to_owned(), snapshot: id, created_at: info.created_at, file }),
            None => Err(NotServed::NoFile),
        })
    }

    /// The file at depot-relative `path` of the build view `name` serves, on a store
    /// without trees (a store with trees serves its views from directories). The build
    /// pointer and the file are read in one statement, so a request sees one build whole.
    /// In the answer, `source` is the view's name, `snapshot` its build number and
    /// `created_at` when that build was made.
    pub fn view_file(&self, name: &str, path: &str) -> Result<Result<ServedFile, NotServed>, StoreError> {
        Ok(match self.meta.view_file(name, path)? {
            Some(v) => Ok(ServedFile {
                source: name.to_owned(),
                snapshot: i64::try_from(v.build).unwrap_or(i64::MAX),
                created_at: v.built_at,
                file: v.file,
            }),
            None => Err(NotServed::NoFile),
        })
    }

    /// The files of build `build` of view `name`, by path, on a store without trees (what
    /// the build serves while it is the view's; none on a store with trees).
    pub fn view_build_files(&self, name: &str, build: u64) -> Result<Vec<FileEntry>, StoreError> {
        self.meta.view_files(name, build)
    }

    /// The names of the sources that publish a snapshot, in name order.
    pub fn published_source_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for s in self.meta.sources()? {
            if self.meta.published(s.id)?.is_some() {
                names.push(s.config.name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// A blob as a local file, for checks that read files (VIB signatures): the blob's own
    /// file on one node, a temporary copy in staging (removed on drop) on the cluster backends.
    pub fn blob_file(&self, blob: &BlobId) -> Result<BlobAsFile, StoreError> {
        if let Some(path) = self.blobs.local_path(blob) {
            return Ok(BlobAsFile::Local(path));
        }
        let staging = self.staging_dir();
        let mut copy = tempfile::NamedTempFile::new_in(&staging).map_err(|e| StoreError::io(&staging, e))?;
        io::copy(&mut self.blobs.open(blob)?, &mut copy).map_err(|e| StoreError::io(copy.path(), e))?;
        Ok(BlobAsFile::Copy(copy.into_temp_path()))
    }

    /// Whether the store holds a blob (an on-demand payload may not be fetched yet).
    pub fn has_blob(&self, blob: &BlobId) -> Result<bool, StoreError> {
        self.blobs.contains(blob)
    }

    /// A blob's bytes from `offset` on, streamed (a ranged read from the bucket on the
    /// cluster backends).
    pub fn open_blob_at(&self, blob: &BlobId, offset: u64) -> Result<Box<dyn Read + Send>, StoreError> {
        self.blobs.open_at(blob, offset)
    }

    /// Snapshot `snapshot_id` read as a depot from its rows and blobs, as `Depot::open_path`
    /// reads a directory: the API's catalog and content pages, on every backend.
    pub fn snapshot_depot(&self, snapshot_id: i64, label: &str) -> Result<Depot, StoreError> {
        let files = self.meta.snapshot_files(snapshot_id)?;
        self.files_depot(files, label).map_err(|e| StoreError::Sync {
            source_name: label.to_owned(),
            message: format!("snapshot {snapshot_id} cannot be read as a depot: {e}"),
        })
    }

    /// Files (path → blob) read as a depot: a snapshot's, a view build's.
    pub(crate) fn files_depot(&self, files: Vec<FileEntry>, label: &str) -> Result<Depot, Box<SourceError>> {
        let container = RowsContainer {
            label: label.to_owned(),
            files: files.into_iter().map(|f| (f.path.clone(), f)).collect(),
            blobs: Arc::clone(&self.blobs),
        };
        Depot::open_tree(label.to_owned(), Arc::new(container), &OpenOptions::default()).map_err(Box::new)
    }
}

/// A blob's file: its own, or a temporary copy removed when this is dropped.
#[derive(Debug)]
pub enum BlobAsFile {
    Local(std::path::PathBuf),
    Copy(tempfile::TempPath),
}

impl BlobAsFile {
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Local(p) => p,
            Self::Copy(p) => p,
        }
    }
}

/// Rows as the depot reader's [`Container`]: paths from the rows, bytes from blobs.
struct RowsContainer {
    label: String,
    files: HashMap<String, FileEntry>,
    blobs: Arc<dyn BlobStore>,
}

impl RowsContainer {
    fn io(&self, path: &str, source: io::Error) -> ContainerError {
        ContainerError::Io { container: self.label.clone(), path: path.to_owned(), source }
    }
}

impl Container for RowsContainer {
    fn label(&self) -> String {
        self.label.clone()
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>, ContainerError> {
        let entry = self
            .files
            .get(path)
            .ok_or_else(|| ContainerError::NotFound { container: self.label.clone(), path: path.to_owned() })?;
        let blobs: &dyn BlobStore = self.blobs.as_ref();
        // An on-demand payload not fetched yet is absent, as from a directory tree.
        if !blobs.contains(&entry.blob).map_err(|e| self.io(path, io::Error::other(e.to_string())))? {
            return Err(ContainerError::NotFound { container: self.label.clone(), path: path.to_owned() });
        }
        let reader = blobs.open(&entry.blob).map_err(|e| self.io(path, io::Error::other(e.to_string())))?;
        Ok(Box::new(reader.take(entry.size)))
    }

    fn exists(&self, path: &str) -> Option<bool> {
        Some(self.files.contains_key(path))
    }

    fn list(&self) -> Option<Vec<String>> {
        let mut names: Vec<String> = self.files.keys().cloned().collect();
        names.sort();
        Some(names)
    }
}
