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

/// A committed desired image of a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub author: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub message: String,
    pub spec: SoftwareSpec,
}

/// A draft of a cluster's image, edited by its owner only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub owner: String,
    pub created: String,
    /// The commit the draft started from: committing fails when another landed since.
    pub base_commit: Option<String>,
    /// May lack a base image while it is being composed.
    pub spec: SoftwareSpec,
    /// Set by a validation without errors, cleared by every change.
    #[serde(default)]
    pub valid: bool,
}

/// A cluster of our own inventory (there is no vCenter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    /// The current commit (the desired image), if any.
    pub commit: Option<String>,
    #[serde(default)]
    pub commits: BTreeMap<String, Commit>,
    #[serde(default)]
    pub drafts: BTreeMap<String, Draft>,
    /// The last `scan` result (plain `cluster_compliance`).
    #[serde(default)]
    pub last_scan: Option<serde_json::Value>,
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
    /// `depots.sync_schedule` as set (plain `depots.sync_schedule.spec`).
    #[serde(default)]
    pub sync_schedule: Option<serde_json::Value>,
    /// Ids (`<kind>-<n>`, `domain-c<n>`, `host-<n>`, draft and commit numbers) are never reused.
    #[serde(default)]
    pub next_id: u64,
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
