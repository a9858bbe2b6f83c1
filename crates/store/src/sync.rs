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

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use esxlcm_depot::archive::ArchiveLimits;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::metadata_zip::MetadataArchive;
use esxlcm_depot::model::{VendorIndex, VendorList};
use esxlcm_depot::source::path as depot_path;
use esxlcm_depot::source::{Container, ContainerError, ZipContainer};
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_depot::write::DepotContent;
use sha2::Digest as _;
use url::Url;

use crate::blob::BlobId;
use crate::error::StoreError;
use crate::meta::{CacheEntry, FileEntry, QuarantineRecord, RemotePayload, SyncRun, now, tree_digest};
use crate::source::{PayloadPolicy, Source, SourceConfig, SourceKind};
use crate::status::{StatusRecorder, SyncState};
use crate::store::Store;
use crate::transport::{
    FileTransport, GetRequest, GetResponse, HttpConfig, HttpTransport, Transport, TransportError, Validators,
};
use crate::umds;
use esxlcm_net::redact::redact_url;

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
pub fn transport_for(source: &Source) -> Result<Arc<dyn Transport>, StoreError> {
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
}

/// Sync one source. Takes no lock itself: callers hold [`Store::lock`].
pub fn sync_source(
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
    let recorder = StatusRecorder::start(store.root(), name, next_run, progress);
    let started = now();
    let mut run = Run {
        store,
        source: &source,
        transport,
        progress: &recorder,
        stats: Stats::default(),
        container: None,
        verified: Mutex::default(),
        verify_all,
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
pub fn push_bundle(
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

    // ---- metadata -------------------------------------------------------------------

    /// Fetch a document into the store with a conditional GET. `Ok(None)` when missing.
    fn fetch_doc(&self, url: &Url, limit: u64) -> Result<Option<BlobId>, StoreError> {
        let key = url.as_str();
        let cached = self.store.meta.cache_get(self.source.id, key)?;
        let cached_blob = match cached.as_ref().and_then(|c| c.blob.clone()) {
            Some(b) if self.store.blobs.contains(&b)? => Some(b),
            _ => None,
        };
        let conditional = cached_blob
            .as_ref()
            .and(cached.as_ref())
            .map(|c| Validators { etag: c.etag.clone(), last_modified: c.last_modified.clone() });
        let request = GetRequest { conditional, ..Default::default() };
        let body = match self.transport.get(url, &request) {
            Ok(GetResponse::NotModified) => {
                if let Some(b) = cached_blob {
                    self.stats.not_modified.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(url = %redact_url(url), "not modified");
                    return Ok(Some(b));
                }
                return Err(self.transport_err(
                    url,
                    TransportError::Failed { url: redact_url(url), message: "304 to an unconditional request".into() },
                ));
            }
            Ok(GetResponse::Full(body) | GetResponse::Partial(body)) => body,
            Err(TransportError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.transport_err(url, e)),
        };
        let mut bytes = Vec::new();
        body.reader
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.transport_err(url, TransportError::Io { url: redact_url(url), source: e }))?;
        if bytes.len() as u64 > limit {
            return Err(self.doc_err(&redact_url(url), format!("larger than {limit} bytes")));
        }
        self.stats.fetched.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let blob = self.store.blobs.put_bytes(&bytes)?;
        let entry = CacheEntry {
            etag: body.validators.etag,
            last_modified: body.validators.last_modified,
            blob: Some(blob.clone()),
        };
        self.store.meta.cache_put(self.source.id, key, &entry)?;
        Ok(Some(blob))
    }

    fn read_blob(&self, blob: &BlobId, limit: u64) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        let mut r = self.store.blobs.open(blob)?;
        (&mut r).take(limit).read_to_end(&mut out).map_err(|e| StoreError::io(Path::new(blob.as_str()), e))?;
        Ok(out)
    }

    /// `rel` resolved against `base`, a document error naming `rel` if it does not parse.
    fn join_doc(&self, base: &Url, rel: &str) -> Result<Url, StoreError> {
        base.join(rel).map_err(|e| self.doc_err(rel, e))
    }

    /// Fetch the document at `rel` under `base` (see [`Self::fetch_doc`]).
    fn fetch_doc_at(&self, base: &Url, rel: &str, limit: u64) -> Result<Option<BlobId>, StoreError> {
        self.fetch_doc(&self.join_doc(base, rel)?, limit)
    }

    /// Where a payload at `rel` comes from: its `absolute` URL when the metadata names
    /// one, else `rel` under `base`.
    fn url_origin(&self, base: &Url, rel: &str, absolute: Option<&str>) -> Result<Origin, StoreError> {
        match absolute {
            Some(a) => Url::parse(a).map(Origin::Url).map_err(|e| self.doc_err(rel, e)),
            None => self.join_doc(base, rel).map(Origin::Url),
        }
    }

    fn plan_online(&self, url: &Url) -> Result<(Vec<FileEntry>, Vec<Payload>), StoreError> {
        let base = online_base(url).map_err(|e| self.doc_err(&redact_url(url), e))?;
        let candidates: Vec<String> = if url.path().ends_with(".xml") {
            vec![url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default().to_owned()]
        } else {
            VENDOR_LIST_NAMES.iter().map(|s| (*s).to_owned()).collect()
        };
        let mut reader = |rel: &str, limit: u64| self.fetch_doc_at(&base, rel, limit);
        let origin = |rel: &str, absolute: Option<&str>| self.url_origin(&base, rel, absolute);
        self.walk(&redact_url(&base), &candidates, &mut reader, &origin)
    }

    /// A UMDS export (depot-format §1.5): vendor directories under `hostupdate/`. Over
    /// `file:` every vendor index found there is synced (no vendor list needed); over HTTP(S)
    /// the directories cannot be listed, so the export's `index.xml` (at its root or under
    /// `hostupdate/`) names them. Either way the published tree keeps the export's paths and
    /// gains a vendor list at its root, so hosts read it like any online depot.
    fn plan_umds(&self, url: &Url) -> Result<(Vec<FileEntry>, Vec<Payload>), StoreError> {
        let base = umds_base(url).map_err(|e| self.doc_err(&redact_url(url), e))?;
        let mut reader = |rel: &str, limit: u64| self.fetch_doc_at(&base, rel, limit);
        let origin = |rel: &str, absolute: Option<&str>| self.url_origin(&base, rel, absolute);
        let list = if base.scheme() == "file" {
            let root = base.to_file_path().map_err(|()| self.doc_err(&redact_url(&base), "not a local path"))?;
            umds::scan(&root).map_err(|message| self.doc_err(&root.display().to_string(), message))?
        } else {
            let mut found = None;
            for candidate in umds::LIST_CANDIDATES {
                if let Some(blob) = reader(candidate, MAX_DOCUMENT)? {
                    found = Some((candidate, blob));
                    break;
                }
            }
            let Some((path, blob)) = found else {
                return Err(self.doc_err(
                    &redact_url(&base),
                    "no index.xml at the root of this UMDS export or under hostupdate/: over HTTP(S) the vendor \
                     directories cannot be listed. Serve the export with its index.xml, or sync it from a \
                     file: path (a mount or a copy) where every hostupdate/<vendor>/ index is found",
                ));
            };
            let parsed = VendorList::parse(&self.read_blob(&blob, MAX_DOCUMENT)?).map_err(|e| self.doc_err(path, e))?;
            umds::rebase(parsed, esxlcm_depot::source::path::dir_of(path).as_str())
        };
        if list.vendors.is_empty() {
            return Err(self.doc_err(&redact_url(&base), "the UMDS export names no vendor index"));
        }
        let blob = self.store.blobs.put_bytes(&list.to_xml())?;
        self.walk_list("index.xml", blob, &list, &mut reader, &origin)
    }

    /// Get the bundle: `None` when unchanged since the published snapshot. Returns its
    /// validators and, for downloads, the staged file (removed after publication).
    #[allow(clippy::type_complexity)]
    fn open_bundle(
        &mut self,
        url: &Url,
        have_snapshot: bool,
    ) -> Result<Option<(Validators, Option<PathBuf>)>, StoreError> {
        let cached = self.store.meta.cache_get(self.source.id, &self.source.config.url)?;
        let conditional = cached
            .filter(|_| have_snapshot)
            .map(|c| Validators { etag: c.etag.clone(), last_modified: c.last_modified.clone() });
        let (path, validators, staged) = if url.scheme() == "file" {
            let request = GetRequest { conditional, ..Default::default() };
            let validators = match self.transport.get(url, &request).map_err(|e| self.transport_err(url, e))? {
                GetResponse::NotModified => {
                    self.stats.not_modified.fetch_add(1, Ordering::Relaxed);
                    return Ok(None);
                }
                GetResponse::Full(b) | GetResponse::Partial(b) => b.validators,
            };
            let path = url.to_file_path().map_err(|()| self.doc_err(url.as_str(), "not a local path"))?;
            (path, validators, None)
        } else {
            let staged =
                self.store.staging_dir().join(format!("bundle-{}.part", BlobId::of_bytes(url.as_str().as_bytes())));
            match self.download(url, &staged, conditional, None)? {
                None => {
                    self.stats.not_modified.fetch_add(1, Ordering::Relaxed);
                    return Ok(None);
                }
                Some(validators) => (staged.clone(), validators, Some(staged)),
            }
        };
        let container =
            ZipContainer::open(&path, ArchiveLimits::default()).map_err(|e| self.doc_err(&redact_url(url), e))?;
        self.container = Some(Box::new(container));
        Ok(Some((validators, staged)))
    }

    fn plan_from_container(&self) -> Result<(Vec<FileEntry>, Vec<Payload>), StoreError> {
        let container = self.container.as_deref().ok_or_else(|| self.doc_err("bundle", "not open"))?;
        let mut reader = |rel: &str, limit: u64| -> Result<Option<BlobId>, StoreError> {
            match container.read_small(rel, limit) {
                Ok(bytes) => Ok(Some(self.store.blobs.put_bytes(&bytes)?)),
                Err(ContainerError::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.doc_err(rel, e)),
            }
        };
        let origin = |rel: &str, _absolute: Option<&str>| Ok(Origin::Member(rel.to_owned()));
        let names: Vec<String> = VENDOR_LIST_NAMES.iter().map(|s| (*s).to_owned()).collect();
        self.walk("bundle ", &names, &mut reader, &origin)
    }

    /// Follow the index chain from the vendor list, applying the source's filters.
    #[allow(clippy::type_complexity)]
    fn walk(
        &self,
        location: &str,
        candidates: &[String],
        read: &mut dyn FnMut(&str, u64) -> Result<Option<BlobId>, StoreError>,
        origin: &dyn Fn(&str, Option<&str>) -> Result<Origin, StoreError>,
    ) -> Result<(Vec<FileEntry>, Vec<Payload>), StoreError> {
        let mut found = None;
        for name in candidates {
            if let Some(blob) = read(name, MAX_DOCUMENT)? {
                found = Some((name.clone(), blob));
                break;
            }
        }
        let Some((list_path, list_blob)) = found else {
            return Err(self.doc_err(
                &format!("{location}{}", candidates.join(" or ")),
                "no vendor list found (not a depot, or the URL/token is wrong?)",
            ));
        };
        let bytes = self.read_blob(&list_blob, MAX_DOCUMENT)?;
        let list = VendorList::parse(&bytes).map_err(|e| self.doc_err(&list_path, e))?;
        self.walk_list(&list_path, list_blob, &list, read, origin)
    }

    /// Follow a vendor list (already read, stored as `list_blob` at `list_path`) to its
    /// vendor indexes, metadata zips and VIBs.
    #[allow(clippy::type_complexity)]
    fn walk_list(
        &self,
        list_path: &str,
        list_blob: BlobId,
        list: &VendorList,
        read: &mut dyn FnMut(&str, u64) -> Result<Option<BlobId>, StoreError>,
        origin: &dyn Fn(&str, Option<&str>) -> Result<Origin, StoreError>,
    ) -> Result<(Vec<FileEntry>, Vec<Payload>), StoreError> {
        let config = &self.source.config;
        let mut docs = Vec::new();
        let list_path = list_path.to_owned();
        let kept: Vec<_> =
            list.vendors.iter().filter(|v| v.is_esx() && config.wants_vendor(&v.code, &v.name)).cloned().collect();
        let list_blob = if kept.len() == list.vendors.len() {
            list_blob
        } else {
            self.store.blobs.put_bytes(&VendorList { vendors: kept.clone() }.to_xml())?
        };
        let list_dir = depot_path::dir_of(&list_path);
        // Publish the vendor list under both names when it sits at the root.
        let list_names: Vec<String> = if list_dir.is_empty() {
            VENDOR_LIST_NAMES.iter().map(|s| (*s).to_owned()).collect()
        } else {
            vec![list_path.clone()]
        };
        for n in list_names {
            docs.push(self.entry(n, &list_blob)?);
        }
        let mut payloads: BTreeMap<String, Payload> = BTreeMap::new();
        for vendor in &kept {
            let index_path = depot_path::join(&list_dir, &vendor.index_path())
                .ok_or_else(|| self.doc_err(&list_path, format!("path '{}' escapes the depot", vendor.index_path())))?;
            let index_blob =
                read(&index_path, MAX_DOCUMENT)?.ok_or_else(|| self.doc_err(&index_path, "not found upstream"))?;
            let index = VendorIndex::parse(&self.read_blob(&index_blob, MAX_DOCUMENT)?)
                .map_err(|e| self.doc_err(&index_path, e))?;
            let entries: Vec<_> =
                index.metadata.iter().filter(|m| config.wants_platform(&m.version)).cloned().collect();
            let index_blob = if entries.len() == index.metadata.len() {
                index_blob
            } else {
                self.store.blobs.put_bytes(&VendorIndex { metadata: entries.clone() }.to_xml())?
            };
            docs.push(self.entry(index_path.clone(), &index_blob)?);
            let base_dir = depot_path::dir_of(&index_path);
            let mut seen = Vec::new();
            for m in &entries {
                if seen.contains(&m.url) {
                    continue;
                }
                seen.push(m.url.clone());
                if depot_path::is_absolute_url(&m.url) {
                    return Err(self.doc_err(
                        &index_path,
                        "metadata zips at absolute URLs are not mirrored yet (only paths relative to the vendor index)",
                    ));
                }
                let zip_path = depot_path::join(&base_dir, &m.url)
                    .ok_or_else(|| self.doc_err(&index_path, format!("path '{}' escapes the depot", m.url)))?;
                let zip_blob =
                    read(&zip_path, MAX_METADATA_ZIP)?.ok_or_else(|| self.doc_err(&zip_path, "not found upstream"))?;
                docs.push(self.entry(zip_path.clone(), &zip_blob)?);
                let archive = MetadataArchive::read(
                    Cursor::new(self.read_blob(&zip_blob, MAX_METADATA_ZIP)?),
                    ArchiveLimits::default(),
                )
                .map_err(|e| self.doc_err(&zip_path, e))?;
                for vib in &archive.vibs {
                    let Some(loc) = &vib.location else {
                        tracing::warn!(source = self.name(), vib = %vib.id(), "VIB without a location; not mirrored");
                        continue;
                    };
                    let path = depot_path::join(&base_dir, &loc.relative_path).ok_or_else(|| {
                        self.doc_err(
                            &zip_path,
                            format!("VIB {}: path '{}' escapes the depot", vib.id(), loc.relative_path),
                        )
                    })?;
                    if payloads.contains_key(&path) {
                        continue;
                    }
                    let absolute = loc.source_url.as_deref().filter(|u| depot_path::is_absolute_url(u));
                    let kind = loc.checksum.checksum_type.to_ascii_lowercase().replace('-', "");
                    let (sha256, sha1) = match kind.as_str() {
                        "sha256" => (BlobId::parse(&loc.checksum.value), None),
                        "sha1" => (None, Some(loc.checksum.value.trim().to_ascii_lowercase())),
                        _ => (None, None),
                    };
                    payloads.insert(
                        path.clone(),
                        Payload {
                            name: vib.id(),
                            origin: origin(&path, absolute)?,
                            path,
                            sha256,
                            sha1,
                            size: (loc.packed_size > 0).then_some(loc.packed_size),
                        },
                    );
                }
            }
        }
        Ok((docs, payloads.into_values().collect()))
    }

    fn entry(&self, path: String, blob: &BlobId) -> Result<FileEntry, StoreError> {
        Ok(FileEntry { path, size: self.store.blobs.size(blob)?, blob: blob.clone() })
    }

    // ---- only-for -------------------------------------------------------------------

    /// `--only-for`: read the (filtered) metadata into a catalog, resolve each spec, and
    /// keep only the payloads of the union of the images' content. Returns that content,
    /// each of its VIBs' depot path, and the payloads to store. A spec that does not
    /// resolve fails the sync (nothing new is published).
    #[allow(clippy::type_complexity)]
    fn narrow(
        &self,
        docs: &[FileEntry],
        payloads: Vec<Payload>,
    ) -> Result<(DepotContent, BTreeMap<String, String>, Vec<Payload>), StoreError> {
        let config = &self.source.config;
        let catalog = self.catalog_of(docs)?;
        let mut contents = Vec::new();
        for (i, spec) in config.only_for.iter().enumerate() {
            let content =
                crate::subset::spec_content(&catalog, spec.as_bytes(), EPOCH).map_err(|e| StoreError::Sync {
                    source_name: self.name().to_owned(),
                    message: format!(
                        "only-for spec {} of {}: {e}\nnothing new is published",
                        i + 1,
                        config.only_for.len()
                    ),
                })?;
            contents.push(content);
        }
        let Some(mut content) = crate::subset::union(contents) else {
            return Err(StoreError::Sync { source_name: self.name().to_owned(), message: "no only-for spec".into() });
        };
        content.vendor_name = crate::view::VENDOR_NAME.to_owned();
        content.vendor_code = config.name.to_ascii_lowercase();
        // Reproducible: the newest release date the content carries, not the clock.
        content.timestamp = content
            .bulletins
            .iter()
            .map(|b| b.release_date.trim())
            .filter(|d| !d.is_empty())
            .max()
            .unwrap_or(EPOCH)
            .to_owned();
        let mut origins = BTreeMap::new();
        for vib in &content.vibs {
            let id = vib.id();
            let path = catalog
                .vib(&id)
                .and_then(|cv| cv.origins.first().map(|o| o.path.clone()))
                .filter(|p| payloads.iter().any(|x| &x.path == p))
                .ok_or_else(|| StoreError::Sync {
                    source_name: self.name().to_owned(),
                    message: format!("VIB {id} is needed by the only-for specs but the depot gives no file for it"),
                })?;
            origins.insert(id, path);
        }
        let wanted: std::collections::HashSet<&String> = origins.values().collect();
        let kept: Vec<Payload> = payloads.into_iter().filter(|p| wanted.contains(&p.path)).collect();
        tracing::info!(source = self.name(), vibs = kept.len(), "only what the specs need");
        Ok((content, origins, kept))
    }

    /// The catalog of the metadata documents just fetched: their blobs hard-linked into a
    /// scratch tree under `staging/` (removed after), opened like any depot directory.
    fn catalog_of(&self, docs: &[FileEntry]) -> Result<Catalog, StoreError> {
        let scratch = self.store.staging_dir().join(format!("only-for-{}.dir", self.source.id));
        crate::store::remove_dir_if_exists(&scratch)?;
        let result = (|| {
            for d in docs {
                let target = crate::store::safe_join(&scratch, &d.path)
                    .ok_or_else(|| self.doc_err(&d.path, "not a safe relative path"))?;
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
                }
                let mut r = self.store.blobs.open(&d.blob)?;
                let mut w = File::create(&target).map_err(|e| StoreError::io(&target, e))?;
                io::copy(&mut r, &mut w).map_err(|e| StoreError::io(&target, e))?;
            }
            let depot = Depot::open_path(&scratch, &OpenOptions::default())
                .map_err(|e| self.doc_err("metadata", format!("reading it for the only-for specs: {e}")))?;
            let mut catalog = Catalog::new();
            catalog.add(depot).map_err(|e| self.doc_err("metadata", e))?;
            Ok(catalog)
        })();
        crate::store::remove_dir_if_exists(&scratch)?;
        result
    }

    /// The documents of the `--only-for` depot: vendor list, vendor index and metadata.zip
    /// at the root, declaring exactly `content` with each VIB at its upstream path and the
    /// stored file's size and sha-256.
    fn subset_documents(
        &self,
        content: &DepotContent,
        origins: &BTreeMap<String, String>,
        entries: &[FileEntry],
    ) -> Result<Vec<FileEntry>, StoreError> {
        let by_path: BTreeMap<&str, &FileEntry> = entries.iter().map(|e| (e.path.as_str(), e)).collect();
        let mut located = Vec::with_capacity(content.vibs.len());
        for vib in &content.vibs {
            let id = vib.id();
            let entry = origins.get(&id).and_then(|p| by_path.get(p.as_str())).ok_or_else(|| StoreError::Sync {
                source_name: self.name().to_owned(),
                message: format!("VIB {id}: its file was not stored"),
            })?;
            located.push(crate::subset::place(vib, entry.path.clone(), entry));
        }
        let documents = crate::subset::documents(content, "", located)
            .map_err(|e| self.doc_err("metadata.zip", format!("writing the only-for metadata: {e}")))?;
        let mut out = Vec::with_capacity(documents.len());
        for (path, bytes) in documents {
            let blob = self.store.blobs.put_bytes(&bytes)?;
            out.push(FileEntry { path, blob, size: bytes.len() as u64 });
        }
        Ok(out)
    }

    // ---- payloads -------------------------------------------------------------------

    /// Under the on-demand policy: the payloads left upstream (those declaring a sha-256
    /// and a size, not in the store yet), and the rest, which are fetched now.
    fn defer_payloads(&self, payloads: Vec<Payload>) -> Result<(Vec<RemotePayload>, Vec<Payload>), StoreError> {
        let config = &self.source.config;
        if config.payloads != PayloadPolicy::OnDemand {
            return Ok((Vec::new(), payloads));
        }
        if config.kind == SourceKind::Bundle {
            tracing::info!(source = self.name(), "a bundle is downloaded whole: its payloads are stored (prefetch)");
            return Ok((Vec::new(), payloads));
        }
        let (mut deferred, mut now) = (Vec::new(), Vec::new());
        for p in payloads {
            match (&p.sha256, p.size, &p.origin) {
                (Some(blob), Some(size), Origin::Url(url)) if !self.store.blobs.contains(blob)? => {
                    // Relative to the source's URL unless the metadata named it absolutely.
                    let absolute = (payload_url(config, &p.path).ok().as_ref() != Some(url)).then(|| url.to_string());
                    deferred.push(RemotePayload {
                        path: p.path,
                        blob: blob.clone(),
                        size,
                        name: p.name,
                        url: absolute,
                    });
                }
                (None, _, _) | (_, None, _) => {
                    tracing::info!(source = self.name(), vib = %p.name, "no sha-256 and size declared: prefetched");
                    now.push(p);
                }
                _ => now.push(p),
            }
        }
        self.stats.deferred.store(deferred.len(), Ordering::Relaxed);
        Ok((deferred, now))
    }

    #[allow(clippy::type_complexity)]
    fn fetch_payloads(
        &self,
        payloads: Vec<Payload>,
        parallel: usize,
    ) -> Result<(Vec<FileEntry>, Vec<Rejected>, Vec<StoreError>), StoreError> {
        // Payloads with the same declared sha-256 at several paths download once: they
        // would otherwise share (and race on) one staging file.
        let mut todo: BTreeMap<String, Vec<Payload>> = BTreeMap::new();
        let mut entries = Vec::new();
        for p in payloads {
            if let Some(id) = &p.sha256
                && !self.verify_all
                && self.store.blobs.contains(id)?
            {
                self.stats.reused.fetch_add(1, Ordering::Relaxed);
                entries.push(FileEntry { path: p.path.clone(), size: self.store.blobs.size(id)?, blob: id.clone() });
                continue;
            }
            let key = p.sha256.as_ref().map_or_else(|| format!("path:{}", p.path), ToString::to_string);
            todo.entry(key).or_default().push(p);
        }
        self.progress.event(&SyncEvent::Planned {
            files: todo.len(),
            bytes: todo.values().filter_map(|g| g.first()).map(|p| p.size.unwrap_or(0)).sum(),
        });
        let queue = Mutex::new(todo.into_values().collect::<Vec<_>>());
        let results: Mutex<Vec<Result<Result<Vec<FileEntry>, Rejected>, StoreError>>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..parallel {
                scope.spawn(|| {
                    loop {
                        let next = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
                        let Some(group) = next else { break };
                        let Some(first) = group.first() else { continue };
                        let r = self.fetch_payload(first).map(|r| {
                            r.map(|e| {
                                self.progress.event(&SyncEvent::FileDone { path: &e.path });
                                group
                                    .iter()
                                    .map(|p| FileEntry { path: p.path.clone(), blob: e.blob.clone(), size: e.size })
                                    .collect()
                            })
                        });
                        results.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(r);
                    }
                });
            }
        });
        let mut rejected = Vec::new();
        let mut failures = Vec::new();
        for r in results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
            match r {
                Ok(Ok(e)) => entries.extend(e),
                Ok(Err(rej)) => rejected.push(rej),
                Err(e) => failures.push(e),
            }
        }
        rejected.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((entries, rejected, failures))
    }

    /// Download and verify one payload; a verified file waits in staging for the batch
    /// ingest after all downloads (one durability barrier, not two fsyncs per file).
    fn fetch_payload(&self, p: &Payload) -> Result<Result<FileEntry, Rejected>, StoreError> {
        let key = p.sha256.clone().unwrap_or_else(|| BlobId::of_bytes(p.path.as_bytes()));
        let staged = self.store.staging_dir().join(format!("{key}.part"));
        // A resumed file that fails may have been spliced from two upstream versions by a
        // server that ignored If-Range: try once more from scratch before rejecting it.
        for attempt in 0..2 {
            let resumed = staged.exists();
            // Hashed as the bytes arrive: the file is not read again to verify it.
            let mut digests = Digests::new(p.sha256.is_none());
            match &p.origin {
                Origin::Url(url) => {
                    if self.download(url, &staged, None, Some(&mut digests))?.is_none() {
                        return Err(self.doc_err(&p.path, "unexpected 304 for a payload"));
                    }
                }
                Origin::Member(member) => self.extract(member, &staged, &mut digests)?,
            }
            match verdict(p, digests) {
                Ok((id, size)) => {
                    self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((staged, id.clone()));
                    return Ok(Ok(FileEntry { path: p.path.clone(), blob: id, size }));
                }
                Err(_) if resumed && attempt == 0 => {
                    let _ = fs::remove_file(&staged);
                    let _ = fs::remove_file(sidecar(&staged));
                }
                Err((reason, actual)) => return self.quarantine(p, &staged, reason, actual).map(Err),
            }
        }
        Err(self.doc_err(&p.path, "verification retry loop ended"))
    }

    fn quarantine(&self, p: &Payload, staged: &Path, reason: String, actual: BlobId) -> Result<Rejected, StoreError> {
        let expected = p.sha256.as_ref().map_or_else(|| p.sha1.clone().unwrap_or_default(), |s| s.to_string());
        let dest = quarantine(self.store, self.name(), &p.name, &p.path, &expected, staged, &reason, &actual)?;
        self.progress.event(&SyncEvent::Rejected { name: &p.name, reason: &reason });
        Ok(Rejected { name: p.name.clone(), path: p.path.clone(), reason, quarantine_file: dest })
    }

    /// Download `url` to `staged`, resuming a partial copy. `Ok(None)` on 304.
    fn download(
        &self,
        url: &Url,
        staged: &Path,
        conditional: Option<Validators>,
        mut digests: Option<&mut Digests>,
    ) -> Result<Option<Validators>, StoreError> {
        let have = fs::metadata(staged).map(|m| m.len()).unwrap_or(0);
        let saved = fs::read_to_string(sidecar(staged)).ok().filter(|s| !s.trim().is_empty());
        let request = GetRequest {
            conditional,
            resume_from: (have > 0 && saved.is_some()).then_some(have),
            if_range: saved.map(|s| s.trim().to_owned()),
        };
        let (mut body, append) = match self.transport.get(url, &request).map_err(|e| self.transport_err(url, e))? {
            GetResponse::NotModified => return Ok(None),
            GetResponse::Full(b) => (b, false),
            GetResponse::Partial(b) => (b, true),
        };
        if append {
            tracing::info!(url = %redact_url(url), from = have, "resuming download");
        }
        // The validator goes first: a later run resumes only against the same version.
        let validator = body.validators.etag.clone().or_else(|| body.validators.last_modified.clone());
        let side = sidecar(staged);
        match &validator {
            Some(v) => fs::write(&side, v).map_err(|e| StoreError::io(&side, e))?,
            None => {
                let _ = fs::remove_file(&side);
            }
        }
        if let Some(d) = digests.as_deref_mut() {
            d.reset();
            if append {
                d.update_from_file(staged)?;
            }
        }
        let mut out = if append { File::options().append(true).open(staged) } else { File::create(staged) }
            .map_err(|e| StoreError::io(staged, e))?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match body.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(self.transport_err(url, TransportError::Io { url: redact_url(url), source: e }));
                }
            };
            let data = buf.get(..n).unwrap_or_default();
            out.write_all(data).map_err(|e| StoreError::io(staged, e))?;
            if let Some(d) = digests.as_deref_mut() {
                d.update(data);
            }
            self.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            self.progress.event(&SyncEvent::Bytes(n as u64));
        }
        out.flush().map_err(|e| StoreError::io(staged, e))?;
        self.stats.fetched.fetch_add(1, Ordering::Relaxed);
        Ok(Some(body.validators))
    }

    fn extract(&self, member: &str, staged: &Path, digests: &mut Digests) -> Result<(), StoreError> {
        let container = self.container.as_deref().ok_or_else(|| self.doc_err(member, "bundle not open"))?;
        let mut r = container.open(member).map_err(|e| self.doc_err(member, e))?;
        let mut out = File::create(staged).map_err(|e| StoreError::io(staged, e))?;
        digests.reset();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.doc_err(member, e)),
            };
            let data = buf.get(..n).unwrap_or_default();
            out.write_all(data).map_err(|e| StoreError::io(staged, e))?;
            digests.update(data);
            self.progress.event(&SyncEvent::Bytes(n as u64));
        }
        Ok(())
    }
}

/// Running digests of a payload as its bytes are written: sha-256 always (it names the
/// blob), sha-1 only when the metadata declares nothing else.
struct Digests {
    sha256: sha2::Sha256,
    sha1: Option<sha1::Sha1>,
    len: u64,
}

impl Digests {
    fn new(sha1: bool) -> Self {
        Self { sha256: sha2::Sha256::new(), sha1: sha1.then(sha1::Sha1::new), len: 0 }
    }

    fn reset(&mut self) {
        *self = Self::new(self.sha1.is_some());
    }

    fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        if let Some(s) = self.sha1.as_mut() {
            s.update(data);
        }
        self.len += data.len() as u64;
    }

    /// The part of a resumed download already on disk.
    fn update_from_file(&mut self, path: &Path) -> Result<(), StoreError> {
        let mut f = File::open(path).map_err(|e| StoreError::io(path, e))?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => self.update(buf.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StoreError::io(path, e)),
            }
        }
    }
}

/// Compare a payload's digests with what the metadata declares: `Ok((sha-256, size))` or
/// `Err((reason, actual sha-256))`.
fn verdict(p: &Payload, digests: Digests) -> Result<(BlobId, u64), (String, BlobId)> {
    let size = digests.len;
    let actual = BlobId::from_digest(&digests.sha256.finalize());
    if let Some(expected) = p.size
        && expected != size
    {
        return Err((format!("size {size} bytes, the metadata declares {expected}"), actual));
    }
    if let Some(expected) = &p.sha256 {
        if expected != &actual {
            return Err((format!("sha-256 {actual}, the metadata declares {expected}"), actual));
        }
    } else if let Some(expected) = &p.sha1 {
        let actual_sha1 = digests.sha1.map(|s| hex::encode(s.finalize())).unwrap_or_default();
        if expected != &actual_sha1 {
            return Err((format!("sha-1 {actual_sha1}, the metadata declares {expected}"), actual));
        }
    } else {
        return Err(("the metadata gives no sha-256 or sha-1 checksum to verify against".into(), actual));
    }
    Ok((actual, size))
}

/// Move a payload that failed verification from staging to `quarantine/` and record it
/// (never served, never a blob). Returns where it went.
#[allow(clippy::too_many_arguments)]
pub(crate) fn quarantine(
    store: &Store,
    source: &str,
    name: &str,
    path: &str,
    expected: &str,
    staged: &Path,
    reason: &str,
    actual: &BlobId,
) -> Result<PathBuf, StoreError> {
    let base = path.rsplit('/').next().unwrap_or("payload");
    let file_name = format!("{}-{}-{base}", now(), actual.as_str().get(..16).unwrap_or_default());
    let dest = store.quarantine_dir().join(&file_name);
    fs::rename(staged, &dest).map_err(|e| StoreError::io(&dest, e))?;
    // The record names the file: its entry goes to disk first.
    crate::blob::sync_dir(&store.quarantine_dir())?;
    let _ = fs::remove_file(sidecar(staged));
    tracing::warn!(source, vib = %name, %reason, "payload rejected and quarantined");
    store.meta.record_quarantine(&QuarantineRecord {
        source: source.to_owned(),
        name: name.to_owned(),
        path: path.to_owned(),
        expected: expected.to_owned(),
        actual: actual.to_string(),
        size: fs::metadata(&dest).map(|m| m.len()).unwrap_or(0),
        file: format!("quarantine/{file_name}"),
        reason: reason.to_owned(),
        at: now(),
    })?;
    Ok(dest)
}

/// The directory an online depot's or UMDS export's relative paths are joined to.
fn online_base(url: &Url) -> Result<Url, url::ParseError> {
    if url.path().ends_with(".xml") {
        return url.join("./");
    }
    let mut base = url.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    Ok(base)
}

fn umds_base(url: &Url) -> Result<Url, url::ParseError> {
    let base = online_base(url)?;
    // Given the hostupdate/ directory itself, the export root is its parent.
    if base.path().ends_with("/hostupdate/") { base.join("../") } else { Ok(base) }
}

/// Where a payload at depot path `path` of a source is fetched from (its current URL, so
/// a renewed token applies). Bundles have no per-file URL.
pub(crate) fn payload_url(config: &SourceConfig, path: &str) -> Result<Url, StoreError> {
    let url = config.parsed_url()?;
    let base = match config.kind {
        SourceKind::Online => online_base(&url),
        SourceKind::Umds => umds_base(&url),
        SourceKind::Bundle => {
            return Err(StoreError::Sync {
                source_name: config.name.clone(),
                message: format!("{path}: a bundle source has no per-file URL"),
            });
        }
    };
    base.and_then(|b| b.join(path)).map_err(|e| StoreError::Document {
        source_name: config.name.clone(),
        file: path.to_owned(),
        message: e.to_string(),
    })
}

/// Holds the validator (ETag or Last-Modified) of a partial download.
fn sidecar(staged: &Path) -> PathBuf {
    let mut s = staged.as_os_str().to_owned();
    s.push(".validator");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On-demand payloads are fetched from the source's current URL: the same base the
    /// sync joined the metadata's relative paths to.
    #[test]
    fn payload_urls_follow_the_source_url() {
        let at = |url: &str, kind: SourceKind, path: &str| {
            let mut c = SourceConfig::new("s", url).unwrap();
            c.kind = kind;
            payload_url(&c, path).map(|u| u.to_string())
        };
        let vib = "vmw/vib20/x/y.vib";
        assert_eq!(
            at("https://d.example/tok/index.xml", SourceKind::Online, vib).unwrap(),
            "https://d.example/tok/vmw/vib20/x/y.vib"
        );
        assert_eq!(
            at("https://d.example/depot", SourceKind::Online, vib).unwrap(),
            "https://d.example/depot/vmw/vib20/x/y.vib"
        );
        assert_eq!(
            at("https://u.example/umds/hostupdate/", SourceKind::Umds, "hostupdate/vmw/a.vib").unwrap(),
            "https://u.example/umds/hostupdate/vmw/a.vib"
        );
        assert!(at("https://d.example/b.zip", SourceKind::Bundle, vib).is_err());
    }
}
