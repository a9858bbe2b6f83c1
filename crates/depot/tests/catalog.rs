//! Catalog merging on the hand-made fixtures in testdata/.

use std::path::PathBuf;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::source::{Depot, OpenOptions};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/check").join(name)
}

#[test]
fn one_vib_id_with_two_contents_in_one_depot_is_a_conflict() {
    let depot = Depot::open_path(&fixture("vib-id-conflict.zip"), &OpenOptions::default()).unwrap();
    let catalog = Catalog::from_depots([depot]).unwrap();
    let conflicts = catalog.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let c = &conflicts[0];
    assert_eq!(c.kind, "VIB");
    assert!(c.first.ends_with("vib-id-conflict.zip") && c.second == c.first, "{c:?}");
    assert!(c.to_string().contains("one ID must always mean the same content"), "{c}");
}

#[test]
fn the_same_clean_depot_twice_merges_without_conflict() {
    let open = || Depot::open_path(&fixture("clean.zip"), &OpenOptions::default()).unwrap();
    let catalog = Catalog::from_depots([open(), open()]).unwrap();
    assert!(catalog.conflicts().is_empty());
    assert!(catalog.vibs().all(|v| v.origins.len() == 2));
    assert!(catalog.components().all(|c| c.depots == [0, 1]));
}
