//! What a sync fetches: the index chain walked from the vendor list (documents fetched
//! with conditional GETs into blobs), the source's vendor and platform filters applied
//! (filtered indexes rewritten), an `--only-for` subset, and the payloads the metadata
//! names.
//!
//! **Not shared with `esxlcm_depot::source::Depot::open`'s chain loading (yet).** Both
//! walk vendor list → vendor indexes → metadata zips, but this walk also filters vendors
//! and platforms as it goes (rewriting the documents it keeps), stores every document as a
//! blob with its HTTP validators, refuses metadata zips at absolute URLs (the depot reader
//! follows them), keeps each index's metadata entries separately where the depot reader
//! merges them across indexes, and reports errors as the store's typed errors. One walker
//! would need a seam in the depot crate for reading a path (which the store's transport
//! implements with conditional GETs) and one for visiting each document before the next
//! is read (filtering, rewriting); until then the two are kept separate on purpose.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use esxlcm_depot::archive::ArchiveLimits;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::metadata_zip::MetadataArchive;
use esxlcm_depot::model::{VendorIndex, VendorList};
use esxlcm_depot::source::path as depot_path;
use esxlcm_depot::source::{ContainerError, Depot, OpenOptions, ZipContainer};
use esxlcm_depot::write::DepotContent;
use esxlcm_net::redact::redact_url;
use url::Url;

use super::{EPOCH, MAX_DOCUMENT, MAX_METADATA_ZIP, Origin, Payload, Run, VENDOR_LIST_NAMES};
use crate::blob::BlobId;
use crate::error::StoreError;
use crate::meta::{CacheEntry, FileEntry};
use crate::source::{SourceConfig, SourceKind};
use crate::transport::{GetRequest, GetResponse, TransportError, Validators};
use crate::umds;

impl Run<'_> {
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

    pub(super) fn plan_online(&self, url: &Url) -> Result<(Vec<FileEntry>, Vec<Payload>), StoreError> {
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
    pub(super) fn plan_umds(&self, url: &Url) -> Result<(Vec<FileEntry>, Vec<Payload>), StoreError> {
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
    pub(super) fn open_bundle(
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

    pub(super) fn plan_from_container(&self) -> Result<(Vec<FileEntry>, Vec<Payload>), StoreError> {
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
    pub(super) fn narrow(
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
    pub(super) fn subset_documents(
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
