//! The solver on a generated depot (realistic shape: ~a dozen components per base image,
//! vmkapi provides/depends, replace/conflict chains, OEM add-ons).
#![allow(clippy::unwrap_used)] // tests and their helpers fail loudly

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_solver::spec::ImageSpec;
use esxlcm_solver::{ComponentSource, ResolveOptions, resolve};

fn catalog() -> Catalog {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.zip");
    generate_to_bundle(&GeneratorConfig::tiny(7), &path).unwrap();
    Catalog::from_depots([Depot::open_path(&path, &OpenOptions::default()).unwrap()]).unwrap()
}

#[test]
fn every_generated_base_image_and_supported_addon_resolves() {
    let catalog = catalog();
    let bases: Vec<_> = catalog.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).collect();
    assert!(bases.len() >= 3);
    for base in &bases {
        let spec = ImageSpec::of_base_image(base.clone());
        let r = resolve(&spec, &catalog, &ResolveOptions::default());
        let texts: Vec<String> = r.notifications.iter().map(|n| n.to_text()).collect();
        assert!(!r.has_errors(), "base image {base}: {texts:#?}");
        assert!(r.image.components.values().all(|c| c.source == ComponentSource::BaseImage));
        assert!(r.image.vibs.len() >= r.image.components.len());
    }
    let mut addons_checked = 0;
    for addon in catalog.release_units(ReleaseKind::Addon) {
        for base in bases.iter().filter(|b| addon.supports_base_image(b.as_str())) {
            let spec =
                ImageSpec::of_base_image(base.clone()).with_add_on(addon.name.clone().unwrap(), addon.version.clone());
            let r = resolve(&spec, &catalog, &ResolveOptions::default());
            let texts: Vec<String> = r.notifications.iter().map(|n| n.to_text()).collect();
            assert!(!r.has_errors(), "add-on {} on {base}: {texts:#?}", addon.release_id);
            for removed in &addon.removed_components {
                assert!(!r.image.components.contains_key(removed));
            }
            assert!(r.image.components.values().any(|c| c.source == ComponentSource::AddOn));
            addons_checked += 1;
        }
        // And on a base image it does not support, it is refused.
        if let Some(base) = bases.iter().find(|b| !addon.supports_base_image(b.as_str())) {
            let spec =
                ImageSpec::of_base_image(base.clone()).with_add_on(addon.name.clone().unwrap(), addon.version.clone());
            let r = resolve(&spec, &catalog, &ResolveOptions::default());
            assert!(r.errors().any(|n| n.id == esxlcm_solver::notification::ids::ADDON_UNSUPPORTED_BASE_IMAGE));
        }
    }
    assert!(addons_checked > 0);
}
