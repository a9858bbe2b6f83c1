//! The web UI (issue #13): server-rendered pages under `/ui/` on the API's HTTPS listener.
//!
//! Pages are maud templates ([`layout`]) with htmx and one small script of our own as
//! progressive enhancement, every asset embedded ([`assets`]). A page never holds logic of
//! its own: every read and every change goes through the API's one dispatcher
//! ([`call`] → `api::dispatch::dispatch`) with the browser session's credentials, so
//! authentication, roles, input validation and the audit log are the API's. The session
//! is the API's too (`cis.session.create`), kept in an HttpOnly, Secure, SameSite=Strict
//! cookie; every form carries a CSRF token bound to it ([`auth`]).

mod assets;
mod auth;
mod call;
mod error;
mod layout;
mod list;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api::ApiState;

/// Where the UI lives.
pub const PREFIX: &str = "/ui";

/// The UI's own policy (the API's is `default-src 'none'`): our scripts, styles and images
/// only, nothing inline, no framing, forms post only to us.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; form-action 'self'";

/// Form bodies are small; bundle uploads stream (their route lifts the limit).
const MAX_FORM_BODY: usize = 4 * 1024 * 1024;

/// What the UI's handlers share: the API's state and the key CSRF tokens are derived with.
pub struct Ui {
    pub api: Arc<ApiState>,
    csrf_key: [u8; 32],
    /// Exports being built for the pages (the API's export is not a task).
    exports: pages::exports::Builds,
}

#[derive(Debug, thiserror::Error)]
#[error("the UI's CSRF key: {0}")]
pub struct UiStartError(String);

/// The UI's routes, all under [`PREFIX`].
pub fn router(api: Arc<ApiState>) -> Result<Router, UiStartError> {
    // One key for every replica of the store: a form one replica served posts to any other.
    let csrf_key =
        crate::api::persist::shared_secret(api.depots.store(), "ui-csrf").map_err(|e| UiStartError(e.to_string()))?;
    let ui = Arc::new(Ui { api, csrf_key, exports: pages::exports::Builds::default() });
    let uploads = Router::new()
        .route("/ui/depots/offline/upload", post(pages::depots::upload))
        .layer(DefaultBodyLimit::disable());
    let app = Router::new()
        .route("/ui", get(|| async { axum::response::Redirect::to("/ui/") }))
        .route("/ui/", get(pages::home::page))
        .route("/ui/login", get(auth::login_form).post(auth::login))
        .route("/ui/logout", post(auth::logout))
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .route("/ui/tasks", get(pages::tasks::list))
        .route("/ui/tasks/{task}", get(pages::tasks::page))
        .route("/ui/tasks/{task}/events", get(pages::tasks::events))
        .merge(pages::depots::routes())
        .merge(pages::content::routes())
        .merge(pages::images::routes())
        .merge(pages::compliance::routes())
        .merge(pages::exports::routes())
        .layer(DefaultBodyLimit::max(MAX_FORM_BODY))
        .merge(uploads)
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        // The API's `no-referrer` makes browsers send `Origin: null` on form posts; pages
        // send their origin to themselves only, so the CSRF check can compare it.
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .with_state(ui);
    Ok(app)
}
