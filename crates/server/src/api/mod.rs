//! The vLCM-compatible API server (issue #6): the vSphere Automation `esx/settings` subset
//! over HTTPS, so the official Python SDK, curl, PowerCLI and govc work unchanged.
//!
//! * `POST /api` — vAPI JSON-RPC 2.0, what the official SDK speaks ([`jsonrpc`]);
//! * `/api/...` — the REST dialect over the same dispatcher ([`rest`]);
//! * `POST /vum-fileupload` — bundle uploads for `PUSH` offline depots (vCenter's upload
//!   endpoint has this path; its body here is the raw bundle);
//! * `GET /api/esxlcm/exports/<id>/<file>` — images built by `clusters.software.export`
//!   (and `hosts.software.export`, `repository.software.export`).
//!
//! Operations are declared once ([`services::IMPLEMENTED`], types from [`schema`]); both
//! dialects decode into the same inputs and encode the same outputs ([`dispatch`]). Besides
//! vSphere's, esxlcm's own inventory (`com.esxlcm.inventory.*`, `/api/esxlcm/…`) declares
//! clusters and hosts and takes hosts' installed states. Depots are the sources of the
//! service's mirror store (`DATA_DIR/store`), and the rest of the state (inventory,
//! commits, drafts and scans of clusters and standalone hosts, the image library,
//! settings, tasks) lives in the store's database ([`persist`]). Files of the data dir:
//! `config.json` (users, TLS files, `bootloader_dir`), `tls/` (the generated
//! certificate, the trusted roots of HTTPS depots), `uploads/`, `exports/`.

pub mod audit;
pub mod datavalue;
pub mod dispatch;
pub mod errors;
pub mod files;
pub mod handler;
pub mod jsonrpc;
pub mod outcome;
pub mod persist;
pub mod random;
pub mod rest;
pub mod schema;
mod server;
pub mod services;
pub mod session;
pub mod state;
pub mod tasks;
pub mod tls;
pub mod typed;
pub mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{any, get, post};

pub use self::server::{ApiConfig, ApiServer, DEPOTS_PREFIX, serve_until};
pub use self::state::{ApiState, ServeError, store_dir};

/// JSON-RPC and REST bodies are documents, not bundles.
pub(crate) const MAX_API_BODY: usize = 16 * 1024 * 1024;

/// Why a JSON-RPC or REST body was not taken (the extractor's rejection: over
/// [`MAX_API_BODY`], or broken off), in words for the client.
pub(crate) fn body_refusal(rejection: &axum::extract::rejection::BytesRejection) -> String {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "the request body is larger than the API takes ({} MiB): JSON documents only; bundles go to \
             POST /vum-fileupload",
            MAX_API_BODY >> 20
        )
    } else {
        format!("the request body could not be read: {}", rejection.body_text())
    }
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api", post(jsonrpc::handle).layer(DefaultBodyLimit::max(MAX_API_BODY)))
        .route("/api/{*rest}", any(rest::handle).layer(DefaultBodyLimit::max(MAX_API_BODY)))
        .route("/vum-fileupload", post(files::upload).layer(DefaultBodyLimit::disable()))
        .route("/api/esxlcm/exports/{export}/{file}", get(files::download))
        .with_state(state)
}

/// The headers every HTTPS answer of the service carries (API and depots): browsers keep
/// to HTTPS, never sniff a type, frame, send a referrer or run anything of ours (the
/// service serves JSON, XML and files, never pages). A handler's own value wins.
pub fn security_headers(app: Router) -> Router {
    use axum::http::{HeaderName, HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    let headers: [(HeaderName, &'static str); 5] = [
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"),
    ];
    headers.into_iter().fold(app, |app, (name, value)| {
        app.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)))
    })
}
