//! Test upstreams: generated depots (v1, v2 = v1 plus a new base-image release) written
//! as online trees or bundles, served from disk (`file:`) or by esxlcm's own depot
//! server on loopback with a request log and an optional mid-file connection cut.

#![allow(dead_code)]

pub use esxlcm_test_support::files::{tree, update_upstream};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle, generate_to_tree};
use esxlcm_store::Store;
use esxlcm_store::internals;
use esxlcm_store::sync::{NoProgress, SyncOptions, SyncReport};

/// A tiny depot; `base_images` 2 → 3 is an upstream release with 18 new VIBs, a new
/// metadata.zip and unchanged index documents (VIB bytes do not depend on the count).
pub fn config(base_images: usize) -> GeneratorConfig {
    GeneratorConfig { base_images, ..GeneratorConfig::tiny(7) }
}

pub fn generate_tree(base_images: usize, dir: &Path) {
    generate_to_tree(&config(base_images), dir).unwrap();
}

pub fn generate_bundle(base_images: usize, path: &Path) {
    generate_to_bundle(&config(base_images), path).unwrap();
}

/// Sync source `name` of `store` with its own transport, three transfers at a time.
/// The engine step itself, not `Store::sync`: views are left as they were, so the view
/// tests decide when a view follows its sources.
pub fn sync(store: &Store, name: &str) -> Result<SyncReport, esxlcm_store::StoreError> {
    internals::sync_source(store, name, &SyncOptions { parallel: 3 }, &NoProgress)
}

/// Flip one byte in the middle of a file (same size, different content).
pub fn corrupt(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(path, bytes).unwrap();
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub path: String,
    pub status: u16,
    pub range: bool,
    /// Body bytes sent (Content-Length of the response, or the cut length).
    pub bytes: u64,
}

#[derive(Default)]
pub struct Shared {
    pub hits: Mutex<Vec<Hit>>,
    /// Serve only this many bytes of this path (declaring the full length), then close.
    pub cut: Mutex<Option<(String, usize)>>,
    /// The `X-Token` header of each request.
    pub tokens: Mutex<Vec<Option<String>>>,
}

pub struct HttpUpstream {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
}

impl HttpUpstream {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// Hits since the last call.
    pub fn take_hits(&self) -> Vec<Hit> {
        std::mem::take(&mut *self.shared.hits.lock().unwrap())
    }
}

async fn record(shared: Arc<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().trim_start_matches('/').to_owned();
    let range = req.headers().contains_key(header::RANGE);
    let token = req.headers().get("x-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    shared.tokens.lock().unwrap().push(token);
    let cut = shared.cut.lock().unwrap().clone().filter(|(p, _)| *p == path && !range);
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if let Some((_, keep)) = cut {
        let (parts, body) = response.into_parts();
        let full = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        shared.hits.lock().unwrap().push(Hit { path, status, range, bytes: keep as u64 });
        // The full Content-Length is declared, part of the body sent, then the stream fails:
        // the server drops the connection mid-file.
        // Yielding before the error lets hyper flush the headers and the first part.
        let stream = futures_util::stream::unfold(0u8, move |state| {
            let head = full.slice(..keep);
            async move {
                match state {
                    0 => Some((Ok(head), 1)),
                    1 => {
                        for _ in 0..50 {
                            tokio::task::yield_now().await;
                        }
                        Some((Err(std::io::Error::other("cut")), 2))
                    }
                    _ => None,
                }
            }
        });
        return Response::from_parts(parts, Body::from_stream(stream));
    }
    shared.hits.lock().unwrap().push(Hit { path, status, range, bytes: declared });
    response
}

/// Serve `dir` with esxlcm's depot server (ETag, Range, If-Range) on a loopback port.
pub fn serve(dir: &Path) -> HttpUpstream {
    let shared = Arc::new(Shared::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let dir: PathBuf = dir.to_path_buf();
    let state = Arc::clone(&shared);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let app = esxlcm_server::depot_http::router(&dir)
                .layer(middleware::from_fn(move |req, next| record(Arc::clone(&state), req, next)));
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    HttpUpstream { addr, shared }
}

/// Count hits by (path suffix predicate, status).
pub fn count(hits: &[Hit], status: u16, pred: impl Fn(&str) -> bool) -> usize {
    hits.iter().filter(|h| h.status == status && pred(&h.path)).count()
}
