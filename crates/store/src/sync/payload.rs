//! Payloads: deferred (on-demand), reused, downloaded with resume (`Range`/`If-Range`,
//! the validator kept beside the partial file in `staging/`) or extracted from a bundle,
//! verified against the metadata's size and checksum, then stored as blobs or moved to
//! `quarantine/`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use esxlcm_depot::source::ContainerError;
use esxlcm_net::redact::redact_url;
use sha2::Digest as _;
use url::Url;

use super::plan::payload_url;
use super::{Origin, Payload, Rejected, Run, SyncEvent};
use crate::blob::BlobId;
use crate::error::StoreError;
use crate::meta::{FileEntry, QuarantineRecord, RemotePayload, now};
use crate::source::{PayloadPolicy, SourceKind};
use crate::store::Store;
use crate::transport::{GetRequest, GetResponse, TransportError, Validators};

impl Run<'_> {
    // ---- payloads -------------------------------------------------------------------

    /// Under the on-demand policy: the payloads left upstream (those declaring a sha-256
    /// and a size, not in the store yet), and the rest, which are fetched now.
    pub(super) fn defer_payloads(
        &self,
        payloads: Vec<Payload>,
    ) -> Result<(Vec<RemotePayload>, Vec<Payload>), StoreError> {
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
    pub(super) fn fetch_payloads(
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
            let mut digests = Digests::new(p.sha256.is_none()).capped(p.size);
            match &p.origin {
                Origin::Url(url) => {
                    if self.download(url, &staged, None, Some(&mut digests))?.is_none() {
                        return Err(self.doc_err(&p.path, "unexpected 304 for a payload"));
                    }
                }
                Origin::Member(member) => {
                    if let Some(reason) = self.extract(member, &staged, &mut digests)? {
                        let actual = digests.actual();
                        return self.quarantine(p, &staged, reason, actual).map(Err);
                    }
                }
            }
            match verdict(p, digests) {
                Ok((id, _)) if let Some(reason) = self.signature_problem(p, &staged) => {
                    return self.quarantine(p, &staged, reason, id).map(Err);
                }
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

    /// Why a VIB whose bytes match its metadata may still not enter: the source's signature
    /// policy ([`crate::signatures`]); `None` for other payloads and accepted VIBs.
    fn signature_problem(&self, p: &Payload, staged: &Path) -> Option<String> {
        let trust = self.trust.as_ref()?;
        if !p.path.to_ascii_lowercase().ends_with(".vib") {
            return None;
        }
        match crate::signatures::judge(staged, self.source.config.signatures, trust) {
            crate::signatures::Judgement::Accepted => None,
            crate::signatures::Judgement::Warned(why) => {
                tracing::warn!(source = %self.name(), vib = %p.name, "kept under --signatures warn: {why}");
                None
            }
            crate::signatures::Judgement::Refused(why) => Some(why),
        }
    }

    fn quarantine(&self, p: &Payload, staged: &Path, reason: String, actual: BlobId) -> Result<Rejected, StoreError> {
        let expected = p.sha256.as_ref().map_or_else(|| p.sha1.clone().unwrap_or_default(), |s| s.to_string());
        let dest = quarantine(self.store, self.name(), &p.name, &p.path, &expected, staged, &reason, &actual)?;
        self.progress.event(&SyncEvent::Rejected { name: &p.name, reason: &reason });
        Ok(Rejected { name: p.name.clone(), path: p.path.clone(), reason, quarantine_file: dest })
    }

    /// Download `url` to `staged`, resuming a partial copy. `Ok(None)` on 304.
    pub(super) fn download(
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
            let n = digests.as_deref().map_or(n, |d| d.allowed(n));
            let data = buf.get(..n).unwrap_or_default();
            out.write_all(data).map_err(|e| StoreError::io(staged, e))?;
            self.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            self.progress.event(&SyncEvent::Bytes(n as u64));
            if let Some(d) = digests.as_deref_mut() {
                d.update(data);
                if d.over_cap() {
                    break;
                }
            }
        }
        out.flush().map_err(|e| StoreError::io(staged, e))?;
        self.stats.fetched.fetch_add(1, Ordering::Relaxed);
        Ok(Some(body.validators))
    }

    /// Copy a bundle's member to `staged`. `Ok(Some(why))` when the member's bytes cannot be
    /// read whole (inflating past its declared size, truncated, a corrupt deflate stream):
    /// the bundle's defect, refused as the payload's like a checksum mismatch, not a failure
    /// of the store.
    fn extract(&self, member: &str, staged: &Path, digests: &mut Digests) -> Result<Option<String>, StoreError> {
        let container = self.container.as_deref().ok_or_else(|| self.doc_err(member, "bundle not open"))?;
        let mut out = File::create(staged).map_err(|e| StoreError::io(staged, e))?;
        digests.reset();
        let mut r = match container.open(member) {
            Ok(r) => r,
            // The metadata names a member the bundle lacks, or one stored in a way no
            // ESXi tool writes: the bundle's defect, refused like unreadable bytes.
            Err(e @ (ContainerError::NotFound { .. } | ContainerError::UnsupportedCompression { .. })) => {
                return Ok(Some(format!("the bundle's member cannot be read: {e}")));
            }
            Err(e) => return Err(self.doc_err(member, e)),
        };
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Ok(Some(format!("the bundle's member cannot be read: {e}"))),
            };
            let data = buf.get(..digests.allowed(n)).unwrap_or_default();
            out.write_all(data).map_err(|e| StoreError::io(staged, e))?;
            digests.update(data);
            self.progress.event(&SyncEvent::Bytes(n as u64));
            if digests.over_cap() {
                break;
            }
        }
        Ok(None)
    }
}

/// Running digests of a payload as its bytes are written: sha-256 always (it names the
/// blob), sha-1 only when the metadata declares nothing else.
pub(super) struct Digests {
    sha256: sha2::Sha256,
    sha1: Option<sha1::Sha1>,
    len: u64,
    /// Bytes past which reading stops: one more than the declared size, enough to show a
    /// payload is too large without copying a forged gigabyte.
    cap: Option<u64>,
}

impl Digests {
    pub(super) fn new(sha1: bool) -> Self {
        Self { sha256: sha2::Sha256::new(), sha1: sha1.then(sha1::Sha1::new), len: 0, cap: None }
    }

    /// Stop reading once more than `declared` bytes came (`None`: no declared size).
    pub(super) fn capped(mut self, declared: Option<u64>) -> Self {
        self.cap = declared.map(|d| d.saturating_add(1));
        self
    }

    fn reset(&mut self) {
        *self = Self::new(self.sha1.is_some()).capped(self.cap.map(|c| c.saturating_sub(1)));
    }

    /// The sha-256 of what came (a payload refused before its verdict).
    fn actual(self) -> BlobId {
        BlobId::from_digest(&self.sha256.finalize())
    }

    /// Past the declared size: the payload is wrong whatever follows.
    fn over_cap(&self) -> bool {
        self.cap.is_some_and(|c| self.len >= c)
    }

    /// How many of `n` more bytes are kept: all of them, up to the cap.
    fn allowed(&self, n: usize) -> usize {
        self.cap.map_or(n, |c| usize::try_from(c.saturating_sub(self.len)).unwrap_or(usize::MAX).min(n))
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

/// What a quarantined payload keeps at most.
pub(crate) const QUARANTINE_KEEP_BYTES: u64 = 16 << 20;

/// Move a payload that failed verification from staging to `quarantine/` and record it
/// (never served, never a blob): once per source, path and content, at most
/// [`QUARANTINE_KEEP_BYTES`] of it. Returns where it is.
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
    // The same bad payload from the same source again (every retry of a sync) is kept once.
    let known = store.meta.quarantined()?.into_iter().find(|q| {
        q.source == source && q.path == path && q.actual == actual.as_str() && store.root().join(&q.file).exists()
    });
    if let Some(q) = known {
        let _ = fs::remove_file(staged);
        let _ = fs::remove_file(sidecar(staged));
        tracing::warn!(source, vib = %name, %reason, "payload rejected again (quarantined before)");
        return Ok(store.root().join(q.file));
    }
    let file_name = format!("{}-{}-{base}", now(), actual.as_str().get(..16).unwrap_or_default());
    let dest = store.quarantine_dir().join(&file_name);
    fs::rename(staged, &dest).map_err(|e| StoreError::io(&dest, e))?;
    // Enough of it to show the defect; a forged multi-gigabyte payload is not kept whole.
    let size = fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    if size > QUARANTINE_KEEP_BYTES {
        File::options()
            .write(true)
            .open(&dest)
            .and_then(|f| f.set_len(QUARANTINE_KEEP_BYTES))
            .map_err(|e| StoreError::io(&dest, e))?;
    }
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
        size,
        file: format!("quarantine/{file_name}"),
        reason: if size > QUARANTINE_KEEP_BYTES {
            format!("{reason} (the first {QUARANTINE_KEEP_BYTES} bytes kept)")
        } else {
            reason.to_owned()
        },
        at: now(),
    })?;
    Ok(dest)
}

/// Holds the validator (ETag or Last-Modified) of a partial download.
pub(super) fn sidecar(staged: &Path) -> PathBuf {
    let mut s = staged.as_os_str().to_owned();
    s.push(".validator");
    PathBuf::from(s)
}
