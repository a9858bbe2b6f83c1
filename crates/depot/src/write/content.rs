//! The writers' input ([`DepotContent`]) and the checks and ordering every writer applies
//! before it touches the disk ([`plan`]).

use std::collections::{BTreeMap, HashSet};

use super::WriteError;
use crate::metadata_zip::MetadataArchive;
use crate::model::index::ESX_CONTENT_TYPE;
use crate::model::{Bulletin, ImageProfile, MetadataEntry, ReleaseUnit, VendorEntry, VendorIndex, VendorList, Vib};

/// File name of the vendor index in every depot we write (depot-format §1.3).
pub const VENDOR_INDEX_FILE: &str = "vendor-index.xml";
/// File name of the one metadata zip in every depot we write.
pub const METADATA_ZIP_FILE: &str = "metadata.zip";

/// Names a VIB may not take: a VIB at one of them would overwrite an index or the metadata.
const RESERVED_PATHS: &[&str] = &["index.xml", "vmw-depot-index.xml", VENDOR_INDEX_FILE, METADATA_ZIP_FILE];

/// One `metadata` entry of the vendor index: the platforms the metadata applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// `embeddedEsx` for ESXi; `esxio` for DPU images.
    pub product_id: String,
    /// Version pattern: `8.0`, `8.*`, `8.0.3`; empty for any.
    pub version: String,
}

impl Platform {
    pub fn embedded_esx(version: impl Into<String>) -> Self {
        Self { product_id: "embeddedEsx".into(), version: version.into() }
    }
}

/// Everything one written depot holds. Order does not matter: writers sort by identity.
#[derive(Debug, Clone, PartialEq)]
pub struct DepotContent {
    /// Vendor display name (`VMware`).
    pub vendor_name: String,
    /// Short vendor code (`vmw`); a depot tree names its vendor directory after it.
    pub vendor_code: String,
    pub platforms: Vec<Platform>,
    pub bulletins: Vec<Bulletin>,
    /// VIB metadata. A VIB with a `location` is verified against it while being copied; one
    /// without gets `vib20/<name>/<id>.vib` and the size and sha-256 actually written.
    pub vibs: Vec<Vib>,
    pub profiles: Vec<ImageProfile>,
    pub release_units: Vec<ReleaseUnit>,
    /// `vmware.xml` timestamp, written as given so that output is reproducible.
    pub timestamp: String,
}

impl DepotContent {
    /// The vendor list (`index.xml`): one ESXi vendor whose index is `relative_path` +
    /// `vendor-index.xml`.
    pub fn vendor_list(&self, relative_path: &str) -> VendorList {
        VendorList {
            vendors: vec![VendorEntry {
                name: self.vendor_name.clone(),
                code: self.vendor_code.clone(),
                index_file: VENDOR_INDEX_FILE.into(),
                patch_url: String::new(),
                relative_path: relative_path.into(),
                content_name: "VMware ESX".into(),
                content_type: ESX_CONTENT_TYPE.into(),
            }],
        }
    }

    /// The vendor index: one entry per platform, all pointing at `metadata.zip` next to it.
    pub fn vendor_index(&self) -> VendorIndex {
        let mut platforms: Vec<&Platform> = self.platforms.iter().collect();
        platforms.sort();
        platforms.dedup();
        VendorIndex {
            metadata: platforms
                .into_iter()
                .map(|p| MetadataEntry {
                    product_id: p.product_id.clone(),
                    version: p.version.clone(),
                    locale: String::new(),
                    patch_url: None,
                    url: METADATA_ZIP_FILE.into(),
                    channel_name: "default".into(),
                })
                .collect(),
        }
    }
}

/// A declared location a copied VIB must match.
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub size: u64,
    pub sha1: bool,
    pub checksum_type: String,
    pub value: String,
}

/// One VIB as it will be written.
#[derive(Debug)]
pub(crate) struct PlannedVib<'a> {
    pub vib: &'a Vib,
    pub id: String,
    /// Safe, normalised, relative to the vendor index's directory.
    pub path: String,
    pub expected: Option<Expected>,
}

/// Validated content in write order.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub content: &'a DepotContent,
    /// Sorted by VIB ID.
    pub vibs: Vec<PlannedVib<'a>>,
}

/// Check everything that can be checked without reading a VIB.
pub(crate) fn plan(content: &DepotContent) -> Result<Plan<'_>, WriteError> {
    if content.platforms.is_empty() {
        return Err(WriteError::NoPlatforms);
    }
    let mut vibs: Vec<PlannedVib<'_>> = Vec::with_capacity(content.vibs.len());
    for vib in &content.vibs {
        let id = vib.id();
        let (path, expected) = match &vib.location {
            Some(loc) => {
                let ty = loc.checksum.checksum_type.trim().to_ascii_lowercase();
                let sha1 = match ty.as_str() {
                    "sha-256" | "sha256" => false,
                    "sha-1" | "sha1" => true,
                    _ => {
                        return Err(WriteError::UnsupportedChecksum {
                            vib_id: id,
                            checksum_type: loc.checksum.checksum_type.clone(),
                        });
                    }
                };
                let expected = Expected {
                    size: loc.packed_size,
                    sha1,
                    checksum_type: if sha1 { "sha-1" } else { "sha-256" }.into(),
                    value: loc.checksum.value.trim().to_ascii_lowercase(),
                };
                (loc.relative_path.clone(), Some(expected))
            }
            None => (vib.default_relative_path(), None),
        };
        if let Err(reason) = check_relative_path(&path) {
            return Err(WriteError::UnsafePath { vib_id: id, path, reason });
        }
        vibs.push(PlannedVib { vib, id, path, expected });
    }
    vibs.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(w) = vibs.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(WriteError::Duplicate { kind: "VIB", id: w[0].id.clone() });
    }
    let mut paths: BTreeMap<&str, &str> = BTreeMap::new();
    for v in &vibs {
        if let Some(first) = paths.insert(&v.path, &v.id) {
            return Err(WriteError::PathCollision {
                first: first.to_owned(),
                second: v.id.clone(),
                path: v.path.clone(),
            });
        }
    }
    let ids: HashSet<&str> = vibs.iter().map(|v| v.id.as_str()).collect();
    let mut bulletin_ids = HashSet::new();
    for b in &content.bulletins {
        if !bulletin_ids.insert(b.id.as_str()) {
            return Err(WriteError::Duplicate { kind: "bulletin", id: b.id.clone() });
        }
        if let Some(missing) = b.vib_ids.iter().find(|id| !ids.contains(id.as_str())) {
            return Err(WriteError::MissingVib { bulletin: b.id.clone(), vib_id: missing.clone() });
        }
    }
    unique("image profile", content.profiles.iter().map(|p| p.name.as_str()))?;
    unique("release unit", content.release_units.iter().map(|u| u.release_id.as_str()))?;
    Ok(Plan { content, vibs })
}

fn unique<'a>(kind: &'static str, ids: impl Iterator<Item = &'a str>) -> Result<(), WriteError> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(WriteError::Duplicate { kind, id: id.to_owned() });
        }
    }
    Ok(())
}

/// A VIB path must stay inside the depot on every platform and every reader: relative,
/// `/`-separated, in normal form (no `.`, `..` or empty components), no drive letters or
/// URL schemes, no control characters, and not the name of an index or metadata file.
pub(crate) fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("it is empty");
    }
    if path.starts_with('/') {
        return Err("it is absolute");
    }
    if path.contains('\\') {
        return Err("it contains a backslash");
    }
    if path.contains(':') {
        return Err("it contains ':' (a drive letter or URL scheme)");
    }
    if path.chars().any(char::is_control) {
        return Err("it contains control characters");
    }
    for part in path.split('/') {
        match part {
            "" => return Err("it has an empty component ('//' or a trailing '/')"),
            "." | ".." => return Err("it has a '.' or '..' component"),
            _ => {}
        }
    }
    if RESERVED_PATHS.contains(&path) {
        return Err("it is the name of a depot index or metadata file");
    }
    Ok(())
}

impl Plan<'_> {
    /// The metadata archive for `located` (the VIBs as written, sorted by ID), with every
    /// document list sorted by identity so `vmware.xml` is reproducible.
    pub fn metadata(&self, located: Vec<Vib>) -> MetadataArchive {
        let c = self.content;
        let mut bulletins = c.bulletins.clone();
        bulletins.sort_by(|a, b| a.id.cmp(&b.id));
        let mut profiles = c.profiles.clone();
        profiles.sort_by(|a, b| a.name.cmp(&b.name));
        let mut release_units = c.release_units.clone();
        release_units.sort_by(|a, b| (a.kind, &a.release_id).cmp(&(b.kind, &b.release_id)));
        MetadataArchive {
            vendor_index: Some(c.vendor_index()),
            bulletins,
            vibs: located.into_iter().map(std::sync::Arc::new).collect(),
            profiles,
            release_units,
            ..MetadataArchive::default()
        }
    }
}

/// Serialise a metadata archive into memory (it is compressed, and small next to the
/// documents the model already holds).
pub(crate) fn metadata_zip_bytes(archive: &MetadataArchive, timestamp: &str) -> Result<Vec<u8>, WriteError> {
    let cursor = archive
        .write(std::io::Cursor::new(Vec::new()), timestamp)
        .map_err(|e| WriteError::member(METADATA_ZIP_FILE, e))?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        for ok in ["vib20/a/b.vib", "a.vib", "x/y/z-1.0.vib"] {
            assert_eq!(check_relative_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/etc/x.vib",
            "../x.vib",
            "a/../../x.vib",
            "a/./b.vib",
            "a//b.vib",
            "a/",
            "C:\\x.vib",
            "http://h/x.vib",
            "a\nb",
            "metadata.zip",
            "index.xml",
        ] {
            assert!(check_relative_path(bad).is_err(), "{bad:?}");
        }
    }
}
