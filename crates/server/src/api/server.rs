//! The running service: the API (both dialects), the depots under [`DEPOTS_PREFIX`] on the
//! same HTTPS listener, an optional plain-HTTP listener for hosts, and the store's
//! scheduler.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use super::state::{ApiState, ServeError, store_dir};
use super::users::InitialAdmin;
use super::{router, security_headers, services, tls};

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The first administrator, used only while the store's database has no administrator.
    pub initial_admin: Option<InitialAdmin>,
    /// A second, plain-HTTP listener serving only the depots (`/depots/…`), for hosts that
    /// cannot use the HTTPS one.
    pub hosts_listen: Option<SocketAddr>,
    /// The store's metadata in PostgreSQL instead of SQLite under `data_dir` (`--database`).
    pub database: Option<esxlcm_store::location::DatabaseUrl>,
    /// The store's payloads in an S3-compatible bucket instead of `data_dir` (`--blobs`).
    pub blobs: Option<esxlcm_store::location::BlobsUrl>,
}

impl ApiConfig {
    /// Where the service's store lives: under `data_dir`, or in PostgreSQL and a bucket
    /// with `data_dir/store` as this node's directory.
    pub fn store_location(&self) -> esxlcm_store::StoreLocation {
        esxlcm_store::StoreLocation {
            root: store_dir(&self.data_dir),
            database: self.database.clone(),
            blobs: self.blobs.clone(),
        }
    }
}

/// Where hosts find the service's depots: `/depots/<source>/index.xml`, on the HTTPS
/// listener and on the hosts' plain-HTTP one. `/api` never collides with it.
pub const DEPOTS_PREFIX: &str = "/depots";

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
        let (state, server_config) =
            ApiState::open(&config.data_dir, &config.store_location(), config.initial_admin.clone())?;
        let chains = services::trust::all_chains(&state.depots.published_state());
        services::trust::write_trusted_roots(&config.data_dir, &server_config.trusted_ca_files, &chains)
            .map_err(ServeError::TrustedRoots)?;
        let tls = tls::load_or_create(&config.data_dir, server_config.tls.as_ref())?;
        let listener = std::net::TcpListener::bind(config.listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| ServeError::Listen { addr: config.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Listen { addr: config.listen, source })?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|source| ServeError::Listen { addr: config.listen, source })?;
        let (stop, mut stopped) = tokio::sync::watch::channel(None::<std::time::Duration>);
        let state = Arc::new(state);
        let scheduler = Some(esxlcm_store::ops::Scheduler::spawn(&config.store_location(), SCHEDULER_TICK)?);
        let depots = crate::store_index::router(Arc::clone(state.depots.store()), None);
        let hosts = match config.hosts_listen {
            Some(addr) => Some(serve_hosts(addr, depots.clone(), stop.subscribe())?),
            None => None,
        };
        // The probes read the store the API has open, not another handle on it.
        let probes = crate::metrics::routes("", Some(Arc::clone(state.depots.store())));
        let ui = crate::ui::router(Arc::clone(&state)).map_err(|e| ServeError::Ui(e.to_string()))?;
        let app = security_headers(
            router(state)
                .nest(DEPOTS_PREFIX, depots)
                .merge(ui)
                .route("/", get(|| async { axum::response::Redirect::to("/ui/") }))
                .merge(probes)
                .route("/api/openapi.json", get(crate::openapi::serve)),
        )
        .layer(crate::access_log::layer(crate::access_log::Mount::Service));
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
    let app =
        Router::new().nest(DEPOTS_PREFIX, depots).layer(crate::access_log::layer(crate::access_log::Mount::Hosts));
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
