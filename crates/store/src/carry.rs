//! Carrying a store across an air gap: `mirror export` writes snapshots and the blobs they
//! need to a directory of fixed-size chunk files; `mirror import` reads them into another
//! store.
//!
//! ```text
//! DIR/esxlcm-export.json     the manifest: sources, snapshots (path → blob), blobs in
//!                            stream order, chunk files with their sizes and sha-256
//! DIR/SHA256SUMS             sha-256 of the manifest and of every chunk (`sha256sum -c`)
//! DIR/chunk-00001.bin …      the blobs concatenated in manifest order, cut every
//!                            --chunk-size bytes (a blob may continue in the next chunk)
//! ```
//!
//! **Incremental.** `--since N` carries the snapshots newer than N and only the blobs that
//! no snapshot up to N (of the exported sources) references; the receiving store must hold
//! those already (an earlier import), which the import checks before it writes anything.
//!
//! **Verified.** Import checks the manifest against `SHA256SUMS`, each chunk's size before
//! reading, each chunk's sha-256 as it streams (a blob is stored only once every chunk it
//! touches has matched, so a bad chunk is named, not a blob), and each blob's own sha-256.
//!
//! **Resumable and atomic per snapshot.** Blobs are content-addressed: a re-run skips the
//! blobs already stored and does not read chunks holding only those. A snapshot is recorded
//! (with the origin snapshot it came from, so a re-run never records it twice) only when
//! every blob it names is stored, then published; until then the store serves what it did.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blob::{BlobId, sync_dir};
use crate::error::StoreError;
use crate::meta::FileEntry;
use crate::source::{PayloadPolicy, SourceConfig, SourceKind};
use crate::store::Store;
use crate::sync::{Progress, SyncEvent};

pub const MANIFEST: &str = "esxlcm-export.json";
pub const SUMS: &str = "SHA256SUMS";
const SCHEMA: &str = "esxlcm.mirror.export/1";
/// Default chunk size: 4 GiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 4 << 30;
const COPY_BUF: usize = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    /// The exporting store's id: imported snapshots remember it with their origin id.
    pub store_id: String,
    pub created_at: i64,
    /// Snapshots up to this id were left out (`--since`).
    pub since: Option<i64>,
    /// The newest snapshot exported: the `--since` of the next incremental export.
    pub upto: Option<i64>,
    pub chunk_size: u64,
    pub sources: Vec<ManifestSource>,
    /// In stream order: blob `i` starts where blob `i-1` ends.
    pub blobs: Vec<ManifestBlob>,
    pub chunks: Vec<ManifestChunk>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestSource {
    pub name: String,
    pub kind: SourceKind,
    /// Redacted: tokens, header values, proxy and CA paths never leave the store.
    pub url: String,
    pub description: String,
    pub platforms: Vec<String>,
    pub vendors: Vec<String>,
    /// The source's `--only-for` software specs (JSON text), kept by the import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_for: Vec<String>,
    pub retention: u32,
    /// The origin snapshot published when exported.
    pub published: Option<i64>,
    pub snapshots: Vec<ManifestSnapshot>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestSnapshot {
    pub id: i64,
    pub created_at: i64,
    /// (path, sha-256, size), sorted by path.
    pub files: Vec<(String, String, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestBlob {
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestChunk {
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Default)]
pub struct ExportOptions {
    /// Leave out snapshots up to this id, and the blobs they reference.
    pub since: Option<i64>,
    /// Chunk file size (0: the default, [`DEFAULT_CHUNK_SIZE`]).
    pub chunk_size: u64,
    /// Sources to export (empty: all with snapshots).
    pub sources: Vec<String>,
    /// Sign the package (`SHA256SUMS.sig`, [`crate::carry_sign`]).
    pub sign: Option<crate::carry_sign::PackageKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// (source, snapshot id) exported.
    pub snapshots: Vec<(String, i64)>,
    pub blobs: usize,
    pub bytes: u64,
    pub chunks: usize,
    pub since: Option<i64>,
    pub upto: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub blobs_in_export: usize,
    /// Blobs written by this run.
    pub blobs_written: usize,
    pub bytes_written: u64,
    /// Blobs the store already held (an earlier run, another source, an earlier export).
    pub blobs_present: usize,
    pub chunks_read: usize,
    pub chunks_skipped: usize,
    /// (source, origin snapshot, local snapshot) recorded by this run.
    pub snapshots_created: Vec<(String, i64, i64)>,
    /// Snapshots an earlier run already recorded.
    pub snapshots_existing: usize,
    /// (source, local snapshot) published by this run.
    pub published: Vec<(String, i64)>,
    /// Snapshots retention removed after the import.
    pub expired: Vec<i64>,
}

fn carry_err(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Carry { path: path.to_path_buf(), message: message.into() }
}

/// Parse a size such as `4G`, `700M`, `512K`, `4GiB` or plain bytes (binary multiples).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift).filter(|v| *v > 0)
}

// ---- export -------------------------------------------------------------------------

/// Write the store's snapshots (newer than `since`) and the blobs they need to `dir`,
/// which must be missing or empty, telling `progress` the payload bytes to copy
/// (`Planned`) and each read (`Bytes`). Takes no lock itself: callers hold [`Store::lock`].
pub(crate) fn export(
    store: &Store,
    dir: &Path,
    options: &ExportOptions,
    progress: &dyn Progress,
) -> Result<ExportReport, StoreError> {
    let chunk_size = if options.chunk_size == 0 { DEFAULT_CHUNK_SIZE } else { options.chunk_size };
    let mut sources = store.meta.sources()?;
    if !options.sources.is_empty() {
        for n in &options.sources {
            store.meta.source(n)?;
        }
        sources.retain(|s| options.sources.contains(&s.config.name));
    }
    let since = options.since.unwrap_or(0);
    let mut manifest_sources = Vec::new();
    let mut carried: BTreeSet<BlobId> = BTreeSet::new();
    let mut known: HashSet<BlobId> = HashSet::new();
    let mut exported = Vec::new();
    let mut sizes: BTreeMap<BlobId, u64> = BTreeMap::new();
    let fetcher = crate::ondemand::OnDemand::new();
    for s in &sources {
        let c = &s.config;
        let mut snaps = Vec::new();
        for snap in store.meta.snapshots(s.id)? {
            let files = store.meta.snapshot_files(snap.id)?;
            if snap.id <= since {
                known.extend(files.into_iter().map(|f| f.blob));
                continue;
            }
            // Payloads of an on-demand source travel too: fetched (and verified) first.
            let fetched = crate::ondemand::fetch_missing(store, &fetcher, s, snap.id).map_err(|e| {
                carry_err(
                    dir,
                    format!(
                        "snapshot {} of '{}' has on-demand payloads not fetched yet, and fetching them failed: {e}",
                        snap.id, c.name
                    ),
                )
            })?;
            if fetched > 0 {
                tracing::info!(source = %c.name, snapshot = snap.id, fetched, "fetched on-demand payloads to export them");
            }
            for f in &files {
                carried.insert(f.blob.clone());
                sizes.insert(f.blob.clone(), f.size);
            }
            exported.push((c.name.clone(), snap.id));
            snaps.push(ManifestSnapshot {
                id: snap.id,
                created_at: snap.created_at,
                files: files.into_iter().map(|f| (f.path, f.blob.to_string(), f.size)).collect(),
            });
        }
        if snaps.is_empty() {
            continue;
        }
        manifest_sources.push(ManifestSource {
            name: c.name.clone(),
            kind: c.kind,
            url: c.display_url(),
            description: c.description.clone(),
            platforms: c.platforms.clone(),
            vendors: c.vendors.clone(),
            only_for: c.only_for.clone(),
            retention: c.retention,
            published: store.meta.published(s.id)?,
            snapshots: snaps,
        });
    }
    if exported.is_empty() {
        let what = options
            .since
            .map_or_else(|| "the store has no snapshots".to_owned(), |n| format!("no snapshot is newer than {n}"));
        return Err(carry_err(dir, format!("nothing to export: {what} (see `esxlcm mirror status`)")));
    }
    let blobs: Vec<ManifestBlob> = carried
        .iter()
        .filter(|b| !known.contains(*b))
        .map(|b| ManifestBlob { sha256: b.to_string(), size: sizes.get(b).copied().unwrap_or(0) })
        .collect();

    prepare_dir(dir)?;
    progress.event(&SyncEvent::Planned { files: blobs.len(), bytes: blobs.iter().map(|b| b.size).sum() });
    let mut writer = ChunkWriter::new(dir, chunk_size);
    let mut buf = vec![0u8; COPY_BUF];
    for b in &blobs {
        let id = BlobId::parse(&b.sha256).ok_or_else(|| carry_err(dir, format!("'{}' is not a sha-256", b.sha256)))?;
        let mut reader = store.blobs.open(&id)?;
        let mut hasher = Sha256::new();
        let mut n_total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::io(Path::new(id.as_str()), e)),
            };
            let data = buf.get(..n).unwrap_or_default();
            hasher.update(data);
            writer.write(data)?;
            n_total += n as u64;
            progress.event(&SyncEvent::Bytes(n as u64));
        }
        // A blob that rotted in the store must not travel: the far side could not repair it.
        let actual = hex::encode(hasher.finalize());
        if actual != b.sha256 || n_total != b.size {
            return Err(StoreError::Carry {
                path: store.root().to_path_buf(),
                message: format!(
                    "blob {} is corrupt in the store (content hashes to {actual}, {n_total} bytes); \
                     run `esxlcm mirror verify`, then sync again",
                    b.sha256
                ),
            });
        }
    }
    let chunks = writer.finish()?;
    let bytes: u64 = blobs.iter().map(|b| b.size).sum();
    let manifest = Manifest {
        schema: SCHEMA.to_owned(),
        store_id: store.meta.store_id()?,
        created_at: crate::meta::now(),
        since: options.since,
        upto: exported.iter().map(|(_, id)| *id).max(),
        chunk_size,
        sources: manifest_sources,
        blobs,
        chunks,
    };
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| carry_err(dir, format!("writing the manifest: {e}")))?;
    let mut sums = format!("{}  {MANIFEST}\n", hex::encode(Sha256::digest(&json)));
    for c in &manifest.chunks {
        sums.push_str(&format!("{}  {}\n", c.sha256, c.file));
    }
    // The manifest goes last: an export without one is visibly incomplete.
    write_durable(&dir.join(SUMS), sums.as_bytes())?;
    if let Some(key) = &options.sign {
        crate::carry_sign::sign(dir, key)?;
    }
    write_durable(&dir.join(MANIFEST), &json)?;
    sync_dir(dir)?;
    Ok(ExportReport {
        snapshots: exported,
        blobs: manifest.blobs.len(),
        bytes,
        chunks: manifest.chunks.len(),
        since: options.since,
        upto: manifest.upto,
    })
}

fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(carry_err(dir, "is not empty; export into a new or empty directory"));
            }
            Ok(())
        }
        // Durable: the export is complete (and the media safe to remove) when it returns.
        Err(e) if e.kind() == io::ErrorKind::NotFound => crate::blob::create_dir_durable(dir),
        Err(e) => Err(StoreError::io(dir, e)),
    }
}

pub(crate) fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| StoreError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))
}

fn chunk_name(index: usize) -> String {
    format!("chunk-{:05}.bin", index + 1)
}

/// Cuts one byte stream into chunk files of `limit` bytes, hashing each.
struct ChunkWriter<'a> {
    dir: &'a Path,
    limit: u64,
    current: Option<(File, PathBuf, Sha256, u64)>,
    done: Vec<ManifestChunk>,
}

impl<'a> ChunkWriter<'a> {
    fn new(dir: &'a Path, limit: u64) -> Self {
        Self { dir, limit, current: None, done: Vec::new() }
    }

    fn write(&mut self, mut data: &[u8]) -> Result<(), StoreError> {
        while !data.is_empty() {
            if self.current.is_none() {
                let path = self.dir.join(chunk_name(self.done.len()));
                let f = File::create(&path).map_err(|e| StoreError::io(&path, e))?;
                self.current = Some((f, path, Sha256::new(), 0));
            }
            let Some((file, path, hasher, written)) = self.current.as_mut() else { continue };
            let room = usize::try_from(self.limit - *written).unwrap_or(usize::MAX);
            let (now, rest) = data.split_at(room.min(data.len()));
            file.write_all(now).map_err(|e| StoreError::io(path, e))?;
            hasher.update(now);
            *written += now.len() as u64;
            data = rest;
            if *written == self.limit {
                self.close()?;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), StoreError> {
        if let Some((file, path, hasher, written)) = self.current.take() {
            file.sync_all().map_err(|e| StoreError::io(&path, e))?;
            self.done.push(ManifestChunk {
                file: chunk_name(self.done.len()),
                size: written,
                sha256: hex::encode(hasher.finalize()),
            });
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<ManifestChunk>, StoreError> {
        self.close()?;
        Ok(self.done)
    }
}

// ---- import -------------------------------------------------------------------------

/// Read and check an export's manifest against `SHA256SUMS`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, StoreError> {
    let path = dir.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(carry_err(
                &path,
                "not found: not an esxlcm export, or the export did not finish (the manifest is written last)",
            ));
        }
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let sums_path = dir.join(SUMS);
    let sums = fs::read_to_string(&sums_path).map_err(|e| StoreError::io(&sums_path, e))?;
    let expected = sums
        .lines()
        .find_map(|l| l.split_once("  ").filter(|(_, f)| *f == MANIFEST).map(|(h, _)| h.to_owned()))
        .ok_or_else(|| carry_err(&sums_path, format!("does not list {MANIFEST}")))?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != expected {
        return Err(carry_err(
            &path,
            format!("is corrupt: sha-256 {actual}, {SUMS} says {expected}; copy the export again"),
        ));
    }
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| carry_err(&path, format!("unreadable manifest: {e}")))?;
    if manifest.schema != SCHEMA {
        return Err(carry_err(
            &path,
            format!("schema '{}' is not '{SCHEMA}' (made by another esxlcm version?)", manifest.schema),
        ));
    }
    let stream: u64 = manifest.blobs.iter().map(|b| b.size).sum();
    let chunks: u64 = manifest.chunks.iter().map(|c| c.size).sum();
    if stream != chunks {
        return Err(carry_err(&path, format!("blobs total {stream} bytes but chunks {chunks}")));
    }
    for c in &manifest.chunks {
        if c.file.contains(['/', '\\']) || c.file.starts_with('.') {
            return Err(carry_err(&path, format!("chunk name '{}' is not a plain file name", c.file)));
        }
    }
    Ok(manifest)
}

/// A blob being written from the stream.
struct Pending {
    id: BlobId,
    staged: PathBuf,
    file: Option<File>,
    /// Of the bytes written: the file is not read again to check its name.
    hasher: Sha256,
    written: u64,
}

/// Import the export in `dir` into `store`, first checking its signature when `verify`
/// is given (nothing is written for an unsigned, foreign or changed package). Takes no
/// lock itself: callers hold [`Store::lock`] (and run [`Store::reconcile`] first). Tells
/// `progress` the chunk bytes to read (`Planned`) and each read (`Bytes`).
pub(crate) fn import(
    store: &Store,
    dir: &Path,
    verify: Option<&crate::carry_sign::PackageVerifier>,
    progress: &dyn Progress,
) -> Result<ImportReport, StoreError> {
    if let Some(v) = verify {
        crate::carry_sign::verify(dir, v)?;
    }
    let manifest = read_manifest(dir)?;
    let mut report = ImportReport { blobs_in_export: manifest.blobs.len(), ..Default::default() };
    let origin = manifest.store_id.clone();

    // What is to be recorded, and whether the store can hold it: every file of every new
    // snapshot is carried here or stored already (an incremental export needs its base).
    let carried: HashSet<&str> = manifest.blobs.iter().map(|b| b.sha256.as_str()).collect();
    let mut todo: Vec<(&ManifestSource, &ManifestSnapshot)> = Vec::new();
    let mut lacking: Vec<(String, String)> = Vec::new();
    for s in &manifest.sources {
        for snap in &s.snapshots {
            if store.meta.imported_snapshot(&origin, snap.id)?.is_some() {
                report.snapshots_existing += 1;
                continue;
            }
            for (path, blob, _) in &snap.files {
                let id = BlobId::parse(blob)
                    .ok_or_else(|| carry_err(&dir.join(MANIFEST), format!("'{blob}' is not a sha-256")))?;
                if !carried.contains(blob.as_str()) && !store.blobs.contains(&id)? {
                    lacking.push((format!("{}: {path}", s.name), blob.clone()));
                }
            }
            todo.push((s, snap));
        }
    }
    if let Some((first, blob)) = lacking.first() {
        let base = manifest.since.map_or_else(String::new, |n| format!(" (it was exported with --since {n})"));
        return Err(carry_err(
            dir,
            format!(
                "this export is incremental{base} and the store lacks {} file(s) it does not carry, first {first} \
                 (blob {blob}); import the earlier export(s) first, or export again with an earlier --since \
                 or without it",
                lacking.len()
            ),
        ));
    }

    // The blobs: stream offsets, and which chunks hold blobs the store lacks.
    let mut needed = vec![false; manifest.blobs.len()];
    let mut ids = Vec::with_capacity(manifest.blobs.len());
    for (i, b) in manifest.blobs.iter().enumerate() {
        let id = BlobId::parse(&b.sha256)
            .ok_or_else(|| carry_err(&dir.join(MANIFEST), format!("'{}' is not a sha-256", b.sha256)))?;
        if store.blobs.contains(&id)? {
            report.blobs_present += 1;
        } else if b.size == 0 {
            store.blobs.put_bytes(&[])?;
            report.blobs_written += 1;
        } else if let Some(slot) = needed.get_mut(i) {
            *slot = true;
        }
        ids.push(id);
    }
    let mut chunk_starts = Vec::with_capacity(manifest.chunks.len());
    let mut at = 0u64;
    for c in &manifest.chunks {
        chunk_starts.push(at);
        at += c.size;
    }
    let mut chunk_needed = vec![false; manifest.chunks.len()];
    let mut offset = 0u64;
    for (i, b) in manifest.blobs.iter().enumerate() {
        let (start, end) = (offset, offset + b.size);
        offset = end;
        if !needed.get(i).copied().unwrap_or(false) {
            continue;
        }
        for (c, &cs) in chunk_starts.iter().enumerate() {
            let ce = cs + manifest.chunks.get(c).map_or(0, |x| x.size);
            if cs < end
                && start < ce
                && let Some(slot) = chunk_needed.get_mut(c)
            {
                *slot = true;
            }
        }
    }
    // Missing or short chunks are named before anything is read.
    for (c, chunk) in manifest.chunks.iter().enumerate() {
        if !chunk_needed.get(c).copied().unwrap_or(false) {
            continue;
        }
        let path = dir.join(&chunk.file);
        match fs::metadata(&path) {
            Ok(m) if m.len() == chunk.size => {}
            Ok(m) => {
                return Err(StoreError::BadChunk {
                    file: path,
                    message: format!("{} bytes, the manifest says {} (an incomplete copy?)", m.len(), chunk.size),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::BadChunk { file: path, message: "missing".into() });
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        }
    }

    // Stream the needed chunks; a blob is stored once every chunk it touches has matched.
    let needed_chunks =
        manifest.chunks.iter().enumerate().filter(|(c, _)| chunk_needed.get(*c).copied().unwrap_or(false));
    let (files, bytes) = needed_chunks.fold((0, 0), |(n, b), (_, c)| (n + 1, b + c.size));
    progress.event(&SyncEvent::Planned { files, bytes });
    let staging = store.staging_dir();
    let mut blob_index = 0usize;
    let mut blob_offset = 0u64; // stream offset where blob `blob_index` starts
    let mut pending: Option<Pending> = None;
    let mut complete: Vec<Pending> = Vec::new();
    let mut buf = vec![0u8; COPY_BUF];
    for (c, chunk) in manifest.chunks.iter().enumerate() {
        if !chunk_needed.get(c).copied().unwrap_or(false) {
            report.chunks_skipped += 1;
            continue;
        }
        let path = dir.join(&chunk.file);
        let start = chunk_starts.get(c).copied().unwrap_or(0);
        // Position at the first blob overlapping this chunk.
        while blob_index < manifest.blobs.len()
            && blob_offset + manifest.blobs.get(blob_index).map_or(0, |b| b.size) <= start
        {
            blob_offset += manifest.blobs.get(blob_index).map_or(0, |b| b.size);
            blob_index += 1;
        }
        let file = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        let mut reader = BufReader::with_capacity(COPY_BUF, file);
        let mut hasher = Sha256::new();
        let mut pos = start; // stream offset of the next byte read
        let end = start + chunk.size;
        while pos < end {
            let want = usize::try_from((end - pos).min(COPY_BUF as u64)).unwrap_or(COPY_BUF);
            let n = match reader.read(buf.get_mut(..want).unwrap_or_default()) {
                Ok(0) => {
                    return Err(StoreError::BadChunk { file: path, message: "ended early".into() });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::io(&path, e)),
            };
            let mut data = buf.get(..n).unwrap_or_default();
            hasher.update(data);
            progress.event(&SyncEvent::Bytes(n as u64));
            // Hand the bytes to the blobs they belong to.
            while !data.is_empty() {
                let size = manifest.blobs.get(blob_index).map_or(0, |b| b.size);
                let blob_end = blob_offset + size;
                let take = usize::try_from((blob_end - pos).min(data.len() as u64)).unwrap_or(data.len());
                let (mine, rest) = data.split_at(take);
                if needed.get(blob_index).copied().unwrap_or(false) {
                    let p = match pending.as_mut() {
                        Some(p) => p,
                        None => {
                            let id = ids.get(blob_index).cloned().ok_or_else(|| carry_err(dir, "blob index"))?;
                            let staged = staging.join(format!("import-{id}.tmp"));
                            let f = File::create(&staged).map_err(|e| StoreError::io(&staged, e))?;
                            pending.insert(Pending { id, staged, file: Some(f), hasher: Sha256::new(), written: 0 })
                        }
                    };
                    if let Some(f) = p.file.as_mut() {
                        f.write_all(mine).map_err(|e| StoreError::io(&p.staged, e))?;
                    }
                    p.hasher.update(mine);
                    p.written += mine.len() as u64;
                }
                pos += mine.len() as u64;
                data = rest;
                if pos == blob_end {
                    if let Some(mut p) = pending.take() {
                        drop(p.file.take());
                        complete.push(p);
                    }
                    blob_offset = blob_end;
                    blob_index += 1;
                }
            }
        }
        let actual = hex::encode(hasher.finalize());
        if actual != chunk.sha256 {
            for p in complete.drain(..).chain(pending.take()) {
                let _ = fs::remove_file(&p.staged);
            }
            return Err(StoreError::BadChunk {
                file: path,
                message: format!("sha-256 {actual}, the manifest says {}", chunk.sha256),
            });
        }
        report.chunks_read += 1;
        // Every chunk these blobs touch has matched; each blob must still hash to its name
        // (a manifest that lies is refused), then all are made durable with one barrier.
        let mut batch = Vec::with_capacity(complete.len());
        for p in complete.drain(..) {
            let actual = BlobId::from_digest(&p.hasher.finalize());
            if actual != p.id {
                let _ = fs::remove_file(&p.staged);
                return Err(StoreError::BlobMismatch { expected: p.id, actual, file: p.staged });
            }
            report.bytes_written += p.written;
            batch.push((p.staged, p.id));
        }
        store.blobs.ingest_verified(&batch)?;
        report.blobs_written += batch.len();
    }
    if let Some(p) = pending.take() {
        let _ = fs::remove_file(&p.staged);
        return Err(carry_err(dir, format!("blob {} is not complete in the chunks", p.id)));
    }

    // Every VIB an imported snapshot names is judged by its source's signature policy, as a
    // sync or push would judge it: one refused, nothing is recorded.
    let trust = crate::signatures::trust_store(store.root())?;
    let mut refused = Vec::new();
    for (s, snap) in &todo {
        let policy = store.meta.source(&s.name).map(|x| x.config.signatures).unwrap_or_default();
        for (path, blob, _) in snap.files.iter().filter(|(p, _, _)| p.to_ascii_lowercase().ends_with(".vib")) {
            let Some(id) = BlobId::parse(blob) else { continue };
            // A blob in a bucket is judged from a local copy: no VIB skips the check.
            let file = store.blob_file(&id)?;
            match crate::signatures::judge(file.path(), policy, &trust) {
                crate::signatures::Judgement::Accepted => {}
                crate::signatures::Judgement::Warned(why) => {
                    tracing::warn!(source = s.name, vib = path, "imported under --signatures warn: {why}");
                }
                crate::signatures::Judgement::Refused(why) => refused.push(format!("{}: {path}: {why}", s.name)),
            }
        }
    }
    if !refused.is_empty() {
        return Err(carry_err(
            dir,
            format!(
                "{} VIB(s) refused by the signature policy, nothing recorded or published: {}",
                refused.len(),
                refused.join("; ")
            ),
        ));
    }

    // Snapshots, each recorded whole once its blobs are stored; then publication.
    for (s, snap) in todo {
        let source = match store.meta.source(&s.name) {
            Ok(existing) => existing,
            Err(StoreError::UnknownSource(_)) => store.meta.add_source(&imported_config(s)?)?,
            Err(e) => return Err(e),
        };
        let files: Vec<FileEntry> = snap
            .files
            .iter()
            .map(|(path, blob, size)| {
                BlobId::parse(blob)
                    .map(|blob| FileEntry { path: path.clone(), blob, size: *size })
                    .ok_or_else(|| carry_err(&dir.join(MANIFEST), format!("'{blob}' is not a sha-256")))
            })
            .collect::<Result<_, _>>()?;
        for f in &files {
            if crate::store::safe_join(Path::new("/"), &f.path).is_none() {
                return Err(carry_err(&dir.join(MANIFEST), format!("path '{}' is not a safe relative path", f.path)));
            }
        }
        let created = store.meta.create_imported_snapshot(source.id, &files, snap.created_at, &origin, snap.id)?;
        report.snapshots_created.push((s.name.clone(), snap.id, created.id));
    }
    for s in &manifest.sources {
        let Some(origin_published) = s.published else { continue };
        let source = store.meta.source(&s.name)?;
        let Some(local) = store.meta.imported_snapshot(&origin, origin_published)? else {
            tracing::warn!(
                source = s.name,
                snapshot = origin_published,
                "the exporting store's published snapshot is in no import yet; it stays unpublished here"
            );
            continue;
        };
        if store.meta.published(source.id)? != Some(local) || store.linked_snapshot(&s.name) != Some(local) {
            store.publish(&source, local)?;
            report.published.push((s.name.clone(), local));
        }
        report.expired.extend(store.apply_retention(&source)?);
    }
    Ok(report)
}

/// A source made by an import: upstream's address for reference only (redacted) and
/// disabled, so `mirror sync` on the disconnected side does not try to reach it.
fn imported_config(s: &ManifestSource) -> Result<SourceConfig, StoreError> {
    let mut config = SourceConfig::new(&s.name, &s.url)
        .or_else(|_| SourceConfig::new(&s.name, "file:///nonexistent/imported/index.xml"))?;
    config.kind = s.kind;
    config.description =
        if s.description.is_empty() { "imported (mirror import)".to_owned() } else { s.description.clone() };
    config.enabled = false;
    config.payloads = PayloadPolicy::Prefetch;
    config.platforms.clone_from(&s.platforms);
    config.vendors.clone_from(&s.vendors);
    config.only_for.clone_from(&s.only_for);
    config.retention = s.retention.max(1);
    Ok(config)
}

/// The chunk files `SHA256SUMS` lists, for tools and tests.
pub fn listed_files(dir: &Path) -> Result<Vec<String>, StoreError> {
    let path = dir.join(SUMS);
    let f = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
    BufReader::new(f)
        .lines()
        .map(|l| l.map(|l| l.split_once("  ").map(|(_, f)| f.to_owned()).unwrap_or_default()))
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::NoProgress;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("700M"), Some(700 << 20));
        assert_eq!(parse_size("64KiB"), Some(64 << 10));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("4X"), None);
        assert_eq!(parse_size("G"), None);
    }

    /// Blobs longer than a chunk, an empty file, one blob at two paths, two sources.
    #[test]
    fn round_trip_with_blobs_across_tiny_chunks() {
        use crate::source::SourceConfig;
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(&dir.path().join("a")).unwrap();
        let put = |store: &Store, path: &str, content: &[u8]| FileEntry {
            path: path.into(),
            blob: store.blobs.put_bytes(content).unwrap(),
            size: content.len() as u64,
        };
        let mut ids = Vec::new();
        for name in ["one", "two"] {
            let s =
                a.meta.add_source(&SourceConfig::new(name, "https://u:p@x.example/tok/index.xml").unwrap()).unwrap();
            let files = [
                put(&a, "index.xml", format!("<{name}/>").as_bytes()),
                put(&a, "empty", b""),
                put(&a, "v/a.payload", b"0123456789abcdef"),
                put(&a, "w/a.payload", b"0123456789abcdef"),
            ];
            let snap = a.meta.create_snapshot(s.id, &files).unwrap();
            a.publish(&s, snap.id).unwrap();
            ids.push(snap.id);
        }
        let out = dir.path().join("carry");
        let options = ExportOptions { chunk_size: 3, ..Default::default() };
        let r = export(&a, &out, &options, &NoProgress).unwrap();
        assert_eq!((r.blobs, r.upto), (4, Some(ids[1])), "two index docs, the empty file, the shared VIB");
        assert_eq!(r.chunks, usize::try_from(r.bytes.div_ceil(3)).unwrap());
        let manifest = fs::read_to_string(out.join(MANIFEST)).unwrap();
        assert!(!manifest.contains("u:p") && !manifest.contains(":p@"), "no credentials travel");
        assert!(export(&a, &out, &options, &NoProgress).is_err(), "an export never lands on top of another");

        let b = Store::open(&dir.path().join("b")).unwrap();
        let got = import(&b, &out, None, &NoProgress).unwrap();
        assert_eq!((got.blobs_written, got.snapshots_created.len(), got.published.len()), (4, 2, 2));
        for name in ["one", "two"] {
            let view = |s: &Store| {
                let mut files: Vec<(String, Vec<u8>)> = s
                    .meta
                    .snapshot_files(s.meta.published(s.meta.source(name).unwrap().id).unwrap().unwrap())
                    .unwrap()
                    .into_iter()
                    .map(|f| (f.path.clone(), fs::read(s.published_dir().join(name).join(&f.path)).unwrap()))
                    .collect();
                files.sort();
                files
            };
            assert_eq!(view(&a), view(&b), "{name}");
            assert!(!b.meta.source(name).unwrap().config.enabled);
        }
        let again = import(&b, &out, None, &NoProgress).unwrap();
        assert_eq!((again.blobs_written, again.snapshots_existing, again.published.len()), (0, 2, 0));
        assert!(crate::verify::verify(&b).unwrap().is_clean());
        assert!(matches!(
            export(
                &a,
                &dir.path().join("none"),
                &ExportOptions { since: Some(ids[1]), ..Default::default() },
                &NoProgress
            ),
            Err(StoreError::Carry { .. })
        ));
    }

    #[test]
    fn a_signed_export_imports_only_with_its_key_and_untouched() {
        use crate::carry_sign::{PackageKey, PackageVerifier, keygen};
        use crate::source::SourceConfig;
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(&dir.path().join("a")).unwrap();
        let s = a.meta.add_source(&SourceConfig::new("one", "https://x.example/index.xml").unwrap()).unwrap();
        let files: Vec<FileEntry> = [("index.xml", b"<one/>".as_slice()), ("v/a.payload", b"0123456789abcdef")]
            .into_iter()
            .map(|(path, bytes)| FileEntry {
                path: path.into(),
                blob: a.blobs.put_bytes(bytes).unwrap(),
                size: bytes.len() as u64,
            })
            .collect();
        let snap = a.meta.create_snapshot(s.id, &files).unwrap();
        a.publish(&s, snap.id).unwrap();
        let keys = keygen(&dir.path().join("site.key")).unwrap();
        let other = keygen(&dir.path().join("other.key")).unwrap();
        let out = dir.path().join("carry");
        let options =
            ExportOptions { chunk_size: 5, sign: Some(PackageKey::load(&keys.secret).unwrap()), ..Default::default() };
        export(&a, &out, &options, &NoProgress).unwrap();
        assert!(out.join(crate::carry_sign::SIGNATURE).is_file());

        let b = Store::open(&dir.path().join("b")).unwrap();
        let refused = |dir: &Path, key: &Path| {
            let e = import(&b, dir, Some(&PackageVerifier::load(key).unwrap()), &NoProgress).unwrap_err().to_string();
            assert!(b.meta.sources().unwrap().is_empty(), "nothing imported: {e}");
            e
        };
        assert!(refused(&out, &other.public).contains("not by key"));
        // A changed chunk (with its sums entry updated to match) breaks the signature.
        let tampered = dir.path().join("tampered");
        fs::create_dir(&tampered).unwrap();
        for entry in fs::read_dir(&out).unwrap() {
            let entry = entry.unwrap();
            fs::copy(entry.path(), tampered.join(entry.file_name())).unwrap();
        }
        fs::write(tampered.join("chunk-00001.bin"), b"XXXXX").unwrap();
        let sums = fs::read_to_string(tampered.join(SUMS)).unwrap();
        let forged: String = sums
            .lines()
            .map(|l| match l.split_once("  ") {
                Some((_, "chunk-00001.bin")) => format!("{}  chunk-00001.bin\n", hex::encode(Sha256::digest(b"XXXXX"))),
                _ => format!("{l}\n"),
            })
            .collect();
        fs::write(tampered.join(SUMS), forged).unwrap();
        assert!(refused(&tampered, &keys.public).contains("changed after it was signed"));
        fs::remove_file(tampered.join(crate::carry_sign::SIGNATURE)).unwrap();
        assert!(refused(&tampered, &keys.public).contains("not signed"));

        let got = import(&b, &out, Some(&PackageVerifier::load(&keys.public).unwrap()), &NoProgress).unwrap();
        assert_eq!((got.blobs_written, got.published.len()), (2, 1));
    }

    #[test]
    fn chunk_writer_cuts_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ChunkWriter::new(dir.path(), 4);
        w.write(b"abcdef").unwrap();
        w.write(b"gh").unwrap();
        w.write(b"i").unwrap();
        let chunks = w.finish().unwrap();
        let sizes: Vec<u64> = chunks.iter().map(|c| c.size).collect();
        assert_eq!(sizes, [4, 4, 1]);
        assert_eq!(fs::read(dir.path().join("chunk-00002.bin")).unwrap(), b"efgh");
        assert_eq!(chunks[2].sha256, hex::encode(Sha256::digest(b"i")));
    }
}
