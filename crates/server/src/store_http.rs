//! Serving an esxlcm mirror store read-only, as online depots at stable URLs:
//!
//! ```text
//! /<source>/index.xml               the source's published snapshot (vmw-depot-index.xml too)
//! /<source>/@<snapshot>/index.xml   any snapshot the store still keeps, by id
//! /views/<name>/index.xml           a named view (merged or image view) as last built
//! /-/status                         the sources' sync status documents (JSON)
//! /                                 what is served, in words
//! PUT /-/push/<source>              an offline bundle published into a bundle source
//!                                   (only with a push token; see [`PushConfig`])
//! ```
//!
//! Every tree is a directory the store writes once and swaps atomically, so serving is the
//! depot file server ([`depot_http`]: Range, If-Range, ETag, Last-Modified, content types)
//! over the store's published directory, with a [`Layout`](depot_http::Layout) that maps
//! the snapshot and view URLs to their directories. A snapshot that is not materialised
//! yet is materialised on its first request; one the store no longer has (removed by
//! retention) is a 404 that says so. What the store holds is asked through [`StoreIndex`],
//! which the binary implements over `esxlcm_store` (this crate does not open stores).
//! A file a tree lacks may be a payload of an on-demand source: the store fetches,
//! verifies and links it before the request is served ([`StoreIndex::fetch_missing`]);
//! when that fails the client gets a 502 (verification failed, quarantined; upstream
//! refused) or 504 (upstream timed out) naming the VIB, never the bytes.
//! A sync running beside the server changes what is served between two requests, never
//! within one file tree. The name `views` is the views' prefix: a source called `views`
//! is not reachable at `/views/`.
//!
//! Push uploads are the one write: the body (an offline bundle, possibly gigabytes) is
//! streamed to a temporary file under the store's `uploads/` directory, never held in
//! memory, then handed to [`StoreIndex::push`], which publishes it as `esxlcm mirror push`
//! does (verified whole; nothing half-published). The temporary file is removed whatever
//! the outcome, including a client that goes away mid-upload.

use std::future::Future;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use futures_util::StreamExt as _;
use serde::Serialize;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;

use crate::depot_http;

/// The URL prefix of named views.
pub const VIEWS_PREFIX: &str = "views";

/// The directories a store serves from.
#[derive(Debug, Clone)]
pub struct StoreLayout {
    /// `published/`: one entry (symlink to a snapshot tree) per source.
    pub published: PathBuf,
    /// `views/`: snapshot trees by id (`views/<id>/index.xml`).
    pub snapshots: PathBuf,
    /// The published named views: `<name>/index.xml`.
    pub views: PathBuf,
}

/// What the server asks the store.
pub trait StoreIndex: Send + Sync + 'static {
    /// Make snapshot `id` of `source` servable at `snapshots/<id>` (materialise it if
    /// needed), or say, in words for the client, why it cannot be.
    fn open_snapshot(&self, source: &str, id: i64) -> Result<(), Unavailable>;
    /// What `/` lists.
    fn overview(&self) -> Overview;
    /// The `/-/status` document.
    fn status(&self) -> serde_json::Value;
    /// A file of a source's snapshot (`None`: the published one) that is not in its tree:
    /// if it is a payload the store fetches on demand, fetch it upstream, verify it, store
    /// it and link it into the tree, then answer `Ok` (the request is served from the
    /// tree). Concurrent calls for the same payload share one fetch. Stores without
    /// on-demand payloads keep the default: not ours, an ordinary 404.
    fn fetch_missing(&self, source: &str, snapshot: Option<i64>, path: &str) -> Result<(), FetchFailure> {
        let _ = (source, snapshot, path);
        Err(FetchFailure::NotOnDemand)
    }
    /// Publish the offline bundle at `bundle` into the bundle source `source` (created if
    /// missing), as `esxlcm mirror push` does: under the store lock, verified whole, views
    /// refreshed. `bundle` is removed by the caller afterwards. Stores that take no pushes
    /// keep the default: refused.
    fn push(&self, source: &str, bundle: &Path) -> Result<PushSummary, PushFailure> {
        let _ = (source, bundle);
        Err(PushFailure::Unsupported("this server does not take pushed bundles".into()))
    }
}

/// What a push published (the 200 body of `PUT /-/push/<source>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushSummary {
    pub source: String,
    /// The snapshot this push recorded and published; `None` when nothing was new.
    pub snapshot: Option<i64>,
    pub outcome: PushOutcome,
    /// Components and VIBs of the source's published snapshot (`None`: it could not be
    /// read back; the push itself succeeded).
    pub components: Option<usize>,
    pub vibs: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushOutcome {
    /// A new snapshot was recorded and published.
    Published,
    /// The bundle holds what the published snapshot holds.
    Unchanged,
}

/// Why a push was not published; the texts are for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushFailure {
    /// The store takes no pushes: 501.
    Unsupported(String),
    /// A sync or another push holds the store past the wait: 409.
    Busy(String),
    /// Payloads failed verification (named, by VIB ID); nothing new is published: 422.
    Rejected { message: String, payloads: Vec<String> },
    /// Not a bundle, or not a bundle source: 400.
    Invalid(String),
    /// The store could not take it (disk, database): 500.
    Store(String),
}

/// `PUT /-/push/<source>` is served only with one of these (`serve --push-token-file`).
#[derive(Debug, Clone)]
pub struct PushConfig {
    pub token: PushToken,
    /// The largest body taken, in bytes: more is a 413.
    pub max_size: u64,
    /// Where bodies are streamed to (created when missing). Inside the store, so the
    /// bundle is on the filesystem it is published into.
    pub uploads: PathBuf,
}

/// The push secret, kept as its sha-256 only: comparing digests in constant time reveals
/// neither the token's bytes nor its length. Never printed.
#[derive(Clone)]
pub struct PushToken([u8; 32]);

impl std::fmt::Debug for PushToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushToken(<secret>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushTokenError {
    #[error("--push-token-file {}: cannot read it: {source}", path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("--push-token-file {}: empty; write one secret line into it (for example: openssl rand -hex 32 > FILE)", path.display())]
    Empty { path: PathBuf },
    #[error("--push-token-file {}: more than one line; it must hold one secret line", path.display())]
    SeveralLines { path: PathBuf },
}

impl PushToken {
    /// The token in `path`: one line, surrounding whitespace trimmed.
    pub fn from_file(path: &Path) -> Result<Self, PushTokenError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PushTokenError::Unreadable { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// `text` read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, PushTokenError> {
        let token = text.trim();
        if token.is_empty() {
            return Err(PushTokenError::Empty { path: path.to_path_buf() });
        }
        if token.lines().count() > 1 {
            return Err(PushTokenError::SeveralLines { path: path.to_path_buf() });
        }
        Ok(Self(sha2::Sha256::digest(token.as_bytes()).into()))
    }

    fn matches(&self, given: &str) -> bool {
        let digest: [u8; 32] = sha2::Sha256::digest(given.as_bytes()).into();
        self.0.ct_eq(&digest).into()
    }
}

/// Why a missing file could not be fetched; the text is for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// Not an on-demand payload: the ordinary 404.
    NotOnDemand,
    /// The upstream bytes failed verification (quarantined), or upstream refused or
    /// failed: 502.
    BadGateway(String),
    /// Upstream did not answer in time: 504.
    Timeout(String),
    /// The store could not take it (disk, database): 500.
    Store(String),
}

/// Why a snapshot cannot be served; the text is for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// It does not exist (never made, or removed by retention): 404.
    Missing(String),
    /// Not now (the store is busy): 503 with Retry-After.
    Busy(String),
}

/// What a store serves, for `/`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overview {
    pub sources: Vec<SourceSummary>,
    pub views: Vec<ViewSummary>,
    /// Things the store could not read (shown, not fatal).
    pub problems: Vec<String>,
    /// Push uploads are on, with this largest body in bytes (set by the router).
    pub push_max_size: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceSummary {
    pub name: String,
    pub published: Option<i64>,
    /// Snapshot ids the store keeps, oldest first.
    pub snapshots: Vec<i64>,
    /// One line on the last or running sync, if known.
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ViewSummary {
    pub name: String,
    /// `merged` or `image`.
    pub kind: String,
    pub sources: Vec<String>,
    /// The published build, if any.
    pub build: Option<u64>,
    /// Why the last build attempt failed (the published build stays).
    pub error: Option<String>,
}

/// `/` and `/-/status` answered here; every other path is a file of a published source, a
/// snapshot or a view. Push uploads are off.
pub fn router(layout: &StoreLayout, index: Arc<dyn StoreIndex>) -> Router {
    router_with_push(layout, index, None)
}

/// [`router`], with `PUT /-/push/<source>` (and POST) taking bundles when `push` is given;
/// without it the endpoint is a 404 that says how to turn it on.
pub fn router_with_push(layout: &StoreLayout, index: Arc<dyn StoreIndex>, push: Option<PushConfig>) -> Router {
    let map = Arc::new(layout.clone());
    let files =
        depot_http::router_with_layout(&layout.published, Some(Arc::new(move |path: &Path| map_path(&map, path))));
    let (list_index, status_index, push_index, gate_index) =
        (Arc::clone(&index), Arc::clone(&index), Arc::clone(&index), index);
    let gate_layout = Arc::new(layout.clone());
    let push = push.map(Arc::new);
    let push_max_size = push.as_ref().map(|p| p.max_size);
    let upload = move |axum::extract::Path(source): axum::extract::Path<String>, req: Request| {
        receive_push(Arc::clone(&push_index), push.clone(), source, req)
    };
    Router::new()
        .route("/", get(move || listing(Arc::clone(&list_index), push_max_size)))
        .route("/-/status", get(move || status(Arc::clone(&status_index))))
        // The body is streamed to disk against --push-max-size, not buffered: no default limit.
        .route("/-/push/{source}", put(upload.clone()).post(upload).layer(DefaultBodyLimit::disable()))
        .fallback_service(files)
        .layer(middleware::from_fn(move |req, next| gate(Arc::clone(&gate_index), Arc::clone(&gate_layout), req, next)))
}

/// Serve a store until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    layout: &StoreLayout,
    index: Arc<dyn StoreIndex>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    depot_http::serve_router(listener, router(layout, index), None, depot_http::Limits::default(), shutdown).await
}

/// What a request path addresses, by its first segments.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    Snapshot { source: &'a str, id: Option<i64> },
    View { name: &'a str },
    Other,
}

fn target(uri_path: &str) -> Target<'_> {
    let mut segments = uri_path.trim_start_matches('/').split('/');
    let (first, second) = (segments.next().unwrap_or_default(), segments.next());
    match second {
        Some(s) if first == VIEWS_PREFIX && !s.is_empty() => Target::View { name: s },
        Some(s) if s.starts_with('@') => Target::Snapshot { source: first, id: snapshot_id(s) },
        _ => Target::Other,
    }
}

/// `@12` → 12 (digits only; anything else names no snapshot).
fn snapshot_id(segment: &str) -> Option<i64> {
    let digits = segment.strip_prefix('@')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The file for a URL path (relative to the published directory):
/// `<source>/@<id>/rest` → `snapshots/<id>/rest`, `views/<name>/rest` → `views/<name>/rest`
/// under the views directory, `<source>/rest` → `published/<source>/rest`. The store's own
/// directories and links (`published/<source>` and a named view are symlinks the store
/// swaps) are the root; only `rest` is checked for symlinks.
fn map_path(layout: &StoreLayout, relative: &Path) -> Option<depot_http::Mapped> {
    let parts: Vec<&str> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => p.to_str(),
            _ => None,
        })
        .collect();
    let mapped = |root: PathBuf, rest: &[&str]| Some(depot_http::Mapped { root, rest: rest.iter().collect() });
    match parts.as_slice() {
        [first, name, rest @ ..] if *first == VIEWS_PREFIX => mapped(layout.views.join(name), rest),
        [source, snapshot, rest @ ..] if snapshot.starts_with('@') => {
            snapshot_id(snapshot).and_then(|id| mapped(layout.snapshots.join(id.to_string()), rest))
        }
        [source, rest @ ..] if !source.starts_with(['-', '.']) => mapped(layout.published.join(source), rest),
        _ => None,
    }
}

/// Before a snapshot's or view's file is looked up: the snapshot exists (and is
/// materialised), the view is built; otherwise a 404 that says what is wrong.
async fn gate(index: Arc<dyn StoreIndex>, layout: Arc<StoreLayout>, req: Request, next: Next) -> Response {
    let views = layout.views.clone();
    let path = req.uri().path().to_owned();
    match target(&path) {
        Target::Snapshot { source, id: None } => {
            let text = format!(
                "'{}' is not a snapshot: snapshot URLs are /{source}/@<id>/index.xml (ids: esxlcm mirror status)\n",
                path.trim_start_matches('/').split('/').nth(1).unwrap_or_default()
            );
            return not_found(text);
        }
        Target::Snapshot { source, id: Some(id) } => {
            let (source, opener) = (source.to_owned(), Arc::clone(&index));
            let opened = tokio::task::spawn_blocking(move || opener.open_snapshot(&source, id)).await;
            match opened {
                Ok(Ok(())) => {}
                Ok(Err(Unavailable::Missing(why))) => return not_found(format!("{why}\n")),
                Ok(Err(Unavailable::Busy(why))) => {
                    let headers = [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::RETRY_AFTER, "30")];
                    return (StatusCode::SERVICE_UNAVAILABLE, headers, format!("{why}\n")).into_response();
                }
                Err(e) => {
                    tracing::error!("opening a snapshot failed: {e}");
                    return (StatusCode::INTERNAL_SERVER_ERROR, "opening the snapshot failed\n").into_response();
                }
            }
        }
        Target::View { name } => {
            if !tokio::fs::metadata(views.join(name)).await.is_ok_and(|m| m.is_dir()) {
                return not_found(format!(
                    "no published view '{name}' (esxlcm mirror view list; a view is served once it has built)\n"
                ));
            }
        }
        Target::Other => {}
    }
    if let Some(failed) = fetch_if_missing(&index, &layout, &path).await {
        return failed;
    }
    next.run(req).await
}

/// A source file (`/<source>/…` or `/<source>/@<id>/…`) that is not on disk: ask the store
/// to fetch it (an on-demand payload). `Some(response)` when that failed.
async fn fetch_if_missing(index: &Arc<dyn StoreIndex>, layout: &StoreLayout, uri_path: &str) -> Option<Response> {
    let Ok(decoded) = percent_decode(uri_path) else { return None };
    let relative = decoded.trim_start_matches('/');
    let mut parts = relative.splitn(2, '/');
    let (source, rest) = (parts.next()?, parts.next()?);
    if source == VIEWS_PREFIX || source.starts_with(['-', '.']) || source.is_empty() {
        return None;
    }
    let (snapshot, file) = match rest.split_once('/') {
        Some((first, file)) if first.starts_with('@') => (Some(snapshot_id(first)?), file),
        _ => (None, rest),
    };
    if file.is_empty() || file.ends_with('/') || file.split('/').any(|p| p == ".." || p == "." || p.is_empty()) {
        return None;
    }
    let on_disk = match snapshot {
        Some(id) => layout.snapshots.join(id.to_string()).join(file),
        None => layout.published.join(source).join(file),
    };
    if tokio::fs::metadata(&on_disk).await.is_ok() {
        return None;
    }
    let (index, source_name, file_path) = (Arc::clone(index), source.to_owned(), file.to_owned());
    let fetched = tokio::task::spawn_blocking(move || index.fetch_missing(&source_name, snapshot, &file_path)).await;
    let text = |status: StatusCode, why: String| {
        Some((status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{why}\n")).into_response())
    };
    match fetched {
        Ok(Ok(()) | Err(FetchFailure::NotOnDemand)) => None,
        Ok(Err(FetchFailure::BadGateway(why))) => text(StatusCode::BAD_GATEWAY, why),
        Ok(Err(FetchFailure::Timeout(why))) => text(StatusCode::GATEWAY_TIMEOUT, why),
        Ok(Err(FetchFailure::Store(why))) => {
            // The store's reason names its paths and OS errors: the log has it, not the client.
            tracing::error!(source = %source, "storing an on-demand payload failed: {why}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "the server could not store the payload; see its log".into())
        }
        Err(e) => {
            tracing::error!("fetching an on-demand payload failed: {e}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "fetching the payload failed".into())
        }
    }
}

/// `%XX` escapes of a URL path decoded (VIB file names may carry escaped characters).
fn percent_decode(path: &str) -> Result<String, ()> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(())?;
            let text = std::str::from_utf8(hex).map_err(|_| ())?;
            out.push(u8::from_str_radix(text, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

fn not_found(text: String) -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

async fn status(index: Arc<dyn StoreIndex>) -> Response {
    match tokio::task::spawn_blocking(move || index.status()).await {
        Ok(doc) => axum::Json(doc).into_response(),
        Err(e) => {
            tracing::error!("reading the status documents failed: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "reading the status failed\n").into_response()
        }
    }
}

async fn listing(index: Arc<dyn StoreIndex>, push_max_size: Option<u64>) -> impl IntoResponse {
    let mut overview = tokio::task::spawn_blocking(move || index.overview()).await.unwrap_or_default();
    overview.push_max_size = push_max_size;
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], render(&overview))
}

/// A push's error answer: `{"error": text}`.
fn push_error(status: StatusCode, text: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "error": text.into() }))).into_response()
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `PUT /-/push/<source>`: authorise, stream the body to a temporary file (bounded), then
/// publish it on a blocking thread. The temporary file goes with the guard in every case.
async fn receive_push(
    index: Arc<dyn StoreIndex>,
    push: Option<Arc<PushConfig>>,
    source: String,
    req: Request,
) -> Response {
    let Some(push) = push else {
        return push_error(
            StatusCode::NOT_FOUND,
            "push uploads are off on this server: start it with esxlcm serve --store STORE --push-token-file FILE \
             (FILE holds one secret line), then send bundles with Authorization: Bearer <that secret>",
        );
    };
    match bearer(req.headers()) {
        None => {
            let mut r = push_error(
                StatusCode::UNAUTHORIZED,
                "a push needs the server's push token: send Authorization: Bearer <token>",
            );
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            return r;
        }
        Some(given) if !push.token.matches(given) => {
            tracing::warn!(source, "push refused: wrong token");
            return push_error(
                StatusCode::FORBIDDEN,
                "wrong push token: use the secret in the server's --push-token-file",
            );
        }
        Some(_) => {}
    }
    if let Err(e) = esxlcm_store::source::validate_name(&source) {
        return push_error(StatusCode::BAD_REQUEST, e.to_string());
    }
    let too_large = || {
        push_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the bundle is larger than this server takes ({}); raise --push-max-size, \
                 or carry it with esxlcm mirror export/import",
                size_text(push.max_size)
            ),
        )
    };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > push.max_size) {
        return too_large();
    }
    let upload = match start_upload(&push.uploads).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(source, "push: cannot create an upload file in {}: {e}", push.uploads.display());
            return push_error(StatusCode::INTERNAL_SERVER_ERROR, "the server cannot store the upload; see its log");
        }
    };
    let (temp, mut file) = upload;
    let mut body = req.into_body().into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(source, "push: the upload broke off after {size} bytes: {e}");
                return push_error(
                    StatusCode::BAD_REQUEST,
                    format!("the upload broke off after {size} bytes: send it again"),
                );
            }
        };
        size += chunk.len() as u64;
        if size > push.max_size {
            return too_large();
        }
        if let Err(e) = file.write_all(&chunk).await {
            tracing::error!(source, "push: writing {}: {e}", temp.path().display());
            return push_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server cannot store the upload (disk full?); see its log",
            );
        }
    }
    if let Err(e) = file.flush().await {
        tracing::error!(source, "push: writing {}: {e}", temp.path().display());
        return push_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server cannot store the upload (disk full?); see its log",
        );
    }
    drop(file);
    if size == 0 {
        return push_error(StatusCode::BAD_REQUEST, "empty body: send the offline bundle (.zip) as the body");
    }
    tracing::info!(source, bytes = size, "push received; publishing");
    let name = source.clone();
    // The guard moves along: the file stays until the push is done with it, even if the
    // client goes away meanwhile.
    let pushed = tokio::task::spawn_blocking(move || {
        let result = index.push(&name, temp.path());
        drop(temp);
        result
    })
    .await;
    match pushed {
        Ok(Ok(summary)) => {
            tracing::info!(source, outcome = ?summary.outcome, snapshot = ?summary.snapshot, "push done");
            axum::Json(summary).into_response()
        }
        Ok(Err(PushFailure::Unsupported(why))) => push_error(StatusCode::NOT_IMPLEMENTED, why),
        Ok(Err(PushFailure::Busy(why))) => {
            let mut r = push_error(StatusCode::CONFLICT, why);
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
            r
        }
        Ok(Err(PushFailure::Rejected { message, payloads })) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(serde_json::json!({ "error": message, "rejected": payloads })),
        )
            .into_response(),
        Ok(Err(PushFailure::Invalid(why))) => push_error(StatusCode::BAD_REQUEST, why),
        Ok(Err(PushFailure::Store(why))) => push_error(StatusCode::INTERNAL_SERVER_ERROR, why),
        Err(e) => {
            tracing::error!(source, "push failed: {e}");
            push_error(StatusCode::INTERNAL_SERVER_ERROR, "the push failed inside the server; see its log")
        }
    }
}

/// A new, uniquely named file in `dir` (created if missing), removed when the guard drops,
/// and an async handle to write it.
async fn start_upload(dir: &Path) -> std::io::Result<(tempfile::NamedTempFile, tokio::fs::File)> {
    tokio::fs::create_dir_all(dir).await?;
    let dir = dir.to_path_buf();
    let temp =
        tokio::task::spawn_blocking(move || tempfile::Builder::new().prefix("push-").suffix(".zip").tempfile_in(dir))
            .await
            .map_err(std::io::Error::other)??;
    let file = tokio::fs::File::from_std(temp.as_file().try_clone()?);
    Ok((temp, file))
}

/// `/` in words: each source with its snapshots, each view, and how to use them.
pub fn render(o: &Overview) -> String {
    let mut text = String::from("esxlcm mirror store\n\n");
    if o.sources.is_empty() {
        text.push_str("No sources yet: esxlcm mirror add NAME URL && esxlcm mirror sync\n");
    } else {
        text.push_str("Sources (vendor lists):\n");
        for s in &o.sources {
            match s.published {
                Some(id) => text.push_str(&format!("  /{}/index.xml  (snapshot {id})\n", s.name)),
                None => text.push_str(&format!("  {}: nothing published yet\n", s.name)),
            }
            if !s.snapshots.is_empty() {
                let urls: Vec<String> = s.snapshots.iter().map(|id| format!("/{}/@{id}/index.xml", s.name)).collect();
                text.push_str(&format!("    snapshots: {}\n", urls.join("  ")));
            }
            if let Some(line) = &s.status {
                text.push_str(&format!("    sync: {line}\n"));
            }
        }
    }
    if !o.views.is_empty() {
        text.push_str("\nViews:\n");
        for v in &o.views {
            let what = format!("{} view of {}", v.kind, v.sources.join(", "));
            match v.build {
                Some(b) => text.push_str(&format!("  /{VIEWS_PREFIX}/{}/index.xml  ({what}; build {b})\n", v.name)),
                None => text.push_str(&format!("  {}: not built yet ({what})\n", v.name)),
            }
            if let Some(e) = &v.error {
                let first = e.lines().next().unwrap_or_default();
                text.push_str(&format!("    last build failed: {first}\n"));
            }
        }
    }
    for p in &o.problems {
        text.push_str(&format!("\nproblem: {p}\n"));
    }
    if let Some(max) = o.push_max_size {
        text.push_str(&format!(
            "\nPush offline bundles (bearer token; up to {}): PUT /-/push/<source>\n  \
             curl --fail -T bundle.zip -H \"Authorization: Bearer $(cat TOKEN_FILE)\" http://<this host>/-/push/<source>\n",
            size_text(max)
        ));
    }
    text.push_str(
        "\nSync status (JSON): /-/status\n\
         Use: esxcli software sources vib list -d http://<this host>/<source>/index.xml\n",
    );
    text
}

/// `16G`, `700M`, `4K` or bytes: a size as `--push-max-size` takes it.
fn size_text(bytes: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

/// Source names published under `dir` (read per request: sources come and go).
pub fn published_sources(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_sources_without_temporary_links() {
        let dir = std::env::temp_dir().join(format!("esxlcm-store-http-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("vmw")).unwrap_or_default();
        std::fs::create_dir_all(dir.join("dell")).unwrap_or_default();
        std::fs::create_dir_all(dir.join(".tmp-x")).unwrap_or_default();
        assert_eq!(published_sources(&dir), ["dell", "vmw"]);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(published_sources(&dir).is_empty());
    }

    #[test]
    fn snapshot_and_view_urls_map_to_their_trees() {
        let layout = StoreLayout {
            published: PathBuf::from("/s/published"),
            snapshots: PathBuf::from("/s/views"),
            views: PathBuf::from("/s/named-views/published"),
        };
        let map = |p: &str| map_path(&layout, Path::new(p));
        let at = |root: &str, rest: &str| Some(depot_http::Mapped { root: root.into(), rest: rest.into() });
        assert_eq!(map("vmw/@12/vmw/metadata.zip"), at("/s/views/12", "vmw/metadata.zip"));
        assert_eq!(map("views/branch/index.xml"), at("/s/named-views/published/branch", "index.xml"));
        assert_eq!(map("vmw/index.xml"), at("/s/published/vmw", "index.xml"));
        assert_eq!(map("vmw/@x/index.xml"), None);
        assert_eq!(target("/vmw/@3/index.xml"), Target::Snapshot { source: "vmw", id: Some(3) });
        assert_eq!(target("/vmw/@-3/index.xml"), Target::Snapshot { source: "vmw", id: None });
        assert_eq!(target("/views/b/index.xml"), Target::View { name: "b" });
        assert_eq!(target("/vmw/index.xml"), Target::Other);
        assert_eq!(target("/index.xml"), Target::Other);
    }

    struct Fixed;

    impl StoreIndex for Fixed {
        fn open_snapshot(&self, source: &str, id: i64) -> Result<(), Unavailable> {
            match (source, id) {
                ("vmw", 3) => Ok(()),
                ("vmw", 5) => Err(Unavailable::Busy("a sync is running".into())),
                _ => Err(Unavailable::Missing(format!("snapshot {id} of '{source}' does not exist"))),
            }
        }
        fn overview(&self) -> Overview {
            Overview::default()
        }
        fn status(&self) -> serde_json::Value {
            serde_json::json!({"sources": []})
        }
    }

    /// Snapshot and view files keep the depot server's HTTP semantics: content type, ETag
    /// and 304, Range and If-Range, HEAD; a missing snapshot or view is a 404 in words.
    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn snapshot_and_view_files_keep_http_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StoreLayout {
            published: dir.path().join("published"),
            snapshots: dir.path().join("views"),
            views: dir.path().join("named/published"),
        };
        let big: Vec<u8> = (0..(2 << 20) + 5u32).map(|i| (i % 241) as u8).collect();
        let small = b"<vendorList/>".to_vec();
        std::fs::create_dir_all(layout.snapshots.join("3/vmw")).unwrap();
        std::fs::create_dir_all(layout.views.join("branch/branch/vib20/x")).unwrap();
        std::fs::create_dir_all(&layout.published).unwrap();
        std::fs::write(layout.snapshots.join("3/index.xml"), &small).unwrap();
        std::fs::write(layout.views.join("branch/branch/vib20/x/big.vib"), &big).unwrap();
        std::fs::write(layout.views.join("branch/index.xml"), &small).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { serve(listener, &layout, Arc::new(Fixed), std::future::pending()).await });
        let client = reqwest::Client::new();
        for (path, content, ct) in [
            ("/vmw/@3/index.xml", &small, "text/xml"),
            ("/views/branch/index.xml", &small, "text/xml"),
            ("/views/branch/branch/vib20/x/big.vib", &big, "application/octet-stream"),
        ] {
            let url = format!("{base}{path}");
            let full = client.get(&url).send().await.unwrap();
            assert_eq!(full.status(), 200, "{path}");
            assert_eq!(full.headers()[header::CONTENT_TYPE], ct, "{path}");
            let etag = full.headers()[header::ETAG].clone();
            assert!(full.headers().contains_key(header::LAST_MODIFIED), "{path}");
            assert_eq!(full.bytes().await.unwrap().as_ref(), content.as_slice(), "{path}");
            let head = client.head(&url).send().await.unwrap();
            assert_eq!(head.status(), 200, "HEAD {path}");
            assert_eq!(head.headers()[header::ETAG], etag, "{path}");
            let cached = client.get(&url).header(header::IF_NONE_MATCH, etag.clone()).send().await.unwrap();
            assert_eq!(cached.status(), 304, "{path}");
            let part = client.get(&url).header(header::RANGE, "bytes=5-").header(header::IF_RANGE, etag.clone());
            let part = part.send().await.unwrap();
            assert_eq!(part.status(), 206, "{path}");
            assert_eq!(part.bytes().await.unwrap().as_ref(), &content[5..], "{path}");
            let stale = client.get(&url).header(header::RANGE, "bytes=5-").header(header::IF_RANGE, "\"old\"");
            assert_eq!(stale.send().await.unwrap().status(), 200, "a changed file is sent whole: {path}");
        }
        for (path, says) in [
            ("/vmw/@4/index.xml", "snapshot 4 of 'vmw' does not exist"),
            ("/vmw/@x/index.xml", "is not a snapshot"),
            ("/views/none/index.xml", "no published view 'none'"),
        ] {
            let r = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 404, "{path}");
            assert!(r.text().await.unwrap().contains(says), "{path}");
        }
        let busy = client.get(format!("{base}/vmw/@5/index.xml")).send().await.unwrap();
        assert_eq!(busy.status(), 503);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "30");
        let status: serde_json::Value =
            client.get(format!("{base}/-/status")).send().await.unwrap().json().await.unwrap();
        assert_eq!(status, serde_json::json!({"sources": []}));
    }

    /// Fetches `vmw/lazy.vib` on demand into the published tree; `bad.vib` fails
    /// verification, `slow.vib` times out; everything else is not on demand.
    struct Lazy {
        published: PathBuf,
    }

    impl StoreIndex for Lazy {
        fn open_snapshot(&self, _source: &str, _id: i64) -> Result<(), Unavailable> {
            Ok(())
        }
        fn overview(&self) -> Overview {
            Overview::default()
        }
        fn status(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
        fn fetch_missing(&self, source: &str, snapshot: Option<i64>, path: &str) -> Result<(), FetchFailure> {
            match (source, snapshot, path) {
                ("vmw", None, "v/lazy.vib") => std::fs::write(self.published.join("vmw/v/lazy.vib"), b"fetched")
                    .map_err(|e| FetchFailure::Store(e.to_string())),
                ("vmw", Some(7), "v/bad.vib") => {
                    Err(FetchFailure::BadGateway("VIB VMW_bad_1.0 failed verification; quarantined".into()))
                }
                ("vmw", None, "v/slow.vib") => Err(FetchFailure::Timeout("VIB VMW_slow_1.0: no answer".into())),
                ("vmw", None, "v/full.vib") => {
                    Err(FetchFailure::Store("/srv/store/payloads/ab: No space left on device (os error 28)".into()))
                }
                _ => Err(FetchFailure::NotOnDemand),
            }
        }
    }

    /// A file missing from a tree is asked for once; the answer decides 200, 502, 504 or 404.
    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn missing_files_are_fetched_on_demand_or_fail_with_the_gateway_status() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StoreLayout {
            published: dir.path().join("published"),
            snapshots: dir.path().join("views"),
            views: dir.path().join("named/published"),
        };
        std::fs::create_dir_all(layout.published.join("vmw/v")).unwrap();
        std::fs::create_dir_all(layout.snapshots.join("7/v")).unwrap();
        let index = Arc::new(Lazy { published: layout.published.clone() });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { serve(listener, &layout, index, std::future::pending()).await });
        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("{base}{path}")).send();
        let lazy = get("/vmw/v/lazy.vib").await.unwrap();
        assert_eq!(lazy.status(), 200);
        assert_eq!(lazy.bytes().await.unwrap().as_ref(), b"fetched");
        let bad = get("/vmw/@7/v/bad.vib").await.unwrap();
        assert_eq!(bad.status(), 502);
        assert!(bad.text().await.unwrap().contains("VMW_bad_1.0"));
        let slow = get("/vmw/v/slow.vib").await.unwrap();
        assert_eq!(slow.status(), 504);
        assert!(slow.text().await.unwrap().contains("VMW_slow_1.0"));
        let full = get("/vmw/v/full.vib").await.unwrap();
        assert_eq!(full.status(), 500);
        let text = full.text().await.unwrap();
        assert!(!text.contains("/srv") && !text.contains("os error"), "a 500 names no internals: {text}");
        assert_eq!(get("/vmw/v/other.vib").await.unwrap().status(), 404);
        assert_eq!(get("/vmw/v/%2e%2e/x.vib").await.unwrap().status(), 404);
    }

    #[test]
    fn the_listing_names_every_url() {
        let o = Overview {
            sources: vec![SourceSummary {
                name: "vmw".into(),
                published: Some(4),
                snapshots: vec![3, 4],
                status: Some("succeeded at 2026-11-23T02:30:00Z".into()),
            }],
            views: vec![ViewSummary {
                name: "branch".into(),
                kind: "image".into(),
                sources: vec!["vmw".into()],
                build: Some(2),
                error: Some("the image does not resolve\nmore".into()),
            }],
            problems: Vec::new(),
            push_max_size: Some(16 << 30),
        };
        let text = render(&o);
        for want in [
            "/vmw/index.xml  (snapshot 4)",
            "/vmw/@3/index.xml  /vmw/@4/index.xml",
            "sync: succeeded",
            "/views/branch/index.xml  (image view of vmw; build 2)",
            "last build failed: the image does not resolve\n",
            "/-/status",
            "(bearer token; up to 16G): PUT /-/push/<source>",
        ] {
            assert!(text.contains(want), "{want:?} in:\n{text}");
        }
        assert!(!render(&Overview::default()).contains("/-/push/"), "not mentioned when off");
    }

    #[test]
    fn push_tokens_are_one_trimmed_line_and_bearer_headers_carry_them() {
        let file = Path::new("/etc/esxlcm/push-token");
        let token = PushToken::parse("  s3cret \n", file).unwrap();
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre") && !token.matches("s3cret ") && !token.matches(""));
        assert_eq!(format!("{token:?}"), "PushToken(<secret>)");
        for (text, says) in [("", "empty"), (" \n\t\n", "empty"), ("a\nb\n", "more than one line")] {
            let err = PushToken::parse(text, file).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains("/etc/esxlcm/push-token"), "{text:?}: {err}");
        }
        let err = PushToken::from_file(Path::new("/nonexistent/token")).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/token") && err.contains("cannot read"), "{err}");

        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, header::HeaderValue::from_str(value).unwrap());
            h
        };
        assert_eq!(bearer(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&with("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
        assert_eq!(size_text(16 << 30), "16G");
        assert_eq!(size_text(700 << 20), "700M");
        assert_eq!(size_text(1000), "1000 bytes");
    }

    /// Takes pushes into `ok` (checking the upload is the body sent), answers busy for
    /// `busy`, rejects `bad`.
    struct Pushes;

    impl StoreIndex for Pushes {
        fn open_snapshot(&self, _source: &str, _id: i64) -> Result<(), Unavailable> {
            Ok(())
        }
        fn overview(&self) -> Overview {
            Overview::default()
        }
        fn status(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
        fn push(&self, source: &str, bundle: &Path) -> Result<PushSummary, PushFailure> {
            let body = std::fs::read(bundle).map_err(|e| PushFailure::Store(e.to_string()))?;
            match source {
                "ok" if body == b"PK-bundle" => Ok(PushSummary {
                    source: source.into(),
                    snapshot: Some(3),
                    outcome: PushOutcome::Published,
                    components: Some(1),
                    vibs: Some(2),
                }),
                "busy" => Err(PushFailure::Busy("a sync or push is running; try again".into())),
                "bad" => Err(PushFailure::Rejected {
                    message: "VMW_bad_1.0 failed".into(),
                    payloads: vec!["VMW_bad_1.0".into()],
                }),
                _ => Err(PushFailure::Invalid("not a bundle".into())),
            }
        }
    }

    /// The push endpoint's statuses, and no upload file left behind in any case.
    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn pushes_are_authorised_bounded_and_answered_in_json() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StoreLayout {
            published: dir.path().join("published"),
            snapshots: dir.path().join("views"),
            views: dir.path().join("named/published"),
        };
        std::fs::create_dir_all(&layout.published).unwrap();
        let uploads = dir.path().join("uploads");
        let file = dir.path().join("token");
        std::fs::write(&file, "tok\n").unwrap();
        let push = PushConfig { token: PushToken::from_file(&file).unwrap(), max_size: 64, uploads: uploads.clone() };
        let on = router_with_push(&layout, Arc::new(Pushes), Some(push));
        let off = router(&layout, Arc::new(Pushes));
        let mut bases = Vec::new();
        for app in [on, off] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            bases.push(format!("http://{}", listener.local_addr().unwrap()));
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        let client = reqwest::Client::new();
        let send = |base: &str, source: &str, token: Option<&str>, body: Vec<u8>| {
            let mut req = client.put(format!("{base}/-/push/{source}")).body(body);
            if let Some(t) = token {
                req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
            }
            req.send()
        };
        let on = &bases[0];
        let ok = send(on, "ok", Some("tok"), b"PK-bundle".to_vec()).await.unwrap();
        assert_eq!(ok.status(), 200);
        let summary: serde_json::Value = ok.json().await.unwrap();
        assert_eq!(
            summary,
            serde_json::json!({"source": "ok", "snapshot": 3, "outcome": "published", "components": 1, "vibs": 2})
        );
        let posted =
            client.post(format!("{on}/-/push/ok")).header(header::AUTHORIZATION, "Bearer tok").body("PK-bundle");
        assert_eq!(posted.send().await.unwrap().status(), 200);
        for (source, token, body, status, says) in [
            ("ok", None, b"PK-bundle".to_vec(), 401, "Authorization: Bearer"),
            ("ok", Some("tok2"), b"PK-bundle".to_vec(), 403, "wrong push token"),
            ("a%20b", Some("tok"), b"PK-bundle".to_vec(), 400, "not a valid source name"),
            ("ok", Some("tok"), Vec::new(), 400, "empty body"),
            ("ok", Some("tok"), vec![0; 65], 413, "--push-max-size"),
            ("busy", Some("tok"), b"PK".to_vec(), 409, "try again"),
            ("bad", Some("tok"), b"PK".to_vec(), 422, "VMW_bad_1.0"),
            ("other", Some("tok"), b"PK".to_vec(), 400, "not a bundle"),
        ] {
            let r = send(on, source, token, body).await.unwrap();
            assert_eq!(r.status(), status, "{source} {token:?}");
            if status == 401 {
                assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
            }
            let doc: serde_json::Value = r.json().await.unwrap();
            assert!(doc["error"].as_str().unwrap().contains(says), "{source}: {doc}");
        }
        // Over the limit without a declared length: cut off while streaming.
        let mut conn = tokio::net::TcpStream::connect(on.trim_start_matches("http://")).await.unwrap();
        let mut request = b"PUT /-/push/ok HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\
            Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
        for _ in 0..8 {
            request.extend_from_slice(b"10\r\n0123456789abcdef\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        conn.write_all(&request).await.unwrap();
        let mut answer = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut conn, &mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 413"), "{}", String::from_utf8_lossy(&answer));
        assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 0, "no upload is left behind");

        let off = send(&bases[1], "ok", Some("tok"), b"PK-bundle".to_vec()).await.unwrap();
        assert_eq!(off.status(), 404);
        let doc: serde_json::Value = off.json().await.unwrap();
        assert!(doc["error"].as_str().unwrap().contains("--push-token-file"), "{doc}");
    }
}
