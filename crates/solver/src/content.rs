//! What a built image holds, as depot content: the release units the image was made from
//! (base image, add-on, hardware support packages, solutions), its components with their
//! VIBs and metadata, and the image profile.
//!
//! The components a base image, add-on or hardware support package lists but the image
//! overrides (a newer driver from the spec) or removes are kept too: without them the
//! release unit would name components the depot lacks, and the exported bundle would no
//! longer resolve to the same image. Their VIBs are in the bundle, not in the image.

use std::collections::BTreeSet;

use crate::EffectiveImage;
use crate::spec::ImageSpec;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::{ReleaseKind, ReleaseUnit};
use esxlcm_depot::selection::Selection;
use esxlcm_depot::write::DepotContent;

/// Vendor name and code of the depots a build writes.
pub const VENDOR: &str = "esxlcm";

/// The release units the image was built from, in kind order.
pub fn release_units<'a>(catalog: &'a Catalog, spec: &ImageSpec, image: &EffectiveImage) -> Vec<&'a ReleaseUnit> {
    let mut units: Vec<&ReleaseUnit> = Vec::new();
    units.extend(catalog.base_image(&image.base_image));
    if let Some((name, version)) = &image.add_on {
        units.extend(catalog.addon(name, version));
    }
    for (manager, pkg, version) in &image.hardware_support {
        // The same match as the solver's: by the manifest's hardware support info, or by
        // name and version when it has none.
        units.extend(catalog.release_units(ReleaseKind::Manifest).find(|u| match &u.hardware_support {
            Some((m, p, v)) => m == manager && p == pkg && v == version,
            None => {
                u.name.as_deref() == Some(pkg.as_str()) && (u.version.as_str() == version || u.ui_version == *version)
            }
        }));
    }
    for (name, solution) in &spec.solutions {
        units.extend(catalog.release_units(ReleaseKind::Solution).find(|u| {
            u.name.as_deref() == Some(name.as_str())
                && (u.version.as_str() == solution.version || u.ui_version == solution.version)
        }));
    }
    units
}

/// The image as depot content (without an image profile; the builder adds its own).
pub fn image_content(catalog: &Catalog, spec: &ImageSpec, image: &EffectiveImage, timestamp: &str) -> DepotContent {
    let units = release_units(catalog, spec, image);
    let mut wanted: BTreeSet<(String, String)> =
        image.components.values().map(|c| (c.name.clone(), c.version.to_string())).collect();
    for unit in units.iter().filter(|u| u.kind != ReleaseKind::Solution) {
        for (name, version) in &unit.components {
            if catalog.component(name, version).is_some() {
                wanted.insert((name.clone(), version.to_string()));
            }
        }
    }
    let selection = Selection {
        components: wanted.into_iter().map(|(n, v)| (n, Some(v))).collect(),
        bulletins: Vec::new(),
        all: false,
    };
    let mut content = catalog.select(&selection, VENDOR, VENDOR, timestamp);
    content.release_units = units.into_iter().cloned().collect();
    content.profiles = Vec::new();
    content
}
