//! The picks of the image tests (the API's and the web UI's): from a generated depot, the
//! oldest and newest base images, an add-on and a component that makes a real dependency
//! error. Needs nothing of either test crate, so both include it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::Path;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_solver::notification::ids;
use esxlcm_solver::spec::ImageSpec;
use esxlcm_solver::{ResolveOptions, resolve};
use esxlcm_version::Version;

/// What the test composes from the generated depot: the oldest and newest base images, an
/// add-on for the newest only, and a component whose newest version needs what the oldest
/// base image lacks (a real dependency error) but fits the newest with the add-on.
pub struct Picks {
    pub low: Version,
    pub high: Version,
    pub addon: (String, Version),
    pub component: (String, Version),
}

impl Picks {
    /// The image that fits: the newest base image, the add-on and the component.
    pub fn fitting_spec(&self) -> ImageSpec {
        let mut spec =
            ImageSpec::of_base_image(self.high.clone()).with_add_on(self.addon.0.clone(), self.addon.1.clone());
        spec.components.insert(self.component.0.clone(), Some(self.component.1.clone()));
        spec
    }
}

pub fn pick(catalog: &Catalog) -> Picks {
    let mut bases: Vec<Version> = catalog.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).collect();
    bases.sort();
    let (low, high) = (bases[0].clone(), bases.last().unwrap().clone());
    let addon = catalog
        .release_units(ReleaseKind::Addon)
        .find(|a| a.supports_base_image(high.as_str()) && !a.supports_base_image(low.as_str()))
        .expect("an add-on for the newest base image only");
    let addon = (addon.name.clone().unwrap(), addon.version.clone());
    let names: Vec<String> =
        catalog.components().filter_map(|c| c.bulletin.component.as_ref().map(|s| s.name.clone())).collect();
    let component = names
        .iter()
        .find_map(|name| {
            let newest = catalog.component_versions(name).last()?.bulletin.component.as_ref()?.version.clone();
            let mut bad = ImageSpec::of_base_image(low.clone());
            bad.components.insert(name.clone(), Some(newest.clone()));
            let r = resolve(&bad, catalog, &ResolveOptions::default());
            let unmet = r.errors().any(|n| n.id == ids::DEPENDENCY_UNMET);
            let mut good = ImageSpec::of_base_image(high.clone()).with_add_on(addon.0.clone(), addon.1.clone());
            good.components.insert(name.clone(), Some(newest.clone()));
            let fits = !resolve(&good, catalog, &ResolveOptions::default()).has_errors();
            (unmet && fits).then(|| (name.clone(), newest))
        })
        .expect("a component whose newest version the oldest base image cannot satisfy");
    Picks { low, high, addon, component }
}

/// A generated depot (seed 7) with its catalog and picks, in `dir`.
pub fn tiny_depot(dir: &Path) -> (std::path::PathBuf, Catalog, Picks) {
    let bundle = dir.join("tiny.zip");
    generate_to_bundle(&GeneratorConfig::tiny(7), &bundle).unwrap();
    let catalog = Catalog::from_depots([Depot::open_path(&bundle, &OpenOptions::default()).unwrap()]).unwrap();
    let p = pick(&catalog);
    (bundle, catalog, p)
}
