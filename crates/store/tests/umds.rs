//! UMDS exports as a source: a generated `hostupdate/<vendor>/…` tree synced from `file:`
//! (vendor indexes found by walking) and over HTTP (the export's `index.xml` required, at
//! its root or under `hostupdate/`), published as one depot hosts can read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::common::*;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_tree};
use esxlcm_depot::model::{VendorEntry, VendorList};
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_store::Store;
use esxlcm_store::ops::LockWait;
use esxlcm_store::source::{SourceConfig, SourceKind};
use esxlcm_store::sync::Outcome;

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let dest = to.join(rel);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::write(dest, bytes).unwrap();
    }
}

/// A UMDS-style export: two vendors' generated trees under hostupdate/vmw/ and
/// hostupdate/DEL/, plus an XML file that is not a vendor index. Returns each vendor's
/// files (relative to the export root).
fn umds_export(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let scratch = root.with_extension("gen");
    for (code, seed) in [("vmw", 7), ("DEL", 11)] {
        let out = scratch.join(code);
        generate_to_tree(&GeneratorConfig { base_images: 2, ..GeneratorConfig::tiny(seed) }, &out).unwrap();
        // The generator puts a vendor's files under <code>/ beside its vendor list.
        copy_tree(&out.join("vmw"), &root.join("hostupdate").join(code));
    }
    let expected = tree(root);
    fs::write(root.join("hostupdate/vmw/umds-notes.xml"), "<notes>not an index</notes>").unwrap();
    expected
}

/// The published files under hostupdate/ (what came from the export).
fn exported_part(store: &Store, name: &str) -> BTreeMap<String, Vec<u8>> {
    tree(&store.published_dir().join(name)).into_iter().filter(|(k, _)| k.starts_with("hostupdate/")).collect()
}

fn vib_count(dirs: &[&Path]) -> usize {
    let depots = dirs.iter().map(|d| Depot::open_path(d, &OpenOptions::default()).unwrap());
    Catalog::from_depots(depots).unwrap().vibs().count()
}

/// Distinct VIBs of the two generated vendor depots an export was made from.
fn source_vibs(export: &Path) -> usize {
    let scratch = export.with_extension("gen");
    vib_count(&[&scratch.join("vmw"), &scratch.join("DEL")])
}

fn vendor_list(entries: &[(&str, &str)]) -> Vec<u8> {
    let vendors = entries
        .iter()
        .map(|(code, rel)| VendorEntry {
            name: (*code).to_owned(),
            code: (*code).to_owned(),
            index_file: "vendor-index.xml".into(),
            patch_url: String::new(),
            relative_path: (*rel).to_owned(),
            content_name: String::new(),
            content_type: String::new(),
        })
        .collect();
    VendorList { vendors }.to_xml()
}

#[test]
fn a_local_umds_export_publishes_every_vendor_as_one_depot() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("umds-export");
    let expected = umds_export(&export);
    let store = Store::open(&dir.path().join("store")).unwrap();
    let url = url::Url::from_directory_path(&export).unwrap().to_string();
    let config = SourceConfig::new("umds", &url).unwrap();
    assert_eq!(config.kind, SourceKind::Umds, "a directory holding hostupdate/ is a UMDS export");
    store.add_source(&config, LockWait::NONE).unwrap();

    let r = sync(&store, "umds").unwrap();
    assert_eq!(r.outcome, Outcome::Published);
    assert_eq!(exported_part(&store, "umds"), expected, "every vendor's files, byte for byte, at their paths");
    let published = store.published_dir().join("umds");
    let list = VendorList::parse(&fs::read(published.join("index.xml")).unwrap()).unwrap();
    let indexes: Vec<String> = list.vendors.iter().map(VendorEntry::index_path).collect();
    assert_eq!(indexes, ["hostupdate/DEL/vendor-index.xml", "hostupdate/vmw/vendor-index.xml"]);
    assert_eq!(
        fs::read(published.join("vmw-depot-index.xml")).unwrap(),
        fs::read(published.join("index.xml")).unwrap()
    );
    assert_eq!(vib_count(&[&published]), source_vibs(&export), "the published tree reads as a depot with every VIB");

    let again = sync(&store, "umds").unwrap();
    assert_eq!((again.outcome, again.files_fetched), (Outcome::Unchanged, 0));

    // The vendor filter works on the vendor directories.
    let mut only_del = SourceConfig::new("del", &url).unwrap();
    only_del.vendors = vec!["del".into()];
    store.add_source(&only_del, LockWait::NONE).unwrap();
    sync(&store, "del").unwrap();
    assert!(exported_part(&store, "del").keys().all(|k| k.starts_with("hostupdate/DEL/")));
    assert_eq!(
        exported_part(&store, "del").len(),
        expected.keys().filter(|k| k.starts_with("hostupdate/DEL/")).count()
    );
}

#[test]
fn over_http_a_umds_export_needs_its_index_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("umds-export");
    let expected = umds_export(&export);
    let server = serve(&export);
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut config = SourceConfig::new("web", &server.url("")).unwrap();
    config.kind = SourceKind::Umds;
    store.add_source(&config, LockWait::NONE).unwrap();

    let err = sync(&store, "web").unwrap_err().to_string();
    assert!(err.contains("no index.xml") && err.contains("hostupdate/"), "{err}");
    assert!(!store.published_dir().join("web").exists());

    // An index under hostupdate/ (paths relative to it) is found and rebased.
    fs::write(export.join("hostupdate/index.xml"), vendor_list(&[("vmw", "vmw/"), ("DEL", "DEL")])).unwrap();
    let r = sync(&store, "web").unwrap();
    assert_eq!(r.outcome, Outcome::Published);
    let mut without_list = exported_part(&store, "web");
    assert!(without_list.remove("hostupdate/index.xml").is_none(), "the export's own list is replaced by the root one");
    assert_eq!(without_list, expected);
    assert_eq!(vib_count(&[&store.published_dir().join("web")]), source_vibs(&export));

    // An index at the root is preferred; naming one vendor, only that one is mirrored.
    fs::write(export.join("index.xml"), vendor_list(&[("vmw", "hostupdate/vmw/")])).unwrap();
    sync(&store, "web").unwrap();
    assert!(exported_part(&store, "web").keys().all(|k| k.starts_with("hostupdate/vmw/")));
}
