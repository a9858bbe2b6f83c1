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
use std::time::Duration;

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
pub type Layout = Arc<dyn Fn(&Path) -> Option<Mapped> + Send + Sync>;

/// A request's file: `root`, the server's own directory (followed as it is, links
/// included: a store publishes a source as a symlink it swaps), and `rest`, the request's
/// segments below it, which must name a regular file without crossing any symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub root: PathBuf,
    pub rest: PathBuf,
}

impl Mapped {
    /// The file, if it may be served: no segment of `rest` is a symlink (a link in a served
    /// tree could lead anywhere: issue #12, D2), too long for the file system (D9) or
    /// something other than a directory on the way and a regular file at the end (a FIFO
    /// would hang the request: D11). Refusals are `NotFound`, so clients get a 404.
    /// `dir_ok` accepts a directory at the end (`ServeDir` asks whether a path is one).
    pub fn check(&self, dir_ok: bool) -> io::Result<(PathBuf, std::fs::Metadata)> {
        let refuse = |why: &str| {
            tracing::debug!(root = %self.root.display(), path = %shorten(&self.rest.to_string_lossy(), 256), "not served: {why}");
            io::Error::new(io::ErrorKind::NotFound, "not served")
        };
        // Every failure is a 404: ENAMETOOLONG and the like are the request's fault, not 500s.
        let gone = |_: io::Error| io::Error::new(io::ErrorKind::NotFound, "not found");
        let mut path = self.root.clone();
        let mut meta = std::fs::metadata(&path).map_err(gone)?;
        if !meta.is_dir() {
            return Err(refuse("the served root is not a directory"));
        }
        for component in self.rest.components() {
            let std::path::Component::Normal(segment) = component else {
                return Err(refuse("not a plain path"));
            };
            if segment.len() > 255 {
                return Err(refuse("a segment longer than a file name can be"));
            }
            if !meta.is_dir() {
                return Err(refuse("a file is not a directory"));
            }
            path.push(segment);
            if path.as_os_str().len() >= 4096 {
                return Err(refuse("longer than a path can be"));
            }
            meta = std::fs::symlink_metadata(&path).map_err(gone)?;
            if meta.file_type().is_symlink() {
                return Err(refuse("a symlink in the served tree"));
            }
        }
        if meta.is_file() || (dir_ok && meta.is_dir()) { Ok((path, meta)) } else { Err(refuse("not a regular file")) }
    }
}

/// Open a checked file for reading without following a last-moment symlink and without
/// blocking on a last-moment FIFO (the check and the open are two steps).
fn open_no_follow(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
}

/// At most `max` characters of `s` (request paths in logs: a 60 KB path is not logged whole).
pub fn shorten(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}… ({} bytes)", &s[..i], s.len()).into(),
        None => s.into(),
    }
}

/// [`router`] with the URL-to-file mapping of `layout` (none: `dir` + the URL path).
pub fn router_with_layout(dir: &Path, layout: Option<Layout>) -> Router {
    let placement = Placement::new(dir, layout);
    let backend = DepotFiles { placement: placement.clone() };
    let files = ServeDir::with_backend(dir, backend)
        .append_index_html_on_directories(false)
        .redirect_to_trailing_slash(false)
        .with_buf_chunk_size(STREAM_CHUNK);
    let base = Arc::new(Base { dir: dir.to_path_buf(), placement });
    let cache = Arc::new(Mutex::new(FileCache::default()));
    Router::new()
        .route("/", get(root))
        .fallback_service(files)
        .layer(middleware::from_fn(move |req, next| small_file(Arc::clone(&base), Arc::clone(&cache), req, next)))
        .layer(middleware::from_fn(depot_content_types))
}

/// Files from a [`Backend`] that is not a directory (a store's database rows and blobs),
/// with `ServeDir`'s HTTP handling (Range, ETag, Last-Modified, conditional GET) and the
/// depot content types; `base` is the directory `ServeDir` hands the backend paths under.
pub fn router_with_backend<B: Backend>(base: &Path, backend: B) -> Router {
    let files = ServeDir::with_backend(base, backend)
        .append_index_html_on_directories(false)
        .redirect_to_trailing_slash(false)
        .with_buf_chunk_size(STREAM_CHUNK);
    Router::new().route("/", get(root)).fallback_service(files).layer(middleware::from_fn(depot_content_types))
}

/// Files up to this size are read whole when opened (one blocking task per request).
const SMALL_FILE: u64 = 1 << 20;
/// Larger files stream in chunks of this size (each chunk one blocking read).
const STREAM_CHUNK: usize = 256 * 1024;

/// The served directory and its [`Layout`], if any.
struct Base {
    dir: PathBuf,
    placement: Placement,
}

/// The served directory under both the names `ServeDir` (which prefixes a relative
/// directory with `./`) and [`resolve`] give it, with its [`Layout`], if any.
#[derive(Clone)]
struct Placement {
    dir: PathBuf,
    serve_dir: PathBuf,
    map: Option<Layout>,
}

impl Placement {
    fn new(dir: &Path, map: Option<Layout>) -> Self {
        let mut serve_dir = PathBuf::from(".");
        serve_dir.push(dir);
        Self { dir: dir.to_path_buf(), serve_dir, map }
    }

    /// Where a path under the served directory is, split into trusted root and request
    /// part; `None` for a path outside it.
    fn place(&self, path: &Path) -> Option<Mapped> {
        let relative = path.strip_prefix(&self.serve_dir).or_else(|_| path.strip_prefix(&self.dir)).ok()?;
        match self.map.as_ref().and_then(|map| map(relative)) {
            Some(mapped) => Some(mapped),
            None => Some(Mapped { root: self.dir.clone(), rest: relative.to_path_buf() }),
        }
    }

    /// The servable file (or directory, with `dir_ok`) at a path `ServeDir` built.
    fn checked(&self, path: &Path, dir_ok: bool) -> io::Result<(PathBuf, std::fs::Metadata)> {
        self.place(path).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not served"))?.check(dir_ok)
    }
}

impl Base {
    /// The regular file a request path names (see [`resolve`]), after the layout and the
    /// checks of [`Mapped::check`].
    fn file(&self, uri_path: &str) -> Option<(PathBuf, std::fs::Metadata)> {
        let path = resolve(&self.dir, uri_path)?;
        self.placement.checked(&path, false).ok()
    }
}

/// `ServeDir`'s file system: tokio's, except that a small regular file is opened, stat'ed
/// and read in one blocking task and then served from memory; paths go through the
/// [`Layout`], if any, and [`Mapped::check`].
#[derive(Clone)]
pub struct DepotFiles {
    placement: Placement,
}

impl std::fmt::Debug for DepotFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepotFiles").field("layout", &self.placement.map.is_some()).finish()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

impl Backend for DepotFiles {
    type File = DepotFile;
    type Metadata = std::fs::Metadata;
    type OpenFuture = BoxFuture<DepotFile>;
    type MetadataFuture = BoxFuture<std::fs::Metadata>;

    fn open(&self, path: PathBuf) -> Self::OpenFuture {
        let placement = self.placement.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                // Checked before opening: opening a FIFO would block until a writer came.
                let (path, _) = placement.checked(&path, false)?;
                let mut file = open_no_follow(&path)?;
                let meta = file.metadata()?;
                if !meta.is_file() {
                    // Swapped for something else since the check.
                    return Err(io::Error::new(io::ErrorKind::NotFound, "not a regular file"));
                }
                if meta.len() <= SMALL_FILE {
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
        let placement = self.placement.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || placement.checked(&path, true).map(|(_, meta)| meta))
                .await
                .map_err(io::Error::other)?
        })
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
    if let Some(range) = req.headers().get(header::RANGE)
        && !single_byte_range(range.as_bytes())
    {
        // RFC 9110 §14.2: a Range a server does not support (another unit, several
        // ranges, bad syntax) is ignored: the whole file, 200. `ServeDir` answered 416.
        req.headers_mut().remove(header::RANGE);
        req.headers_mut().remove(header::IF_RANGE);
    }
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
    let (Some((file, _)), Some(content_type)) = (file, content_type) else { return next.run(req).await };
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
    let current = base.file(req.uri().path()).map(|(_, meta)| meta);
    let wanted = req.headers().get(header::IF_RANGE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let still = current.as_ref().and_then(|m| m.modified().ok().map(|t| (m.len(), t))).is_some_and(|(len, t)| {
        etag(len, t).is_some_and(|e| e.as_bytes() == wanted.as_bytes()) || http_date(t) == wanted
    });
    if !still {
        req.headers_mut().remove(header::RANGE);
        req.headers_mut().remove(header::IF_RANGE);
    }
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N`: the one form of Range served as 206.
fn single_byte_range(value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else { return false };
    let Some((unit, spec)) = text.trim().split_once('=') else { return false };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return false;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return false };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match (first.trim(), last.trim()) {
        (a, "") => digits(a),
        ("", n) => digits(n),
        (a, b) => digits(a) && digits(b),
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
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() || meta.len() > SMALL_FILE {
        return Ok(None);
    }
    if let Some(bytes) = lock().get(path, &meta) {
        return Ok(Some((bytes, meta)));
    }
    let mut file = open_no_follow(path)?;
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
    serve_router(listener, router(dir), None, Limits::default(), shutdown).await
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

/// What one listener allows its clients (issue #12, D3: silent or half-sent connections
/// were kept forever, and ~20k of them exhausted the file descriptors).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; past it the listener stops accepting (new connections
    /// wait in the kernel's backlog) until one closes. Each connection may also hold an
    /// open file, so this stays well under the usual 1024 descriptors.
    pub max_connections: usize,
    /// A request's head must arrive within this, counted from when the server waits for
    /// it (also bounds how long a kept-alive HTTP/1 connection idles between requests).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no bytes moving for this long is closed
    /// (also a stalled client that stops reading a response).
    pub idle_timeout: Duration,
    /// The TLS handshake must finish within this.
    pub tls_handshake_timeout: Duration,
    /// Requests in flight get this long to finish once shutdown begins.
    pub grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            grace: Duration::from_secs(10),
        }
    }
}

/// Serve `app` on `listener` (over TLS with `tls`) within `limits` until `shutdown`
/// completes; requests in flight then get `limits.grace` to finish.
///
/// hyper-util's connection builder over our own accept loop rather than `axum::serve`
/// (no timeouts, no connection limit, a shutdown that waits forever) or axum-server (no
/// connection limit or idle timeout): one loop for HTTP and HTTPS, depots, stores and the API.
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let grace = limits.grace;
    serve_connections(listener, app, tls, limits, async move {
        shutdown.await;
        grace
    })
    .await
}

/// [`serve_router`] with the grace given by `stop` when it resolves.
pub async fn serve_connections(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    stop: impl Future<Output = Duration> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(stop);
    let grace = loop {
        let permit = tokio::select! {
            grace = &mut stop => break grace,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break limits.grace, // never closed
            },
        };
        let (tcp, peer) = tokio::select! {
            grace = &mut stop => break grace,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: wait instead of spinning; the listener stays.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let (app, tls, builder, watcher) = (app.clone(), tls.clone(), Arc::clone(&builder), graceful.watcher());
        tokio::spawn(async move {
            let activity = Arc::new(Activity::new());
            let io = Watched { inner: tcp, activity: Arc::clone(&activity) };
            match tls {
                None => serve_connection(io, peer, app, &builder, watcher, activity, limits.idle_timeout).await,
                Some(acceptor) => match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(io)).await {
                    Ok(Ok(stream)) => {
                        serve_connection(stream, peer, app, &builder, watcher, activity, limits.idle_timeout).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
            drop(permit);
        });
    };
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {} s: stopping anyway", grace.as_secs());
    }
    Ok(())
}

/// One connection: hyper serves it; it is dropped (closed) once idle past `idle`.
async fn serve_connection<I>(
    io: I,
    peer: std::net::SocketAddr,
    app: Router,
    builder: &hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    activity: Arc<Activity>,
    idle: Duration,
) where
    I: AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let requests = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        let in_flight = InFlight::start(Arc::clone(&requests));
        let mut app = app.clone();
        async move {
            // A Router is always ready: no poll_ready needed.
            let response = tower_service::Service::call(&mut app, req).await;
            drop(in_flight);
            response
        }
    });
    let conn = watcher.watch(builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(io), service));
    tokio::pin!(conn);
    let mut deadline = tokio::time::Instant::now() + idle;
    loop {
        tokio::select! {
            result = &mut conn => {
                if let Err(e) = result {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            () = tokio::time::sleep_until(deadline) => {
                match activity.idle_since() {
                    Some(since) if since.elapsed() >= idle => {
                        tracing::debug!(%peer, "closing an idle connection");
                        return;
                    }
                    Some(since) => deadline = since + idle,
                    None => deadline = tokio::time::Instant::now() + idle,
                }
            }
        }
    }
}

/// A connection's last I/O progress and requests in flight.
#[derive(Debug)]
struct Activity {
    epoch: tokio::time::Instant,
    /// Milliseconds after `epoch` of the last byte read or written.
    last_io_ms: std::sync::atomic::AtomicU64,
    in_flight: std::sync::atomic::AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: tokio::time::Instant::now(),
            last_io_ms: std::sync::atomic::AtomicU64::new(0),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_io_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// When the connection went idle; `None` while a request is being handled.
    fn idle_since(&self) -> Option<tokio::time::Instant> {
        if self.in_flight.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            return None;
        }
        Some(self.epoch + Duration::from_millis(self.last_io_ms.load(std::sync::atomic::Ordering::Relaxed)))
    }
}

/// Counts a request as in flight until dropped (a handler that takes long, such as an
/// on-demand fetch, is not idleness).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A socket that records its progress in [`Activity`].
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Watched<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `ServeDir` names files `./DIR/…` for a relative DIR, `resolve` `DIR/…`: a layout
    /// sees the same relative path from both (a store given as `--store st` once 404'd HEAD).
    #[test]
    fn a_layout_maps_relative_and_absolute_directories_alike() {
        let map: Layout = Arc::new(|rel: &Path| {
            rel.starts_with("a").then(|| Mapped { root: PathBuf::from("/elsewhere"), rest: rel.to_path_buf() })
        });
        let at = |root: &str, rest: &str| Some(Mapped { root: PathBuf::from(root), rest: PathBuf::from(rest) });
        for dir in ["st/published", "/srv/st/published"] {
            let p = Placement::new(Path::new(dir), Some(Arc::clone(&map)));
            let mut served = PathBuf::from(".");
            served.push(dir);
            assert_eq!(p.place(&served.join("a/x.vib")), at("/elsewhere", "a/x.vib"), "{dir}");
            assert_eq!(p.place(&Path::new(dir).join("a/x.vib")), at("/elsewhere", "a/x.vib"), "{dir}");
            assert_eq!(p.place(&Path::new(dir).join("b/x.vib")), at(dir, "b/x.vib"), "{dir}");
            assert_eq!(p.place(Path::new("/other/b/x.vib")), None, "{dir}");
        }
    }

    #[test]
    fn only_single_byte_ranges_are_honoured() {
        for ok in ["bytes=0-1", "bytes=5-", "bytes=-10", "Bytes = 1-2"] {
            assert!(single_byte_range(ok.as_bytes()), "{ok}");
        }
        for ignored in ["items=0-1", "bytes=0-1,5-6", "bytes=x-1", "bytes=-", "bytes", ""] {
            assert!(!single_byte_range(ignored.as_bytes()), "{ignored}");
        }
    }

    #[test]
    fn logged_paths_are_capped() {
        let long = "/a".repeat(30_000);
        let shown = shorten(&long, 256);
        assert!(shown.len() < 300 && shown.contains("60000 bytes"), "{}", shown.len());
        assert_eq!(shorten("/index.xml", 256), "/index.xml");
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
        tokio::time::sleep(Duration::from_millis(20)).await; // past the mtime granularity
        std::fs::write(&doc, b"cccc").unwrap();
        assert_eq!(get(client.clone(), format!("{base}/vmw.xml")).await, b"cccc");
        let missing = client.get(format!("{base}/vib20/x/none.vib")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
    }
}
