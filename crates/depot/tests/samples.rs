//! The real samples (`$ESXLCM_SAMPLES`): every document parses, round-trips through our
//! writer to an equal model, and every bundle opens to the components it really has.

use esxlcm_test_support as support;

use std::collections::BTreeMap;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::{AcceptanceLevel, Bulletin, VendorIndex, VendorList, Vib};
use esxlcm_depot::source::{Depot, OpenOptions, SourceKind};

#[test]
fn every_extracted_document_parses_and_round_trips() {
    let mut vibs = 0;
    for dir in support::extracted_dirs() {
        let read = |p: &str| std::fs::read(dir.join(p)).unwrap_or_else(|e| panic!("{}/{p}: {e}", dir.display()));
        VendorList::parse(&read("index.xml")).unwrap();
        VendorIndex::parse(&read("vendor-index.xml")).unwrap();
        let descriptor = Vib::parse(&read("vib-descriptor.xml")).unwrap();
        assert!(descriptor.location.is_none(), "a descriptor inside a VIB has no location");
        assert_eq!(Vib::parse(&descriptor.to_xml()).unwrap(), descriptor);
        for sub in ["vibs", "bulletins"] {
            for entry in std::fs::read_dir(dir.join("metadata.zip.d").join(sub)).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                if sub == "vibs" {
                    let vib = Vib::parse(&bytes).unwrap();
                    assert!(vib.location.is_some());
                    assert_eq!(Vib::parse(&vib.to_xml()).unwrap(), vib, "{}", vib.id());
                    // The metadata copy and the signed descriptor describe the same VIB.
                    assert_eq!((vib.id(), &vib.payloads), (descriptor.id(), &descriptor.payloads));
                    vibs += 1;
                } else {
                    let b = Bulletin::parse(&bytes).unwrap();
                    assert_eq!(Bulletin::parse(&b.to_xml()).unwrap(), b);
                }
            }
        }
    }
    assert_eq!(vibs, 7);
}

#[test]
fn every_bundle_opens_with_its_components() {
    let mut seen = BTreeMap::new();
    for bundle in support::sample_bundles() {
        let depot = Depot::open_path(&bundle, &OpenOptions::default()).unwrap();
        assert_eq!(depot.kind, SourceKind::Bundle);
        let catalog = Catalog::from_depots([depot]).unwrap();
        assert!(catalog.conflicts().is_empty());
        for c in catalog.components() {
            let spec = c.bulletin.component.as_ref().unwrap();
            seen.insert(spec.name.clone(), spec.version.to_string());
        }
        for b in catalog.legacy_bulletins() {
            seen.insert(b.bulletin.id.clone(), "(legacy bulletin)".to_owned());
        }
        let vib = catalog.vibs().next().unwrap();
        let expected = if bundle.to_string_lossy().contains("ghettoVCB") || bundle.to_string_lossy().contains("net51") {
            AcceptanceLevel::Community
        } else {
            AcceptanceLevel::Certified
        };
        assert_eq!(vib.vib.acceptance_level, expected, "{}", bundle.display());
    }
    let want: BTreeMap<String, String> = [
        ("VMware-vmkusb-nic-fling", "1.15-1vmw.900.0.84947163"),
        ("VMware-Re-Driver", "1.101.01-5vmw.800.1.0.20613240"),
        ("ghettoVCB", "(legacy bulletin)"),
        ("net51-r8169-6.011.00-2vft.510.0.0.799733", "(legacy bulletin)"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    for (name, version) in &want {
        assert_eq!(seen.get(name), Some(version), "{name} in {seen:#?}");
    }
    // Two nvme-community bundles: the 6.7 one (with component specs) and the 7.0 one.
    assert!(seen.keys().any(|k| k.contains("nvme")), "{seen:#?}");
}

#[test]
fn two_bundles_merge_and_versions_sort() {
    let bundles: Vec<_> =
        support::sample_bundles().into_iter().filter(|p| p.to_string_lossy().contains("VMKUSB")).collect();
    assert_eq!(bundles.len(), 2);
    let depots = bundles.iter().map(|b| Depot::open_path(b, &OpenOptions::default()).unwrap());
    let catalog = Catalog::from_depots(depots).unwrap();
    let versions: Vec<String> = catalog
        .component_versions("VMware-vmkusb-nic-fling")
        .iter()
        .map(|c| c.bulletin.component.as_ref().unwrap().version.to_string())
        .collect();
    assert_eq!(versions, ["1.14-1vmw.803.0.0.75399077", "1.15-1vmw.900.0.84947163"]);
    // Opening the same bundle twice is one entry per identity, with two origins.
    let again = Catalog::from_depots(
        bundles.iter().chain(bundles.iter()).map(|b| Depot::open_path(b, &OpenOptions::default()).unwrap()),
    )
    .unwrap();
    assert!(again.conflicts().is_empty());
    assert_eq!(again.vibs().count(), 2);
    assert!(again.vibs().all(|v| v.origins.len() == 2));
}

#[test]
fn bare_vib_and_directory_sources() {
    // A bare VIB straight out of a bundle.
    let bundle = support::sample_bundles().into_iter().find(|p| p.to_string_lossy().contains("ghettoVCB")).unwrap();
    let depot = Depot::open_path(&bundle, &OpenOptions::default()).unwrap();
    let (meta, vib) = depot.all_vibs().next().unwrap();
    let path = depot.vib_path(meta, vib).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let vib_file = tmp.path().join("x.vib");
    let mut out = std::fs::File::create(&vib_file).unwrap();
    std::io::copy(&mut depot.container.open(&path).unwrap(), &mut out).unwrap();
    drop(out);
    let bare = Depot::open_path(&vib_file, &OpenOptions::default()).unwrap();
    assert_eq!(bare.kind, SourceKind::Vib);
    let loose = &bare.loose_vibs[0];
    assert_eq!(loose.id(), vib.id());
    let (a, b) = (loose.location.as_ref().unwrap(), vib.location.as_ref().unwrap());
    assert_eq!((a.packed_size, a.checksum.value.as_str()), (b.packed_size, b.checksum.value.as_str()));
}

#[test]
fn catalog_filters() {
    use esxlcm_depot::catalog::Filter;
    let catalog = Catalog::from_depots(
        support::sample_bundles().iter().map(|b| Depot::open_path(b, &OpenOptions::default()).unwrap()),
    )
    .unwrap();
    let ids = |f: &Filter| -> Vec<String> {
        let mut v: Vec<String> = catalog.filter_bulletins(f).map(|e| e.bulletin.id.clone()).collect();
        v.sort();
        v
    };
    let all = ids(&Filter::default());
    assert_eq!(all.len(), 7);
    let community = ids(&Filter { min_acceptance: Some(AcceptanceLevel::Certified), ..Filter::default() });
    assert_eq!(community.len(), 5, "the two community bundles drop out: {community:?}");
    let since_2025 = ids(&Filter { released_after: Some("2025".into()), ..Filter::default() });
    assert!(since_2025.iter().any(|id| id.starts_with("VMware-Re-Driver")), "{since_2025:?}");
    assert!(!since_2025.iter().any(|id| id == "ghettoVCB"), "{since_2025:?}");
    let before_2016 = ids(&Filter { released_before: Some("2016".into()), ..Filter::default() });
    assert_eq!(before_2016, ["net51-r8169-6.011.00-2vft.510.0.0.799733"]);
    let general = ids(&Filter { category: Some("GENERAL".into()), ..Filter::default() });
    assert!(general.contains(&"ghettoVCB".to_owned()) && !general.iter().any(|id| id.starts_with("VMware-Re-Driver")));
    let vft = ids(&Filter { vendor: Some("vfrontde".into()), ..Filter::default() });
    assert_eq!(vft, ["net51-r8169-6.011.00-2vft.510.0.0.799733"]);
    let on_9 = ids(&Filter { platform: Some("9.0.0".into()), ..Filter::default() });
    assert!(
        on_9.iter().any(|id| id.contains("1.15-1vmw.900")) && !on_9.iter().any(|id| id.contains("803")),
        "{on_9:?}"
    );
    let vibs_9: Vec<String> = catalog
        .filter_vibs(&Filter { platform: Some("9.0".into()), ..Filter::default() })
        .map(|v| v.vib.id())
        .collect();
    assert!(vibs_9.iter().all(|id| !id.contains("803")), "{vibs_9:?}");
}
