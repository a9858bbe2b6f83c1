//! Server state on disk, behind [`StateStore`] so it can move into the mirror store later.
//! The JSON implementation writes atomically: a temporary sibling, fsynced, renamed, then
//! the directory fsynced; files are private (0600) since they may name internal locations.

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

/// An online depot: its configuration and, once synced, where its metadata is cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineDepot {
    pub description: String,
    pub location: String,
    pub enabled: bool,
    pub owner: Option<String>,
    pub ownerdata: Option<String>,
    #[serde(default)]
    pub synced: Option<OnlineSync>,
}

/// The last successful sync of an online depot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineSync {
    /// RFC 3339, UTC.
    pub time: String,
    /// The cached index chain (vendor list, vendor indexes, metadata zips), relative to the data dir.
    pub cache: String,
}

/// An imported offline bundle, stored in the data dir.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineDepot {
    pub description: String,
    /// `PULL` or `PUSH`.
    pub source_type: String,
    pub location: Option<String>,
    pub file_id: Option<String>,
    /// RFC 3339, UTC.
    pub create_time: String,
    pub owner: Option<String>,
    pub ownerdata: Option<String>,
    /// SHA-256 of the bundle: the same bytes imported twice are one depot.
    pub sha256: String,
    /// The stored bundle, relative to the data dir.
    pub file: String,
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
    #[serde(default)]
    pub online_depots: BTreeMap<String, OnlineDepot>,
    #[serde(default)]
    pub offline_depots: BTreeMap<String, OfflineDepot>,
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
    /// `depots.umds`: the one UMDS depot, synced like an online depot.
    #[serde(default)]
    pub umds_depot: Option<UmdsDepot>,
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

/// The UMDS depot: a URL of a UMDS-exported depot tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UmdsDepot {
    pub description: String,
    pub location: String,
    pub enabled: bool,
    pub owner: Option<String>,
    #[serde(default)]
    pub synced: Option<OnlineSync>,
}

/// A trusted root chain added through the API: trusted by HTTPS depot syncs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedRootChain {
    /// One PEM certificate per entry, as given.
    pub certs: Vec<String>,
    /// RFC 3339, UTC.
    pub created: String,
}

pub trait StateStore: Send + Sync {
    fn load(&self) -> Result<ServerState, PersistError>;
    fn save(&self, state: &ServerState) -> Result<(), PersistError>;
}

/// `state.json` in the data dir.
pub struct JsonStateStore {
    path: PathBuf,
}

impl JsonStateStore {
    pub fn new(data_dir: &Path) -> Self {
        Self { path: data_dir.join("state.json") }
    }
}

impl StateStore for JsonStateStore {
    fn load(&self) -> Result<ServerState, PersistError> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PersistError::new(&self.path, io::Error::other(e))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ServerState::default()),
            Err(e) => Err(PersistError::new(&self.path, e)),
        }
    }

    fn save(&self, state: &ServerState) -> Result<(), PersistError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| PersistError::new(&self.path, io::Error::other(e)))?;
        write_atomic(&self.path, &bytes)
    }
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
        fs::write(dir.path().join("state.json"), old.to_string()).unwrap();
        let store = JsonStateStore::new(dir.path());
        let s = store.load().unwrap();
        let c = &s.clusters["domain-c1"];
        assert_eq!(c.image.commit.as_deref(), Some("3"));
        assert_eq!(c.image.commits["3"].spec.image.base_image.as_ref().unwrap().version.to_string(), "8.0.3-0.0.1");
        assert_eq!(c.image.commits["3"].display_name, None);
        assert_eq!(c.image.drafts["4"].base_commit.as_deref(), Some("3"));
        assert!(c.image.drafts["4"].valid);
        assert_eq!(c.image.last_scan, Some(serde_json::json!({"status": "COMPLIANT"})));
        assert_eq!(s.hosts["host-5"].image, ImageHistory::default());
        assert_eq!(s.library, ImageLibrary::default());
        // Saved again in the new format, it reads back the same.
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), s);
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
    fn state_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonStateStore::new(dir.path());
        assert_eq!(store.load().unwrap(), ServerState::default());
        let mut s = ServerState { next_id: 3, ..ServerState::default() };
        s.online_depots.insert(
            "online-1".into(),
            OnlineDepot {
                description: "d".into(),
                location: "https://x/index.xml".into(),
                enabled: true,
                owner: None,
                ownerdata: None,
                synced: Some(OnlineSync { time: "2026-01-01T00:00:00Z".into(), cache: "depots/online/x".into() }),
            },
        );
        s.sync_schedule = Some(serde_json::json!({"enabled": false, "email_addresses": []}));
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), s);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("state.json")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
