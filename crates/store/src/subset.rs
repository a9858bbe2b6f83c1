//! Self-consistent subset depots: exactly the content some images need, with documents
//! that declare only the VIBs the subset holds. Shared by image views ([`crate::view`])
//! and sources synced `--only-for` specs ([`crate::sync`]).
//!
//! [`spec_content`] resolves a vLCM software spec with `esxlcm_solver` and takes its
//! images' content (main and alternatives) as `esxlcm image build --bundle` writes it (`esxlcm_solver::content`'s image
//! content: base image, add-on, components, their bulletins and VIBs); [`union`] merges
//! several; [`place`] declares each VIB with the stored file's size and sha-256 at its path
//! in the subset; [`documents`] writes the vendor list (both names), vendor index and
//! `metadata.zip` (sorted, with a fixed timestamp: same content, same bytes).

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::Arc;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::metadata_zip::MetadataArchive;
use esxlcm_depot::model::{Checksum, Vib, VibLocation};
use esxlcm_depot::write::{DepotContent, METADATA_ZIP_FILE, TREE_INDEX_FILES, VENDOR_INDEX_FILE};
use esxlcm_solver::{ResolveOptions, SoftwareSpec, resolve_spec};

use crate::meta::FileEntry;

/// Why a spec gives no content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("the software spec is not valid: {0}")]
    Invalid(String),
    #[error("the image does not resolve:\n{0}")]
    Unresolved(String),
}

/// Exactly the content the spec's images need — the main image and every alternative
/// image (a host whose hardware selects an alternative must find it in the same depot) —
/// or the solver's explanation of why one of them does not resolve.
pub fn spec_content(catalog: &Catalog, spec: &[u8], timestamp: &str) -> Result<DepotContent, SpecError> {
    let spec = SoftwareSpec::from_json(spec).map_err(|e| SpecError::Invalid(e.to_string()))?;
    let resolved = resolve_spec(&spec, catalog, &ResolveOptions::default());
    if resolved.has_errors() {
        let mut explanation: String = resolved.main.errors().map(esxlcm_solver::Notification::to_text).collect();
        for (id, alternative) in &resolved.alternatives {
            for error in alternative.resolution.errors() {
                explanation.push_str(&format!("alternative image {id}: {}", error.to_text()));
            }
        }
        return Err(SpecError::Unresolved(explanation));
    }
    let mut contents =
        vec![esxlcm_solver::content::image_content(catalog, &spec.image, &resolved.main.image, timestamp)];
    for (id, alternative) in &spec.alternative_images {
        if let Some(resolution) = resolved.alternatives.get(id) {
            contents.push(esxlcm_solver::content::image_content(
                catalog,
                &alternative.image,
                &resolution.resolution.image,
                timestamp,
            ));
        }
    }
    // `contents` is never empty: the main image is always there.
    union(contents).ok_or_else(|| SpecError::Invalid("the spec has no image".into()))
}

/// The union of several images' content (each bulletin, VIB, release unit and platform
/// once); vendor and timestamp from the first.
pub fn union(contents: Vec<DepotContent>) -> Option<DepotContent> {
    let mut iter = contents.into_iter();
    let mut out = iter.next()?;
    let mut bulletins: HashSet<String> = out.bulletins.iter().map(|b| b.id.clone()).collect();
    let mut vibs: HashSet<String> = out.vibs.iter().map(Vib::id).collect();
    let mut units: HashSet<String> =
        out.release_units.iter().map(|u| format!("{:?}/{}", u.kind, u.release_id)).collect();
    for c in iter {
        for b in c.bulletins {
            if bulletins.insert(b.id.clone()) {
                out.bulletins.push(b);
            }
        }
        for v in c.vibs {
            if vibs.insert(v.id()) {
                out.vibs.push(v);
            }
        }
        for u in c.release_units {
            if units.insert(format!("{:?}/{}", u.kind, u.release_id)) {
                out.release_units.push(u);
            }
        }
        for p in c.platforms {
            if !out.platforms.contains(&p) {
                out.platforms.push(p);
            }
        }
    }
    Some(out)
}

/// Does the stored file match what the VIB's metadata declares (size, and sha-256 when
/// that is the declared checksum)? `Err` says how it differs.
pub fn check_declared(vib: &Vib, entry: &FileEntry) -> Result<(), String> {
    let Some(loc) = &vib.location else { return Ok(()) };
    let sha256 = matches!(loc.checksum.checksum_type.to_ascii_lowercase().as_str(), "sha-256" | "sha256");
    if (loc.packed_size != 0 && loc.packed_size != entry.size)
        || (sha256 && !loc.checksum.matches_hex(entry.blob.as_str()))
    {
        return Err(format!(
            "VIB {}: the stored file ({} bytes, sha-256 {}) is not the one its metadata declares; run `esxlcm mirror verify`",
            vib.id(),
            entry.size,
            entry.blob.as_str()
        ));
    }
    Ok(())
}

/// The VIB as the subset declares it: at `relative_path` (relative to the vendor index),
/// with the stored file's size and sha-256.
pub fn place(vib: &Vib, relative_path: String, entry: &FileEntry) -> Arc<Vib> {
    let mut placed = vib.clone();
    placed.location = Some(VibLocation {
        relative_path,
        source_url: None,
        packed_size: entry.size,
        checksum: Checksum::sha256(entry.blob.as_str()),
    });
    Arc::new(placed)
}

/// The documents of a depot declaring exactly `content` with the VIBs `located` (from
/// [`place`]): depot-relative path → bytes. The vendor index and `metadata.zip` go under
/// `vendor_dir` (`""` for the root, or `name/`).
pub fn documents(
    content: &DepotContent,
    vendor_dir: &str,
    mut located: Vec<Arc<Vib>>,
) -> Result<BTreeMap<String, Vec<u8>>, io::Error> {
    let present: HashSet<String> = located.iter().map(|v| v.id()).collect();
    for b in &content.bulletins {
        if let Some(missing) = b.vib_ids.iter().find(|v| !present.contains(*v)) {
            tracing::warn!(bulletin = %b.id, vib = %missing, "a bulletin lists a VIB no source has");
        }
    }
    // Sorted by identity, as the depot writers do, so the metadata is reproducible.
    located.sort_by_key(|v| v.id());
    let mut bulletins = content.bulletins.clone();
    bulletins.sort_by(|a, b| a.id.cmp(&b.id));
    let mut profiles = content.profiles.clone();
    profiles.sort_by(|a, b| a.name.cmp(&b.name));
    let mut release_units = content.release_units.clone();
    release_units.sort_by(|a, b| (a.kind, &a.release_id).cmp(&(b.kind, &b.release_id)));
    let archive = MetadataArchive {
        vendor_index: Some(content.vendor_index()),
        bulletins,
        vibs: located,
        profiles,
        release_units,
        ..MetadataArchive::default()
    };
    let metadata = archive.write(io::Cursor::new(Vec::new()), &content.timestamp)?.into_inner();
    let mut out = BTreeMap::new();
    let vendor_list = content.vendor_list(vendor_dir).to_xml();
    for name in TREE_INDEX_FILES {
        out.insert(name.to_owned(), vendor_list.clone());
    }
    out.insert(format!("{vendor_dir}{VENDOR_INDEX_FILE}"), content.vendor_index().to_xml());
    out.insert(format!("{vendor_dir}{METADATA_ZIP_FILE}"), metadata);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::BlobId;
    use esxlcm_depot::generate::{GeneratorConfig, generate_to_tree};
    use esxlcm_depot::source::{Depot, OpenOptions};

    /// Two images' content joined: each VIB and bulletin once; the documents declare
    /// exactly the placed VIBs with the stored sizes and sha-256, and read back as a depot.
    #[test]
    fn the_union_of_two_images_declares_each_vib_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("depot");
        generate_to_tree(&GeneratorConfig { base_images: 3, ..GeneratorConfig::tiny(7) }, &dir).unwrap();
        let mut catalog = Catalog::new();
        catalog.add(Depot::open_path(&dir, &OpenOptions::default()).unwrap()).unwrap();
        let mut bases: Vec<esxlcm_version::Version> =
            catalog.release_units(esxlcm_depot::model::ReleaseKind::BaseImage).map(|b| b.version.clone()).collect();
        bases.sort();
        let bases: Vec<String> = bases.iter().map(ToString::to_string).collect();
        let spec = |v: &str| format!(r#"{{"base_image": {{"version": "{v}"}}}}"#).into_bytes();
        let a = spec_content(&catalog, &spec(&bases[0]), "2026-01-01T00:00:00").unwrap();
        let b = spec_content(&catalog, &spec(&bases[bases.len() - 1]), "2026-01-01T00:00:00").unwrap();
        let (na, nb) = (a.vibs.len(), b.vibs.len());
        let both = union(vec![a.clone(), b, a]).unwrap();
        let ids: HashSet<String> = both.vibs.iter().map(Vib::id).collect();
        assert_eq!(ids.len(), both.vibs.len(), "each VIB once");
        assert!(both.vibs.len() > na.max(nb) && both.vibs.len() <= na + nb);
        assert!(matches!(
            spec_content(&catalog, &spec("9.9.9-0.0.1"), "2026-01-01T00:00:00").unwrap_err(),
            SpecError::Unresolved(_)
        ));
        assert!(matches!(spec_content(&catalog, b"[]", "x").unwrap_err(), SpecError::Invalid(_)));

        let located: Vec<Arc<Vib>> = both
            .vibs
            .iter()
            .map(|v| {
                let entry =
                    FileEntry { path: v.default_relative_path(), blob: BlobId::of_bytes(v.id().as_bytes()), size: 7 };
                assert!(check_declared(v, &entry).is_err(), "not the declared file");
                place(v, entry.path.clone(), &entry)
            })
            .collect();
        let docs = documents(&both, "", located).unwrap();
        let out = tempfile::tempdir().unwrap();
        for (path, bytes) in &docs {
            std::fs::write(out.path().join(path), bytes).unwrap();
        }
        let read = Depot::open_path(out.path(), &OpenOptions::default()).unwrap();
        let mut again = Catalog::new();
        again.add(read).unwrap();
        assert_eq!(again.vibs().count(), ids.len());
        assert_eq!(documents(&both, "", Vec::new()).unwrap().len(), 4);
    }
}
