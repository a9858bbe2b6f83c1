//! On-demand payloads: VIBs an on-demand source's sync recorded but left upstream
//! ([`crate::meta::RemotePayload`]), fetched when first needed — by `esxlcm serve --store`
//! when a host asks for one, by `mirror export` and by view builds before they use them.
//!
//! A fetch uses the source's own transport (token header, proxy, CA bundle; the path is
//! joined to the source's *current* URL unless the metadata gave an absolute one), streams
//! the body to `staging/` while hashing it, and only when size and sha-256 match the
//! metadata's declaration is the file ingested as a blob (fsynced, renamed, the directory
//! fsynced: [`crate::blob::BlobStore::ingest_verified`]). A mismatch is quarantined and
//! recorded like a sync's, and never served. Requests for the same blob in one process
//! share one fetch ([`OnDemand`]); the blob store's atomic rename makes two processes
//! fetching the same blob harmless (the second finds it stored).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use sha2::Digest as _;

use crate::blob::BlobId;
use crate::error::StoreError;
use crate::meta::RemotePayload;
use crate::source::Source;
use crate::store::Store;
use crate::sync::{payload_url, quarantine, transport_for};
use crate::transport::{GetRequest, GetResponse, TransportError};
use esxlcm_net::redact::redact_url;

#[derive(Debug, thiserror::Error)]
pub enum OnDemandError {
    /// The file is not one the store fetches on demand (an ordinary 404).
    #[error("{path}: not a payload fetched on demand")]
    NotOnDemand { path: String },
    /// The upstream bytes did not match the metadata: quarantined, not served.
    #[error("source '{source_name}': VIB {vib} failed verification ({reason}); it is quarantined and not served")]
    Rejected { source_name: String, vib: String, path: String, reason: String, quarantine_file: PathBuf },
    /// Upstream did not answer in time.
    #[error("source '{source_name}': VIB {vib}: the upstream depot did not answer in time ({message})")]
    Timeout { source_name: String, vib: String, message: String },
    /// Upstream refused, failed or is unreachable.
    #[error("source '{source_name}': VIB {vib} could not be fetched from the upstream depot: {message}")]
    Upstream { source_name: String, vib: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One fetch per blob at a time within a process: concurrent requests for the same VIB
/// wait for the first and then find it stored.
#[derive(Debug, Default)]
pub struct OnDemand {
    inflight: Mutex<HashMap<BlobId, Arc<Mutex<()>>>>,
}

impl OnDemand {
    pub fn new() -> Self {
        Self::default()
    }

    /// Make `path` of a snapshot of `source` (`None`: the published one) present in the
    /// snapshot's tree, fetching it first if it is an on-demand payload not stored yet.
    /// Returns the file's path in the tree. [`OnDemandError::NotOnDemand`] when the
    /// snapshot does not name the path (or names a stored file that is simply absent).
    pub fn serve_file(
        &self,
        store: &Store,
        source: &str,
        snapshot: Option<i64>,
        path: &str,
    ) -> Result<PathBuf, OnDemandError> {
        let not_ours = || OnDemandError::NotOnDemand { path: path.to_owned() };
        let src = match store.meta.source(source) {
            Ok(s) => s,
            Err(StoreError::UnknownSource(_)) => return Err(not_ours()),
            Err(e) => return Err(e.into()),
        };
        let id = match snapshot {
            Some(id) => id,
            None => store.meta.published(src.id)?.ok_or_else(not_ours)?,
        };
        if !store.meta.snapshots(src.id)?.iter().any(|s| s.id == id) {
            return Err(not_ours());
        }
        let entry = store.meta.snapshot_file(id, path)?.ok_or_else(not_ours)?;
        if !store.blobs.contains(&entry.blob)? {
            let remote = store.meta.remote_payload(src.id, path, &entry.blob)?.ok_or_else(not_ours)?;
            self.fetch(store, &src, &remote)?;
        }
        Ok(store.link_into_view(id, &entry)?)
    }

    /// Fetch one on-demand payload into the blob store (nothing to do if it is there).
    pub fn fetch(&self, store: &Store, source: &Source, remote: &RemotePayload) -> Result<(), OnDemandError> {
        let gate = {
            let mut map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(map.entry(remote.blob.clone()).or_default())
        };
        let result = {
            let _held = gate.lock().unwrap_or_else(PoisonError::into_inner);
            if store.blobs.contains(&remote.blob)? { Ok(()) } else { download(store, source, remote) }
        };
        let mut map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        // Ours and the map's: nobody else waits on it.
        if map.get(&remote.blob).is_some_and(|g| Arc::strong_count(g) <= 2) {
            map.remove(&remote.blob);
        }
        result
    }
}

/// The on-demand payloads of a snapshot the store does not hold yet.
pub fn missing(store: &Store, snapshot_id: i64) -> Result<Vec<RemotePayload>, StoreError> {
    let mut out = Vec::new();
    for r in store.meta.snapshot_remote(snapshot_id)? {
        if !store.blobs.contains(&r.blob)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Fetch every on-demand payload snapshot `snapshot_id` of `source` still lacks, and link
/// them into its tree if it is materialised. Returns how many were fetched; the first
/// failure stops it (what was fetched stays stored).
pub(crate) fn fetch_missing(
    store: &Store,
    fetcher: &OnDemand,
    source: &Source,
    snapshot_id: i64,
) -> Result<usize, OnDemandError> {
    let todo = missing(store, snapshot_id)?;
    for r in &todo {
        fetcher.fetch(store, source, r)?;
    }
    if !todo.is_empty() {
        store.fill_view(snapshot_id)?;
    }
    Ok(todo.len())
}

fn download(store: &Store, source: &Source, remote: &RemotePayload) -> Result<(), OnDemandError> {
    let name = source.config.name.as_str();
    let url = match &remote.url {
        Some(u) => url::Url::parse(u).map_err(|e| StoreError::Document {
            source_name: name.to_owned(),
            file: remote.path.clone(),
            message: format!("recorded URL: {e}"),
        })?,
        None => payload_url(&source.config, &remote.path)?,
    };
    let upstream = |e: TransportError| {
        let message = e.to_string();
        let timed_out = match &e {
            TransportError::TimedOut { .. } => true,
            TransportError::Io { source, .. } => source.kind() == io::ErrorKind::TimedOut,
            _ => false,
        };
        if timed_out {
            OnDemandError::Timeout { source_name: name.to_owned(), vib: remote.name.clone(), message }
        } else {
            OnDemandError::Upstream { source_name: name.to_owned(), vib: remote.name.clone(), message }
        }
    };
    let transport = transport_for(source)?;
    tracing::info!(source = name, vib = %remote.name, url = %redact_url(&url), "fetching an on-demand payload");
    let mut body = match transport.get(&url, &GetRequest::default()).map_err(upstream)? {
        GetResponse::Full(b) | GetResponse::Partial(b) => b,
        GetResponse::NotModified => {
            return Err(upstream(TransportError::Failed {
                url: redact_url(&url),
                message: "304 to an unconditional request".into(),
            }));
        }
    };
    let thread = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let staged = store.staging_dir().join(format!("{}.on-demand-{}-{thread}.tmp", remote.blob, std::process::id()));
    let result = stream(&mut *body.reader, &staged, remote.size);
    let (actual, size) = match result {
        Ok(v) => v,
        Err(Streamed::Read(e)) => {
            let _ = fs::remove_file(&staged);
            return Err(upstream(TransportError::Io { url: redact_url(&url), source: e }));
        }
        Err(Streamed::Write(e)) => {
            let _ = fs::remove_file(&staged);
            return Err(StoreError::io(&staged, e).into());
        }
    };
    let reason = if size != remote.size {
        Some(format!("size {size} bytes, the metadata declares {}", remote.size))
    } else if actual != remote.blob {
        Some(format!("sha-256 {actual}, the metadata declares {}", remote.blob))
    } else {
        None
    };
    if let Some(reason) = reason {
        let quarantine_file =
            quarantine(store, name, &remote.name, &remote.path, remote.blob.as_str(), &staged, &reason, &actual)?;
        return Err(OnDemandError::Rejected {
            source_name: name.to_owned(),
            vib: remote.name.clone(),
            path: remote.path.clone(),
            reason,
            quarantine_file,
        });
    }
    store.blobs.ingest_verified(&[(staged, remote.blob.clone())])?;
    tracing::info!(source = name, vib = %remote.name, bytes = size, "on-demand payload verified and stored");
    Ok(())
}

enum Streamed {
    Read(io::Error),
    Write(io::Error),
}

/// Copy the body to `staged`, hashing as it goes; stops reading past `limit` + 1 bytes
/// (a body longer than declared is rejected without storing all of it).
fn stream(reader: &mut dyn Read, staged: &std::path::Path, limit: u64) -> Result<(BlobId, u64), Streamed> {
    let mut out = File::create(staged).map_err(Streamed::Write)?;
    let mut hasher = sha2::Sha256::new();
    let mut len = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut reader = reader.take(limit.saturating_add(1));
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Streamed::Read(e)),
        };
        let data = buf.get(..n).unwrap_or_default();
        out.write_all(data).map_err(Streamed::Write)?;
        hasher.update(data);
        len += n as u64;
    }
    out.flush().map_err(Streamed::Write)?;
    Ok((BlobId::from_digest(&hasher.finalize()), len))
}
