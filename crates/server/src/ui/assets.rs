//! The UI's static files, embedded in the binary: htmx (unmodified, with its license),
//! our stylesheet, our one script and the icon. Nothing comes from elsewhere: sites are
//! air-gapped.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (name, content type, bytes)
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("assets/htmx.min.js")),
    ("htmx.LICENSE", "text/plain; charset=utf-8", include_bytes!("assets/htmx.LICENSE")),
    ("ui.js", "text/javascript; charset=utf-8", include_bytes!("assets/ui.js")),
    ("ui.css", "text/css; charset=utf-8", include_bytes!("assets/ui.css")),
    ("favicon.svg", "image/svg+xml", include_bytes!("assets/favicon.svg")),
];

/// `GET /ui/assets/<file>`: public (the login page needs them), cached for an hour.
pub async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, bytes)) => {
            let mut resp = (StatusCode::OK, *bytes).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
            resp
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// `GET /favicon.ico`: browsers ask for it on pages that are not ours (a download, an
/// asset opened directly); the icon answers instead of a 404.
pub async fn favicon() -> Response {
    serve(Path("favicon.svg".to_owned())).await
}
