//! Depots of the API: `esx.settings.depots.online` ([`online`]), `…offline` ([`offline`]),
//! `…umds` ([`umds`]), `depots.sync` and its schedule ([`sync`]), and what a depot holds
//! ([`content`]). Every depot is a source of the service's one mirror store: created,
//! synced, verified, snapshotted and published by the store's operations, served to hosts
//! under `/depots/<id>/`, and seen by `esxlcm mirror` as by the API. A source added with
//! `esxlcm mirror add` (or `push`) is a depot here as well, without a restart.
//!
//! [`DepotStore`] holds the service's state (in the store's database, see
//! [`crate::api::persist`]) and the merged catalog of every published depot, rebuilt when a
//! publication changes what is published.

pub mod content;
pub mod offline;
pub mod online;
pub mod sync;
pub mod umds;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use esxlcm_depot::catalog::Catalog;
use esxlcm_store::Store;
use esxlcm_store::StoreError;
use esxlcm_store::ops::LockWait;
use esxlcm_store::shared_file::OpenSharedFile;
use esxlcm_store::source::{Source, SourceKind};
use serde::Deserialize;

use crate::api::errors::{ApiError, ErrorKind};
use crate::api::outcome::Answer;
use crate::api::persist::{DepotInfo, DocumentState, PersistError, ServerState};

pub use self::content::content_info;

/// How long an API call waits for the store while `esxlcm mirror` (or a scheduled sync)
/// holds it, before it answers that the store is busy.
pub(crate) const STORE_WAIT: LockWait = LockWait(Duration::from_secs(120));

/// The UMDS depot's id: the name of its store source (online depots are `online-<n>`).
pub const UMDS_ID: &str = "umds";

/// How long the published snapshots read for the catalog are trusted before they are
/// read again (a sync by another process is seen within this time).
const CATALOG_RECHECK: Duration = Duration::from_millis(250);

/// How long the state read is trusted before its generation is read again (a change saved
/// by another replica is seen within this time; this replica's own, at once).
const STATE_RECHECK: Duration = Duration::from_secs(1);

/// Which API service a store source belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepotKind {
    Online,
    Offline,
    Umds,
}

impl DepotKind {
    pub fn of(source: &Source) -> Self {
        if source.config.name == UMDS_ID {
            return Self::Umds;
        }
        match source.config.kind {
            SourceKind::Bundle => Self::Offline,
            SourceKind::Online | SourceKind::Umds => Self::Online,
        }
    }
}

/// A store source as the API sees it: its kind and published snapshot.
pub(crate) type Listed = (Source, DepotKind, Option<i64>);

/// The published snapshot of each depot in the catalog: what it was built from.
type CatalogKey = Vec<(String, i64)>;

/// The service's state and depots: the mirror store, the state in its database and the
/// merged catalog of every published depot.
pub struct DepotStore {
    data_dir: PathBuf,
    store: Arc<Store>,
    persist: DocumentState,
    /// Held by writers across the save (changes are serialised and durable in order), with
    /// the generation of the state it holds.
    state: tokio::sync::Mutex<(u64, Arc<ServerState>)>,
    /// The last saved (or last read) state and its generation: readers take it without
    /// waiting for a writer's save.
    published: std::sync::RwLock<(u64, Arc<ServerState>)>,
    /// When the database's state generation was last compared with [`Self::published`]'s.
    state_checked: std::sync::Mutex<Instant>,
    /// `trusted_ca_files` of `config.json`: with the state's trusted root chains, what this
    /// node's trusted roots file holds (rewritten when another replica changes the chains).
    trusted_ca_files: Vec<PathBuf>,
    catalog: tokio::sync::Mutex<Option<(CatalogKey, Arc<Catalog>)>>,
    /// When the published snapshots were last compared with the catalog's.
    checked: std::sync::Mutex<Option<Instant>>,
    /// The store's sources as last read, and when: readers of depot lists and the catalog
    /// share one read per [`CATALOG_RECHECK`] instead of queueing on the database behind
    /// editors' durable writes.
    listed: std::sync::Mutex<Option<(Instant, Arc<Vec<Listed>>)>>,
    /// Held by the one reader refreshing [`Self::listed`]; the others keep the list they
    /// have meanwhile (a few milliseconds older) rather than queue behind it.
    relisting: tokio::sync::Mutex<()>,
    /// Bumped whenever the catalog is rebuilt: answers computed from it carry it.
    catalog_gen: std::sync::atomic::AtomicU64,
    /// Depot-content answers (call key → generation, value): browsing clients ask the same
    /// questions again and again, and building a list of hundreds of components is the
    /// costliest read.
    answers: std::sync::Mutex<std::collections::HashMap<String, (u64, Arc<Answer>)>>,
    /// Image resolutions (solver runs) at once: one core fewer than the machine has, so that
    /// validating editors never take every core from requests (docs/PERFORMANCE.md).
    pub(crate) solver_slots: tokio::sync::Semaphore,
}

/// Distinct depot-content questions kept (filters are client-chosen: bounded).
const MAX_ANSWERS: usize = 512;

impl DepotStore {
    /// Open the state kept in `store`'s database (taking `data_dir/state.json` once, from
    /// before the state moved there).
    pub fn open(data_dir: &Path, store: Arc<Store>, trusted_ca_files: Vec<PathBuf>) -> Result<Self, PersistError> {
        let persist = DocumentState::new(Arc::clone(&store));
        let loaded = persist.load(&data_dir.join("state.json"))?;
        let state = (loaded.generation, Arc::new(loaded.state));
        let uploads = Store::uploads_dir(store.root());
        std::fs::create_dir_all(&uploads).map_err(|e| PersistError::new(&uploads, e))?;
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            store,
            persist,
            state: tokio::sync::Mutex::new(state.clone()),
            published: std::sync::RwLock::new(state),
            state_checked: std::sync::Mutex::new(Instant::now()),
            trusted_ca_files,
            catalog: tokio::sync::Mutex::new(None),
            checked: std::sync::Mutex::new(None),
            listed: std::sync::Mutex::new(None),
            relisting: tokio::sync::Mutex::new(()),
            catalog_gen: std::sync::atomic::AtomicU64::new(0),
            answers: std::sync::Mutex::default(),
            solver_slots: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)),
            ),
        })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The state as last saved, without waiting (for setup outside the runtime's tasks).
    /// Another replica's (or process's) save is seen within [`STATE_RECHECK`].
    pub fn published_state(&self) -> Arc<ServerState> {
        self.follow_other_writers();
        Arc::clone(&self.published.read().unwrap_or_else(std::sync::PoisonError::into_inner).1)
    }

    /// At most once per [`STATE_RECHECK`]: one small read of the state's generation, and
    /// the whole state read again when another writer saved a newer one.
    fn follow_other_writers(&self) {
        {
            let mut checked = self.state_checked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if checked.elapsed() < STATE_RECHECK {
                return;
            }
            *checked = Instant::now();
        }
        let known = self.published.read().unwrap_or_else(std::sync::PoisonError::into_inner).0;
        match self.persist.generation_now() {
            Ok(now) if now > known => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!("reading the state's generation: {e}");
                return;
            }
        }
        match self.persist.read() {
            Ok(loaded) => self.publish(loaded.generation, Arc::new(loaded.state)),
            Err(e) => tracing::warn!("reading the state another replica saved: {e}"),
        }
    }

    /// Make `state` (of `generation`) what readers see, unless a newer one already is; the
    /// node's trusted roots file follows the state's chains.
    fn publish(&self, generation: u64, state: Arc<ServerState>) {
        let before = {
            let mut published = self.published.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if published.0 > generation {
                return;
            }
            std::mem::replace(&mut *published, (generation, Arc::clone(&state))).1
        };
        let chains = super::trust::all_chains(&state);
        if chains != super::trust::all_chains(&before)
            && let Err(e) = super::trust::write_trusted_roots(&self.data_dir, &self.trusted_ca_files, &chains)
        {
            tracing::error!("updating this node's trusted roots after a change of the trusted root chains: {e}");
        }
    }

    /// The catalog's generation, to take before computing an answer from it.
    pub fn catalog_generation(&self) -> u64 {
        self.catalog_gen.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A remembered answer, if computed from the current catalog.
    pub fn answer(&self, key: &str) -> Option<Arc<Answer>> {
        let gen_now = self.catalog_generation();
        let answers = self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        answers.get(key).filter(|(g, _)| *g == gen_now).map(|(_, v)| Arc::clone(v))
    }

    /// Remember an answer computed from generation `generation` of the catalog.
    pub fn remember(&self, key: String, generation: u64, value: &Arc<Answer>) {
        if generation != self.catalog_generation() {
            return;
        }
        let mut answers = self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if answers.len() >= MAX_ANSWERS {
            answers.clear();
        }
        answers.insert(key, (generation, Arc::clone(value)));
    }

    /// The current state (shared: cheap, and never blocked by a save in progress).
    pub async fn snapshot(&self) -> Arc<ServerState> {
        self.published_state()
    }

    /// Change the state and persist it (the rows it changed, in one transaction) before
    /// anyone sees the change.
    pub(crate) async fn mutate<R>(
        &self,
        f: impl FnOnce(&mut ServerState) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut guard = self.state.lock().await;
        // The store's database is reached through the same handle from this thread pool:
        // block in place rather than hand `self` to another thread.
        tokio::task::block_in_place(|| {
            // One writer at a time across replicas and processes, each starting from the
            // state the last one saved.
            let _lease = self
                .store
                .lease_waiting(crate::api::persist::STATE_LEASE, STORE_WAIT)
                .map_err(|e| ApiError::internal(format!("saving state: {e}")))?;
            let saving = |e: PersistError| ApiError::internal(format!("saving state: {e}"));
            if self.persist.generation_now().map_err(saving)? != guard.0 {
                let loaded = self.persist.read().map_err(saving)?;
                self.persist.adopt(&loaded);
                *guard = (loaded.generation, Arc::new(loaded.state));
            }
            let mut next = ServerState::clone(&guard.1);
            let r = f(&mut next)?;
            let next = Arc::new(next);
            let generation = self.persist.save(&next).map_err(saving)?;
            self.publish(generation, Arc::clone(&next));
            *guard = (generation, next);
            Ok(r)
        })
    }

    /// Run store work (SQLite, files, syncs) off the async threads.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || work(&store)).await.unwrap_or_else(|e| {
            Err(StoreError::Sync { source_name: "-".into(), message: format!("the store call stopped: {e}") })
        })
    }

    /// The store's sources with their API kind and published snapshot (read at most once
    /// per [`CATALOG_RECHECK`], and again after a change made through the API).
    pub(crate) async fn depots(&self) -> Result<Vec<Listed>, ApiError> {
        let stale = {
            let listed = self.listed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match listed.as_ref() {
                Some((at, list)) if at.elapsed() < CATALOG_RECHECK => return Ok(Vec::clone(list)),
                Some((_, list)) => Some(Arc::clone(list)),
                None => None,
            }
        };
        let _refreshing = match (self.relisting.try_lock(), stale) {
            (Ok(guard), _) => guard,
            // Someone is reading the store already: the list they replace will do.
            (Err(_), Some(list)) => return Ok(Vec::clone(&list)),
            // Nothing to hand out (first read, or a change made through the API): wait for
            // their read, then read again only if it did not land.
            (Err(_), None) => {
                let guard = self.relisting.lock().await;
                if let Some((_, list)) = self.listed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref()
                {
                    return Ok(Vec::clone(list));
                }
                guard
            }
        };
        // A change made through the API meanwhile (it bumps the generation) may be missing
        // from this read: then it is answered but not kept.
        let generation = self.catalog_generation();
        let list = self
            .blocking(|store| {
                let mut out = Vec::new();
                for s in store.sources()? {
                    let published = store.published_snapshot(&s)?;
                    let kind = DepotKind::of(&s);
                    out.push((s, kind, published));
                }
                Ok(out)
            })
            .await
            .map_err(store_error)?;
        if generation == self.catalog_generation() {
            *self.listed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((Instant::now(), Arc::new(list.clone())));
        }
        Ok(list)
    }

    /// One depot of the given kind, by id (its source name).
    pub(crate) async fn depot(&self, id: &str, kind: DepotKind) -> Result<(Source, Option<i64>), ApiError> {
        let what = match kind {
            DepotKind::Online => "online depot",
            DepotKind::Offline => "offline depot",
            DepotKind::Umds => "UMDS depot",
        };
        self.depots()
            .await?
            .into_iter()
            .find(|(s, k, _)| s.config.name == id && *k == kind)
            .map(|(s, _, p)| (s, p))
            .ok_or_else(|| ApiError::not_found(what, id))
    }

    /// `list` of one kind of depot: id → `render(source, record)`.
    pub(crate) async fn listing(
        &self,
        kind: DepotKind,
        render: impl Fn(&Source, &DepotInfo) -> serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        let map: serde_json::Map<String, serde_json::Value> = self
            .depots()
            .await?
            .into_iter()
            .filter(|(_, k, _)| *k == kind)
            .map(|(s, _, _)| {
                let plain = render(&s, &self.info(&s.config.name));
                (s.config.name, plain)
            })
            .collect();
        Ok(serde_json::Value::Object(map))
    }

    /// `content.get` of one depot: what its published snapshot holds (`what` names it in
    /// the error before its first sync).
    pub(crate) async fn published_content(
        &self,
        id: &str,
        kind: DepotKind,
        what: &str,
    ) -> Result<serde_json::Value, ApiError> {
        let (_, published) = self.depot(id, kind).await?;
        let snapshot = published.ok_or_else(|| not_synced(what))?;
        content::of_snapshot(Arc::clone(&self.store), snapshot, id.to_owned()).await
    }

    /// What the catalog is built from: each published depot's snapshot (offline bundles
    /// always, online depots while enabled).
    async fn catalog_key(&self) -> Result<CatalogKey, ApiError> {
        let mut key: CatalogKey = self
            .depots()
            .await?
            .into_iter()
            .filter(|(s, kind, _)| *kind == DepotKind::Offline || s.config.enabled)
            .filter_map(|(s, _, published)| published.map(|id| (s.config.name, id)))
            .collect();
        key.sort();
        Ok(key)
    }

    /// The published depots merged, rebuilt when a publication changed what is published.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, ApiError> {
        let mut cached = self.catalog.lock().await;
        let fresh = {
            let checked = self.checked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            checked.is_some_and(|at| at.elapsed() < CATALOG_RECHECK)
        };
        if fresh && let Some((_, c)) = cached.as_ref() {
            return Ok(Arc::clone(c));
        }
        let key = self.catalog_key().await?;
        *self.checked.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        if let Some((k, c)) = cached.as_ref()
            && *k == key
        {
            return Ok(Arc::clone(c));
        }
        let snapshots = key.clone();
        let store = Arc::clone(&self.store);
        let catalog = tokio::task::spawn_blocking(move || {
            let mut catalog = Catalog::new();
            for (name, id) in snapshots {
                let depot = store.snapshot_depot(id, &name).map_err(|e| unreadable(&name, &e))?;
                catalog.add(depot).map_err(|e| unreadable(&name, &e))?;
            }
            Ok::<_, ApiError>(catalog)
        })
        .await
        .map_err(|e| ApiError::internal(format!("building the catalog: {e}")))??;
        let catalog = Arc::new(catalog);
        self.catalog_gen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *cached = Some((key, Arc::clone(&catalog)));
        Ok(catalog)
    }

    /// The catalog and, by depot index, the source each of its depots was read from
    /// (empty when it was rebuilt meanwhile: ask again).
    pub async fn catalog_named(&self) -> Result<(Arc<Catalog>, Vec<String>), ApiError> {
        let catalog = self.catalog().await?;
        let cached = self.catalog.lock().await;
        let names = match cached.as_ref() {
            Some((key, c)) if Arc::ptr_eq(c, &catalog) => key.iter().map(|(name, _)| name.clone()).collect(),
            _ => Vec::new(),
        };
        Ok((catalog, names))
    }

    /// Read the published snapshots again at the next [`Self::catalog`] call (after a change
    /// made through the API, which must show at once).
    pub(crate) async fn invalidate_catalog(&self) {
        let mut cached = self.catalog.lock().await;
        *cached = None;
        self.catalog_gen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.checked.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        *self.listed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// A new directory for files on their way into the store (an export's), removed with
    /// what is left in it when dropped; on the store's filesystem like [`Self::staging_file`].
    pub(crate) fn staging_dir(&self, prefix: &str) -> Result<tempfile::TempDir, ApiError> {
        self.staging(prefix, |b, dir| b.tempdir_in(dir))
    }

    /// A new file for bytes on their way into the store (uploads, exports), removed when
    /// dropped: on the store's filesystem, so sharing it is a rename on the embedded default.
    pub(crate) fn staging_file(&self, prefix: &str) -> Result<tempfile::NamedTempFile, ApiError> {
        self.staging(prefix, |b, dir| b.tempfile_in(dir))
    }

    fn staging<T>(
        &self,
        prefix: &str,
        make: impl FnOnce(&tempfile::Builder<'_, '_>, &Path) -> std::io::Result<T>,
    ) -> Result<T, ApiError> {
        let dir = Store::uploads_dir(self.store.root());
        let mut builder = tempfile::Builder::new();
        builder.prefix(prefix);
        make(&builder, &dir).map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))
    }

    /// Upload `id` (`POST /vum-fileupload`), received by this or another replica: its record
    /// and a reader of its bytes, if it is there.
    pub(crate) async fn open_upload(&self, id: &str) -> Result<Option<OpenSharedFile>, ApiError> {
        let key = upload_key(id);
        self.blocking(move |store| store.open_shared_file(&key)).await.map_err(store_error)
    }

    /// Forget upload `id` once a `create` has consumed it (a failure only leaves its bytes
    /// to `mirror gc`).
    pub(crate) async fn consume_upload(&self, id: &str) {
        let keys = vec![upload_key(id)];
        if let Err(e) = self.blocking(move |store| store.unshare_files(&keys)).await {
            tracing::warn!(upload = %id, "could not remove a consumed upload: {e}");
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The API's record of a depot (defaults for a source added with `esxlcm mirror`).
    pub(crate) fn info(&self, id: &str) -> DepotInfo {
        self.published_state().depot_info.get(id).cloned().unwrap_or_default()
    }
}

fn unreadable(name: &str, e: &dyn std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorKind::ResourceInaccessible,
        "com.vmware.esxlcm.depot.unreadable",
        format!("the published content of depot {name} is unreadable: {e}"),
    )
}

/// A store failure as the API answers it: busy, unknown, invalid, or internal (logged;
/// the client is not told the store's paths).
pub(crate) fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Locked { .. } => ApiError::new(
            ErrorKind::ServiceUnavailable,
            "com.vmware.esxlcm.store.busy",
            "the depot store is busy with another sync, push or maintenance (esxlcm mirror); try again shortly",
        ),
        StoreError::UnknownSource(name) => ApiError::not_found("depot", &name),
        StoreError::InvalidSource(why) => ApiError::invalid_argument(why),
        other => {
            tracing::error!("depot store: {other}");
            ApiError::internal(format!(
                "the depot store failed: {}",
                esxlcm_net::redact::redact_text(&other.to_string())
            ))
        }
    }
}

pub(crate) fn next_id(state: &mut ServerState, kind: &str) -> String {
    state.next_id += 1;
    format!("{kind}-{}", state.next_id)
}

/// The `spec` of an online depot's or the UMDS depot's `update`: what it gives replaces
/// what is there.
#[derive(Deserialize)]
pub(super) struct DepotUpdateSpec {
    enabled: Option<bool>,
    description: Option<String>,
}

impl DepotUpdateSpec {
    pub(super) fn apply(self, enabled: &mut bool, description: &mut String) {
        if let Some(e) = self.enabled {
            *enabled = e;
        }
        if let Some(desc) = self.description {
            *description = desc;
        }
    }
}

/// The shared file (`esxlcm_store::shared_file`) an upload is kept as until a `create`
/// consumes it, on whichever replica that call reaches.
pub(crate) fn upload_key(id: &str) -> String {
    format!("upload/{id}")
}

pub(crate) fn is_upload_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// A `file:` URL or a plain path → the local file, if it is one.
pub(crate) fn local_path(location: &str) -> Option<PathBuf> {
    if let Ok(u) = url::Url::parse(location) {
        return match u.scheme() {
            "file" => u.to_file_path().ok(),
            // A one-letter scheme is a Windows drive letter.
            s if s.len() == 1 => Some(PathBuf::from(location)),
            _ => None,
        };
    }
    Some(PathBuf::from(location))
}

pub(crate) fn canceled() -> ApiError {
    ApiError::new(ErrorKind::Canceled, "com.vmware.esxlcm.task.canceled", "the task was canceled")
}

/// How an API client trusts the CA of an HTTPS depot (its downloads and its sources' syncs).
pub(crate) const TRUST_CA_ADVICE: &str = "add the CA that signed the server's certificate to the trust store (POST \
     /api/vcenter/certificate-management/vcenter/trusted-root-chains)";

/// The HTTP(S) client of the API's own downloads (offline depot PULL, spec import): the
/// system's roots and the service's trusted roots, no `file:` URLs.
pub(crate) fn http_client(data_dir: &Path) -> Result<esxlcm_net::HttpClient, ApiError> {
    let roots = trusted_roots_file(data_dir);
    let mut config = esxlcm_net::ClientConfig::default();
    if roots.is_file() {
        config.ca_files.push(roots);
    }
    config.advice.trust_ca = TRUST_CA_ADVICE.into();
    config.advice.credentials = "check the authentication_spec header or the token in the URL".into();
    esxlcm_net::HttpClient::new(&config).map_err(|e| {
        tracing::error!("the HTTP client: {e}");
        ApiError::internal("the HTTP client cannot be set up; see the server's log")
    })
}

/// The trusted roots of API-made HTTPS sources: `config.json`'s `trusted_ca_files` and the
/// chains of the API's trust store, as one PEM bundle the store's transport reads.
pub fn trusted_roots_file(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("trusted-roots.pem")
}

/// A depot asked for content before its first sync published any.
fn not_synced(what: &str) -> ApiError {
    ApiError::new(
        ErrorKind::NotAllowedInCurrentState,
        "com.vmware.esxlcm.depot.not_synced",
        format!("{what} has not been synced yet: run esx.settings.depots.sync"),
    )
}
