//! The sync engine: one run brings a source's published snapshot up to date.
//!
//! 1. **Metadata first.** The vendor list, vendor indexes and metadata zips are fetched
//!    with conditional GETs (the validators of the last download are kept per URL), so an
//!    unchanged metadata zip is not downloaded again; they are parsed with the depot
//!    crate's model, and the source's vendor and platform filters are applied (a filtered
//!    index is rewritten so the published depot names only what it holds).
//! 2. **Payloads.** Every VIB the metadata lists is needed. A source whose payload policy
//!    is *on-demand* downloads none of them: each VIB that declares a sha-256 and a size is
//!    recorded (path, declared sha-256, size, VIB ID) and left upstream until a host or an
//!    export needs it ([`crate::ondemand`]); VIBs that declare only a sha-1 (or no size)
//!    are prefetched, since nothing else could name their blob. Bundle sources always
//!    store their payloads (the bundle is downloaded whole anyway). Under *prefetch*, one
//!    already in the store under its declared sha-256 is reused; the rest download in parallel
//!    (bounded) to `staging/`, resume with `Range`/`If-Range` after an interruption, and
//!    are checked against the metadata's size and checksum before they become blobs. A
//!    payload that fails is moved to `quarantine/`, recorded and reported by VIB ID.
//! 3. **Snapshot.** Only when every file is in the store is a snapshot recorded and
//!    published (atomically); until then the previous snapshot stays published. A run that
//!    finds the same tree as the published snapshot records nothing new.
//!
//! Offline bundles are fetched whole (conditionally, resumably) and read in place; their
//! members go through the same verification.
//!
//! This module is the run (`sync_source`, `push_bundle`, the report); [`plan`] decides
//! what to fetch (step 1), [`payload`] fetches and verifies it (step 2).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use esxlcm_depot::source::Container;
use url::Url;

use crate::blob::BlobId;
use crate::error::StoreError;
use crate::meta::{CacheEntry, FileEntry, SyncRun, now, tree_digest};
use crate::source::{Source, SourceConfig, SourceKind};
use crate::status::{StatusRecorder, SyncState};
use crate::store::Store;
use crate::transport::{FileTransport, HttpConfig, HttpTransport, Transport, TransportError};
use esxlcm_net::redact::redact_url;

mod payload;
mod plan;

pub(crate) use payload::quarantine;
use payload::sidecar;
pub(crate) use plan::payload_url;

/// Vendor list names, online first (depot-format §1.1).
const VENDOR_LIST_NAMES: [&str; 2] = ["vmw-depot-index.xml", "index.xml"];
const MAX_DOCUMENT: u64 = 64 << 20;
const MAX_METADATA_ZIP: u64 = 1 << 30;
/// The `--only-for` metadata's timestamp when no bulletin carries a release date.
const EPOCH: &str = "1970-01-01T00:00:00";

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Payload downloads at once.
    pub parallel: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self { parallel: 4 }
    }
}

/// What a sync reports as it goes (the CLI draws a progress bar from these).
#[derive(Debug)]
pub enum SyncEvent<'a> {
    Stage(&'a str),
    /// Payloads to download (not yet in the store) and their declared bytes.
    Planned {
        files: usize,
        bytes: u64,
    },
    Bytes(u64),
    FileDone {
        path: &'a str,
    },
    Rejected {
        name: &'a str,
        reason: &'a str,
    },
}

pub trait Progress: Send + Sync {
    fn event(&self, event: &SyncEvent<'_>);
}

/// Ignores progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: &SyncEvent<'_>) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new snapshot was recorded and published.
    Published,
    /// Upstream holds what the published snapshot holds.
    Unchanged,
    /// Some payloads failed verification; nothing new was published.
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Unchanged => "unchanged",
            Self::Rejected => "rejected",
        }
    }
}

/// A payload that failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The VIB's ID.
    pub name: String,
    pub path: String,
    pub reason: String,
    /// Where it was put, under the store.
    pub quarantine_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct SyncReport {
    pub source: String,
    pub outcome: Outcome,
    /// The published snapshot after the run.
    pub snapshot: Option<i64>,
    /// The published snapshot before the run.
    pub previous: Option<i64>,
    /// Files in the depot tree.
    pub files: usize,
    /// Files downloaded in this run (documents and payloads).
    pub files_fetched: usize,
    pub bytes_fetched: u64,
    /// Documents the server said were unchanged (HTTP 304).
    pub not_modified: usize,
    /// Payloads already in the store.
    pub reused: usize,
    /// Payloads of an on-demand source left upstream until first needed (not in the store).
    pub deferred: usize,
    pub rejected: Vec<Rejected>,
    /// Snapshots retention removed.
    pub expired: Vec<i64>,
}

/// The transport for a source's URL: local files, or HTTP(S) with the source's headers,
/// proxy, CA bundle and client certificate.
pub(crate) fn transport_for(source: &Source) -> Result<Arc<dyn Transport>, StoreError> {
    let c = &source.config;
    if c.url.starts_with("file:") {
        return Ok(Arc::new(FileTransport));
    }
    let config = HttpConfig {
        headers: c.headers.clone(),
        proxy: c.proxy.clone(),
        ca_file: c.ca_file.clone(),
        client_cert: c.client_cert.clone(),
        client_key: c.client_key.clone(),
        trust_advice: c.trust_advice.clone(),
        ..Default::default()
    };
    let t = HttpTransport::new(&config).map_err(|source| StoreError::Transport {
        source_name: c.name.clone(),
        file: "HTTP client".into(),
        source,
    })?;
    Ok(Arc::new(t))
}

/// Where a payload's bytes come from.
#[derive(Debug, Clone)]
enum Origin {
    Url(Url),
    Member(String),
}

#[derive(Debug, Clone)]
struct Payload {
    path: String,
    name: String,
    origin: Origin,
    sha256: Option<BlobId>,
    sha1: Option<String>,
    size: Option<u64>,
}

#[derive(Default)]
struct Stats {
    deferred: AtomicUsize,
    fetched: AtomicUsize,
    bytes: AtomicU64,
    not_modified: AtomicUsize,
    reused: AtomicUsize,
}

struct Run<'a> {
    store: &'a Store,
    source: &'a Source,
    transport: &'a dyn Transport,
    progress: &'a dyn Progress,
    stats: Stats,
    /// The open bundle, for bundle sources.
    container: Option<Box<dyn Container>>,
    /// Payloads downloaded and verified, waiting in staging for the batch ingest.
    verified: Mutex<Vec<(PathBuf, BlobId)>>,
    /// Read and verify every payload, even those already stored (a push vouches for all
    /// of its members, not only the new ones).
    verify_all: bool,
    /// The anchors VIB signatures are judged against (none with the policy `off`).
    trust: Option<esxlcm_depot::vib::signature::TrustStore>,
}

/// Sync one source. Takes no lock itself: callers hold [`Store::lock`].
pub(crate) fn sync_source(
    store: &Store,
    name: &str,
    transport: &dyn Transport,
    options: &SyncOptions,
    progress: &dyn Progress,
) -> Result<SyncReport, StoreError> {
    let source = store.meta.source(name)?;
    if source.config.kind == SourceKind::Bundle {
        let uploaded = source.config.parsed_url().ok().and_then(|u| u.to_file_path().ok());
        if uploaded.is_some_and(|p| p.starts_with(Store::uploads_dir(store.root())) && !p.exists()) {
            // Its last bundle came over HTTP and was not kept: there is nothing to re-read.
            return Err(StoreError::InvalidSource(format!(
                "source '{name}' takes bundles pushed over HTTP and keeps none of them: there is nothing \
                 to sync; push the next bundle (PUT /-/push/{name}, or esxlcm mirror push {name} FILE)"
            )));
        }
    }
    run_sync(store, name, transport, options, progress, false)
}

fn run_sync(
    store: &Store,
    name: &str,
    transport: &dyn Transport,
    options: &SyncOptions,
    progress: &dyn Progress,
    verify_all: bool,
) -> Result<SyncReport, StoreError> {
    let source = store.meta.source(name)?;
    let next_run = source.config.schedule.and_then(|s| s.next_after(chrono::Utc::now()));
    let recorder = StatusRecorder::start(store, name, next_run, progress);
    let started = now();
    let trust = match source.config.signatures {
        crate::signatures::SignaturePolicy::Off => None,
        _ => Some(crate::signatures::trust_store(store.root())?),
    };
    let mut run = Run {
        store,
        source: &source,
        transport,
        progress: &recorder,
        stats: Stats::default(),
        container: None,
        verified: Mutex::default(),
        verify_all,
        trust,
    };
    let result = run.execute(options);
    let (outcome, snapshot, message) = match &result {
        Ok(r) => (r.outcome.as_str().to_owned(), r.snapshot, String::new()),
        Err(e) => ("failed".to_owned(), None, e.to_string()),
    };
    let recorded = store.meta.record_run(&SyncRun {
        source_id: source.id,
        started_at: started,
        finished_at: now(),
        outcome,
        snapshot_id: snapshot,
        files_fetched: run.stats.fetched.load(Ordering::Relaxed) as u64,
        bytes_fetched: run.stats.bytes.load(Ordering::Relaxed),
        message,
    });
    let (state, message) = match (&result, &recorded) {
        (_, Err(e)) => (SyncState::Failed, format!("recording the run: {e}")),
        (Ok(r), Ok(())) => final_status(r),
        (Err(e), Ok(())) => (SyncState::Failed, e.to_string()),
    };
    recorder.finish(state, &message);
    recorded?;
    result
}

/// `mirror push`: publish an offline bundle given as a local file into the bundle source
/// `name` (created, disabled, if missing: its content comes from pushes, not from a sync).
/// The bundle goes through the same verification as a sync: any payload that fails its
/// checksum (or has none) rejects the whole push and nothing new is published. A bundle
/// whose depot tree equals the published snapshot records nothing new. Takes no lock
/// itself: callers hold [`Store::lock`].
pub(crate) fn push_bundle(
    store: &Store,
    name: &str,
    bundle: &Path,
    options: &SyncOptions,
    progress: &dyn Progress,
) -> Result<SyncReport, StoreError> {
    let absolute = std::path::absolute(bundle).map_err(|e| StoreError::io(bundle, e))?;
    if !absolute.is_file() {
        return Err(StoreError::InvalidSource(format!(
            "{}: not a file (push takes an offline bundle .zip)",
            absolute.display()
        )));
    }
    let url = Url::from_file_path(&absolute)
        .map_err(|()| StoreError::InvalidSource(format!("{}: cannot be written as a file: URL", absolute.display())))?;
    let mut source = match store.meta.source(name) {
        Ok(existing) => existing,
        Err(StoreError::UnknownSource(_)) => {
            let mut config = SourceConfig::new(name, url.as_str())?;
            config.kind = SourceKind::Bundle;
            config.enabled = false;
            config.description = "offline bundles pushed with `esxlcm mirror push`".into();
            store.meta.add_source(&config)?
        }
        Err(e) => return Err(e),
    };
    if source.config.kind != SourceKind::Bundle {
        return Err(StoreError::InvalidSource(format!(
            "source '{name}' is of kind '{}'; push an offline bundle into a bundle source (a new name \
             creates one)",
            source.config.kind.as_str()
        )));
    }
    // The source names the bundle its published snapshot came from: this one while it
    // is read, and again the previous one if this push is refused.
    let previous_url = std::mem::replace(&mut source.config.url, url.to_string());
    store.meta.update_source(&source)?;
    let result = run_sync(store, name, &FileTransport, options, progress, true);
    let accepted = result.as_ref().is_ok_and(|r| r.outcome != Outcome::Rejected);
    if !accepted && previous_url != source.config.url && store.meta.published(source.id)?.is_some() {
        source.config.url = previous_url;
        store.meta.update_source(&source)?;
    }
    result
}

/// What a finished run's status document says.
fn final_status(r: &SyncReport) -> (SyncState, String) {
    let snapshot = r.snapshot.map_or_else(|| "-".to_owned(), |s| s.to_string());
    match r.outcome {
        Outcome::Published => (SyncState::Succeeded, format!("published snapshot {snapshot} ({} files)", r.files)),
        Outcome::Unchanged => (SyncState::Succeeded, format!("unchanged; snapshot {snapshot} stays published")),
        Outcome::Rejected => {
            let names: Vec<&str> = r.rejected.iter().map(|x| x.name.as_str()).collect();
            let kept = r
                .snapshot
                .map_or_else(|| "nothing is published".to_owned(), |s| format!("snapshot {s} stays published"));
            (
                SyncState::Rejected,
                format!("{} payload(s) failed verification ({}); {kept}", names.len(), names.join(", ")),
            )
        }
    }
}

impl Run<'_> {
    fn name(&self) -> &str {
        &self.source.config.name
    }

    fn transport_err(&self, url: &Url, source: TransportError) -> StoreError {
        StoreError::Transport { source_name: self.name().to_owned(), file: redact_url(url), source }
    }

    fn doc_err(&self, file: &str, message: impl std::fmt::Display) -> StoreError {
        StoreError::Document {
            source_name: self.name().to_owned(),
            file: file.to_owned(),
            message: message.to_string(),
        }
    }

    fn execute(&mut self, options: &SyncOptions) -> Result<SyncReport, StoreError> {
        let previous = self.store.meta.published(self.source.id)?;
        self.progress.event(&SyncEvent::Stage("metadata"));
        let url = self.source.config.parsed_url()?;
        let mut bundle_cache = None;
        let (docs, payloads) = match self.source.config.kind {
            SourceKind::Online => self.plan_online(&url)?,
            SourceKind::Umds => self.plan_umds(&url)?,
            SourceKind::Bundle => {
                let Some((validators, staged)) = self.open_bundle(&url, previous.is_some() && !self.verify_all)? else {
                    return Ok(self.report(Outcome::Unchanged, previous, previous, 0, Vec::new(), Vec::new()));
                };
                bundle_cache = Some((validators, staged));
                self.plan_from_container()?
            }
        };
        let (docs, payloads, only) = if self.source.config.only_for.is_empty() {
            (docs, payloads, None)
        } else {
            self.progress.event(&SyncEvent::Stage("resolving"));
            let (content, origins, wanted) = self.narrow(&docs, payloads)?;
            (docs, wanted, Some((content, origins)))
        };
        let (deferred, payloads) = self.defer_payloads(payloads)?;
        self.progress.event(&SyncEvent::Stage("payloads"));
        let (mut entries, rejected, failures) = self.fetch_payloads(payloads, options.parallel.max(1))?;
        // Whatever else failed, what was verified is stored: the next run does not fetch it.
        let verified = std::mem::take(&mut *self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        self.store.blobs.ingest_verified(&verified)?;
        for (staged, _) in &verified {
            let _ = fs::remove_file(sidecar(staged));
        }
        if let Some(first) = failures.first() {
            return Err(StoreError::Downloads {
                source_name: self.name().to_owned(),
                count: failures.len(),
                first: match first {
                    StoreError::Transport { source, .. } => source.to_string(),
                    other => other.to_string(),
                },
            });
        }
        if !rejected.is_empty() {
            return Ok(self.report(Outcome::Rejected, previous, previous, 0, rejected, Vec::new()));
        }
        // The on-demand records go first: a snapshot that names an absent blob always has
        // the record that says where to fetch it.
        if !deferred.is_empty() {
            self.store.meta.record_remote(self.source.id, &deferred)?;
            entries.extend(deferred.iter().map(|d| FileEntry {
                path: d.path.clone(),
                blob: d.blob.clone(),
                size: d.size,
            }));
        }
        // `--only-for`: the upstream documents give way to ones declaring only these VIBs.
        let docs = match only {
            None => docs,
            Some((content, origins)) => self.subset_documents(&content, &origins, &entries)?,
        };
        let mut files: BTreeMap<String, FileEntry> = BTreeMap::new();
        for f in docs.into_iter().chain(entries) {
            files.insert(f.path.clone(), f);
        }
        let files: Vec<FileEntry> = files.into_values().collect();
        let count = files.len();
        self.progress.event(&SyncEvent::Stage("publishing"));
        let digest = tree_digest(&files);
        let snaps = self.store.meta.snapshots(self.source.id)?;
        let published_digest = snaps.iter().find(|s| Some(s.id) == previous).map(|s| s.tree_digest.clone());
        let outcome = if published_digest.as_deref() == Some(digest.as_str()) {
            Outcome::Unchanged
        } else {
            // A snapshot recorded by a run that died before publishing it is reused.
            let snap = match snaps.iter().rev().find(|s| s.tree_digest == digest && previous.is_none_or(|p| s.id > p)) {
                Some(s) => s.id,
                None => self.store.meta.create_snapshot(self.source.id, &files)?.id,
            };
            self.store.publish(self.source, snap)?;
            Outcome::Published
        };
        if let Some((validators, staged)) = bundle_cache {
            let entry = CacheEntry { etag: validators.etag, last_modified: validators.last_modified, blob: None };
            self.store.meta.cache_put(self.source.id, &self.source.config.url, &entry)?;
            if let Some(staged) = staged {
                let _ = fs::remove_file(&staged);
                let _ = fs::remove_file(sidecar(&staged));
            }
        }
        let expired = self.store.apply_retention(self.source)?;
        let now_published = self.store.meta.published(self.source.id)?;
        // On-demand payloads fetched since the tree was made (or now prefetched) join it.
        if let Some(id) = now_published {
            let linked = self.store.fill_view(id)?;
            if linked > 0 {
                tracing::info!(
                    source = self.name(),
                    snapshot = id,
                    linked,
                    "stored payloads linked into the published tree"
                );
            }
        }
        Ok(self.report(outcome, previous, now_published, count, Vec::new(), expired))
    }

    fn report(
        &self,
        outcome: Outcome,
        previous: Option<i64>,
        snapshot: Option<i64>,
        files: usize,
        rejected: Vec<Rejected>,
        expired: Vec<i64>,
    ) -> SyncReport {
        SyncReport {
            source: self.name().to_owned(),
            outcome,
            snapshot,
            previous,
            files,
            files_fetched: self.stats.fetched.load(Ordering::Relaxed),
            bytes_fetched: self.stats.bytes.load(Ordering::Relaxed),
            not_modified: self.stats.not_modified.load(Ordering::Relaxed),
            reused: self.stats.reused.load(Ordering::Relaxed),
            deferred: self.stats.deferred.load(Ordering::Relaxed),
            rejected,
            expired,
        }
    }
}
