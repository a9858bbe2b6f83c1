//! The page shell every UI page shares: head (our stylesheet and scripts only), a skip
//! link, the main navigation, the signed-in user with the log-out form, and small
//! formatting helpers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::auth::Viewer;

/// htmx's options: no inline indicator styles (the CSP forbids them), no eval, no scripts
/// from swapped content, requests only to this site.
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"historyCacheSize":0}"#;

/// The sections of the main navigation: (path, label).
pub const SECTIONS: &[(&str, &str)] = &[
    ("/ui/", "Home"),
    ("/ui/depots", "Depots"),
    ("/ui/content/components", "Depot content"),
    ("/ui/images", "Images"),
    ("/ui/compliance", "Compliance"),
    ("/ui/exports", "Exports"),
    ("/ui/tasks", "Tasks"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="htmx-config" content=(HTMX_CONFIG);
            title { (title) " — esxlcm" }
            link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml";
            link rel="stylesheet" href="/ui/assets/ui.css";
            script src="/ui/assets/htmx.min.js" defer {}
            script src="/ui/assets/ui.js" defer {}
        }
    }
}

/// A page without navigation (login, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/ui/" { "esxlcm" } }
                main #main { (body) }
            }
        }
    }
}

/// A signed-in page: `section` is the navigation entry it belongs to.
pub fn page(viewer: &Viewer, title: &str, section: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/" { "esxlcm" }
                    nav aria-label="Main" {
                        ul {
                            @for (path, label) in SECTIONS {
                                li {
                                    @if *path == section {
                                        a href=(path) aria-current="page" { (label) }
                                    } @else {
                                        a href=(path) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        span { (viewer.caller.user) " (" (if viewer.is_admin() { "administrator" } else { "read-only" }) ")" }
                        form method="post" action="/ui/logout" {
                            (csrf_field(viewer))
                            button.link type="submit" { "Log out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut resp = (status, markup.into_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    resp
}

/// A page answered 200.
pub fn ok(markup: Markup) -> Response {
    html_response(StatusCode::OK, markup)
}

/// Seconds since the epoch as UTC text.
pub fn epoch(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map_or_else(|| "—".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// An RFC 3339 time from the API as short UTC text.
pub fn time(text: &str) -> String {
    crate::api::typed::parse_datetime(text)
        .map_or_else(|| text.to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// A URL path segment or query value, percent-encoded.
pub fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A string field of a JSON object ("" when absent).
pub fn s<'a>(v: &'a serde_json::Value, field: &str) -> &'a str {
    v.get(field).and_then(serde_json::Value::as_str).unwrap_or("")
}
