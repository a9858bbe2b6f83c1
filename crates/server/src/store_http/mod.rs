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
//! A store on the cluster backends (PostgreSQL, object storage) has no trees: [`rows`]
//! serves the same URLs — sources, snapshots and named views — by looking each file up in
//! the database and streaming its blob.
//!
//! Modules: [`gate`] maps snapshot and view URLs to their trees and fetches on-demand
//! payloads on a miss; [`push`] takes bundle uploads; [`listing`] answers `/` and
//! `/-/status`. This module holds the router and what the store is asked ([`StoreIndex`]).
//!
//! Push uploads are the one write: the body (an offline bundle, possibly gigabytes) is
//! streamed to a temporary file under the store's `uploads/` directory, never held in
//! memory, then handed to [`StoreIndex::push`], which publishes it as `esxlcm mirror push`
//! does (verified whole; nothing half-published). The temporary file is removed whatever
//! the outcome, including a client that goes away mid-upload.

mod gate;
mod listing;
mod push;
mod rows;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::api::errors::logged_under_reference;
use crate::depot_http;

pub use listing::render;
pub use push::{PushConfig, PushToken, PushTokenError};

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
    /// A store that keeps no trees (the cluster backends): files are looked up in its
    /// rows and streamed from its blobs, and the directories above are not used.
    pub rows: Option<Arc<esxlcm_store::Store>>,
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
    /// On a store without trees: whether the payload at `path` of a source's snapshot is
    /// stored, so that one missing is fetched first ([`StoreIndex::fetch_missing`]).
    /// Stores with trees are asked the file system instead.
    fn has_payload(&self, source: &str, snapshot: Option<i64>, path: &str) -> bool {
        let _ = (source, snapshot, path);
        true
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
    let files = match &layout.rows {
        Some(store) => {
            depot_http::router_with_backend(Path::new(rows::BASE), rows::StoreRows { store: Arc::clone(store) })
        }
        None => {
            let map = Arc::new(layout.clone());
            depot_http::router_with_layout(
                &layout.published,
                Some(Arc::new(move |path: &Path| gate::map_path(&map, path))),
            )
        }
    };
    let (list_index, status_index, push_index, gate_index) =
        (Arc::clone(&index), Arc::clone(&index), Arc::clone(&index), index);
    let gate_layout = Arc::new(layout.clone());
    let push = push.map(Arc::new);
    let push_max_size = push.as_ref().map(|p| p.max_size);
    let upload = move |axum::extract::Path(source): axum::extract::Path<String>, req: Request| {
        push::receive(Arc::clone(&push_index), push.clone(), source, req)
    };
    Router::new()
        .route("/", get(move || listing::overview(Arc::clone(&list_index), push_max_size)))
        .route("/-/status", get(move || listing::status(Arc::clone(&status_index))))
        // The body is streamed to disk against --push-max-size, not buffered: no default limit.
        .route("/-/push/{source}", put(upload.clone()).post(upload).layer(DefaultBodyLimit::disable()))
        .fallback_service(files)
        .layer(middleware::from_fn(move |req, next| {
            gate::gate(Arc::clone(&gate_index), Arc::clone(&gate_layout), req, next)
        }))
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

/// A plain-text answer.
fn plain_text(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// A 500 whose detail goes to the log under a reference: the body names the reference only.
fn internal_error(detail: impl std::fmt::Display) -> Response {
    plain_text(StatusCode::INTERNAL_SERVER_ERROR, format!("{}\n", logged_under_reference(detail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store's serving directories under `root`, as the tests lay them out.
    pub(super) fn layout_under(root: &Path) -> StoreLayout {
        StoreLayout {
            published: root.join("published"),
            snapshots: root.join("views"),
            views: root.join("named/published"),
            rows: None,
        }
    }
}
