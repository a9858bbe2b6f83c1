//! The status document of each source's latest sync: `<store>/status/<source>.json` on a
//! single-node store; on the cluster backends a row of the shared database (kind
//! `sync-status`, id the source), so every replica shows the live progress of a sync
//! another replica runs.
//!
//! Every sync writes it (from the CLI, `mirror sync --due` and the scheduler of
//! `esxlcm serve --store`): when it starts, at most about once a second while it runs, and
//! when it ends. Readers (`mirror status`, the HTTP server's `/-/status`) use
//! [`read_all`] / [`read`]. Each write replaces the file (or row) atomically, so a reader
//! sees a whole document, never half of one.
//!
//! The document is a contract (field names and meanings stay stable):
//!
//! ```json
//! {"source": "vmw", "state": "running", "started": "2026-11-23T02:30:00Z",
//!  "updated": "2026-11-23T02:31:12Z", "phase": "payloads", "files_done": 12,
//!  "files_total": 40, "bytes_done": 123456, "bytes_total": 987654, "message": "",
//!  "next_run": "2026-11-24T02:30:00Z"}
//! ```
//!
//! `state` is `running`, `succeeded` (published or unchanged), `failed` or `rejected`
//! (payloads failed verification; nothing new published). Totals count the payloads this run
//! downloads (not those already stored). `next_run` is the source's next scheduled slot, or
//! null without a schedule. A `running` document whose process died stays `running` until
//! the next sync replaces it; `mirror status` says so when the store is not locked.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::blob::sync_dir;
use crate::error::StoreError;
use crate::meta::DocumentChange;
use crate::store::Store;
use crate::sync::{Progress, SyncEvent};

/// The kind of the status rows on the cluster backends (id: the source name).
const ROWS: &str = "sync-status";

/// Largest status document read back (they are a few hundred bytes).
const MAX_DOCUMENT: u64 = 64 * 1024;
/// Progress is written at most this often.
const WRITE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    Running,
    Succeeded,
    Failed,
    Rejected,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
        }
    }
}

/// One source's sync status document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub source: String,
    pub state: SyncState,
    /// RFC 3339 UTC.
    pub started: String,
    /// RFC 3339 UTC: when this document was written.
    pub updated: String,
    /// `metadata`, `payloads`, `publishing`, then `done`.
    pub phase: String,
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// What happened (the snapshot published, or the error); empty while running.
    pub message: String,
    /// RFC 3339 UTC, or null when the source has no schedule.
    pub next_run: Option<String>,
}

/// A time as the status documents write it: `2026-11-23T02:30:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn status_dir(root: &Path) -> PathBuf {
    root.join("status")
}

/// `<root>/status/<source>.json` (source names are validated to be safe file names).
pub fn status_path(root: &Path, source: &str) -> PathBuf {
    status_dir(root).join(format!("{source}.json"))
}

/// Replace a source's status document atomically: one row on the cluster backends, else
/// the file (temporary file, fsync, rename). `durable` also fsyncs the directory, so the
/// final state survives a power loss; progress updates skip that (the next one, or the
/// final one, replaces them anyway).
pub fn write(store: &Store, status: &SyncStatus, durable: bool) -> Result<(), StoreError> {
    if !store.has_trees() {
        let body = serde_json::to_string(status)
            .map_err(|e| StoreError::io(Path::new(ROWS), io::Error::new(io::ErrorKind::InvalidData, e)))?;
        return store.meta.write_documents(&[DocumentChange {
            kind: ROWS.into(),
            id: status.source.clone(),
            body: Some(body),
        }]);
    }
    let root = store.root();
    let dir = status_dir(root);
    if durable {
        crate::blob::create_dir_durable(&dir)?;
    } else {
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    }
    let dest = status_path(root, &status.source);
    let tmp = dir.join(format!(".{}.{}.tmp", status.source, std::process::id()));
    let bytes = serde_json::to_vec_pretty(status)
        .map_err(|e| StoreError::io(&dest, io::Error::new(io::ErrorKind::InvalidData, e)))?;
    let mut f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(|e| StoreError::io(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, &dest).map_err(|e| StoreError::io(&dest, e))?;
    if durable { sync_dir(&dir) } else { Ok(()) }
}

/// One source's status document; `None` if it never synced (or the document is unreadable,
/// which is logged: a status document is advice, never a reason to fail).
pub fn read(store: &Store, source: &str) -> Option<SyncStatus> {
    if !store.has_trees() {
        return read_all(store)
            .inspect_err(|e| tracing::warn!(source, "cannot read the sync status: {e}"))
            .ok()?
            .into_iter()
            .find(|s| s.source == source);
    }
    read_file(&status_path(store.root(), source))
}

/// A status row, or `None` (logged) when it is too large or unreadable.
fn parse_row(id: &str, body: &str) -> Option<SyncStatus> {
    if body.len() as u64 > MAX_DOCUMENT {
        tracing::warn!(source = id, size = body.len(), "status document too large; ignored");
        return None;
    }
    serde_json::from_str(body)
        .inspect_err(|e| tracing::warn!(source = id, "unreadable status document ignored: {e}"))
        .ok()
}

fn read_file(path: &Path) -> Option<SyncStatus> {
    let bytes = match fs::metadata(path) {
        Ok(m) if m.len() <= MAX_DOCUMENT => fs::read(path),
        Ok(m) => {
            tracing::warn!(file = %path.display(), size = m.len(), "status document too large; ignored");
            return None;
        }
        Err(e) => Err(e),
    };
    match bytes {
        Ok(b) => serde_json::from_slice(&b)
            .inspect_err(|e| tracing::warn!(file = %path.display(), "unreadable status document ignored: {e}"))
            .ok(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(file = %path.display(), "cannot read status document: {e}");
            None
        }
    }
}

/// Every source's status document, sorted by source name. A store that never synced has
/// none (an empty list, not an error).
pub fn read_all(store: &Store) -> Result<Vec<SyncStatus>, StoreError> {
    if !store.has_trees() {
        let mut out: Vec<SyncStatus> =
            store.meta.documents_of(ROWS)?.iter().filter_map(|(id, body)| parse_row(id, body)).collect();
        out.sort_by(|a, b| a.source.cmp(&b.source));
        return Ok(out);
    }
    let dir = status_dir(store.root());
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(&dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        out.extend(read_file(&entry.path()));
    }
    out.sort_by(|a, b| a.source.cmp(&b.source));
    Ok(out)
}

/// Mark every `running` status document as failed, interrupted: called only while holding
/// the store lock, when no sync can be running, so a `running` document was left by a
/// process that was killed, crashed or lost power. Returns the sources it settled.
pub fn settle_interrupted(store: &Store) -> Result<Vec<String>, StoreError> {
    let mut settled = Vec::new();
    for mut s in read_all(store)? {
        if s.state != SyncState::Running {
            continue;
        }
        s.state = SyncState::Failed;
        s.updated = rfc3339(Utc::now());
        s.message = "interrupted: the process running this sync stopped before it finished (killed, crashed or \
                     powered off); the published snapshot stays, and the next sync resumes"
            .into();
        write(store, &s, true)?;
        settled.push(s.source);
    }
    Ok(settled)
}

/// Forget a removed source's status.
pub fn remove(store: &Store, source: &str) -> Result<(), StoreError> {
    if !store.has_trees() {
        return store.meta.write_documents(&[DocumentChange { kind: ROWS.into(), id: source.to_owned(), body: None }]);
    }
    let path = status_path(store.root(), source);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(&path, e)),
    }
}

/// Keeps a sync's status document current: a [`Progress`] that passes every event on to
/// `inner` and writes the document at most once a second; [`StatusRecorder::finish`]
/// writes the final state.
pub struct StatusRecorder<'a> {
    store: &'a Store,
    inner: &'a dyn Progress,
    current: Mutex<(SyncStatus, Instant)>,
}

impl<'a> StatusRecorder<'a> {
    /// Start recording (writes the `running` document now).
    pub fn start(store: &'a Store, source: &str, next_run: Option<DateTime<Utc>>, inner: &'a dyn Progress) -> Self {
        let now = rfc3339(Utc::now());
        let status = SyncStatus {
            source: source.to_owned(),
            state: SyncState::Running,
            started: now.clone(),
            updated: now,
            phase: "starting".into(),
            files_done: 0,
            files_total: 0,
            bytes_done: 0,
            bytes_total: 0,
            message: String::new(),
            next_run: next_run.map(rfc3339),
        };
        store_write(store, &status, false);
        Self { store, inner, current: Mutex::new((status, Instant::now())) }
    }

    /// Write the final state; returns the document written.
    pub fn finish(&self, state: SyncState, message: &str) -> SyncStatus {
        let mut guard = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (status, _) = &mut *guard;
        status.state = state;
        status.phase = "done".into();
        status.message = message.to_owned();
        status.updated = rfc3339(Utc::now());
        store_write(self.store, status, true);
        status.clone()
    }
}

fn store_write(store: &Store, status: &SyncStatus, durable: bool) {
    if let Err(e) = write(store, status, durable) {
        tracing::warn!(source = %status.source, "cannot write the sync status document: {e}");
    }
}

impl Progress for StatusRecorder<'_> {
    fn event(&self, event: &SyncEvent<'_>) {
        self.inner.event(event);
        let mut guard = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (status, last) = &mut *guard;
        let mut force = false;
        match event {
            SyncEvent::Stage(phase) => {
                status.phase = (*phase).to_owned();
                force = true;
            }
            SyncEvent::Planned { files, bytes } => {
                status.files_total = *files as u64;
                status.bytes_total = *bytes;
                force = true;
            }
            SyncEvent::Bytes(n) => status.bytes_done += n,
            SyncEvent::FileDone { .. } => status.files_done += 1,
            SyncEvent::Rejected { .. } => {}
        }
        if force || last.elapsed() >= WRITE_INTERVAL {
            status.updated = rfc3339(Utc::now());
            store_write(self.store, status, false);
            *last = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::sync::NoProgress;

    #[test]
    fn a_recorded_sync_leaves_its_final_counts_and_readers_skip_junk() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("store")).unwrap();
        let dir = store.root();
        let next = DateTime::parse_from_rfc3339("2026-11-24T02:30:00Z").unwrap().with_timezone(&Utc);
        let rec = StatusRecorder::start(&store, "vmw", Some(next), &NoProgress);
        let running = read(&store, "vmw").unwrap();
        assert_eq!((running.state, running.phase.as_str()), (SyncState::Running, "starting"));
        rec.event(&SyncEvent::Stage("payloads"));
        rec.event(&SyncEvent::Planned { files: 2, bytes: 30 });
        let planned = read(&store, "vmw").unwrap();
        assert_eq!((planned.phase.as_str(), planned.files_total, planned.bytes_total), ("payloads", 2, 30));
        for path in ["a.vib", "b.vib"] {
            rec.event(&SyncEvent::Bytes(15));
            rec.event(&SyncEvent::FileDone { path });
        }
        rec.finish(SyncState::Succeeded, "published snapshot 3");

        fs::write(status_dir(dir).join("broken.json"), b"{not json").unwrap();
        fs::write(status_dir(dir).join(".x.tmp"), b"partial").unwrap();
        let all = read_all(&store).unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        let s = &all[0];
        assert_eq!(s.state, SyncState::Succeeded);
        assert_eq!((s.files_done, s.files_total, s.bytes_done, s.bytes_total), (2, 2, 30, 30));
        assert_eq!(s.next_run.as_deref(), Some("2026-11-24T02:30:00Z"));
        assert_eq!(s.message, "published snapshot 3");
        let json: serde_json::Value = serde_json::from_slice(&fs::read(status_path(dir, "vmw")).unwrap()).unwrap();
        assert_eq!(json["state"], "succeeded");
        for key in ["source", "started", "updated", "phase", "files_done", "bytes_total", "message", "next_run"] {
            assert!(json.get(key).is_some(), "{key} missing: {json}");
        }
        remove(&store, "vmw").unwrap();
        assert!(read(&store, "vmw").is_none());
        let empty = Store::open(&tmp.path().join("empty")).unwrap();
        assert!(read_all(&empty).unwrap().is_empty());
    }
}
