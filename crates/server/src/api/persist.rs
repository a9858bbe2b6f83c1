//! The service's state (inventory, drafts, commits, image library, settings, depots'
//! API attributes) and where it lives: in the store's database ([`DocumentState`]), one
//! row per object, each change written in one transaction with only the objects it
//! changed. Depots themselves are store sources; [`DepotInfo`] keeps what the API says
//! about them beyond the store's configuration (owner, how an offline bundle came in).
//! [`write_atomic`] remains for the few files of the data dir (`config.json`, TLS files).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use esxlcm_solver::SoftwareSpec;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct PersistError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl PersistError {
    pub fn new(path: &Path, source: io::Error) -> Self {
        Self { path: path.to_path_buf(), source }
    }
}

/// What the API records about a depot beyond the store source's configuration (its
/// description and `enabled` live there): who made it and, for an offline depot, where
/// its bundle came from. Keyed by the source's name, which is the API's depot id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DepotInfo {
    pub owner: Option<String>,
    pub ownerdata: Option<String>,
    /// The location as the client gave it (online and UMDS: the URL; offline PULL: the
    /// path or URL of the bundle).
    #[serde(default)]
    pub location: Option<String>,
    /// Offline depots: `PULL` or `PUSH`.
    #[serde(default)]
    pub source_type: Option<String>,
    /// Offline PUSH: the upload's id.
    #[serde(default)]
    pub file_id: Option<String>,
    /// RFC 3339, UTC.
    #[serde(default)]
    pub create_time: Option<String>,
    /// Offline depots: SHA-256 of the bundle (the same bytes imported twice are one depot).
    #[serde(default)]
    pub sha256: Option<String>,
}

/// A committed desired image of a cluster or a standalone host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub author: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub message: String,
    pub spec: SoftwareSpec,
    /// The draft's display name, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The library spec this image was assigned from (`inventory.assign_entities`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<LibraryOrigin>,
}

/// Which library spec a commit came from, as it was when assigned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibraryOrigin {
    pub software_spec_id: String,
    pub display_name: String,
    /// The spec's revision assigned: a later change of the library spec is not this image.
    pub revision: String,
    /// `orchestrator_info` (plain JSON): the assignment's, else the library spec's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestrator: Option<serde_json::Value>,
}

/// A draft of an image (a cluster's, a standalone host's or a library spec), edited by
/// its owner only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub owner: String,
    pub created: String,
    /// What the draft started from, to refuse a commit when it moved since: the commit id
    /// (clusters, hosts) or the library spec's revision.
    pub base_commit: Option<String>,
    /// May lack a base image while it is being composed.
    pub spec: SoftwareSpec,
    /// Set by a validation without errors, cleared by every change.
    #[serde(default)]
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Library drafts only: the library spec the draft edits (`None`: a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_spec: Option<String>,
}

/// The desired image of a cluster or a standalone host: its commits, the current one,
/// open drafts and the last scan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageHistory {
    /// The current commit (the desired image), if any.
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub commits: BTreeMap<String, Commit>,
    #[serde(default)]
    pub drafts: BTreeMap<String, Draft>,
    /// The last `scan` result (plain `cluster_compliance` or `host_compliance`).
    #[serde(default)]
    pub last_scan: Option<serde_json::Value>,
}

/// A cluster of our own inventory (there is no vCenter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    /// Flattened: the fields sit where they were before hosts had images too.
    #[serde(flatten)]
    pub image: ImageHistory,
}

/// A host: in a cluster or standalone, with the installed state last posted for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub name: String,
    pub cluster: Option<String>,
    /// The esxcli JSON document `esxlcm_solver::host_state` reads.
    #[serde(default)]
    pub state: Option<serde_json::Value>,
    #[serde(default)]
    pub state_time: Option<String>,
    /// A standalone host's own desired image (unused while it is in a cluster).
    #[serde(flatten)]
    pub image: ImageHistory,
}

/// A named software spec of the image library (`esx.settings.repository.software`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibrarySpec {
    pub display_name: String,
    /// Who committed it first.
    pub author: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub modified: String,
    /// A new one on every commit: a draft begun from an older revision cannot commit.
    pub revision: String,
    pub spec: SoftwareSpec,
    /// `orchestrator_info` as last given (plain JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestrator: Option<serde_json::Value>,
}

/// The image library: named specs not tied to a cluster or host, and their drafts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageLibrary {
    #[serde(default)]
    pub specs: BTreeMap<String, LibrarySpec>,
    #[serde(default)]
    pub drafts: BTreeMap<String, Draft>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerState {
    /// Depots (store sources) created or seen through the API: source name → attributes.
    #[serde(default)]
    pub depot_info: BTreeMap<String, DepotInfo>,
    #[serde(default)]
    pub clusters: BTreeMap<String, Cluster>,
    #[serde(default)]
    pub hosts: BTreeMap<String, Host>,
    /// The image library (`repository.software`).
    #[serde(default)]
    pub library: ImageLibrary,
    /// `depots.sync_schedule` as set (plain `depots.sync_schedule.spec`).
    #[serde(default)]
    pub sync_schedule: Option<serde_json::Value>,
    /// Ids (`<kind>-<n>`, `domain-c<n>`, `host-<n>`, draft and commit numbers) are never reused.
    #[serde(default)]
    pub next_id: u64,
    // ---- settings (services/overrides, enablement, policies, umds, trust) ----
    /// `clusters.depot_overrides`: cluster id → depot URLs its hosts use instead of the central depots.
    #[serde(default)]
    pub cluster_depot_overrides: BTreeMap<String, Vec<String>>,
    /// `hosts.depot_overrides`: standalone host id → depot URLs.
    #[serde(default)]
    pub host_depot_overrides: BTreeMap<String, Vec<String>>,
    /// `enablement.software.enable` calls: cluster or host id → who and when.
    #[serde(default)]
    pub software_enablements: BTreeMap<String, Enablement>,
    /// `clusters.policies.apply` as set (plain `configured_policy_spec`), by cluster id.
    #[serde(default)]
    pub cluster_apply_policies: BTreeMap<String, serde_json::Value>,
    /// `hosts.policies.apply` as set, by standalone host id.
    #[serde(default)]
    pub host_apply_policies: BTreeMap<String, serde_json::Value>,
    /// `defaults.clusters.policies.apply` as set.
    #[serde(default)]
    pub default_cluster_apply_policy: Option<serde_json::Value>,
    /// `defaults.hosts.policies.apply` as set.
    #[serde(default)]
    pub default_host_apply_policy: Option<serde_json::Value>,
    /// `vcenter.certificate_management.vcenter.trusted_root_chains`: id → the chain.
    #[serde(default)]
    pub trusted_root_chains: BTreeMap<String, TrustedRootChain>,
    /// `clusters.installed_images.extract`: cluster id → the last result (plain
    /// `installed_image_info`), for `installed_images.get`.
    #[serde(default)]
    pub installed_images: BTreeMap<String, serde_json::Value>,
}

impl ServerState {
    /// Remove cluster `id` with everything set for it (depot overrides, apply policies,
    /// its enablement record), so that nothing outlives it; `None` when there is no such
    /// cluster. Its hosts are the caller's business.
    pub fn remove_cluster(&mut self, id: &str) -> Option<Cluster> {
        let cluster = self.clusters.remove(id)?;
        self.cluster_depot_overrides.remove(id);
        self.cluster_apply_policies.remove(id);
        self.software_enablements.remove(id);
        self.installed_images.remove(id);
        Some(cluster)
    }

    /// Remove host `id` with everything set for it; `None` when there is no such host.
    pub fn remove_host(&mut self, id: &str) -> Option<Host> {
        let host = self.hosts.remove(id)?;
        self.host_depot_overrides.remove(id);
        self.host_apply_policies.remove(id);
        self.software_enablements.remove(id);
        Some(host)
    }
}

/// A recorded `enablement.software.enable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enablement {
    pub user: String,
    /// RFC 3339, UTC.
    pub time: String,
}

/// A trusted root chain added through the API: trusted by HTTPS depot syncs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedRootChain {
    /// One PEM certificate per entry, as given.
    pub certs: Vec<String>,
    /// RFC 3339, UTC.
    pub created: String,
}

/// Top-level fields of [`ServerState`] that are maps of objects: each object is its own
/// row (kind = the field's name, id = the key). `library` holds two such maps.
const COLLECTIONS: &[&str] = &[
    "depot_info",
    "clusters",
    "hosts",
    "cluster_depot_overrides",
    "host_depot_overrides",
    "software_enablements",
    "cluster_apply_policies",
    "host_apply_policies",
    "trusted_root_chains",
    "installed_images",
];
const LIBRARY: &str = "library";
const LIBRARY_COLLECTIONS: &[&str] = &["specs", "drafts"];
/// Every other field (`next_id`, `sync_schedule`, the default policies) is one row of
/// this kind, its id the field's name.
const SETTINGS: &str = "setting";

/// The row that counts the state's saves (kind, id): bumped by every save in the same
/// transaction as the change, so a replica learns with one small read whether another
/// replica (or process) changed the state since it last read it.
const GENERATION: (&str, &str) = ("generation", "state");

/// The lease a save is made under: one writer at a time across processes and replicas,
/// each starting from the state the last one saved.
pub const STATE_LEASE: &str = "api-state";

/// The state as read from the database, with the generation it had.
pub struct Loaded {
    pub generation: u64,
    pub state: ServerState,
    value: serde_json::Value,
}

/// The service's state in the store's database. A change is saved as the rows of the
/// objects it touched, in one transaction: a crash loses nothing committed and leaves
/// nothing half-written, and the cost of a save grows with the change, not the state.
/// Every save also bumps the state's generation ([`DocumentState::generation_now`]).
pub struct DocumentState {
    store: std::sync::Arc<esxlcm_store::Store>,
    /// The state as last saved or adopted, as JSON (what the next save is compared with),
    /// and its generation.
    saved: std::sync::Mutex<(serde_json::Value, u64)>,
}

impl DocumentState {
    pub fn new(store: std::sync::Arc<esxlcm_store::Store>) -> Self {
        Self { store, saved: std::sync::Mutex::new((serde_json::Value::Null, 0)) }
    }

    fn db_error(&self, e: &esxlcm_store::StoreError) -> PersistError {
        PersistError::new(&self.store.root().join("meta.sqlite"), io::Error::other(e.to_string()))
    }

    /// Load the state; a store without any (a new data dir, or one from before the state
    /// moved into the database) takes `legacy` (`state.json`) once, if it exists.
    pub fn load(&self, legacy: &Path) -> Result<Loaded, PersistError> {
        let loaded = self.read()?;
        if loaded.generation > 0 || loaded.value.as_object().is_some_and(|m| !m.is_empty()) {
            self.adopt(&loaded);
            return Ok(loaded);
        }
        let state = read_legacy(legacy)?;
        let generation = self.save(&state)?;
        if legacy.exists() {
            let moved = legacy.with_extension("json.migrated");
            fs::rename(legacy, &moved).map_err(|e| PersistError::new(legacy, e))?;
            tracing::info!(from = %legacy.display(), "moved the server state into the store's database");
        }
        let value = self.saved.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0.clone();
        Ok(Loaded { generation, state, value })
    }

    /// The generation saved in the database now (0: never saved).
    pub fn generation_now(&self) -> Result<u64, PersistError> {
        let rows = self.store.documents_of(GENERATION.0).map_err(|e| self.db_error(&e))?;
        Ok(generation_of(rows.iter().map(|(id, body)| (id.as_str(), body.as_str()))))
    }

    /// The generation of the state this process last saved or adopted.
    pub fn generation_known(&self) -> u64 {
        self.saved.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1
    }

    /// Read the whole state as the database has it now (one query: a consistent state).
    pub fn read(&self) -> Result<Loaded, PersistError> {
        let docs = self.store.documents().map_err(|e| self.db_error(&e))?;
        let generation =
            generation_of(docs.iter().filter(|d| d.kind == GENERATION.0).map(|d| (d.id.as_str(), d.body.as_str())));
        let mut root = serde_json::Map::new();
        // Only the state's own rows: tasks ([`StoreTaskLog`]), users, sessions and sync
        // statuses are kept beside it, in rows of other kinds.
        let of_state =
            |kind: &str| kind == SETTINGS || COLLECTIONS.contains(&kind) || kind.strip_prefix("library.").is_some();
        for d in docs.into_iter().filter(|d| of_state(&d.kind)) {
            let body: serde_json::Value = serde_json::from_str(&d.body).map_err(|e| {
                PersistError::new(Path::new(&format!("state {} {}", d.kind, d.id)), io::Error::other(e))
            })?;
            if d.kind == SETTINGS {
                root.insert(d.id, body);
            } else if let Some(sub) = d.kind.strip_prefix("library.") {
                let lib = root.entry(LIBRARY).or_insert_with(|| serde_json::json!({}));
                if let Some(lib) = lib.as_object_mut() {
                    let m = lib.entry(sub).or_insert_with(|| serde_json::json!({}));
                    if let Some(m) = m.as_object_mut() {
                        m.insert(d.id, body);
                    }
                }
            } else {
                let m = root.entry(d.kind).or_insert_with(|| serde_json::json!({}));
                if let Some(m) = m.as_object_mut() {
                    m.insert(d.id, body);
                }
            }
        }
        let value = serde_json::Value::Object(root);
        let state: ServerState = serde_json::from_value(value.clone())
            .map_err(|e| PersistError::new(Path::new("server state"), io::Error::other(e)))?;
        Ok(Loaded { generation, state, value })
    }

    /// Make `loaded` what the next save is compared with (after another writer's save).
    pub fn adopt(&self, loaded: &Loaded) {
        *self.saved.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            (loaded.value.clone(), loaded.generation);
    }

    /// Save `state`: the rows of what changed since the last save or adoption, and the
    /// next generation, in one transaction. Returns that generation. Callers hold
    /// [`STATE_LEASE`] and have adopted the database's latest state.
    pub fn save(&self, state: &ServerState) -> Result<u64, PersistError> {
        let next = serde_json::to_value(state)
            .map_err(|e| PersistError::new(Path::new("server state"), io::Error::other(e)))?;
        let mut saved = self.saved.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut changes = diff(&saved.0, &next);
        if changes.is_empty() {
            return Ok(saved.1);
        }
        let generation = saved.1 + 1;
        changes.push(esxlcm_store::meta::DocumentChange {
            kind: GENERATION.0.into(),
            id: GENERATION.1.into(),
            body: Some(generation.to_string()),
        });
        self.store.write_documents(&changes).map_err(|e| self.db_error(&e))?;
        *saved = (next, generation);
        Ok(generation)
    }
}

/// A random 32-byte secret every replica of `store` shares, made on first use (under a
/// lease, so replicas starting together make one): the UI's CSRF key. Kept in the
/// database, which holds the password hashes too.
pub fn shared_secret(store: &esxlcm_store::Store, name: &str) -> Result<[u8; 32], String> {
    const KIND: &str = "secret";
    let parse = |body: &str| -> Option<[u8; 32]> { hex::decode(body.trim()).ok()?.try_into().ok() };
    if let Some(key) = store.document(KIND, name).map_err(|e| e.to_string())?.as_deref().and_then(parse) {
        return Ok(key);
    }
    let _lease = store
        .lease_waiting("secrets", esxlcm_store::ops::LockWait(std::time::Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    if let Some(key) = store.document(KIND, name).map_err(|e| e.to_string())?.as_deref().and_then(parse) {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness: {e}"))?;
    let change =
        esxlcm_store::meta::DocumentChange { kind: KIND.into(), id: name.into(), body: Some(hex::encode(key)) };
    store.write_documents(&[change]).map_err(|e| e.to_string())?;
    Ok(key)
}

/// Whether the service ever saved its state into `store` (it does when it first starts).
pub fn has_state(store: &esxlcm_store::Store) -> Result<bool, esxlcm_store::StoreError> {
    Ok(!store.documents_of(GENERATION.0)?.is_empty() || !store.documents_of(SETTINGS)?.is_empty())
}

/// The generation among `(id, body)` rows of its kind (0 when absent or unreadable).
fn generation_of<'a>(mut rows: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    rows.find(|(id, _)| *id == GENERATION.1).and_then(|(_, body)| body.trim().parse().ok()).unwrap_or(0)
}

/// The kind of the rows that keep tasks.
const TASKS: &str = "task";

/// Tasks kept in the store's database, one row each.
pub struct StoreTaskLog {
    store: std::sync::Arc<esxlcm_store::Store>,
}

impl StoreTaskLog {
    pub fn new(store: std::sync::Arc<esxlcm_store::Store>) -> Self {
        Self { store }
    }

    fn write(&self, id: &str, body: Option<String>) {
        let change = esxlcm_store::meta::DocumentChange { kind: TASKS.into(), id: id.to_owned(), body };
        if let Err(e) = self.store.write_documents(&[change]) {
            // A task that cannot be kept still runs; a restart would forget it.
            tracing::error!(task = id, "keeping the task: {e}");
        }
    }
}

impl crate::api::tasks::TaskLog for StoreTaskLog {
    fn load(&self) -> Vec<crate::api::tasks::StoredTask> {
        match self.store.documents_of(TASKS) {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|(id, body)| match serde_json::from_str(&body) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        tracing::warn!(task = %id, "a kept task is unreadable and is left out: {e}");
                        None
                    }
                })
                .collect(),
            Err(e) => {
                tracing::error!("reading the kept tasks: {e}");
                Vec::new()
            }
        }
    }

    fn save(&self, task: &crate::api::tasks::StoredTask) {
        match serde_json::to_string(task) {
            Ok(body) => self.write(&task.id, Some(body)),
            Err(e) => tracing::error!(task = %task.id, "keeping the task: {e}"),
        }
    }

    fn remove(&self, id: &str) {
        self.write(id, None);
    }
}

/// `state.json` as the JSON state store wrote it (absent: the empty state).
fn read_legacy(path: &Path) -> Result<ServerState, PersistError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PersistError::new(path, io::Error::other(e))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ServerState::default()),
        Err(e) => Err(PersistError::new(path, e)),
    }
}

/// The rows that turn `before` into `after` (both serialised [`ServerState`]s).
fn diff(before: &serde_json::Value, after: &serde_json::Value) -> Vec<esxlcm_store::meta::DocumentChange> {
    use esxlcm_store::meta::DocumentChange;
    let empty = serde_json::Map::new();
    let fields = |v: &serde_json::Value| v.as_object().cloned().unwrap_or_default();
    let (b, a) = (fields(before), fields(after));
    let mut out = Vec::new();
    let mut collection = |kind: String, b: Option<&serde_json::Value>, a: Option<&serde_json::Value>| {
        let bm = b.and_then(serde_json::Value::as_object).unwrap_or(&empty);
        let am = a.and_then(serde_json::Value::as_object).unwrap_or(&empty);
        for (id, v) in am {
            if bm.get(id) != Some(v) {
                out.push(DocumentChange { kind: kind.clone(), id: id.clone(), body: Some(v.to_string()) });
            }
        }
        for id in bm.keys().filter(|id| !am.contains_key(*id)) {
            out.push(DocumentChange { kind: kind.clone(), id: id.clone(), body: None });
        }
    };
    for field in COLLECTIONS {
        collection((*field).to_owned(), b.get(*field), a.get(*field));
    }
    for sub in LIBRARY_COLLECTIONS {
        let pick = |m: &serde_json::Map<String, serde_json::Value>| m.get(LIBRARY).and_then(|l| l.get(*sub)).cloned();
        collection(format!("{LIBRARY}.{sub}"), pick(&b).as_ref(), pick(&a).as_ref());
    }
    let is_setting = |k: &String| !COLLECTIONS.contains(&k.as_str()) && k != LIBRARY;
    for (k, v) in a.iter().filter(|(k, _)| is_setting(k)) {
        if b.get(k) != Some(v) {
            out.push(DocumentChange { kind: SETTINGS.into(), id: k.clone(), body: Some(v.to_string()) });
        }
    }
    for k in b.keys().filter(|k| is_setting(k) && !a.contains_key(*k)) {
        out.push(DocumentChange { kind: SETTINGS.into(), id: k.clone(), body: None });
    }
    out
}

/// Replace `path` with `bytes` atomically and durably, readable by the owner only.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| PersistError::new(&dir, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(&dir).map_err(|e| PersistError::new(&dir, e))?;
    tmp.write_all(bytes).map_err(|e| PersistError::new(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| PersistError::new(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| PersistError::new(path, e.error))?;
    sync_dir(&dir)
}

pub fn sync_dir(dir: &Path) -> Result<(), PersistError> {
    #[cfg(unix)]
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| PersistError::new(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// A state.json written before hosts had images (and before the library) still loads:
    /// a cluster's image fields sit at the top level of the cluster.
    #[test]
    fn state_without_host_images_still_loads() {
        let old = serde_json::json!({
            "clusters": {"domain-c1": {
                "name": "prod",
                "commit": "3",
                "commits": {"3": {"author": "a", "time": "2026-01-01T00:00:00Z", "message": "m",
                    "spec": {"base_image": {"version": "8.0.3-0.0.1"}}}},
                "drafts": {"4": {"owner": "a", "created": "2026-01-02T00:00:00Z", "base_commit": "3",
                    "spec": {"base_image": {"version": "8.0.3-0.0.1"}}, "valid": true}},
                "last_scan": {"status": "COMPLIANT"}
            }},
            "hosts": {"host-2": {"name": "esx-01", "cluster": "domain-c1", "state": null, "state_time": null},
                      "host-5": {"name": "esx-02", "cluster": null}},
            "next_id": 5
        });
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join("state.json");
        fs::write(&legacy, old.to_string()).unwrap();
        let store = document_state(dir.path());
        let s = store.load(&legacy).unwrap().state;
        assert!(!legacy.exists() && dir.path().join("state.json.migrated").exists(), "moved into the database");
        let c = &s.clusters["domain-c1"];
        assert_eq!(c.image.commit.as_deref(), Some("3"));
        assert_eq!(c.image.commits["3"].spec.image.base_image.as_ref().unwrap().version.to_string(), "8.0.3-0.0.1");
        assert_eq!(c.image.commits["3"].display_name, None);
        assert_eq!(c.image.drafts["4"].base_commit.as_deref(), Some("3"));
        assert!(c.image.drafts["4"].valid);
        assert_eq!(c.image.last_scan, Some(serde_json::json!({"status": "COMPLIANT"})));
        assert_eq!(s.hosts["host-5"].image, ImageHistory::default());
        assert_eq!(s.library, ImageLibrary::default());
        // Read back from the database (a new process), it is the same.
        assert_eq!(document_state(dir.path()).load(&legacy).unwrap().state, s);
    }

    fn document_state(dir: &Path) -> DocumentState {
        let store = esxlcm_store::Store::open(&dir.join("store")).unwrap();
        DocumentState::new(std::sync::Arc::new(store))
    }

    #[test]
    fn removing_a_cluster_or_host_removes_its_settings() {
        let mut s = ServerState::default();
        let enabled = Enablement { user: "a".into(), time: "2026-01-01T00:00:00Z".into() };
        for id in ["domain-c1", "domain-c2"] {
            s.clusters.insert(id.into(), Cluster { name: id.into(), image: ImageHistory::default() });
            s.cluster_depot_overrides.insert(id.into(), vec!["http://d/index.xml".into()]);
            s.cluster_apply_policies.insert(id.into(), serde_json::json!({"enable_quick_boot": true}));
            s.software_enablements.insert(id.into(), enabled.clone());
        }
        let host =
            Host { name: "h".into(), cluster: None, state: None, state_time: None, image: ImageHistory::default() };
        s.hosts.insert("host-3".into(), host);
        s.host_depot_overrides.insert("host-3".into(), vec!["http://d/index.xml".into()]);
        s.host_apply_policies.insert("host-3".into(), serde_json::json!({}));
        s.software_enablements.insert("host-3".into(), enabled);

        assert!(s.remove_cluster("domain-c1").is_some());
        assert!(s.remove_host("host-3").is_some());
        assert!(s.remove_host("host-3").is_none());
        assert!(s.remove_cluster("domain-c9").is_none());
        // Only what belonged to the removed objects is gone.
        assert_eq!(s.clusters.keys().collect::<Vec<_>>(), ["domain-c2"]);
        assert_eq!(s.cluster_depot_overrides.keys().collect::<Vec<_>>(), ["domain-c2"]);
        assert_eq!(s.cluster_apply_policies.keys().collect::<Vec<_>>(), ["domain-c2"]);
        assert_eq!(s.software_enablements.keys().collect::<Vec<_>>(), ["domain-c2"]);
        assert!(s.hosts.is_empty() && s.host_depot_overrides.is_empty() && s.host_apply_policies.is_empty());
    }

    #[test]
    fn state_round_trips_and_saves_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join("state.json");
        let store = document_state(dir.path());
        assert_eq!(store.load(&legacy).unwrap().state, ServerState::default());
        let mut s = ServerState { next_id: 3, ..ServerState::default() };
        s.depot_info.insert(
            "online-1".into(),
            DepotInfo {
                owner: Some("admin".into()),
                location: Some("https://x/index.xml".into()),
                ..DepotInfo::default()
            },
        );
        for id in ["domain-c1", "domain-c2"] {
            s.clusters.insert(id.into(), Cluster { name: id.into(), image: ImageHistory::default() });
        }
        s.sync_schedule = Some(serde_json::json!({"enabled": false, "email_addresses": []}));
        store.save(&s).unwrap();
        assert_eq!(document_state(dir.path()).load(&legacy).unwrap().state, s);

        // One cluster renamed, one removed: only their rows change.
        let mut next = s.clone();
        next.clusters.get_mut("domain-c1").unwrap().name = "prod".into();
        next.clusters.remove("domain-c2");
        let before = serde_json::to_value(&s).unwrap();
        let changes = diff(&before, &serde_json::to_value(&next).unwrap());
        let touched: Vec<(&str, &str, bool)> =
            changes.iter().map(|c| (c.kind.as_str(), c.id.as_str(), c.body.is_some())).collect();
        assert_eq!(touched, [("clusters", "domain-c1", true), ("clusters", "domain-c2", false)]);
        store.save(&next).unwrap();
        assert_eq!(document_state(dir.path()).load(&legacy).unwrap().state, next);
        // Nothing changed: nothing written.
        assert!(diff(&serde_json::to_value(&next).unwrap(), &serde_json::to_value(&next).unwrap()).is_empty());
    }

    #[test]
    fn every_save_bumps_the_generation_another_process_reads() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join("state.json");
        let (a, b) = (document_state(dir.path()), document_state(dir.path()));
        // Rows kept beside the state are neither read into it nor touched by its saves.
        let beside = |kind: &str| esxlcm_store::meta::DocumentChange {
            kind: kind.into(),
            id: "x".into(),
            body: Some("{\"kept\": true}".into()),
        };
        a.store.write_documents(&[beside("user"), beside("sync-status"), beside("session")]).unwrap();
        let first = a.load(&legacy).unwrap();
        assert_eq!(b.load(&legacy).unwrap().generation, first.generation, "one state, one generation");
        let mut s = first.state.clone();
        s.next_id = 7;
        let g = a.save(&s).unwrap();
        assert_eq!(g, first.generation + 1);
        assert_eq!(a.save(&s).unwrap(), g, "nothing changed: no new generation");
        // The other process sees that its copy is old, reads the new one and saves on top.
        assert_eq!((b.generation_known(), b.generation_now().unwrap()), (first.generation, g));
        let fresh = b.read().unwrap();
        assert_eq!((fresh.generation, fresh.state.next_id), (g, 7));
        b.adopt(&fresh);
        let mut t = fresh.state.clone();
        t.clusters.insert("domain-c9".into(), Cluster { name: "edge".into(), image: ImageHistory::default() });
        assert_eq!(b.save(&t).unwrap(), g + 1);
        let last = a.read().unwrap();
        assert_eq!((last.generation, last.state.next_id, last.state.clusters.len()), (g + 1, 7, 1));
        for kind in ["user", "sync-status", "session"] {
            assert_eq!(a.store.documents_of(kind).unwrap().len(), 1, "{kind} rows are kept");
        }
        assert!(!serde_json::to_string(&last.value).unwrap().contains("kept"), "{}", last.value);
    }
}
