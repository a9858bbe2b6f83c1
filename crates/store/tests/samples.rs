//! Real offline bundles (the shared samples, see the README) mirrored as bundle sources:
//! every VIB passes verification against its real metadata and is published.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use esxlcm_store::Store;
use esxlcm_store::ops::{LockWait, Selection};
use esxlcm_store::source::SourceConfig;
use esxlcm_store::sync::{NoProgress, Outcome, SyncOptions};
use esxlcm_test_support::samples_dir;

#[test]
fn every_sample_bundle_syncs_verified() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut bundles: Vec<_> = std::fs::read_dir(samples_dir().join("bundles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    bundles.sort();
    assert!(bundles.len() >= 5);
    let mut outcomes = Vec::new();
    for (i, bundle) in bundles.iter().enumerate() {
        let name = format!("sample{i}");
        let url = url::Url::from_file_path(bundle).unwrap();
        store.add_source(&SourceConfig::new(&name, url.as_str()).unwrap(), LockWait::NONE).unwrap();
        let selection = Selection::Named(vec![name.clone()]);
        let batch = store.sync(&selection, &SyncOptions::default(), LockWait::NONE, &|_| Box::new(NoProgress)).unwrap();
        let r = batch.runs.into_iter().next().unwrap().result;
        outcomes.push((bundle.file_name().unwrap().to_string_lossy().into_owned(), r.map(|r| (r.outcome, r.files))));
    }
    for (bundle, r) in &outcomes {
        eprintln!("{bundle}: {r:?}");
    }
    for (bundle, r) in &outcomes {
        let (outcome, files) = r.as_ref().unwrap_or_else(|e| panic!("{bundle}: {e}"));
        assert_eq!(*outcome, Outcome::Published, "{bundle}");
        assert!(*files >= 4, "{bundle}: vendor list, vendor index, metadata zip and VIBs");
    }
    let report = esxlcm_store::verify::verify(&store).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
