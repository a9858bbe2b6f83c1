//! Serving a depot directory as an online depot: the vendor list, vendor indexes,
//! metadata zips and VIBs, at stable URLs that esxcli, PowerCLI and vLCM read.
//!
//! Files are served by tower-http's `ServeDir` (Range, ETag, Last-Modified, conditional
//! GET); content types are set for the depot's own file kinds. Two things make it keep up
//! with nginx (docs/PERFORMANCE.md): a plain GET of a file up to 1 MiB is read whole and
//! sent from memory ([`small_file`]), and `ServeDir`'s file backend ([`DepotFiles`]) opens,
//! stats and reads a small file in one blocking-pool task, where tokio's took one per step
//! and per 64 KiB. Connections are accepted with `TCP_NODELAY` ([`no_delay`]). If-Range,
//! which `ServeDir` ignores, is honoured ([`if_range`]).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::{self, Read as _, Seek as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use tokio::net::TcpListener;
use tower_http::services::ServeDir;
use tower_http::services::fs::{Backend, File as BackendFile};

/// The router: `/` explains itself, every other path is a file of the depot.
pub fn router(dir: &Path) -> Router {
    router_with_layout(dir, None)
}

/// Where the file for a request lives when it is not simply `dir` + the URL path: given
/// the URL path as a relative file path (decoded, checked), the file to serve, or `None`
/// for `dir` + that path. A mirror store serves several directory trees under one root
/// this way (`/<source>/@<snapshot>/…`, `/views/<name>/…`) with the same file handling —
/// Range, If-Range, ETag, caching — as a plain depot directory.
pub type Layout = Arc<dyn Fn(&Path) -> Option<PathBuf> + Send + Sync>;

/// [`router`] with the URL-to-file mapping of `layout` (none: `dir` + the URL path).
pub fn router_with_layout(dir: &Path, layout: Option<Layout>) -> Router {
    let layout = layout.map(|map| Placement::new(dir, map));
    let backend = DepotFiles { layout: layout.clone() };
    let files = ServeDir::with_backend(dir, backend)
        .append_index_html_on_directories(false)
        .redirect_to_trailing_slash(false)
        .with_buf_chunk_size(STREAM_CHUNK);
    let base = Arc::new(Base { dir: dir.to_path_buf(), layout });
    let cache = Arc::new(Mutex::new(FileCache::default()));
    Router::new()
        .route("/", get(root))
        .fallback_service(files)
        .layer(middleware::from_fn(move |req, next| small_file(Arc::clone(&base), Arc::clone(&cache), req, next)))
        .layer(middleware::from_fn(depot_content_types))
        .layer(middleware::from_fn(log_request))
}

/// Files up to this size are read whole when opened (one blocking task per request).
const SMALL_FILE: u64 = 1 << 20;
/// Larger files stream in chunks of this size (each chunk one blocking read).
const STREAM_CHUNK: usize = 256 * 1024;

/// The served directory and its [`Layout`], if any.
struct Base {
    dir: PathBuf,
    layout: Option<Placement>,
}

/// A [`Layout`] with the directory it maps from, under both the names `ServeDir` (which
/// prefixes a relative directory with `./`) and [`resolve`] give it.
#[derive(Clone)]
struct Placement {
    dir: PathBuf,
    serve_dir: PathBuf,
    map: Layout,
}

impl Placement {
    fn new(dir: &Path, map: Layout) -> Self {
        let mut serve_dir = PathBuf::from(".");
        serve_dir.push(dir);
        Self { dir: dir.to_path_buf(), serve_dir, map }
    }

    fn place(&self, path: PathBuf) -> PathBuf {
        let relative = path.strip_prefix(&self.serve_dir).or_else(|_| path.strip_prefix(&self.dir));
        match relative.ok().and_then(|r| (self.map)(r)) {
            Some(mapped) => mapped,
            None => path,
        }
    }
}

impl Base {
    /// The file a request path names (see [`resolve`]), after the layout.
    fn file(&self, uri_path: &str) -> Option<PathBuf> {
        resolve(&self.dir, uri_path).map(|p| place(self.layout.as_ref(), p))
    }
}

fn place(layout: Option<&Placement>, path: PathBuf) -> PathBuf {
    match layout {
        Some(layout) => layout.place(path),
        None => path,
    }
}

/// `ServeDir`'s file system: tokio's, except that a small regular file is opened, stat'ed
/// and read in one blocking task and then served from memory; paths go through the
/// [`Layout`], if any.
#[derive(Clone, Default)]
pub struct DepotFiles {
    layout: Option<Placement>,
}

impl std::fmt::Debug for DepotFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepotFiles").field("layout", &self.layout.is_some()).finish()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

impl Backend for DepotFiles {
    type File = DepotFile;
    type Metadata = std::fs::Metadata;
    type OpenFuture = BoxFuture<DepotFile>;
    type MetadataFuture = BoxFuture<std::fs::Metadata>;

    fn open(&self, path: PathBuf) -> Self::OpenFuture {
        let path = place(self.layout.as_ref(), path);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut file = std::fs::File::open(&path)?;
                let meta = file.metadata()?;
                if meta.is_file() && meta.len() <= SMALL_FILE {
                    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
                    file.read_to_end(&mut bytes)?;
                    // Changed under us (depot trees are replaced, not rewritten): stream it.
                    if bytes.len() as u64 == meta.len() {
                        return Ok(DepotFile::Memory { bytes: io::Cursor::new(bytes), meta });
                    }
                    file.seek(io::SeekFrom::Start(0))?;
                }
                Ok(DepotFile::Disk { file: tokio::fs::File::from_std(file), meta })
            })
            .await
            .map_err(io::Error::other)?
        })
    }

    fn metadata(&self, path: PathBuf) -> Self::MetadataFuture {
        let path = place(self.layout.as_ref(), path);
        Box::pin(async move { tokio::fs::metadata(&path).await })
    }
}

/// An open depot file: read whole (small) or streamed from disk.
#[derive(Debug)]
pub enum DepotFile {
    Memory { bytes: io::Cursor<Vec<u8>>, meta: std::fs::Metadata },
    Disk { file: tokio::fs::File, meta: std::fs::Metadata },
}

impl AsyncRead for DepotFile {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Memory { bytes, .. } => Pin::new(bytes).poll_read(cx, buf),
            Self::Disk { file, .. } => Pin::new(file).poll_read(cx, buf),
        }
    }
}

impl AsyncSeek for DepotFile {
    fn start_seek(self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        match self.get_mut() {
            Self::Memory { bytes, .. } => Pin::new(bytes).start_seek(position),
            Self::Disk { file, .. } => Pin::new(file).start_seek(position),
        }
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        match self.get_mut() {
            Self::Memory { bytes, .. } => Pin::new(bytes).poll_complete(cx),
            Self::Disk { file, .. } => Pin::new(file).poll_complete(cx),
        }
    }
}

impl BackendFile for DepotFile {
    type Metadata = std::fs::Metadata;
    type MetadataFuture<'a> = std::future::Ready<io::Result<std::fs::Metadata>>;

    fn metadata(&self) -> Self::MetadataFuture<'_> {
        let (Self::Memory { meta, .. } | Self::Disk { meta, .. }) = self;
        std::future::ready(Ok(meta.clone()))
    }
}

/// The common request — a plain GET of a depot document or VIB up to [`SMALL_FILE`] — read
/// whole and sent from that buffer, with `ServeDir`'s headers (ETag, Last-Modified,
/// Accept-Ranges). Anything else (ranges, conditionals, HEAD, larger or unusual files, odd
/// paths) goes to `ServeDir`. See docs/PERFORMANCE.md for what each step bought.
async fn small_file(base: Arc<Base>, cache: Arc<Mutex<FileCache>>, mut req: Request, next: Next) -> Response {
    if req.headers().contains_key(header::RANGE) && req.headers().contains_key(header::IF_RANGE) {
        if_range(&base, &mut req).await;
    }
    let plain = req.method() == Method::GET
        && ![
            header::RANGE,
            header::IF_RANGE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_UNMODIFIED_SINCE,
        ]
        .iter()
        .any(|h| req.headers().contains_key(h));
    let content_type = content_type_for(req.uri().path());
    let file = match (plain, content_type) {
        (true, Some(_)) => base.file(req.uri().path()),
        _ => None,
    };
    let (Some(file), Some(content_type)) = (file, content_type) else { return next.run(req).await };
    // Read on the async worker, as nginx does without aio: a hand-off to the blocking pool
    // costs more than reading ≤ 1 MiB from the page cache (22k → 54k requests/s of 25 KB
    // files); a cold read blocks one worker for one disk read. Larger files stream from
    // the blocking pool.
    let Ok(Some((bytes, meta))) = read_small(&cache, &file) else {
        return next.run(req).await;
    };
    let length = HeaderValue::from(bytes.len());
    let mut response = Response::new(axum::body::Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, length);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(modified) = meta.modified() {
        if let Ok(v) = HeaderValue::from_str(&http_date(modified)) {
            headers.insert(header::LAST_MODIFIED, v);
        }
        if let Some(v) = etag(meta.len(), modified) {
            headers.insert(header::ETAG, v);
        }
    }
    response
}

/// RFC 9110 §13.1.5, which `ServeDir` does not implement: a Range request whose If-Range
/// validator (ETag or date) no longer matches the file is answered with the whole file, so
/// a client resuming across a change (a new snapshot published) never gets a spliced file.
async fn if_range(base: &Base, req: &mut Request) {
    let current = match base.file(req.uri().path()) {
        Some(path) => tokio::fs::metadata(path).await.ok(),
        None => None,
    };
    let wanted = req.headers().get(header::IF_RANGE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let still = current.as_ref().and_then(|m| m.modified().ok().map(|t| (m.len(), t))).is_some_and(|(len, t)| {
        etag(len, t).is_some_and(|e| e.as_bytes() == wanted.as_bytes()) || http_date(t) == wanted
    });
    if !still {
        req.headers_mut().remove(header::RANGE);
        req.headers_mut().remove(header::IF_RANGE);
    }
}

fn http_date(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// tower-http `ServeDir`'s ETag for a file (size and mtime to the nanosecond), so that a
/// validator from either path matches on the other.
fn etag(size: u64, modified: std::time::SystemTime) -> Option<HeaderValue> {
    let d = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    HeaderValue::from_str(&format!("\"{:x}.{:08x}-{size:x}\"", d.as_secs(), d.subsec_nanos())).ok()
}

/// The file a request path names under `base`: percent-decoded, plain segments only
/// (anything else is left to `ServeDir`'s own checks).
fn resolve(base: &Path, uri_path: &str) -> Option<PathBuf> {
    let raw = uri_path.as_bytes();
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                decoded.push(v);
                i += 3;
            }
            _ => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    let decoded = String::from_utf8(decoded).ok()?;
    let mut out = base.to_path_buf();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            s if s == ".." || s.contains(['\\', '\0']) => return None,
            s => out.push(s),
        }
    }
    Some(out)
}

/// Small files served lately, while unchanged (same inode, size and mtime), up to
/// [`CACHE_BYTES`] in all, oldest out first. A remediation wave asks for the same VIBs from
/// every host; from here they cost one copy (into the socket), as nginx's `sendfile` does,
/// instead of two (docs/PERFORMANCE.md).
#[derive(Debug, Default)]
struct FileCache {
    entries: HashMap<PathBuf, Cached>,
    order: VecDeque<PathBuf>,
    bytes: u64,
}

#[derive(Debug)]
struct Cached {
    bytes: Bytes,
    ino: u64,
    modified: std::time::SystemTime,
}

const CACHE_BYTES: u64 = 256 << 20;

impl FileCache {
    fn get(&self, path: &Path, meta: &std::fs::Metadata) -> Option<Bytes> {
        let c = self.entries.get(path)?;
        let same =
            c.ino == meta.ino() && c.bytes.len() as u64 == meta.len() && meta.modified().ok() == Some(c.modified);
        same.then(|| c.bytes.clone())
    }

    fn put(&mut self, path: PathBuf, bytes: Bytes, meta: &std::fs::Metadata) {
        let Ok(modified) = meta.modified() else { return };
        if let Some(old) = self.entries.remove(&path) {
            self.bytes -= old.bytes.len() as u64;
        }
        self.bytes += bytes.len() as u64;
        self.order.push_back(path.clone());
        self.entries.insert(path, Cached { bytes, ino: meta.ino(), modified });
        while self.bytes > CACHE_BYTES {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(gone) = self.entries.remove(&oldest) {
                self.bytes -= gone.bytes.len() as u64;
            }
        }
    }
}

/// A regular file of at most [`SMALL_FILE`] bytes, whole, with its metadata: from the
/// cache while the file is unchanged, else read (and kept).
fn read_small(cache: &Mutex<FileCache>, path: &Path) -> io::Result<Option<(Bytes, std::fs::Metadata)>> {
    let lock = || cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() || meta.len() > SMALL_FILE {
        return Ok(None);
    }
    if let Some(bytes) = lock().get(path, &meta) {
        return Ok(Some((bytes, meta)));
    }
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > SMALL_FILE {
        return Ok(None);
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut buf)?;
    if buf.len() as u64 != meta.len() {
        return Ok(None);
    }
    let bytes = Bytes::from(buf);
    lock().put(path.to_path_buf(), bytes.clone(), &meta);
    Ok(Some((bytes, meta)))
}

/// Serve `dir` on `listener` until `shutdown` completes; requests in flight finish first.
pub async fn serve(
    listener: TcpListener,
    dir: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(no_delay(listener), router(dir)).with_graceful_shutdown(shutdown).await
}

/// Accepted connections with Nagle's algorithm off. With it on, a response written as
/// headers then body waits for the client's delayed ACK (40 ms on Linux) on a kept-alive
/// connection: 660 requests/s where nginx did 46,000 (docs/PERFORMANCE.md).
pub fn no_delay(listener: TcpListener) -> impl axum::serve::Listener<Addr = std::net::SocketAddr> {
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn root() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "esxlcm depot server\n\nVendor list: /index.xml\n\
         Use: esxcli software sources vib list -d http://<this host>/index.xml\n",
    )
}

/// The content type for a depot file by extension (what VMware's depots send).
fn content_type_for(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    match ext.as_str() {
        "xml" => Some("text/xml"),
        "zip" => Some("application/zip"),
        "vib" => Some("application/octet-stream"),
        "json" => Some("application/json"),
        _ => None,
    }
}

async fn depot_content_types(req: Request, next: Next) -> Response {
    let content_type = content_type_for(req.uri().path());
    let mut response = next.run(req).await;
    let status = response.status();
    if let Some(ct) = content_type
        && (status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT || status == StatusCode::NOT_MODIFIED)
    {
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    response
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let range = req.headers().contains_key(header::RANGE);
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_millis();
    if response.status().is_client_error() || response.status().is_server_error() {
        tracing::warn!(%method, %path, status, range, elapsed_ms, "request");
    } else {
        tracing::info!(%method, %path, status, range, elapsed_ms, "request");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ServeDir` names files `./DIR/…` for a relative DIR, `resolve` `DIR/…`: a layout
    /// sees the same relative path from both (a store given as `--store st` once 404'd HEAD).
    #[test]
    fn a_layout_maps_relative_and_absolute_directories_alike() {
        let map: Layout = Arc::new(|rel: &Path| rel.starts_with("a").then(|| Path::new("/elsewhere").join(rel)));
        for dir in ["st/published", "/srv/st/published"] {
            let p = Placement::new(Path::new(dir), Arc::clone(&map));
            let mut served = PathBuf::from(".");
            served.push(dir);
            assert_eq!(p.place(served.join("a/x.vib")), Path::new("/elsewhere/a/x.vib"), "{dir}");
            assert_eq!(p.place(Path::new(dir).join("a/x.vib")), Path::new("/elsewhere/a/x.vib"), "{dir}");
            assert_eq!(p.place(Path::new(dir).join("b/x.vib")), Path::new(dir).join("b/x.vib"), "{dir}");
        }
    }

    #[test]
    fn depot_content_types_by_extension() {
        assert_eq!(content_type_for("/index.xml"), Some("text/xml"));
        assert_eq!(content_type_for("/metadata.ZIP"), Some("application/zip"));
        assert_eq!(content_type_for("/vib20/x/y.vib"), Some("application/octet-stream"));
        assert_eq!(content_type_for("/"), None);
    }

    /// What mirrors and hosts rely on, for a file read whole (small) and one streamed
    /// (larger than [`SMALL_FILE`]): bytes, ETag and 304, Range and If-Range, HEAD, 404.
    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn small_and_streamed_files_keep_http_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let small: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let large: Vec<u8> = (0..(3 << 20) + 17u32).map(|i| (i % 253) as u8).collect();
        std::fs::create_dir_all(dir.path().join("vib20/x")).unwrap();
        std::fs::write(dir.path().join("index.xml"), &small).unwrap();
        std::fs::write(dir.path().join("vib20/x/big.vib"), &large).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let root = dir.path().to_path_buf();
        tokio::spawn(async move { serve(listener, &root, std::future::pending()).await });
        let client = reqwest::Client::new();
        for (path, content, ct) in
            [("/index.xml", &small, "text/xml"), ("/vib20/x/big.vib", &large, "application/octet-stream")]
        {
            let url = format!("{base}{path}");
            let full = client.get(&url).send().await.unwrap();
            assert_eq!(full.status(), 200, "{path}");
            assert_eq!(full.headers()[header::CONTENT_TYPE], ct);
            let etag = full.headers()[header::ETAG].clone();
            let last_modified = full.headers()[header::LAST_MODIFIED].clone();
            assert_eq!(full.headers()[header::ACCEPT_RANGES], "bytes");
            assert_eq!(full.headers()[header::CONTENT_LENGTH], content.len().to_string().as_str());
            assert_eq!(full.bytes().await.unwrap().as_ref(), content.as_slice(), "{path}");
            let cached = client.get(&url).header(header::IF_NONE_MATCH, etag.clone()).send().await.unwrap();
            assert_eq!(cached.status(), 304, "{path}");
            let tail = client.get(&url).header(header::RANGE, "bytes=1000-").header(header::IF_RANGE, etag.clone());
            let tail = tail.send().await.unwrap();
            assert_eq!(tail.status(), 206, "{path}");
            assert_eq!(tail.bytes().await.unwrap().as_ref(), &content[1000..], "{path}");
            let stale = client.get(&url).header(header::RANGE, "bytes=1000-").header(header::IF_RANGE, "\"old\"");
            let stale = stale.send().await.unwrap();
            assert_eq!(stale.status(), 200, "a file changed since the validator is sent whole: {path}");
            assert_eq!(stale.bytes().await.unwrap().len(), content.len());
            let dated =
                client.get(&url).header(header::RANGE, "bytes=1000-").header(header::IF_RANGE, last_modified.clone());
            assert_eq!(dated.send().await.unwrap().status(), 206, "If-Range by date: {path}");
            let head = client.head(&url).send().await.unwrap();
            assert_eq!(head.headers()[header::CONTENT_LENGTH], content.len().to_string().as_str(), "{path}");
            // A plain GET of a small file takes the fast path, HEAD goes to ServeDir: same validators.
            assert_eq!(head.headers()[header::ETAG], etag, "{path}");
            assert_eq!(head.headers()[header::LAST_MODIFIED], last_modified, "{path}");
        }
        std::fs::write(dir.path().join("vib20/x/a b.vib"), b"spaced").unwrap();
        let spaced = client.get(format!("{base}/vib20/x/a%20b.vib")).send().await.unwrap();
        assert_eq!(spaced.bytes().await.unwrap().as_ref(), b"spaced");
        // Served from the cache only while unchanged: replaced (new inode, same size) or
        // rewritten in place, a file is read again.
        let doc = dir.path().join("vmw.xml");
        let get = |client: reqwest::Client, url: String| async move {
            client.get(url).send().await.unwrap().bytes().await.unwrap().to_vec()
        };
        std::fs::write(&doc, b"aaaa").unwrap();
        assert_eq!(get(client.clone(), format!("{base}/vmw.xml")).await, b"aaaa");
        assert_eq!(get(client.clone(), format!("{base}/vmw.xml")).await, b"aaaa");
        std::fs::write(dir.path().join("next.tmp"), b"bbbb").unwrap();
        std::fs::rename(dir.path().join("next.tmp"), &doc).unwrap();
        assert_eq!(get(client.clone(), format!("{base}/vmw.xml")).await, b"bbbb");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // past the mtime granularity
        std::fs::write(&doc, b"cccc").unwrap();
        assert_eq!(get(client.clone(), format!("{base}/vmw.xml")).await, b"cccc");
        let missing = client.get(format!("{base}/vib20/x/none.vib")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
    }
}
