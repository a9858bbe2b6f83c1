//! Serving a store that keeps no directory trees (PostgreSQL and object storage under
//! several replicas): `ServeDir`'s HTTP handling — Range, ETag, Last-Modified, conditional
//! GET — over a backend that looks each request's path up in the database (source →
//! published snapshot → file → blob; view → published build → file → blob) and streams
//! the blob from the blob store, a ranged read from the bucket for a Range request. Memory per request is bounded: files up to
//! [`SMALL_FILE`] are read whole, larger ones stream through a bounded channel.

use std::future::Future;
use std::io::{self, Read as _};
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use esxlcm_store::Store;
use esxlcm_store::blob::BlobId;
use esxlcm_store::content::{NotServed, ServedFile};
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use tokio::sync::mpsc;
use tower_http::services::fs::{Backend, File as BackendFile, Metadata as BackendMetadata};

use super::VIEWS_PREFIX;

/// The directory `ServeDir` believes it serves; paths under it are looked up in the rows.
pub(super) const BASE: &str = "/esxlcm-store";

/// Files up to this size are read whole when opened; larger ones stream
/// ([`crate::read_ahead`]).
const SMALL_FILE: u64 = 1 << 20;

/// What a request path addresses: a file of a source's published snapshot or of one by
/// id, or of a named view's published build.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RowPath {
    Source { source: String, snapshot: Option<i64>, file: String },
    View { name: String, file: String },
}

/// `<source>/<file>`, `<source>/@<id>/<file>` or `views/<name>/<file>`, from the path
/// `ServeDir` built (already percent-decoded and free of `..`). The server's own `-/…`
/// paths are not rows.
pub(super) fn row_path(path: &Path) -> Option<RowPath> {
    let relative = path.strip_prefix(BASE).ok()?;
    let mut parts = Vec::new();
    for c in relative.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            _ => return None,
        }
    }
    match parts.as_slice() {
        [first, name, rest @ ..] if *first == VIEWS_PREFIX && !rest.is_empty() => {
            Some(RowPath::View { name: (*name).to_owned(), file: rest.join("/") })
        }
        [source, ..] if *source == VIEWS_PREFIX || source.starts_with(['-', '.']) => None,
        [source, snapshot, rest @ ..] if snapshot.starts_with('@') && !rest.is_empty() => {
            let digits = snapshot.strip_prefix('@')?;
            let id = digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok()).flatten()?;
            Some(RowPath::Source { source: (*source).to_owned(), snapshot: Some(id), file: rest.join("/") })
        }
        [_, first, ..] if first.starts_with('@') => None,
        [source, rest @ ..] if !rest.is_empty() => {
            Some(RowPath::Source { source: (*source).to_owned(), snapshot: None, file: rest.join("/") })
        }
        _ => None,
    }
}

/// `ServeDir`'s file system over a store's rows and blobs.
#[derive(Clone)]
pub(super) struct StoreRows {
    pub store: Arc<Store>,
}

impl std::fmt::Debug for StoreRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreRows").field("location", &self.store.location().to_string()).finish()
    }
}

/// A file as the rows describe it.
#[derive(Debug, Clone)]
pub(super) struct RowMeta {
    len: u64,
    /// The snapshot's creation (a view build's): files are immutable within a snapshot or
    /// build, so with the length it makes a sound ETag and Last-Modified.
    modified: SystemTime,
}

impl BackendMetadata for RowMeta {
    fn is_dir(&self) -> bool {
        false
    }

    fn modified(&self) -> io::Result<SystemTime> {
        Ok(self.modified)
    }

    fn len(&self) -> u64 {
        self.len
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

fn not_found(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, why.to_owned())
}

impl StoreRows {
    /// The file a path names and its metadata (blocking: database reads).
    fn lookup(&self, path: &Path) -> io::Result<(ServedFile, RowMeta)> {
        let row = row_path(path).ok_or_else(|| not_found("not a source or view file"))?;
        let found = match &row {
            RowPath::Source { source, snapshot, file } => self.store.published_file(source, *snapshot, file),
            RowPath::View { name, file } => self.store.view_file(name, file),
        };
        let served = match found {
            Ok(Ok(served)) => served,
            Ok(Err(NotServed::NoSource(why) | NotServed::NoSnapshot(why))) => return Err(not_found(&why)),
            Ok(Err(NotServed::NoFile)) => return Err(not_found("no such file")),
            Err(e) => {
                tracing::error!(path = %path.display(), "looking up a served file: {e}");
                return Err(io::Error::other("the store could not be read"));
            }
        };
        let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(served.created_at).unwrap_or(0));
        let meta = RowMeta { len: served.file.size, modified };
        Ok((served, meta))
    }
}

impl Backend for StoreRows {
    type File = BlobFile;
    type Metadata = RowMeta;
    type OpenFuture = BoxFuture<BlobFile>;
    type MetadataFuture = BoxFuture<RowMeta>;

    fn open(&self, path: PathBuf) -> Self::OpenFuture {
        let rows = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let (served, meta) = rows.lookup(&path)?;
                let blob = served.file.blob;
                if meta.len <= SMALL_FILE {
                    let mut reader = rows.store.open_blob_at(&blob, 0).map_err(|e| blob_error(&blob, &e))?;
                    let mut bytes = Vec::with_capacity(usize::try_from(meta.len).unwrap_or(0));
                    reader.by_ref().take(meta.len).read_to_end(&mut bytes)?;
                    if bytes.len() as u64 != meta.len {
                        tracing::error!(blob = %blob, "blob is shorter than the snapshot records (run esxlcm mirror verify)");
                        return Err(io::Error::other("blob shorter than recorded"));
                    }
                    return Ok(BlobFile::Memory { bytes: io::Cursor::new(bytes), meta });
                }
                Ok(BlobFile::Stream(Stream { store: Arc::clone(&rows.store), blob, meta, pos: 0, rx: None, chunk: Bytes::new() }))
            })
            .await
            .map_err(io::Error::other)?
        })
    }

    fn metadata(&self, path: PathBuf) -> Self::MetadataFuture {
        let rows = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || rows.lookup(&path).map(|(_, meta)| meta))
                .await
                .map_err(io::Error::other)?
        })
    }
}

fn blob_error(blob: &BlobId, e: &esxlcm_store::StoreError) -> io::Error {
    tracing::error!(blob = %blob, "opening a blob to serve it: {e}");
    io::Error::other("the blob could not be read")
}

/// An open file: read whole (small) or streamed from the blob store.
pub(super) enum BlobFile {
    Memory { bytes: io::Cursor<Vec<u8>>, meta: RowMeta },
    Stream(Stream),
}

/// A large blob, read from `pos` on a blocking thread that sends chunks ahead through a
/// bounded channel; a seek drops the reader and the next read opens the blob at the new
/// position (a ranged read from the bucket).
pub(super) struct Stream {
    store: Arc<Store>,
    blob: BlobId,
    meta: RowMeta,
    pos: u64,
    rx: Option<mpsc::Receiver<io::Result<Bytes>>>,
    chunk: Bytes,
}

impl Stream {
    fn start(&mut self) -> mpsc::Receiver<io::Result<Bytes>> {
        let (store, blob, offset) = (Arc::clone(&self.store), self.blob.clone(), self.pos);
        crate::read_ahead::read_ahead(move || store.open_blob_at(&blob, offset).map_err(|e| blob_error(&blob, &e)))
    }
}

impl AsyncRead for BlobFile {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let s = match self.get_mut() {
            Self::Memory { bytes, .. } => return Pin::new(bytes).poll_read(cx, buf),
            Self::Stream(s) => s,
        };
        loop {
            if !s.chunk.is_empty() {
                let n = s.chunk.len().min(buf.remaining());
                buf.put_slice(&s.chunk.split_to(n));
                s.pos += n as u64;
                return Poll::Ready(Ok(()));
            }
            if s.pos >= s.meta.len {
                return Poll::Ready(Ok(()));
            }
            if s.rx.is_none() {
                s.rx = Some(s.start());
            }
            let Some(rx) = s.rx.as_mut() else { return Poll::Ready(Ok(())) };
            match rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => s.chunk = chunk,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                // The reader ended before the recorded length: the blob is short.
                Poll::Ready(None) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "blob shorter than recorded",
                    )));
                }
            }
        }
    }
}

impl AsyncSeek for BlobFile {
    fn start_seek(self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        let s = match self.get_mut() {
            Self::Memory { bytes, .. } => return Pin::new(bytes).start_seek(position),
            Self::Stream(s) => s,
        };
        let to = match position {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::Current(d) => s.pos.checked_add_signed(d),
            io::SeekFrom::End(d) => s.meta.len.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        if to != s.pos {
            s.pos = to;
            s.rx = None;
            s.chunk = Bytes::new();
        }
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        match self.get_mut() {
            Self::Memory { bytes, .. } => Pin::new(bytes).poll_complete(cx),
            Self::Stream(s) => Poll::Ready(Ok(s.pos)),
        }
    }
}

impl BackendFile for BlobFile {
    type Metadata = RowMeta;
    type MetadataFuture<'a> = std::future::Ready<io::Result<RowMeta>>;

    fn metadata(&self) -> Self::MetadataFuture<'_> {
        let (Self::Memory { meta, .. } | Self::Stream(Stream { meta, .. })) = self;
        std::future::ready(Ok(meta.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_name_a_source_a_snapshot_and_a_file() {
        let at = |p: &str| row_path(&Path::new(BASE).join(p));
        let row = |source: &str, snapshot, file: &str| {
            Some(RowPath::Source { source: source.into(), snapshot, file: file.into() })
        };
        assert_eq!(at("demo/index.xml"), row("demo", None, "index.xml"));
        assert_eq!(at("demo/@12/vib20/a/b.vib"), row("demo", Some(12), "vib20/a/b.vib"));
        assert_eq!(
            at("views/branch/branch/vib20/a/b.vib"),
            Some(RowPath::View { name: "branch".into(), file: "branch/vib20/a/b.vib".into() })
        );
        for refused in ["demo", "demo/@12", "demo/@x/index.xml", "views/v", "views", "-/status", ".hidden/x"] {
            assert_eq!(at(refused), None, "{refused}");
        }
        assert_eq!(row_path(Path::new("/elsewhere/demo/index.xml")), None);
    }
}
