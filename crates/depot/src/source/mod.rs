//! Opening a depot from wherever it is: an offline bundle ZIP, a bare `.vib`, an unpacked
//! depot directory or an online depot URL, and following the index chain
//! (vendor list → vendor index → metadata zips) to a [`Depot`].

pub mod container;
pub mod fetch;
pub mod path;

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::sync::Arc;

use url::Url;

pub use container::{Container, ContainerError, DirContainer, UrlContainer, ZipContainer};
pub use fetch::{Fetch, FetchError, FileFetch};

use crate::archive::ArchiveLimits;
use crate::metadata_zip::{MetadataArchive, MetadataError};
use crate::model::{MetadataEntry, ModelError, VendorEntry, VendorIndex, VendorList, Vib, VibLocation};

/// Vendor list names, online first (depot-format §1.1).
const VENDOR_LIST_NAMES: [&str; 2] = ["vmw-depot-index.xml", "index.xml"];

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("{file}: {source}")]
    Document { file: String, source: ModelError },
    #[error("{file}: {source}")]
    Metadata { file: String, source: MetadataError },
    #[error("{location} is not a depot: {reason}")]
    NotADepot { location: String, reason: String },
    #[error("{file}: path '{path}' escapes the depot root or is absolute")]
    EscapingPath { file: String, path: String },
    #[error("{location}: {source}")]
    Io { location: String, source: io::Error },
    #[error("{location}: VIB file: {message}")]
    Vib { location: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Bundle,
    Vib,
    Directory,
    Online,
}

/// How to open sources.
#[derive(Clone)]
pub struct OpenOptions {
    pub fetch: Arc<dyn Fetch>,
    pub limits: ArchiveLimits,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self { fetch: Arc::new(FileFetch), limits: ArchiveLimits::default() }
    }
}

/// A vendor of the vendor list with its vendor index.
#[derive(Debug, Clone)]
pub struct LoadedVendor {
    pub entry: VendorEntry,
    /// Depot-relative path of the vendor index.
    pub index_path: String,
    pub index: VendorIndex,
}

/// One metadata zip, read once however many platform entries point at it.
#[derive(Debug, Clone)]
pub struct LoadedMetadata {
    /// Depot-relative path (or absolute URL) of the zip.
    pub path: String,
    /// Directory VIB relative paths resolve against: the vendor index's.
    pub base_dir: String,
    pub vendor_code: String,
    /// The vendor-index entries (platform, channel) that name this zip.
    pub entries: Vec<MetadataEntry>,
    pub archive: MetadataArchive,
}

/// A depot as read: its index chain and metadata, plus access to its files.
pub struct Depot {
    pub label: String,
    pub kind: SourceKind,
    pub vendor_list: Option<VendorList>,
    /// Depot-relative path of the vendor list.
    pub vendor_list_path: String,
    pub vendors: Vec<LoadedVendor>,
    pub metadata: Vec<LoadedMetadata>,
    /// VIBs that are not described by any metadata (a bare `.vib` source).
    pub loose_vibs: Vec<Arc<Vib>>,
    /// Things worth telling the user that are not errors (an unwrapped nested bundle).
    pub notes: Vec<String>,
    pub container: Arc<dyn Container>,
}

impl std::fmt::Debug for Depot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Depot").field("label", &self.label).field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Depot {
    /// Open `spec`: a URL (`http:`, `https:`, `file:`), a `.zip`, a `.vib` or a directory.
    pub fn open(spec: &str, options: &OpenOptions) -> Result<Self, SourceError> {
        if let Ok(url) = Url::parse(spec) {
            if matches!(url.scheme(), "http" | "https") {
                return Self::open_url(url, options);
            }
            if url.scheme() == "file" {
                let path = url.to_file_path().map_err(|()| SourceError::NotADepot {
                    location: spec.to_owned(),
                    reason: "file: URL is not a local path".into(),
                })?;
                if path.is_dir() || path.extension().is_some_and(|e| e == "xml") {
                    return Self::open_url(url, options);
                }
                return Self::open_path(&path, options);
            }
        }
        Self::open_path(Path::new(spec), options)
    }

    pub fn open_path(path: &Path, options: &OpenOptions) -> Result<Self, SourceError> {
        let location = path.display().to_string();
        if path.is_dir() {
            let container = Arc::new(DirContainer::new(path));
            return Self::from_container(location, SourceKind::Directory, container, None, options);
        }
        let mut magic = [0u8; 8];
        // Not a FIFO or a device: opening one blocks, reading one may never end.
        let n = crate::input::open_regular(path)
            .map_err(crate::input::InputError::into_io)
            .and_then(|mut f| read_up_to(&mut f, &mut magic))
            .map_err(|source| SourceError::Io { location: location.clone(), source })?;
        match &magic[..n] {
            [0x50, 0x4b, 0x03, 0x04, ..] => Self::open_bundle(path, options),
            b"!<arch>\n" => Self::open_vib(path),
            _ => Err(SourceError::NotADepot {
                location,
                reason: "expected an offline bundle (.zip), a VIB (.vib), a depot directory or a URL".into(),
            }),
        }
    }

    fn open_bundle(path: &Path, options: &OpenOptions) -> Result<Self, SourceError> {
        let location = path.display().to_string();
        let container = ZipContainer::open(path, options.limits)?;
        let names = container.list().unwrap_or_default();
        if names.iter().any(|n| VENDOR_LIST_NAMES.contains(&n.as_str())) {
            return Self::from_container(location, SourceKind::Bundle, Arc::new(container), None, options);
        }
        // A download that wraps the real bundle (zip-in-zip, depot-format §3.1).
        let zips: Vec<&String> = names.iter().filter(|n| n.to_ascii_lowercase().ends_with(".zip")).collect();
        if let [inner] = zips.as_slice() {
            let inner = (*inner).clone();
            let spool = spool_to_temp(&container, &inner, path)?;
            let file = File::open(&spool).map_err(|source| SourceError::Io { location: location.clone(), source })?;
            let label = format!("{location}!{inner}");
            let inner_container = ZipContainer::from_file(label.clone(), file, options.limits, Some(spool))?;
            let note = format!("{location} wraps the real bundle '{inner}'; reading that one");
            return Self::from_container(label, SourceKind::Bundle, Arc::new(inner_container), Some(note), options);
        }
        let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
        Err(SourceError::NotADepot {
            location,
            reason: format!(
                "the ZIP has no index.xml at its root and does not wrap exactly one bundle; its first entries are: {}",
                shown.join(", ")
            ),
        })
    }

    fn open_url(url: Url, options: &OpenOptions) -> Result<Self, SourceError> {
        let location = url.to_string();
        let (base, candidates): (Url, Vec<String>) = if url.path().ends_with(".xml") {
            let name = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default().to_owned();
            let base = url
                .join("./")
                .map_err(|e| SourceError::NotADepot { location: location.clone(), reason: e.to_string() })?;
            (base, vec![name])
        } else {
            let mut base = url.clone();
            if !base.path().ends_with('/') {
                base.set_path(&format!("{}/", base.path()));
            }
            (base, VENDOR_LIST_NAMES.iter().map(|s| (*s).to_owned()).collect())
        };
        let container = Arc::new(UrlContainer::new(base, Arc::clone(&options.fetch)));
        Self::load_chain(location, SourceKind::Online, container, &candidates, None, options)
    }

    /// Open a depot directory tree kept somewhere else than a file system (a store's
    /// snapshot: database rows over content-addressed blobs), read through `container`.
    pub fn open_tree(
        location: String,
        container: Arc<dyn Container>,
        options: &OpenOptions,
    ) -> Result<Self, SourceError> {
        Self::from_container(location, SourceKind::Directory, container, None, options)
    }

    fn from_container(
        location: String,
        kind: SourceKind,
        container: Arc<dyn Container>,
        note: Option<String>,
        options: &OpenOptions,
    ) -> Result<Self, SourceError> {
        let candidates: Vec<String> =
            VENDOR_LIST_NAMES.iter().filter(|n| container.exists(n) != Some(false)).map(|s| (*s).to_owned()).collect();
        if candidates.is_empty() {
            return Err(SourceError::NotADepot {
                location,
                reason: "no index.xml or vmw-depot-index.xml at its root".into(),
            });
        }
        Self::load_chain(location, kind, container, &candidates, note, options)
    }

    fn load_chain(
        location: String,
        kind: SourceKind,
        container: Arc<dyn Container>,
        candidates: &[String],
        note: Option<String>,
        options: &OpenOptions,
    ) -> Result<Self, SourceError> {
        let limit = options.limits.max_document_bytes;
        let mut last_err = None;
        let mut found = None;
        for name in candidates {
            match container.read_small(name, limit) {
                Ok(bytes) => {
                    found = Some((name.clone(), bytes));
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let Some((vendor_list_path, bytes)) = found else {
            return Err(match last_err {
                Some(e) => e.into(),
                None => SourceError::NotADepot { location, reason: "no vendor list".into() },
            });
        };
        let vendor_list = VendorList::parse(&bytes)
            .map_err(|source| SourceError::Document { file: vendor_list_path.clone(), source })?;
        let list_dir = path::dir_of(&vendor_list_path);
        let mut vendors = Vec::new();
        let mut metadata: Vec<LoadedMetadata> = Vec::new();
        for entry in vendor_list.vendors.iter().filter(|v| v.is_esx()) {
            let index_path = path::join(&list_dir, &entry.index_path()).ok_or_else(|| SourceError::EscapingPath {
                file: vendor_list_path.clone(),
                path: entry.index_path(),
            })?;
            let bytes = container.read_small(&index_path, limit)?;
            let index = VendorIndex::parse(&bytes)
                .map_err(|source| SourceError::Document { file: index_path.clone(), source })?;
            let base_dir = path::dir_of(&index_path);
            for m in &index.metadata {
                let zip_path = if path::is_absolute_url(&m.url) {
                    m.url.trim().to_owned()
                } else {
                    path::join(&base_dir, &m.url)
                        .ok_or_else(|| SourceError::EscapingPath { file: index_path.clone(), path: m.url.clone() })?
                };
                if let Some(existing) = metadata.iter_mut().find(|l| l.path == zip_path) {
                    existing.entries.push(m.clone());
                    continue;
                }
                let archive = read_metadata_zip(container.as_ref(), &zip_path, options)?;
                metadata.push(LoadedMetadata {
                    path: zip_path,
                    base_dir: base_dir.clone(),
                    vendor_code: entry.code.clone(),
                    entries: vec![m.clone()],
                    archive,
                });
            }
            vendors.push(LoadedVendor { entry: entry.clone(), index_path, index });
        }
        Ok(Self {
            label: location,
            kind,
            vendor_list: Some(vendor_list),
            vendor_list_path,
            vendors,
            metadata,
            loose_vibs: Vec::new(),
            notes: note.into_iter().collect(),
            container,
        })
    }

    /// A bare `.vib`: its descriptor is its metadata; its location is the file itself.
    fn open_vib(path: &Path) -> Result<Self, SourceError> {
        let location = path.display().to_string();
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let file = crate::input::open_regular(path)
            .map_err(|e| SourceError::Io { location: location.clone(), source: e.into_io() })?;
        let summary = crate::vib::read_vib_file(file)
            .map_err(|e| SourceError::Vib { location: location.clone(), message: e.to_string() })?;
        let mut vib = Vib::parse(&summary.descriptor)
            .map_err(|source| SourceError::Document { file: format!("{location}!descriptor.xml"), source })?;
        vib.location = Some(VibLocation {
            relative_path: file_name,
            source_url: None,
            packed_size: summary.size,
            checksum: crate::model::Checksum::sha256(summary.sha256_hex),
        });
        Ok(Self {
            label: location,
            kind: SourceKind::Vib,
            vendor_list: None,
            vendor_list_path: String::new(),
            vendors: Vec::new(),
            metadata: Vec::new(),
            loose_vibs: vec![Arc::new(vib)],
            notes: Vec::new(),
            container: Arc::new(DirContainer::new(dir)),
        })
    }

    /// Depot-relative path (or absolute URL) of a VIB described by `meta`.
    pub fn vib_path(&self, meta: Option<&LoadedMetadata>, vib: &Vib) -> Result<String, SourceError> {
        let Some(loc) = &vib.location else {
            return Err(SourceError::Vib {
                location: self.label.clone(),
                message: format!("VIB {} has no location", vib.id()),
            });
        };
        if let Some(url) = loc.source_url.as_deref().filter(|u| path::is_absolute_url(u)) {
            return Ok(url.to_owned());
        }
        let base = meta.map_or("", |m| m.base_dir.as_str());
        path::join(base, &loc.relative_path).ok_or_else(|| SourceError::EscapingPath {
            file: meta.map_or_else(|| self.label.clone(), |m| m.path.clone()),
            path: loc.relative_path.clone(),
        })
    }

    /// Every VIB with the metadata that describes it (`None` for loose VIBs).
    pub fn all_vibs(&self) -> impl Iterator<Item = (Option<&LoadedMetadata>, &Arc<Vib>)> {
        self.metadata
            .iter()
            .flat_map(|m| m.archive.vibs.iter().map(move |v| (Some(m), v)))
            .chain(self.loose_vibs.iter().map(|v| (None, v)))
    }
}

fn read_metadata_zip(
    container: &dyn Container,
    zip_path: &str,
    options: &OpenOptions,
) -> Result<MetadataArchive, SourceError> {
    let bytes = if path::is_absolute_url(zip_path) {
        let url = Url::parse(zip_path)
            .map_err(|e| SourceError::NotADepot { location: zip_path.to_owned(), reason: e.to_string() })?;
        fetch::fetch_to_vec(options.fetch.as_ref(), &url, options.limits.max_nested_archive_bytes)
            .map_err(ContainerError::from)?
    } else {
        container.read_small(zip_path, options.limits.max_nested_archive_bytes)?
    };
    MetadataArchive::read(Cursor::new(bytes), options.limits)
        .map_err(|source| SourceError::Metadata { file: zip_path.to_owned(), source })
}

fn spool_to_temp(container: &ZipContainer, member: &str, outer: &Path) -> Result<tempfile::TempPath, SourceError> {
    let location = outer.display().to_string();
    let io_err = |source| SourceError::Io { location: location.clone(), source };
    let mut tmp = tempfile::NamedTempFile::new().map_err(io_err)?;
    let mut reader = container.open(member)?;
    io::copy(&mut reader, tmp.as_file_mut()).map_err(io_err)?;
    Ok(tmp.into_temp_path())
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
