//! Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Garage), through Apache
//! Arrow's `object_store` client: objects at `PREFIX/sha256/<2 hex>/<64 hex>`.
//!
//! The store's API is synchronous and is called both from plain threads and from inside
//! tokio workers (the server's async handlers); `object_store` is async. Blocking on a
//! future on the caller's thread panics inside a runtime, so [`S3Blobs`] owns a private
//! runtime and hands each request to it with [`Handle::spawn`]; the caller waits on a std
//! channel, which is fine on any thread. Downloads come back as chunks over a channel whose
//! bytes in flight are capped by a semaphore (the reader gives permits back as it consumes),
//! so memory stays flat however large the object and however slow the reader.
//!
//! An object appears whole or not at all: a small blob is one PUT, a large one a multipart
//! upload that only becomes visible on completion and is aborted on any error.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::io::AsyncReadExt;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::Semaphore;

use super::{BlobId, BlobStore, hash_file, offset_past_end};
use crate::error::StoreError;

/// Files at least this large are uploaded in parts of this size (S3's minimum part is
/// 5 MiB); smaller ones in one PUT. Memory per upload: about `PART_SIZE` times
/// (`PART_CONCURRENCY` + 1).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
const PART_CONCURRENCY: usize = 2;
/// Bytes of one download that may wait in the channel for the reader.
pub const STREAM_BUFFER_BYTES: usize = 1024 * 1024;
/// Uploads of one `ingest_verified` batch in flight at once.
const BATCH_CONCURRENCY: usize = 4;

/// The environment variables read for the endpoint and credentials (besides the other
/// `AWS_*` ones `object_store` understands).
pub const S3_ENV_VARS: [&str; 5] =
    ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ALLOW_HTTP"];

/// Blobs in a bucket; see the module documentation.
pub struct S3Blobs {
    client: Arc<AmazonS3>,
    bucket: String,
    /// `""` or `a/b` (no leading or trailing slash).
    prefix: String,
    staging: PathBuf,
    /// Dropped with `shutdown_background` (dropping a runtime blocks, which panics inside
    /// another runtime); `None` only during drop.
    runtime: Option<Runtime>,
    handle: Handle,
}

impl std::fmt::Debug for S3Blobs {
    // No client: its configuration holds the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Blobs").field("bucket", &self.bucket).field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl Drop for S3Blobs {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// How a `s3://BUCKET/PREFIX` URL splits.
fn parse_url(url: &str) -> Result<(String, String), StoreError> {
    // Never echo credentials someone put into the URL.
    let shown = match url.split_once('@') {
        Some((_, host)) => format!("s3://***@{host}"),
        None => url.to_owned(),
    };
    let bad = |why: &str| StoreError::ObjectStore {
        url: shown.clone(),
        missing: false,
        message: format!("{why}; expected s3://BUCKET or s3://BUCKET/PREFIX"),
    };
    let rest = url.strip_prefix("s3://").ok_or_else(|| bad("not an s3:// URL"))?;
    if rest.contains(['?', '#', '@', '\\']) {
        return Err(bad("a query, fragment, user or backslash has no meaning here"));
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid_bucket {
        return Err(bad("the bucket name must be 3 to 63 characters of a-z, 0-9, '-' and '.'"));
    }
    let prefix = prefix.trim_end_matches('/');
    if prefix.split('/').any(|s| s.is_empty() || s == "." || s == "..") && !prefix.is_empty() {
        return Err(bad("the prefix has an empty, '.' or '..' segment"));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

impl S3Blobs {
    /// Blobs in `s3://BUCKET/PREFIX` (prefix optional). The endpoint and credentials come
    /// from `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`
    /// and `AWS_ALLOW_HTTP` (`true` for a plain-http endpoint); requests use path-style
    /// addressing, which every S3-compatible server accepts. `staging` is where callers
    /// write files before [`BlobStore::ingest`]. One request (a HEAD under the prefix)
    /// checks that the bucket answers and the credentials are accepted.
    pub fn from_url(url: &str, staging: PathBuf) -> Result<Self, StoreError> {
        Self::from_url_with_env(url, staging, &[])
    }

    /// As [`Self::from_url`], with `vars` (name, value) taken as if they were set in the
    /// environment, winning over it: for tests, which cannot change the process's
    /// environment safely.
    pub fn from_url_with_env(url: &str, staging: PathBuf, vars: &[(&str, &str)]) -> Result<Self, StoreError> {
        let (bucket, prefix) = parse_url(url)?;
        super::create_dir_durable(&staging)?;
        let mut builder = AmazonS3Builder::from_env();
        for (name, value) in vars {
            // Same rule as from_env: AWS_* names, lowercased, as object_store's keys.
            if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(key, *value);
            }
        }
        // Transient failures (a dropped connection, a 5xx, SlowDown) are retried a few times
        // with backoff; an endpoint that stays down fails within seconds, not minutes.
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: 5,
            retry_timeout: Duration::from_secs(30),
        };
        let client =
            builder.with_bucket_name(&bucket).with_retry(retry).build().map_err(|e| StoreError::ObjectStore {
                url: format!("s3://{bucket}"),
                missing: false,
                // The builder's errors name keys and URLs, not secret values.
                message: format!("cannot configure the S3 client: {e}; check {}", S3_ENV_VARS.join(", ")),
            })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("esxlcm-s3")
            .enable_all()
            .build()
            .map_err(|e| StoreError::io(&staging, e))?;
        let handle = runtime.handle().clone();
        let blobs = Self { client: Arc::new(client), bucket, prefix, staging, runtime: Some(runtime), handle };
        blobs.probe()?;
        tracing::info!(bucket = %blobs.bucket, prefix = %blobs.prefix, "blobs in an S3-compatible bucket");
        Ok(blobs)
    }

    /// Where callers stage files before ingesting them.
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    fn probe(&self) -> Result<(), StoreError> {
        let key = self.key_of_name(".esxlcm-probe");
        let client = self.client.clone();
        let location = ObjectPath::from(key.as_str());
        match self.run(async move { client.head(&location).await })? {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(&key, "checking the bucket", e)),
        }
    }

    fn key_of_name(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_owned() } else { format!("{}/{name}", self.prefix) }
    }

    fn key_of(&self, id: &BlobId) -> String {
        self.key_of_name(&format!("sha256/{}/{}", &id.as_str()[..2], id.as_str()))
    }

    fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn error(&self, key: &str, what: &str, e: object_store::Error) -> StoreError {
        object_error(&self.url_of(key), what, e)
    }

    /// Run `future` on the private runtime and wait for its output on this thread (any
    /// thread, a tokio worker included).
    fn run<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle.spawn(async move {
            // The receiver is gone only if the caller is gone: nothing to tell.
            let _ = tx.send(future.await);
        });
        rx.recv().map_err(|_| StoreError::ObjectStore {
            url: format!("s3://{}", self.bucket),
            missing: false,
            message: "the S3 client's runtime stopped before answering (the store is closing)".into(),
        })
    }

    /// A streaming reader of the object of `id` from `offset` (`None`: the whole object).
    fn stream(&self, id: &BlobId, offset: Option<u64>) -> Result<ObjectReader, StoreError> {
        let key = self.key_of(id);
        let url = self.url_of(&key);
        let location = ObjectPath::from(key.as_str());
        let client = self.client.clone();
        let permits = Arc::new(Semaphore::new(STREAM_BUFFER_BYTES));
        let buffered = Arc::new(Buffered::default());
        let (chunks_tx, chunks) = mpsc::channel();
        let (first_tx, first) = mpsc::sync_channel(1);
        let task_permits = permits.clone();
        let task_buffered = buffered.clone();
        let head_location = location.clone();
        self.handle.spawn(async move {
            let options = GetOptions::default().with_range(offset.map(GetRange::Offset));
            let got = match client.get_opts(&location, options).await {
                Ok(got) => got,
                Err(e) => {
                    let _ = first_tx.send(Err(e));
                    return;
                }
            };
            if first_tx.send(Ok(())).is_err() {
                return;
            }
            let mut body = got.into_stream();
            while let Some(chunk) = body.next().await {
                let bytes = match chunk {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        let _ = chunks_tx.send(Chunk::Failed(e.to_string()));
                        return;
                    }
                };
                let weight = permits_for(&bytes);
                // Closed when the reader is dropped: stop downloading.
                match task_permits.acquire_many(weight).await {
                    Ok(p) => p.forget(),
                    Err(_) => return,
                }
                task_buffered.add(bytes.len() as u64);
                if chunks_tx.send(Chunk::Data(bytes)).is_err() {
                    return;
                }
            }
            let _ = chunks_tx.send(Chunk::End);
        });
        match first.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // S3 answers 416 for a range starting at (or past) the end: tell the two apart.
                if let (Some(offset), false) = (offset, matches!(e, object_store::Error::NotFound { .. })) {
                    let client = self.client.clone();
                    if let Ok(meta) = self.run(async move { client.head(&head_location).await })?
                        && offset >= meta.size
                    {
                        if offset == meta.size {
                            return Ok(ObjectReader::empty(url));
                        }
                        return Err(StoreError::ObjectStore {
                            url,
                            missing: false,
                            message: offset_past_end(offset, meta.size).to_string(),
                        });
                    }
                }
                return Err(self.error(&key, "download", e));
            }
            Err(_) => {
                return Err(StoreError::ObjectStore {
                    url,
                    missing: false,
                    message: "the S3 client's runtime stopped before answering (the store is closing)".into(),
                });
            }
        }
        Ok(ObjectReader {
            url,
            chunks: Some(chunks),
            permits,
            buffered,
            current: Bytes::new(),
            current_weight: 0,
            done: false,
        })
    }

    fn upload_all(&self, staged: Vec<(PathBuf, BlobId)>) -> Result<(), StoreError> {
        let jobs: Vec<Upload> = staged
            .into_iter()
            .map(|(file, id)| {
                let key = self.key_of(&id);
                Upload { url: self.url_of(&key), location: ObjectPath::from(key.as_str()), file }
            })
            .collect();
        let client = self.client.clone();
        let results = self.run(async move {
            futures_util::stream::iter(jobs.into_iter().map(|job| upload(client.clone(), job)))
                .buffer_unordered(BATCH_CONCURRENCY)
                .collect::<Vec<_>>()
                .await
        })?;
        results.into_iter().collect()
    }
}

/// The semaphore permits a chunk holds while it waits for the reader (a chunk larger than
/// the whole buffer takes all of it).
fn permits_for(bytes: &Bytes) -> u32 {
    bytes.len().clamp(1, STREAM_BUFFER_BYTES) as u32
}

fn object_error(url: &str, what: &str, e: object_store::Error) -> StoreError {
    let (missing, hint) = match &e {
        object_store::Error::NotFound { .. } => (true, "the object is not in the bucket"),
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => (
            false,
            "the bucket refused the credentials: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the key's \
             permissions on the bucket",
        ),
        _ => (
            false,
            "check AWS_ENDPOINT_URL (and AWS_ALLOW_HTTP=true for a plain-http endpoint), AWS_REGION, the \
             credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and that the bucket exists",
        ),
    };
    StoreError::ObjectStore { url: url.to_owned(), missing, message: format!("{what}: {e}; {hint}") }
}

/// One staged file to publish.
struct Upload {
    url: String,
    location: ObjectPath,
    file: PathBuf,
}

/// Publish one staged file unless its object exists already; the file is removed after.
async fn upload(client: Arc<AmazonS3>, job: Upload) -> Result<(), StoreError> {
    match client.head(&job.location).await {
        Ok(_) => return remove_staged(&job.file).await,
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(object_error(&job.url, "checking for the object before upload", e)),
    }
    let io_err = |e| StoreError::io(&job.file, e);
    let mut file = tokio::fs::File::open(&job.file).await.map_err(io_err)?;
    let len = file.metadata().await.map_err(io_err)?.len();
    if len < PART_SIZE as u64 {
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes).await.map_err(io_err)?;
        client.put(&job.location, PutPayload::from(bytes)).await.map_err(|e| object_error(&job.url, "upload", e))?;
    } else {
        let parts = client
            .put_multipart(&job.location)
            .await
            .map_err(|e| object_error(&job.url, "starting a multipart upload", e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(parts, PART_SIZE);
        let mut buf = vec![0u8; 1024 * 1024];
        let written: Result<(), StoreError> = async {
            loop {
                let n = file.read(&mut buf).await.map_err(io_err)?;
                if n == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(PART_CONCURRENCY)
                    .await
                    .map_err(|e| object_error(&job.url, "uploading a part", e))?;
                writer.write(buf.get(..n).unwrap_or_default());
            }
        }
        .await;
        if let Err(e) = written {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(url = %job.url, error = %abort, "aborting a failed multipart upload");
            }
            return Err(e);
        }
        // On failure `finish` aborts the upload itself.
        writer.finish().await.map_err(|e| object_error(&job.url, "completing a multipart upload", e))?;
    }
    tracing::debug!(url = %job.url, bytes = len, "uploaded");
    remove_staged(&job.file).await
}

async fn remove_staged(file: &Path) -> Result<(), StoreError> {
    tokio::fs::remove_file(file).await.map_err(|e| StoreError::io(file, e))
}

/// What the download task hands the reader.
enum Chunk {
    Data(Bytes),
    Failed(String),
    End,
}

/// Bytes waiting in a download's channel, and the most there ever were (for tests of the
/// memory bound).
#[derive(Default)]
struct Buffered {
    now: AtomicU64,
    high_water: AtomicU64,
}

impl Buffered {
    fn add(&self, n: u64) {
        let now = self.now.fetch_add(n, Ordering::SeqCst) + n;
        self.high_water.fetch_max(now, Ordering::SeqCst);
    }

    fn sub(&self, n: u64) {
        self.now.fetch_sub(n, Ordering::SeqCst);
    }
}

/// A download read as it arrives.
struct ObjectReader {
    url: String,
    /// `None` for an empty read (a range at the very end).
    chunks: Option<mpsc::Receiver<Chunk>>,
    permits: Arc<Semaphore>,
    buffered: Arc<Buffered>,
    current: Bytes,
    current_weight: u32,
    done: bool,
}

impl ObjectReader {
    fn empty(url: String) -> Self {
        Self {
            url,
            chunks: None,
            permits: Arc::new(Semaphore::new(0)),
            buffered: Arc::default(),
            current: Bytes::new(),
            current_weight: 0,
            done: true,
        }
    }

    #[cfg(test)]
    fn high_water(&self) -> u64 {
        self.buffered.high_water.load(Ordering::SeqCst)
    }
}

impl Read for ObjectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.current.is_empty() {
                let n = out.len().min(self.current.len());
                let head = self.current.split_to(n);
                out.get_mut(..n).unwrap_or_default().copy_from_slice(&head);
                self.buffered.sub(n as u64);
                if self.current.is_empty() {
                    self.permits.add_permits(std::mem::take(&mut self.current_weight) as usize);
                }
                return Ok(n);
            }
            if self.done || out.is_empty() {
                return Ok(0);
            }
            let Some(chunks) = &self.chunks else { return Ok(0) };
            match chunks.recv() {
                Ok(Chunk::Data(bytes)) => {
                    self.current_weight = permits_for(&bytes);
                    self.current = bytes;
                }
                Ok(Chunk::End) => self.done = true,
                Ok(Chunk::Failed(message)) => {
                    self.done = true;
                    return Err(io::Error::other(format!("{}: download failed: {message}", self.url)));
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::other(format!(
                        "{}: the download stopped before its end (the store was closed)",
                        self.url
                    )));
                }
            }
        }
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        // Wakes a download waiting for room, which then stops.
        self.permits.close();
    }
}

impl BlobStore for S3Blobs {
    fn contains(&self, id: &BlobId) -> Result<bool, StoreError> {
        let key = self.key_of(id);
        let location = ObjectPath::from(key.as_str());
        let client = self.client.clone();
        match self.run(async move { client.head(&location).await })? {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error(&key, "HEAD", e)),
        }
    }

    fn open(&self, id: &BlobId) -> Result<Box<dyn Read + Send>, StoreError> {
        Ok(Box::new(self.stream(id, None)?))
    }

    fn open_at(&self, id: &BlobId, offset: u64) -> Result<Box<dyn Read + Send>, StoreError> {
        let offset = (offset > 0).then_some(offset);
        Ok(Box::new(self.stream(id, offset)?))
    }

    fn ingest(&self, staged: &Path, id: &BlobId) -> Result<(), StoreError> {
        let (actual, _) = hash_file(staged)?;
        if &actual != id {
            return Err(StoreError::BlobMismatch { expected: id.clone(), actual, file: staged.to_path_buf() });
        }
        self.upload_all(vec![(staged.to_path_buf(), id.clone())])
    }

    fn ingest_verified(&self, staged: &[(PathBuf, BlobId)]) -> Result<(), StoreError> {
        // The same content twice in one batch: upload it once, remove the other copies.
        let mut seen = std::collections::HashSet::new();
        let mut unique = Vec::new();
        let mut duplicates = Vec::new();
        for (file, id) in staged {
            if seen.insert(id.clone()) {
                unique.push((file.clone(), id.clone()));
            } else {
                duplicates.push(file.clone());
            }
        }
        self.upload_all(unique)?;
        for file in duplicates {
            std::fs::remove_file(&file).map_err(|e| StoreError::io(&file, e))?;
        }
        Ok(())
    }

    fn put_bytes(&self, bytes: &[u8]) -> Result<BlobId, StoreError> {
        let id = BlobId::of_bytes(bytes);
        if self.contains(&id)? {
            return Ok(id);
        }
        let key = self.key_of(&id);
        let location = ObjectPath::from(key.as_str());
        let client = self.client.clone();
        let payload = PutPayload::from(bytes.to_vec());
        self.run(async move { client.put(&location, payload).await })?.map_err(|e| self.error(&key, "upload", e))?;
        Ok(id)
    }

    fn delete(&self, id: &BlobId) -> Result<(), StoreError> {
        let key = self.key_of(id);
        let location = ObjectPath::from(key.as_str());
        let client = self.client.clone();
        match self.run(async move { client.delete(&location).await })? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(&key, "delete", e)),
        }
    }

    fn list(&self) -> Result<Vec<BlobId>, StoreError> {
        let key = self.key_of_name("sha256");
        let location = ObjectPath::from(key.as_str());
        let client = self.client.clone();
        // object_store pages through ListObjectsV2 (continuation tokens) as the stream is read.
        let listed = self.run(async move {
            let mut out = Vec::new();
            let mut objects = client.list(Some(&location));
            while let Some(meta) = objects.next().await {
                let meta = meta?;
                let mut parts = meta.location.as_ref().rsplit('/');
                let (Some(name), Some(shard)) = (parts.next(), parts.next()) else { continue };
                // `sha256/<2 hex>/<64 hex>`, nothing else (a stray object is not a blob).
                if let Some(id) =
                    BlobId::parse(name).filter(|id| name.len() == 64 && id.as_str().get(..2) == Some(shard))
                {
                    out.push(id);
                }
            }
            Ok::<_, object_store::Error>(out)
        })?;
        let mut ids = listed.map_err(|e| self.error(&format!("{key}/"), "listing", e))?;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    fn size(&self, id: &BlobId) -> Result<u64, StoreError> {
        let key = self.key_of(id);
        let location = ObjectPath::from(key.as_str());
        let client = self.client.clone();
        let meta = self.run(async move { client.head(&location).await })?.map_err(|e| self.error(&key, "HEAD", e))?;
        Ok(meta.size)
    }

    fn local_path(&self, _id: &BlobId) -> Option<PathBuf> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn urls_split_into_bucket_and_prefix() {
        assert_eq!(parse_url("s3://depot").unwrap(), ("depot".into(), String::new()));
        assert_eq!(parse_url("s3://depot/").unwrap(), ("depot".into(), String::new()));
        assert_eq!(parse_url("s3://depot/site-a/blobs/").unwrap(), ("depot".into(), "site-a/blobs".into()));
        for bad in
            ["http://depot/x", "s3://", "s3://UPPER", "s3://a", "s3://depot//x", "s3://depot/../x", "s3://k:s@depot"]
        {
            let err = parse_url(bad).unwrap_err().to_string();
            assert!(err.contains("expected s3://BUCKET"), "{bad}: {err}");
        }
        let err = parse_url("s3://AKIA:topsecret@depot/x").unwrap_err().to_string();
        assert!(!err.contains("topsecret") && err.starts_with("s3://***@depot/x"), "{err}");
    }

    #[test]
    fn the_permits_of_a_chunk_are_capped_by_the_buffer() {
        assert_eq!(permits_for(&Bytes::new()), 1);
        assert_eq!(permits_for(&Bytes::from(vec![0u8; 10])), 10);
        assert_eq!(permits_for(&Bytes::from(vec![0u8; STREAM_BUFFER_BYTES * 3])), STREAM_BUFFER_BYTES as u32);
    }

    /// A slow reader of a large object: the bytes waiting for it never exceed the buffer
    /// plus one chunk, however long it dawdles.
    #[test]
    fn a_download_buffers_a_bounded_number_of_bytes() {
        let Some(server) =
            esxlcm_test_support::s3::S3Server::start_or_skip("a_download_buffers_a_bounded_number_of_bytes")
        else {
            return;
        };
        let staging = tempfile::tempdir().unwrap();
        let blobs =
            S3Blobs::from_url_with_env(&server.url("bounded"), staging.path().to_path_buf(), &server.env_refs())
                .unwrap();
        let payload: Vec<u8> = (0..24 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let id = blobs.put_bytes(&payload).unwrap();
        let mut reader = blobs.stream(&id, None).unwrap();
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut total = 0usize;
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n;
            if total % (1024 * 1024) < 16 * 1024 {
                // Give the download every chance to run ahead.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        assert_eq!(total, payload.len());
        assert_eq!(BlobId::from_digest(&hasher.finalize()), id);
        let high = reader.high_water();
        // One chunk may exceed the buffer's permits (it takes all of them): a chunk of
        // an HTTP body is far below 4 MiB.
        assert!(high <= (STREAM_BUFFER_BYTES + 4 * 1024 * 1024) as u64, "{high} bytes were buffered at once");
        assert!(high > 0);
    }
}
