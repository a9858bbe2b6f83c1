//! What the API server holds while it runs ([`ApiState`]), opened from the data dir: the
//! operation registry, accounts and sessions, tasks, and the depots (the service's mirror
//! store). Handlers and services receive it; it knows nothing of them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::persist::{self, PersistError};
use super::schema::{Registry, SchemaError};
use super::services::depots::DepotStore;
use super::session::{self, SessionStore};
use super::tasks::TaskManager;
use super::tls;
use super::users::{self, InitialAdmin, UserDb, UserError};

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
    #[error("the web UI: {0}")]
    Ui(String),
    #[error("{0} is in use by another esxlcm server")]
    Locked(PathBuf),
    #[error("listening on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

impl ApiState {
    /// Load (or initialise) everything the server keeps in `data_dir`.
    pub fn open(
        data_dir: &Path,
        store: &esxlcm_store::StoreLocation,
        initial_admin: Option<InitialAdmin>,
    ) -> Result<(Self, users::ServerConfig), ServeError> {
        std::fs::create_dir_all(data_dir).map_err(|e| PersistError::new(data_dir, e))?;
        let lock = lock_data_dir(data_dir)?;
        let registry = Registry::load()?;
        let store = Arc::new(esxlcm_store::Store::open_location(store)?);
        let (users, config) = UserDb::load_or_init(Arc::clone(&store), &data_dir.join("config.json"), initial_admin)?;
        // Finish a publication a crash interrupted, unless `esxlcm mirror` is at work (then
        // it will).
        store.reconcile_if_idle()?;
        let tasks = Arc::new(TaskManager::with_log(Arc::new(persist::StoreTaskLog::new(Arc::clone(&store)))));
        // Sessions are rows of the store too: valid on every replica of a cluster store.
        let sessions = session_store(config.sessions.as_ref()).with_rows(Arc::clone(&store));
        let depots = DepotStore::open(data_dir, store, config.trusted_ca_files.clone())?;
        let state = Self {
            _lock: lock,
            registry,
            users,
            sessions,
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
