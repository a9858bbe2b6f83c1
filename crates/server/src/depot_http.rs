//! Serving a depot directory as an online depot: the vendor list, vendor indexes,
//! metadata zips and VIBs, at stable URLs that esxcli, PowerCLI and vLCM read.
//!
//! Files are served by tower-http's `ServeDir` (Range, ETag, Last-Modified, conditional
//! GET); content types are set for the depot's own file kinds.

use std::future::Future;
use std::path::Path;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::services::ServeDir;

/// The router: `/` explains itself, every other path is a file of the depot.
pub fn router(dir: &Path) -> Router {
    let files = ServeDir::new(dir).append_index_html_on_directories(false).redirect_to_trailing_slash(false);
    Router::new()
        .route("/", get(root))
        .fallback_service(files)
        .layer(middleware::from_fn(depot_content_types))
        .layer(middleware::from_fn(log_request))
}

/// Serve `dir` on `listener` until `shutdown` completes; requests in flight finish first.
pub async fn serve(
    listener: TcpListener,
    dir: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(dir)).with_graceful_shutdown(shutdown).await
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

    #[test]
    fn depot_content_types_by_extension() {
        assert_eq!(content_type_for("/index.xml"), Some("text/xml"));
        assert_eq!(content_type_for("/metadata.ZIP"), Some("application/zip"));
        assert_eq!(content_type_for("/vib20/x/y.vib"), Some("application/octet-stream"));
        assert_eq!(content_type_for("/"), None);
    }
}
