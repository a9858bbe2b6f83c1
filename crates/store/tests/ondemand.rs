//! On-demand payloads over a loopback HTTP upstream: the sync transfers metadata only; a
//! VIB is fetched, verified, stored and linked into the published tree on its first
//! request (one upstream request however many ask at once), served from the store after;
//! a corrupt upstream VIB is quarantined and never stored; verify counts what is not
//! fetched yet; an export and a view build fetch what they need first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::*;
use esxlcm_store::Store;
use esxlcm_store::internals;
use esxlcm_store::ondemand::{OnDemand, OnDemandError};
use esxlcm_store::ops::LockWait;
use esxlcm_store::source::{PayloadPolicy, SourceConfig};
use esxlcm_store::sync::Outcome;
use esxlcm_store::{carry, verify, view};

fn add_on_demand(store: &Store, name: &str, url: &str) {
    let mut config = SourceConfig::new(name, url).unwrap();
    config.payloads = PayloadPolicy::OnDemand;
    store.add_source(&config, LockWait::NONE).unwrap();
}

/// A generated depot of `base_images` base images served on loopback, and an empty store
/// beside it: (their directory, the depot tree, its server, the store).
fn upstream_and_store(base_images: usize) -> (tempfile::TempDir, PathBuf, HttpUpstream, Store) {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream");
    generate_tree(base_images, &upstream);
    let server = serve(&upstream);
    let store = Store::open(&dir.path().join("store")).unwrap();
    (dir, upstream, server, store)
}

fn vibs(dir: &Path) -> Vec<String> {
    tree(dir).into_keys().filter(|k| k.ends_with(".vib")).collect()
}

#[test]
fn an_on_demand_source_syncs_metadata_and_fetches_each_vib_once_when_asked() {
    let (dir, upstream, server, store) = upstream_and_store(2);
    add_on_demand(&store, "up", &server.url("vmw-depot-index.xml"));

    let r = sync(&store, "up").unwrap();
    assert_eq!(r.outcome, Outcome::Published);
    let all_vibs = vibs(&upstream);
    assert_eq!(r.deferred, all_vibs.len(), "every VIB is left upstream");
    let hits = server.take_hits();
    assert_eq!(count(&hits, 200, |p| p.ends_with(".vib")), 0, "no VIB transferred: {hits:?}");
    assert_eq!(hits.len(), 3, "vendor list, vendor index and metadata.zip only: {hits:?}");
    let published = store.published_dir().join("up");
    assert!(vibs(&published).is_empty(), "no VIB in the tree before it is fetched");
    assert!(published.join("vmw/metadata.zip").is_file());
    let v = verify::verify(&store).unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
    assert_eq!(v.not_fetched, all_vibs.len());

    // First request: one upstream GET, verified, stored, linked into the published tree.
    let fetcher = Arc::new(OnDemand::new());
    let first = all_vibs[0].clone();
    let served = fetcher.serve_file(&store, "up", None, &first).unwrap();
    assert_eq!(fs::read(&served).unwrap(), fs::read(upstream.join(&first)).unwrap());
    assert_eq!(fs::read(published.join(&first)).unwrap(), fs::read(upstream.join(&first)).unwrap());
    let hits = server.take_hits();
    assert_eq!(hits.iter().map(|h| (h.path.as_str(), h.status)).collect::<Vec<_>>(), vec![(first.as_str(), 200)]);
    // Again: from the store, no upstream request.
    fetcher.serve_file(&store, "up", None, &first).unwrap();
    assert!(server.take_hits().is_empty());

    // Eight requests at once for another VIB: one upstream request.
    let second = all_vibs[1].clone();
    let store = Arc::new(store);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let (fetcher, store, second) = (Arc::clone(&fetcher), Arc::clone(&store), second.clone());
            scope.spawn(move || fetcher.serve_file(&store, "up", None, &second).unwrap());
        }
    });
    let hits = server.take_hits();
    assert_eq!(count(&hits, 200, |p| p == second), 1, "one fetch shared: {hits:?}");
    assert_eq!(hits.len(), 1);
    assert_eq!(fs::read(published.join(&second)).unwrap(), fs::read(upstream.join(&second)).unwrap());

    // A path the snapshot does not name, or a stored document, is not ours.
    assert!(matches!(
        fetcher.serve_file(&store, "up", None, "vib20/none/none.vib").unwrap_err(),
        OnDemandError::NotOnDemand { .. }
    ));
    assert!(matches!(fetcher.serve_file(&store, "nope", None, &first).unwrap_err(), OnDemandError::NotOnDemand { .. }));

    // A corrupt upstream VIB: quarantined, named, never stored or linked.
    let bad = all_vibs[2].clone();
    corrupt(&upstream.join(&bad));
    let err = fetcher.serve_file(&store, "up", None, &bad).unwrap_err();
    let bad_id = Path::new(&bad).file_stem().unwrap().to_string_lossy().into_owned();
    match &err {
        OnDemandError::Rejected { vib, reason, quarantine_file, .. } => {
            assert_eq!(vib, &bad_id);
            assert!(reason.contains("sha-256"), "{reason}");
            assert_eq!(fs::read(quarantine_file).unwrap(), fs::read(upstream.join(&bad)).unwrap());
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(err.to_string().contains(&bad_id), "{err}");
    assert!(!published.join(&bad).exists());
    assert_eq!(store.quarantined().unwrap().last().unwrap().name, bad_id);
    let v = verify::verify(&store).unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
    assert_eq!(v.not_fetched, all_vibs.len() - 2);

    // A sync of the unchanged upstream records nothing new and keeps the fetched VIBs.
    server.take_hits();
    let again = sync(&store, "up").unwrap();
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert_eq!(count(&server.take_hits(), 200, |p| p.ends_with(".vib")), 0);
    assert!(published.join(&first).is_file() && published.join(&second).is_file());

    // An export needs every payload: it fetches them first, and names the one that fails.
    let export_dir = dir.path().join("export");
    let e = internals::export(&store, &export_dir, &carry::ExportOptions::default()).unwrap_err().to_string();
    assert!(e.contains(&bad_id) && e.contains("on-demand"), "{e}");
    // Upstream repairs it.
    generate_tree(2, &dir.path().join("fresh"));
    fs::copy(dir.path().join("fresh").join(&bad), upstream.join(&bad)).unwrap();
    let _ = fs::remove_dir_all(&export_dir);
    internals::export(&store, &export_dir, &carry::ExportOptions::default()).unwrap();
    let hits = server.take_hits();
    // The rest once each, the repaired one a second time.
    assert_eq!(count(&hits, 200, |p| p.ends_with(".vib")), all_vibs.len() - 1, "{hits:?}");
    let v = verify::verify(&store).unwrap();
    assert!(v.is_clean() && v.not_fetched == 0, "{v:?}");
    let (have, want) = (tree(&published), tree(&upstream));
    let differ: Vec<&String> = want.keys().filter(|k| have.get(*k) != want.get(*k)).collect();
    assert!(
        differ.is_empty() && have.len() == want.len(),
        "every fetched VIB is linked into the published tree: {differ:?}"
    );
}

#[test]
fn a_view_of_an_on_demand_source_fetches_the_vibs_it_links() {
    let (_dir, upstream, server, store) = upstream_and_store(2);
    add_on_demand(&store, "up", &server.url("vmw-depot-index.xml"));
    sync(&store, "up").unwrap();
    server.take_hits();
    internals::add_view(&store, "all", &["up".to_owned()], None).unwrap();
    let built = internals::refresh_view(&store, "all").unwrap();
    let view::Refreshed::Built(b) = built else { panic!("built") };
    assert_eq!(b.vibs, vibs(&upstream).len());
    assert_eq!(count(&server.take_hits(), 200, |p| p.ends_with(".vib")), b.vibs, "each VIB fetched once");
    let v = verify::verify(&store).unwrap();
    assert!(v.is_clean() && v.not_fetched == 0, "{v:?}");
}

#[test]
fn an_on_demand_source_with_only_for_records_only_the_images_vibs() {
    let (_dir, upstream, server, store) = upstream_and_store(3);
    let catalog = esxlcm_depot::catalog::Catalog::from_depots([esxlcm_depot::source::Depot::open_path(
        &upstream,
        &esxlcm_depot::source::OpenOptions::default(),
    )
    .unwrap()])
    .unwrap();
    let mut bases: Vec<_> =
        catalog.release_units(esxlcm_depot::model::ReleaseKind::BaseImage).map(|b| b.version.clone()).collect();
    bases.sort();
    let spec = format!(r#"{{"base_image": {{"version": "{}"}}}}"#, bases[0]);
    let want = esxlcm_store::subset::spec_content(&catalog, spec.as_bytes(), "x").unwrap();
    let mut config = SourceConfig::new("branch", &server.url("vmw-depot-index.xml")).unwrap();
    config.payloads = PayloadPolicy::OnDemand;
    config.only_for = vec![spec];
    store.add_source(&config, LockWait::NONE).unwrap();

    let r = sync(&store, "branch").unwrap();
    assert_eq!(r.outcome, Outcome::Published);
    assert_eq!(r.deferred, want.vibs.len(), "only the image's VIBs are recorded");
    assert_eq!(count(&server.take_hits(), 200, |p| p.ends_with(".vib")), 0);
    let (id, files) = store.published_files(&store.source("branch").unwrap()).unwrap().unwrap();
    let listed: Vec<&str> = files.iter().filter(|f| f.path.ends_with(".vib")).map(|f| f.path.as_str()).collect();
    assert_eq!(listed.len(), want.vibs.len());
    // Fetched from its upstream path on request.
    let fetcher = OnDemand::new();
    let served = fetcher.serve_file(&store, "branch", Some(id), listed[0]).unwrap();
    assert_eq!(fs::read(served).unwrap(), fs::read(upstream.join(listed[0])).unwrap());
    assert_eq!(count(&server.take_hits(), 200, |p| p == listed[0]), 1);
    let v = verify::verify(&store).unwrap();
    assert!(v.is_clean() && v.not_fetched == want.vibs.len() - 1, "{v:?}");
}
