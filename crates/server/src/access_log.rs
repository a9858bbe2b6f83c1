//! One access-log line per request, and the request metrics of [`crate::metrics`].
//!
//! The line is written (at info, target `esxlcm::access`) when the response body has been
//! sent or dropped, so `bytes` is what was really sent and `duration_ms` includes the
//! transfer: a 4 GiB VIB's line says how long the host took to read it. Fields: `method`,
//! `path` (the URL path without the query, at most [`MAX_PATH`] characters), `status`,
//! `bytes`, `duration_ms`, `peer`, and `user` when known: the user the API's dispatcher
//! authenticated (by session id or password; the UI's pages too), else the name of a
//! Basic-auth login the server accepted. Session ids, tokens and query strings are never
//! logged. With `--log-format json` each line is one JSON object.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

use crate::metrics::{self, UNKNOWN_SOURCE};

/// The longest URL path logged; longer ones are cut and end in `…`.
pub const MAX_PATH: usize = 256;

/// Which listener a request came on: it decides how a depot source is read from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mount {
    /// The service's HTTPS listener: the API, and depots under `/depots/<source>/`.
    Service,
    /// The service's plain-HTTP listener for hosts: depots under `/depots/<source>/`.
    Hosts,
    /// `serve --store`: `/<source>/…`, `/views/<name>/…`, `/-/…`.
    Store,
    /// `serve --dir`: one depot.
    Dir,
}

impl Mount {
    fn listener(self) -> &'static str {
        match self {
            Mount::Service => "api",
            Mount::Hosts => "hosts",
            Mount::Store => "store",
            Mount::Dir => "dir",
        }
    }

    /// The depot source a path asks for (`None`: not a depot file).
    fn source(self, path: &str) -> Option<String> {
        let rest = match self {
            Mount::Service | Mount::Hosts => path.strip_prefix("/depots/")?,
            Mount::Store => path.strip_prefix('/')?,
            Mount::Dir => return (path != "/" && !path.starts_with("/-/")).then(|| "dir".to_owned()),
        };
        let mut parts = rest.split('/');
        let first = parts.next().filter(|s| !s.is_empty() && *s != "-")?;
        if first == "views" {
            let view = parts.next().filter(|s| !s.is_empty())?;
            return Some(format!("views/{view}"));
        }
        // A bare `/depots/<source>` is a listing, not a file; a file has a path after it.
        parts.next()?;
        Some(first.to_owned())
    }
}

/// The API dialect of a request on the service's listener (`None`: not an API call).
fn dialect(mount: Mount, method: &Method, path: &str) -> Option<&'static str> {
    if mount != Mount::Service {
        return None;
    }
    if path == "/api" && method == Method::POST {
        Some("jsonrpc")
    } else if path.starts_with("/api/") {
        Some("rest")
    } else {
        None
    }
}

/// `path` cut to about [`MAX_PATH`] bytes (saying how long it was).
pub fn capped(path: &str) -> String {
    crate::depot_http::shorten(path, MAX_PATH).into_owned()
}

/// The user name of a Basic `Authorization` header (the password is not read).
fn basic_user(headers: &HeaderMap) -> Option<String> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
    (!user.is_empty()).then(|| capped(user))
}

/// What the line of one request says, once its body is done.
struct Entry {
    mount: Mount,
    method: Method,
    path: String,
    status: StatusCode,
    peer: Option<SocketAddr>,
    user: Option<String>,
    source: Option<String>,
    started: Instant,
}

impl Entry {
    fn finish(self, bytes: u64) {
        let code = self.status.as_u16();
        let m = metrics::global();
        m.request(self.mount.listener(), code);
        if let Some(source) = &self.source {
            // Only sources that answered count by name: a 404 for a made-up name does not
            // add a series.
            let shown = if self.status.is_client_error() || self.status.is_server_error() {
                UNKNOWN_SOURCE
            } else {
                source.as_str()
            };
            m.depot_request(shown, code, bytes);
        }
        let duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let peer = self.peer.map_or_else(|| "-".to_owned(), |p| p.to_string());
        let user = self.user.as_deref().unwrap_or("-");
        let listener = self.mount.listener();
        let (method, path) = (&self.method, &self.path);
        // Refused and failed requests stand out at warn, as the depot log had them.
        if self.status.is_client_error() || self.status.is_server_error() {
            tracing::warn!(target: "esxlcm::access", %method, %path, status = code, bytes, duration_ms, %peer, %user,
                listener, "{method} {path} {code} {bytes}B {duration_ms}ms");
        } else {
            tracing::info!(target: "esxlcm::access", %method, %path, status = code, bytes, duration_ms, %peer, %user,
                listener, "{method} {path} {code} {bytes}B {duration_ms}ms");
        }
    }
}

/// The access log and request metrics of one listener, as a layer: put it outermost, so
/// that every answer (also a 404 or a refused body) is counted and logged.
pub fn layer(mount: Mount) -> Layer {
    fn boxed(state: State<Mount>, req: Request, next: Next) -> Logged {
        Box::pin(log(state, req, next))
    }
    axum::middleware::from_fn_with_state(mount, boxed as LogFn)
}

/// The boxed future of [`log`].
type Logged = Pin<Box<dyn Future<Output = Response> + Send>>;
type LogFn = fn(State<Mount>, Request, Next) -> Logged;
/// What [`layer`] returns.
pub type Layer = axum::middleware::FromFnLayer<LogFn, Mount, (State<Mount>, Request)>;

tokio::task_local! {
    /// The user the request was authenticated as, noted by the API's dispatcher (a session
    /// id names no one by itself): the handler runs inside the middleware's task.
    static AUTHENTICATED: std::cell::RefCell<Option<String>>;
}

/// Name the user the current request was authenticated as (outside a logged request:
/// nothing).
pub fn note_user(user: &str) {
    let _ = AUTHENTICATED.try_with(|u| *u.borrow_mut() = Some(capped(user)));
}

/// The middleware behind [`layer`].
pub async fn log(State(mount): State<Mount>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let raw_path = req.uri().path().to_owned();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let claimed = basic_user(req.headers());
    let (response, authenticated) = AUTHENTICATED
        .scope(std::cell::RefCell::new(None), async {
            let response = next.run(req).await;
            (response, AUTHENTICATED.with(|u| u.borrow_mut().take()))
        })
        .await;
    let status = response.status();
    if let Some(dialect) = dialect(mount, &method, &raw_path) {
        metrics::global().api_latency(dialect, started.elapsed());
    }
    // The user the API authenticated, else a Basic-auth name the server took (a refused
    // login is not a user).
    let user = authenticated.or_else(|| claimed.filter(|_| status.is_success()));
    let entry =
        Entry { mount, source: mount.source(&raw_path), path: capped(&raw_path), method, status, peer, user, started };
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::new(Counted { inner: body, bytes: 0, entry: Some(entry) }))
}

/// A response body that counts what it yields and writes the entry when it ends or is
/// dropped (the client went away).
struct Counted {
    inner: Body,
    bytes: u64,
    entry: Option<Entry>,
}

impl Counted {
    fn done(&mut self) {
        if let Some(entry) = self.entry.take() {
            entry.finish(self.bytes);
        }
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => self.done(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_read_per_listener() {
        assert_eq!(Mount::Service.source("/depots/vmw/index.xml").as_deref(), Some("vmw"));
        assert_eq!(Mount::Hosts.source("/depots/vmw/vib20/x/y.vib").as_deref(), Some("vmw"));
        assert_eq!(Mount::Service.source("/depots/vmw"), None, "a listing, not a file");
        assert_eq!(Mount::Service.source("/api/session"), None);
        assert_eq!(Mount::Service.source("/depots/-/status"), None);
        assert_eq!(Mount::Store.source("/vmw/@3/index.xml").as_deref(), Some("vmw"));
        assert_eq!(Mount::Store.source("/views/branch/index.xml").as_deref(), Some("views/branch"));
        assert_eq!(Mount::Store.source("/-/metrics"), None);
        assert_eq!(Mount::Dir.source("/index.xml").as_deref(), Some("dir"));
        assert_eq!(Mount::Dir.source("/-/healthz"), None);
    }

    #[test]
    fn paths_are_capped_and_dialects_told_apart() {
        assert_eq!(capped("/a"), "/a");
        let long = format!("/{}", "x".repeat(1000));
        let cut = capped(&long);
        assert!(cut.len() < MAX_PATH + 40 && cut.contains("1001 bytes"), "{cut}");
        assert_eq!(dialect(Mount::Service, &Method::POST, "/api"), Some("jsonrpc"));
        assert_eq!(dialect(Mount::Service, &Method::GET, "/api/esx/settings/depots/online"), Some("rest"));
        assert_eq!(dialect(Mount::Hosts, &Method::POST, "/api"), None);
        assert_eq!(dialect(Mount::Service, &Method::GET, "/depots/a/index.xml"), None);
    }

    #[test]
    fn only_the_basic_user_name_is_read() {
        use base64::Engine as _;
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        assert_eq!(basic_user(&h).as_deref(), Some("alice"));
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(basic_user(&h), None);
    }
}
