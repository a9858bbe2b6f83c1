//! Logging in and out of the UI, the session cookie and CSRF tokens.
//!
//! The session is the API's (`cis.session.create` through the dispatcher: the same users,
//! roles, login throttling and audit); its id travels in the `esxlcm_session` cookie
//! (HttpOnly, Secure, SameSite=Strict, path `/ui`). Every form carries a CSRF token derived
//! from the session id with a key only the running server knows; the login form's is
//! derived from a random `esxlcm_login` cookie set with the form. A POST whose token does
//! not match, or whose `Origin` names another site, is refused before anything runs.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Ui;
use super::error::UiError;
use super::layout;
use crate::api::dispatch::{self, Credentials, Peer};
use crate::api::handler::Caller;
use crate::api::users::Role;

const SESSION_COOKIE: &str = "esxlcm_session";
const LOGIN_COOKIE: &str = "esxlcm_login";

/// The signed-in user of a request, with what its pages need.
#[derive(Clone)]
pub struct Viewer {
    pub caller: Caller,
    token: String,
    /// The token every form of this session carries.
    pub csrf: String,
    pub origin: Option<String>,
    pub peer: Option<IpAddr>,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.caller.role == Role::Admin
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::Session(self.token.clone())
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    let text = format!("{name}={value}; Path=/ui; HttpOnly; Secure; SameSite=Strict{age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("esxlcm_invalid=1"))
}

impl Ui {
    /// The CSRF token bound to `purpose` and `secret` (a session id or a login nonce).
    fn csrf_token(&self, purpose: &str, secret: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.csrf_key);
        h.update(purpose.as_bytes());
        h.update([0]);
        h.update(secret.as_bytes());
        hex::encode(h.finalize())
    }
}

fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A browser's `Origin` on a POST must be this server (SameSite cookies are the main
/// defence; this is the second).
fn origin_ok(headers: &HeaderMap, own: Option<&str>) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    if origin == "null" {
        return false;
    }
    match (origin.strip_prefix("https://"), own) {
        (Some(host), Some(own)) => host == own,
        _ => false,
    }
}

/// Not signed in: pages send the browser to the login form, coming back afterwards.
pub struct NotSignedIn(Option<String>);

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        let target = match self.0 {
            Some(next) => {
                format!("/ui/login?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())
            }
            None => "/ui/login".to_owned(),
        };
        Redirect::to(&target).into_response()
    }
}

impl FromRequestParts<Arc<Ui>> for Viewer {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, ui: &Arc<Ui>) -> Result<Self, Self::Rejection> {
        let next = (parts.method == axum::http::Method::GET)
            .then(|| parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()));
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned) else {
            return Err(NotSignedIn(next));
        };
        // The API's own check: a session that expired, or whose user was removed, ends here.
        let caller = dispatch::authenticate(&ui.api, Credentials::Session(token.clone()))
            .await
            .map_err(|_| NotSignedIn(next))?;
        let Peer(peer) = Peer::from_request_parts(parts, ui).await.unwrap_or_default();
        Ok(Self {
            csrf: ui.csrf_token("session", &token),
            caller,
            token,
            origin: dispatch::origin(&parts.headers, &parts.uri),
            peer,
        })
    }
}

/// A form's CSRF token checked against the session (and its `Origin`).
pub fn check_csrf(viewer: &Viewer, headers: &HeaderMap, given: &str) -> Result<(), UiError> {
    if !same_token(&viewer.csrf, given) || !origin_ok(headers, viewer.origin.as_deref()) {
        return Err(UiError::Csrf);
    }
    Ok(())
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only our own pages are places to go back to after logging in.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.contains("//") && !n.contains('\\') && !n.starts_with("/ui/login") => n,
        _ => "/ui/",
    }
}

fn login_page(csrf: &str, next: &str, user: &str, error: Option<&str>) -> maud::Markup {
    layout::bare(
        "Log in",
        html! {
            h1 { "Log in to esxlcm" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.card method="post" action="/ui/login" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="next" value=(next);
                p { label for="user" { "User name" } input #user type="text" name="user" value=(user) autocomplete="username" required autofocus; }
                p { label for="password" { "Password" } input #password type="password" name="password" autocomplete="current-password" required; }
                p { button type="submit" { "Log in" } }
            }
        },
    )
}

/// `GET /ui/login`: the form, with a fresh login nonce cookie.
pub async fn login_form(State(ui): State<Arc<Ui>>, Query(q): Query<NextQuery>) -> Result<Response, UiError> {
    let nonce = crate::api::random::random_hex(16).map_err(|e| UiError::internal(e.to_string()))?;
    let csrf = ui.csrf_token("login", &nonce);
    let page = login_page(&csrf, safe_next(q.next.as_deref()), "", None);
    let mut resp = layout::html_response(StatusCode::OK, page);
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, &nonce, Some(600)));
    Ok(resp)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// `POST /ui/login`: `cis.session.create` with the form's user name and password.
pub async fn login(
    State(ui): State<Arc<Ui>>,
    Peer(peer): Peer,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, UiError> {
    let own = dispatch::origin(&headers, &uri);
    let nonce = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if nonce.is_empty()
        || !same_token(&ui.csrf_token("login", nonce), &form.csrf)
        || !origin_ok(&headers, own.as_deref())
    {
        return Err(UiError::Csrf);
    }
    let next = safe_next(form.next.as_deref()).to_owned();
    let user = form.user.trim().to_owned();
    if user.is_empty() || form.password.is_empty() {
        let page = login_page(&form.csrf, &next, &user, Some("Enter a user name and a password."));
        return Ok(layout::html_response(StatusCode::UNPROCESSABLE_ENTITY, page));
    }
    let creds = Credentials::UserPass { user: user.clone(), password: form.password, client: peer };
    let created =
        dispatch::dispatch(&ui.api, "com.vmware.cis.session", "create", creds, BTreeMap::new(), own, peer).await;
    match created {
        Ok(outcome) => {
            let token = match &*outcome.value {
                crate::api::datavalue::DataValue::String(s) | crate::api::datavalue::DataValue::Secret(s) => s.clone(),
                _ => return Err(UiError::internal("the session id has an unexpected type")),
            };
            let mut resp = Redirect::to(&next).into_response();
            resp.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &token, None));
            resp.headers_mut().append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", Some(0)));
            Ok(resp)
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let text = e.for_client().to_string();
            let shown = text.split_once(": ").map_or(text.as_str(), |(_, m)| m);
            let page = login_page(&form.csrf, &next, &user, Some(shown));
            Ok(layout::html_response(status, page))
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /ui/logout`: the API session ends (`cis.session.delete`) and the cookie goes.
pub async fn logout(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &form.csrf)?;
    let _ = dispatch::dispatch(
        &ui.api,
        "com.vmware.cis.session",
        "delete",
        viewer.credentials(),
        BTreeMap::new(),
        viewer.origin.clone(),
        viewer.peer,
    )
    .await;
    let mut resp = Redirect::to("/ui/login").into_response();
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0)));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_pages_are_places_to_return_to() {
        assert_eq!(safe_next(Some("/ui/depots?q=x")), "/ui/depots?q=x");
        for bad in
            ["https://evil.example/", "//evil.example/ui/", "/ui//evil", "/ui/\\evil", "/api", "/ui/login?next=/ui/"]
        {
            assert_eq!(safe_next(Some(bad)), "/ui/", "{bad}");
        }
        assert_eq!(safe_next(None), "/ui/");
    }

    #[test]
    fn origins_must_be_this_site() {
        let mut h = HeaderMap::new();
        assert!(origin_ok(&h, Some("127.0.0.1:8443")), "no Origin: SameSite and the token decide");
        h.insert(header::ORIGIN, HeaderValue::from_static("https://127.0.0.1:8443"));
        assert!(origin_ok(&h, Some("127.0.0.1:8443")));
        assert!(!origin_ok(&h, Some("esxlcm.example:8443")));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!origin_ok(&h, Some("127.0.0.1:8443")));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8443"));
        assert!(!origin_ok(&h, Some("127.0.0.1:8443")), "plain HTTP is another origin");
    }

    #[test]
    fn tokens_differ_by_purpose_and_secret() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd") && !same_token("abc", "ab"));
    }
}
