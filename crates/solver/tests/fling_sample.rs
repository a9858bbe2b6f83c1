//! The real 8.0 U3 USB NIC Fling component (`$ESXLCM_SAMPLES`) on a small hand-built base
//! image: it resolves when the base image provides the vmkapi levels the Fling VIB
//! depends on, and fails naming the capability when one is missing.
#![allow(clippy::unwrap_used)] // tests and their helpers fail loudly

use crate::common::*;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::AcceptanceLevel;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_solver::notification::ids;
use esxlcm_solver::{ComponentSource, ResolveOptions, resolve};

const BASE: &str = "8.0.3-0.35.24280767";

/// The sample's depot plus a base image whose esx-base provides `provides`.
fn catalog(provides: &[&str]) -> (Catalog, String, String) {
    let sample =
        Depot::open_path(&esxlcm_test_support::sample_bundle("ESXi80U3-VMKUSB"), &OpenOptions::default()).unwrap();
    let sample_catalog = Catalog::from_depots([Depot::open_path(
        &esxlcm_test_support::sample_bundle("ESXi80U3-VMKUSB"),
        &OpenOptions::default(),
    )
    .unwrap()])
    .unwrap();
    let fling: Vec<_> = sample_catalog.components().collect();
    assert_eq!(fling.len(), 1, "the Fling bundle holds one component");
    let spec = fling[0].bulletin.component.clone().unwrap();

    let mut f = Fixture::new();
    let mut esx = vib("esx-base", BASE);
    esx.provides = provides.iter().map(|p| provide(p)).collect();
    esx.provides.push(provide_v("esx-version", "8.0.3"));
    esx.payloads = vec![kernel_payload()]; // the Fling's VIB lists payloads: so must the base
    f.component("ESXi", BASE, vec![esx]).base_image(BASE, &[("ESXi", BASE)]);
    let catalog = Catalog::from_depots([f.depot(), sample]).unwrap();
    (catalog, spec.name, spec.version.to_string())
}

#[test]
fn the_fling_resolves_on_a_base_image_that_provides_its_vmkapi() {
    let (catalog, name, version) = catalog(&["vmkapi_2_13_0_0", "vmkapi_incompat_2_13_0_0"]);
    // What the brief says the Fling needs, checked against the real descriptor.
    let vib_ids = &catalog.component(&name, &v(&version)).unwrap().bulletin.vib_ids;
    let needs: Vec<String> =
        vib_ids.iter().flat_map(|id| catalog.vib(id).unwrap().vib.depends.iter().map(|c| c.name.clone())).collect();
    assert!(needs.contains(&"vmkapi_2_13_0_0".to_owned()), "{needs:?}");
    assert!(needs.contains(&"vmkapi_incompat_2_13_0_0".to_owned()), "{needs:?}");

    let s = spec(BASE, None, &[(&name, Some(&version))]);
    let r = resolve(&s, &catalog, &ResolveOptions::default());
    let texts: Vec<String> = r.notifications.iter().map(|n| n.to_text()).collect();
    assert!(r.notifications.is_empty(), "{texts:#?}");
    assert_eq!(r.image.components[&name].source, ComponentSource::User);
    // The Fling VIB is VMware-signed (certified), as is the hand-built esx-base.
    assert_eq!(r.image.acceptance_level(), Some(AcceptanceLevel::Certified));

    // The same with `null`: the only version is taken.
    let r = resolve(&spec(BASE, None, &[(&name, None)]), &catalog, &ResolveOptions::default());
    assert!(!r.has_errors());
    assert_eq!(r.image.components[&name].version.as_str(), version);

    // The same spec as a vLCM JSON document.
    let doc =
        esxlcm_solver::SoftwareSpec::from_json(include_bytes!("../../../testdata/solver/fling-on-8.0.3.json")).unwrap();
    let r = resolve(&doc.image, &catalog, &ResolveOptions::default());
    assert!(!r.has_errors(), "{:#?}", r.notifications);
    assert_eq!(r.image.components[&name].version.as_str(), version);
}

#[test]
fn the_fling_fails_on_a_base_image_without_vmkapi_incompat() {
    let (catalog, name, version) = catalog(&["vmkapi_2_13_0_0"]);
    let r = resolve(&spec(BASE, None, &[(&name, Some(&version))]), &catalog, &ResolveOptions::default());
    let errors: Vec<_> = r.errors().collect();
    assert_eq!(errors.len(), 1, "{:#?}", r.notifications);
    assert_eq!(errors[0].id, ids::DEPENDENCY_UNMET);
    assert!(errors[0].message.default_message.contains("requires vmkapi_incompat_2_13_0_0"));
    insta::assert_snapshot!("fling_missing_incompat", errors[0].to_text());
}
