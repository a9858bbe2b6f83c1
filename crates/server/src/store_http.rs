//! Serving an esxlcm mirror store read-only: the published snapshot of each source as an
//! online depot at `/<source>/index.xml` (and `vmw-depot-index.xml`).
//!
//! The store materialises each published snapshot as a directory tree and swaps
//! `published/<source>` atomically, so serving is the depot file server
//! ([`depot_http`](crate::depot_http): Range, ETag, content types) over `published/`;
//! `/` lists the sources. A sync running beside the server changes what is served
//! between two requests, never within one file tree.

use std::future::Future;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::depot_http;

/// `/` lists the published sources; everything else is a file of one of them.
pub fn router(published: &Path) -> Router {
    let dir = published.to_path_buf();
    Router::new().route("/", get(move || listing(dir.clone()))).fallback_service(depot_http::router(published))
}

/// Serve the store's `published` directory until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    published: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(depot_http::no_delay(listener), router(published)).with_graceful_shutdown(shutdown).await
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

async fn listing(dir: PathBuf) -> impl IntoResponse {
    let names = tokio::task::spawn_blocking(move || published_sources(&dir)).await.unwrap_or_default();
    let mut text = String::from("esxlcm mirror store\n\n");
    if names.is_empty() {
        text.push_str("No published sources yet: esxlcm mirror add NAME URL && esxlcm mirror sync\n");
    } else {
        text.push_str("Published sources (vendor lists):\n");
        for n in &names {
            text.push_str(&format!("  /{n}/index.xml\n"));
        }
        text.push_str("\nUse: esxcli software sources vib list -d http://<this host>/<source>/index.xml\n");
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
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
}
