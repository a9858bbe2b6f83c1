//! Errors of the store, each naming what it was about: the file, the source, the VIB.

use std::io;
use std::path::{Path, PathBuf};

use crate::blob::BlobId;
use crate::transport::TransportError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("metadata database: {context}: {source}")]
    Db { context: String, source: rusqlite::Error },
    /// PostgreSQL ([`crate::meta::PgMeta`]); `target` is the database URL without its password.
    #[error("metadata database {target}: {context}: {source}")]
    Pg { target: String, context: String, source: crate::meta::postgres::PgError },
    #[error("metadata database {}: schema version {found} is newer than this esxlcm understands ({supported}); upgrade esxlcm", path.display())]
    SchemaTooNew { path: PathBuf, found: i64, supported: i64 },
    #[error("store {}: another esxlcm process is using it (sync, gc or rollback); try again when it is done", path.display())]
    Locked { path: PathBuf },
    #[error("store {store}: another esxlcm process or replica held the '{name}' lease for {waited_ms} ms; try again")]
    LeaseBusy { store: String, name: String, waited_ms: u128 },
    #[error("{0}")]
    Location(String),
    #[error(
        "this store keeps its metadata in PostgreSQL or its payloads in object storage, where {0} is not available yet (it needs the single-node store)"
    )]
    NotOnClusterBackends(&'static str),
    #[error("no source named '{0}' (see `esxlcm mirror list`)")]
    UnknownSource(String),
    #[error("a source named '{0}' already exists")]
    SourceExists(String),
    #[error("invalid source: {0}")]
    InvalidSource(String),
    #[error("source '{source_name}': no snapshot {id}")]
    UnknownSnapshot { source_name: String, id: i64 },
    #[error("source '{source_name}': {message}")]
    Sync { source_name: String, message: String },
    #[error("source '{source_name}': {source}")]
    Transport { source_name: String, file: String, source: TransportError },
    #[error("source '{source_name}': {file}: {message}")]
    Document { source_name: String, file: String, message: String },
    #[error("blob {expected}: {} hashes to {actual}", file.display())]
    BlobMismatch { expected: BlobId, actual: BlobId, file: PathBuf },
    /// An object store (S3-compatible) refused or failed a request: `url` names the bucket
    /// and key (`s3://BUCKET/KEY`), `message` what failed and what to do. `missing` is set
    /// when the object does not exist. Never carries credentials.
    #[error("{url}: {message}")]
    ObjectStore { url: String, missing: bool, message: String },
    #[error("{}: {message}", path.display())]
    Carry { path: PathBuf, message: String },
    #[error("chunk {} is corrupt: {message}; copy it again from the export (the import continues where it stopped)", file.display())]
    BadChunk { file: PathBuf, message: String },
    /// A shared file (an upload or an export waiting for its next request): its key.
    #[error("shared file {key}: {message}")]
    SharedFile { key: String, message: String },
    #[error("source '{source_name}': {count} file(s) could not be downloaded; first: {first}")]
    Downloads { source_name: String, count: usize, first: String },
}

impl StoreError {
    pub fn io(path: &Path, source: io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    pub fn db(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Self {
        let context = context.into();
        move |source| Self::Db { context, source }
    }
}
