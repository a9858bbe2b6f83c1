//! Every real sample survives read → write → read unchanged, its VMware signatures still
//! verify in the written bundle, and writing is deterministic; the same holds for an
//! online tree and for a selection of components.

use esxlcm_test_support as support;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::check::{CheckOptions, check_depot};
use esxlcm_depot::model::{Bulletin, Vib};
use esxlcm_depot::selection::Selection;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_depot::write::{write_bundle, write_tree};

const TIMESTAMP: &str = "2026-01-01T00:00:00.000000";

fn open(path: &std::path::Path) -> Depot {
    Depot::open_path(path, &OpenOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Identity-sorted bulletins and VIBs: what a catalog says, independent of order.
fn content_of(catalog: &Catalog) -> (Vec<Bulletin>, Vec<Vib>) {
    let mut b: Vec<Bulletin> =
        catalog.components().chain(catalog.legacy_bulletins()).map(|e| e.bulletin.clone()).collect();
    b.sort_by(|x, y| x.id.cmp(&y.id));
    let v: Vec<Vib> = catalog.vibs().map(|e| Vib::clone(&e.vib)).collect();
    (b, v)
}

#[test]
fn every_sample_round_trips_through_a_written_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    for bundle in support::sample_bundles() {
        let name = bundle.file_name().unwrap().to_string_lossy().into_owned();
        let original = open(&bundle);
        let vendor = original.vendors[0].entry.clone();
        let original_check = check_depot(&original, &CheckOptions::default());
        let catalog = Catalog::from_depots([original]).unwrap();
        let content = catalog.select(&Selection::everything(), &vendor.name, &vendor.code, TIMESTAMP);

        let out = tmp.path().join(&name);
        let written = write_bundle(&content, &catalog, &out, false).unwrap();
        assert_eq!(written.vib_count, catalog.vibs().count(), "{name}");

        let reread = Catalog::from_depots([open(&out)]).unwrap();
        assert_eq!(content_of(&reread), content_of(&catalog), "{name}: content changed in the round trip");

        // The signed descriptors travel byte for byte, so signatures still verify.
        let check = check_depot(&open(&out), &CheckOptions::default());
        assert_eq!(check.summary.errors, 0, "{name}: {:#?}", check.findings);
        assert_eq!(check.signatures_verified, original_check.signatures_verified, "{name}");

        // Deterministic: writing the re-read catalog gives the same bytes.
        let again = tmp.path().join(format!("again-{name}"));
        let content2 = reread.select(&Selection::everything(), &vendor.name, &vendor.code, TIMESTAMP);
        write_bundle(&content2, &reread, &again, false).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap(), "{name}: not deterministic");
    }
}

#[test]
fn samples_merge_into_one_online_tree_and_a_selection() {
    let tmp = tempfile::tempdir().unwrap();
    let catalog = Catalog::from_depots(support::sample_bundles().iter().map(|b| open(b))).unwrap();
    assert!(catalog.conflicts().is_empty(), "{:?}", catalog.conflicts());
    let tree = tmp.path().join("tree");
    let content = catalog.select(&Selection::everything(), "Mirror", "mirror", TIMESTAMP);
    write_tree(&content, &catalog, &tree, false).unwrap();
    // Read back as an online depot (file: URLs through the Fetch trait), from either index.
    for index in ["index.xml", "vmw-depot-index.xml"] {
        let url = format!("file://{}", tree.join(index).display());
        let depot = Depot::open(&url, &OpenOptions::default()).unwrap();
        assert_eq!(depot.kind, esxlcm_depot::source::SourceKind::Online);
        let reread = Catalog::from_depots([depot]).unwrap();
        assert_eq!(content_of(&reread), content_of(&catalog));
    }
    let check = check_depot(&open(&tree), &CheckOptions::default());
    assert_eq!(check.summary.errors, 0, "{:#?}", check.findings);
    assert_eq!(check.signatures_verified, 5);

    // One component of the eight: only it and its VIB are written.
    let pick = Selection { components: vec![("VMware-Re-Driver".into(), None)], ..Selection::default() };
    let out = tmp.path().join("one.zip");
    let written = write_bundle(&catalog.select(&pick, "VMware", "vmw", TIMESTAMP), &catalog, &out, false).unwrap();
    assert_eq!(written.vib_count, 1);
    let one = Catalog::from_depots([open(&out)]).unwrap();
    let names: Vec<String> = one.components().map(|c| c.bulletin.component.as_ref().unwrap().name.clone()).collect();
    assert_eq!(names, ["VMware-Re-Driver"]);
}
