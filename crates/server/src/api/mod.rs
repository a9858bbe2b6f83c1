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
pub mod handler;
pub mod jsonrpc;
pub mod persist;
pub mod rest;
pub mod schema;
pub mod services;
pub mod session;
pub mod tasks;
pub mod tls;
pub mod typed;
pub mod users;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Path as UrlPath;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use futures_util::StreamExt as _;

use self::dispatch::authenticate;
use self::errors::ApiError;
use self::persist::PersistError;
use self::schema::{Registry, SchemaError};
use self::services::depots::DepotStore;
use self::session::SessionStore;
use self::tasks::TaskManager;
use self::users::{InitialAdmin, Role, UserDb, UserError};

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

pub struct ApiState {
    /// Held for the server's lifetime: one server per data dir.
    _lock: std::fs::File,
    pub registry: Registry,
    pub users: UserDb,
    pub sessions: SessionStore,
    pub tasks: Arc<TaskManager>,
    pub depots: DepotStore,
    /// Bootloader files for ISO exports (`bootloader_dir` in `config.json`).
    pub bootloader_dir: Option<PathBuf>,
    /// `trusted_ca_files` of `config.json`: trusted by HTTPS depots besides the system's
    /// roots and the API's trusted root chains.
    pub trusted_ca_files: Vec<PathBuf>,
    /// `pull_roots` of `config.json`: where an offline depot PULL may read local files.
    pub pull_roots: Option<Vec<PathBuf>>,
    /// The certificate the server presents (`vcenter.certificate_management.vcenter.tls`).
    pub tls_cert_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The first administrator, used only when `config.json` has no users.
    pub initial_admin: Option<InitialAdmin>,
    /// A second, plain-HTTP listener serving only the depots (`/depots/…`), for hosts that
    /// cannot use the HTTPS one.
    pub hosts_listen: Option<SocketAddr>,
}

/// Where hosts find the service's depots: `/depots/<source>/index.xml`, on the HTTPS
/// listener and on the hosts' plain-HTTP one. `/api` never collides with it.
pub const DEPOTS_PREFIX: &str = "/depots";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Users(#[from] UserError),
    #[error(transparent)]
    Persist(#[from] PersistError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Store(#[from] esxlcm_store::StoreError),
    #[error("trusted roots: {0}")]
    TrustedRoots(String),
    #[error("{0} is in use by another esxlcm server")]
    Locked(PathBuf),
    #[error("listening on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

impl ApiState {
    /// Load (or initialise) everything the server keeps in `data_dir`.
    pub fn open(
        data_dir: &Path,
        initial_admin: Option<InitialAdmin>,
    ) -> Result<(Self, users::ServerConfig), ServeError> {
        std::fs::create_dir_all(data_dir).map_err(|e| PersistError::new(data_dir, e))?;
        let lock = lock_data_dir(data_dir)?;
        let registry = Registry::load()?;
        let (users, config) = UserDb::load_or_init(&data_dir.join("config.json"), initial_admin)?;
        let store = Arc::new(esxlcm_store::Store::open(&store_dir(data_dir))?);
        // Finish a publication a crash interrupted, unless `esxlcm mirror` is at work (then
        // it will).
        store.reconcile_if_idle()?;
        let tasks = Arc::new(TaskManager::with_log(Arc::new(persist::StoreTaskLog::new(Arc::clone(&store)))));
        let depots = DepotStore::open(data_dir, store)?;
        let chains = services::trust::all_chains(&depots.published_state());
        services::trust::write_trusted_roots(data_dir, &config.trusted_ca_files, &chains)
            .map_err(ServeError::TrustedRoots)?;
        let state = Self {
            _lock: lock,
            registry,
            users,
            sessions: session_store(config.sessions.as_ref()),
            tasks,
            depots,
            bootloader_dir: config.bootloader_dir.clone(),
            trusted_ca_files: config.trusted_ca_files.clone(),
            pull_roots: config.pull_roots.clone(),
            tls_cert_file: tls::cert_file(data_dir, config.tls.as_ref()),
        };
        Ok((state, config))
    }
}

/// Sessions with the timeouts of `config.json` (`sessions`), else the defaults.
fn session_store(config: Option<&users::SessionConfig>) -> SessionStore {
    let idle = config.and_then(users::SessionConfig::idle_timeout).unwrap_or(session::IDLE_TIMEOUT);
    let lifetime = config.and_then(users::SessionConfig::max_lifetime).unwrap_or(session::MAX_LIFETIME);
    SessionStore::with_limits(session::MAX_SESSIONS, idle, session::LoginGuard::default()).with_max_lifetime(lifetime)
}

/// The service's mirror store: every depot the API and `esxlcm mirror` know.
pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// Two servers on one data dir would overwrite each other's state.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, ServeError> {
    let path = data_dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| PersistError::new(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServeError::Locked(data_dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(PersistError::new(&path, e).into()),
    }
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api", post(jsonrpc::handle).layer(DefaultBodyLimit::max(MAX_API_BODY)))
        .route("/api/{*rest}", any(rest::handle).layer(DefaultBodyLimit::max(MAX_API_BODY)))
        .route("/vum-fileupload", post(upload).layer(DefaultBodyLimit::disable()))
        .route("/api/esxlcm/exports/{export}/{file}", get(download))
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

/// `POST /vum-fileupload`: store the body as an upload and answer its id (a JSON string)
/// for `Offline.CreateSpec.file_id`. Administrators only.
async fn upload(
    State(state): State<Arc<ApiState>>,
    dispatch::Peer(peer): dispatch::Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut who = None;
    let result = store_upload(&state, &headers, body, &mut who).await;
    let record = esxlcm_store::audit::AuditRecord {
        user: who,
        client: peer.map(|a| a.to_string()),
        action: "upload".to_owned(),
        target: result.as_ref().ok().map(|id| format!("upload={id}")),
        result: result.as_ref().map_or_else(|e| e.kind.name().to_owned(), |_| "ok".to_owned()),
        detail: None,
    };
    audit::append(&state, record).await;
    match result {
        Ok(id) => (StatusCode::CREATED, axum::Json(id)).into_response(),
        Err(e) => rest::error_response(&e),
    }
}

/// `GET /api/esxlcm/exports/<id>/<file>`: an exported image (the `export` operations
/// hand out these URLs), for any authenticated user.
async fn download(
    State(state): State<Arc<ApiState>>,
    UrlPath((export, file)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match open_export(&state, &export, &file, &headers).await {
        Ok((f, len)) => {
            let content_type = if file.ends_with(".json") {
                "application/json"
            } else if file.ends_with(".zip") {
                "application/zip"
            } else {
                "application/octet-stream"
            };
            // Stream in chunks: ISOs and bundles do not fit in memory.
            let stream = futures_util::stream::unfold(f, |mut f| async move {
                let mut buf = vec![0u8; 256 * 1024];
                match tokio::io::AsyncReadExt::read(&mut f, &mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), f))
                    }
                    Err(e) => Some((Err(e), f)),
                }
            });
            let disposition = format!("attachment; filename=\"{file}\"");
            (
                StatusCode::OK,
                [
                    (axum::http::header::CONTENT_TYPE, content_type.to_owned()),
                    (axum::http::header::CONTENT_LENGTH, len.to_string()),
                    (axum::http::header::CONTENT_DISPOSITION, disposition),
                ],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Err(e) => rest::error_response(&e),
    }
}

async fn open_export(
    state: &Arc<ApiState>,
    export: &str,
    file: &str,
    headers: &HeaderMap,
) -> Result<(tokio::fs::File, u64), ApiError> {
    authenticate(state, rest::credentials(headers)).await?;
    // Only names we write: nothing outside the exports directory can be reached.
    if !services::depots::is_upload_id(export) || !services::software::export::EXPORT_FILES.contains(&file) {
        return Err(ApiError::not_found("export", &format!("{export}/{file}")));
    }
    let path = services::software::export::exports_dir(state.depots.data_dir()).join(export).join(file);
    let f =
        tokio::fs::File::open(&path).await.map_err(|_| ApiError::not_found("export", &format!("{export}/{file}")))?;
    let len = f.metadata().await.map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?.len();
    Ok((f, len))
}

/// A refused upload's body is still read (up to this much) before answering: a client
/// still sending when the connection closes sees a broken connection, not the error.
const DRAIN_REFUSED_UPLOAD: u64 = 256 * 1024 * 1024;

async fn store_upload(
    state: &Arc<ApiState>,
    headers: &HeaderMap,
    body: Body,
    who: &mut Option<String>,
) -> Result<String, ApiError> {
    let mut stream = body.into_data_stream();
    let caller = authenticate(state, rest::credentials(headers)).await;
    *who = caller.as_ref().ok().map(|c| c.user.clone());
    let allowed = match caller {
        Ok(caller) if caller.role == Role::Admin => Ok(caller),
        Ok(caller) => Err(ApiError::unauthorized(format!("user '{}' is read-only and may not upload", caller.user))),
        Err(e) => Err(e),
    };
    let caller = match allowed {
        Ok(c) => c,
        Err(e) => {
            let mut drained = 0u64;
            while let Some(Ok(chunk)) = stream.next().await {
                drained += chunk.len() as u64;
                if drained > DRAIN_REFUSED_UPLOAD {
                    break;
                }
            }
            return Err(e);
        }
    };
    let dir = state.depots.uploads_dir();
    let mut tmp = tempfile::Builder::new()
        .prefix(".upload-")
        .tempfile_in(&dir)
        .map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))?;
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid_argument(format!("the upload was interrupted: {e}")))?;
        size += chunk.len() as u64;
        tmp.write_all(&chunk).map_err(|e| ApiError::internal(format!("storing the upload: {e}")))?;
    }
    if size == 0 {
        return Err(ApiError::invalid_argument("the upload is empty"));
    }
    tmp.as_file().sync_all().map_err(|e| ApiError::internal(format!("storing the upload: {e}")))?;
    let id = tasks::uuid_v4().map_err(|e| ApiError::internal(e.to_string()))?;
    tmp.persist(dir.join(format!("{id}.zip")))
        .map_err(|e| ApiError::internal(format!("storing the upload: {}", e.error)))?;
    tracing::info!(upload = %id, bytes = size, user = %caller.user, "bundle uploaded");
    Ok(id)
}

/// A running server.
pub struct ApiServer {
    pub local_addr: SocketAddr,
    /// The generated CA clients should trust (`None` with a configured certificate).
    pub ca_file: Option<PathBuf>,
    /// The plain-HTTP listener for hosts, when asked for.
    pub hosts_addr: Option<SocketAddr>,
    /// Set to the grace period to stop both listeners.
    stop: tokio::sync::watch::Sender<Option<std::time::Duration>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    hosts: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Runs the store's scheduled syncs (the API's sync schedule is the online depots').
    scheduler: Option<esxlcm_store::ops::Scheduler>,
}

/// Every API client holds a connection (the load test of docs/PERFORMANCE.md: 210 at once);
/// bounded like the depot listener, well under the usual 1024 descriptors.
const API_MAX_CONNECTIONS: usize = 512;

/// How often the scheduler looks at the clock (schedules have minute resolution).
const SCHEDULER_TICK: std::time::Duration = std::time::Duration::from_secs(20);

impl ApiServer {
    /// Open the data dir, make or load the certificate and start listening.
    pub async fn start(config: ApiConfig) -> Result<Self, ServeError> {
        let (state, server_config) = ApiState::open(&config.data_dir, config.initial_admin.clone())?;
        let tls = tls::load_or_create(&config.data_dir, server_config.tls.as_ref())?;
        let listener = std::net::TcpListener::bind(config.listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| ServeError::Listen { addr: config.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Listen { addr: config.listen, source })?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|source| ServeError::Listen { addr: config.listen, source })?;
        let (stop, mut stopped) = tokio::sync::watch::channel(None::<std::time::Duration>);
        let state = Arc::new(state);
        let scheduler = Some(esxlcm_store::ops::Scheduler::spawn(&store_dir(&config.data_dir), SCHEDULER_TICK)?);
        let depots = crate::store_index::router(&store_dir(&config.data_dir), None)?;
        let hosts = match config.hosts_listen {
            Some(addr) => Some(serve_hosts(addr, depots.clone(), stop.subscribe())?),
            None => None,
        };
        let app = security_headers(
            router(state)
                .nest(DEPOTS_PREFIX, depots)
                .route("/", get(|| async { axum::response::Redirect::to("/api") })),
        );
        let limits = crate::depot_http::Limits { max_connections: API_MAX_CONNECTIONS, ..Default::default() };
        let grace = async move { grace_of(&mut stopped).await };
        let task = tokio::spawn(crate::depot_http::serve_connections(listener, app, Some(tls.config), limits, grace));
        tracing::info!(%local_addr, "API server listening");
        let hosts_addr = hosts.as_ref().map(|h| h.0);
        let hosts = hosts.map(|h| h.1);
        Ok(Self { local_addr, ca_file: tls.ca_file, hosts_addr, stop, task, hosts, scheduler })
    }

    /// Stop accepting connections; requests in flight get `grace` to finish.
    pub fn shutdown(&self, grace: std::time::Duration) {
        self.stop.send_replace(Some(grace));
    }

    /// Wait until the server has stopped (then the scheduler stops too: a sync it was
    /// running ends with it).
    pub async fn wait(mut self) -> std::io::Result<()> {
        let served = self.task.await.map_err(std::io::Error::other);
        if let Some(hosts) = self.hosts.take() {
            hosts.await.map_err(std::io::Error::other)??;
        }
        if let Some(s) = self.scheduler.take() {
            // A scheduled sync in progress finishes first (its publication is atomic).
            tokio::task::spawn_blocking(move || s.stop()).await.map_err(std::io::Error::other)?;
        }
        served?
    }
}

/// The grace period a stop asks for, once one is asked for.
async fn grace_of(stopped: &mut tokio::sync::watch::Receiver<Option<std::time::Duration>>) -> std::time::Duration {
    loop {
        if let Some(grace) = *stopped.borrow_and_update() {
            return grace;
        }
        if stopped.changed().await.is_err() {
            // The server handle is gone: nothing can stop it more gently.
            return std::time::Duration::ZERO;
        }
    }
}

type HostsListener = (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>);

/// The depots over plain HTTP on `addr` (ESXi hosts often cannot use the service's
/// certificate), with the depot listener's limits, until the service stops.
fn serve_hosts(
    addr: SocketAddr,
    depots: Router,
    mut stopped: tokio::sync::watch::Receiver<Option<std::time::Duration>>,
) -> Result<HostsListener, ServeError> {
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| ServeError::Listen { addr, source })?;
    let local = listener.local_addr().map_err(|source| ServeError::Listen { addr, source })?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|source| ServeError::Listen { addr, source })?;
    let app = Router::new().nest(DEPOTS_PREFIX, depots);
    let grace = async move { grace_of(&mut stopped).await };
    let task = tokio::spawn(crate::depot_http::serve_connections(
        listener,
        app,
        None,
        crate::depot_http::Limits::default(),
        grace,
    ));
    tracing::info!(%local, "depots for hosts listening (plain HTTP)");
    Ok((local, task))
}

/// Run the API server until `shutdown` resolves (requests in flight then get 10 s);
/// `announce` is told where it listens and which CA file clients should trust.
pub async fn serve_until(
    config: ApiConfig,
    shutdown: impl Future<Output = ()>,
    announce: impl FnOnce(&ApiServer),
) -> Result<(), ServeError> {
    let addr = config.listen;
    let server = ApiServer::start(config).await?;
    announce(&server);
    shutdown.await;
    tracing::info!("stopping the API server");
    server.shutdown(std::time::Duration::from_secs(10));
    server.wait().await.map_err(|source| ServeError::Listen { addr, source })
}
