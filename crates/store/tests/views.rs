//! Named views over generated sources: a merged view carries every source's content, an
//! image view exactly one spec's images (main and alternatives), a spec that stops resolving keeps the previous build,
//! and gc keeps what a view still links after its snapshot is gone. The same on the cluster
//! backends (PostgreSQL and Garage, skipped when not installed), where views are rows over
//! blobs, and `store migrate` moves a single-node store's views there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use crate::common::*;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_tree};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_solver::{ResolveOptions, SoftwareSpec, resolve};
use esxlcm_store::blob::BlobId;
use esxlcm_store::internals;
use esxlcm_store::ops::LockWait;
use esxlcm_store::source::SourceConfig;
use esxlcm_store::sync::Outcome;
use esxlcm_store::view::{self, Refreshed, ViewError};
use esxlcm_store::{Store, StoreLocation};

fn add_source(store: &Store, name: &str, dir: &Path, retention: u32) {
    let mut config = SourceConfig::new(name, url::Url::from_directory_path(dir).unwrap().as_str()).unwrap();
    config.retention = retention;
    store.add_source(&config, LockWait::NONE).unwrap();
}

fn catalog(dir: &Path) -> Catalog {
    Catalog::from_depots([Depot::open_path(dir, &OpenOptions::default()).unwrap()]).unwrap()
}

fn vib_ids(c: &Catalog) -> BTreeSet<String> {
    c.vibs().map(|v| v.vib.id()).collect()
}

/// A second vendor's depot (another seed, vendor name and code).
fn oem_config() -> GeneratorConfig {
    GeneratorConfig { vendor_name: "Dell".into(), vendor_code: "dell".into(), ..GeneratorConfig::tiny(11) }
}

fn built(r: Result<Refreshed, ViewError>) -> view::ViewBuild {
    match r.unwrap() {
        Refreshed::Built(b) => b,
        Refreshed::Unchanged(b) => panic!("expected a new build, build {} stayed", b.number),
    }
}

#[test]
fn a_merged_view_serves_both_sources_from_hard_links() {
    let dir = tempfile::tempdir().unwrap();
    let (vmw, oem) = (dir.path().join("vmw"), dir.path().join("oem"));
    generate_tree(2, &vmw);
    generate_to_tree(&oem_config(), &oem).unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    add_source(&store, "vmw", &vmw, 3);
    add_source(&store, "oem", &oem, 3);

    internals::add_view(&store, "all", &["vmw".into(), "oem".into()], None).unwrap();
    let err = internals::refresh_view(&store, "all").unwrap_err();
    assert!(err.to_string().contains("run `esxlcm mirror sync vmw`"), "{err}");
    assert!(view::get(&store, "all").unwrap().last_error.is_some());

    assert_eq!(sync(&store, "vmw").unwrap().outcome, Outcome::Published);
    assert_eq!(sync(&store, "oem").unwrap().outcome, Outcome::Published);
    let b = built(internals::refresh_view(&store, "all"));
    assert_eq!(b.number, 1);
    let served = view::published_dir(store.root()).join("all");
    let merged = catalog(&served);
    let (want_vmw, want_oem) = (vib_ids(&catalog(&vmw)), vib_ids(&catalog(&oem)));
    let want: BTreeSet<String> = want_vmw.union(&want_oem).cloned().collect();
    assert!(want.len() > want_vmw.len() && want.len() > want_oem.len() && want_oem.len() > 10);
    assert_eq!(vib_ids(&merged), want, "every VIB of both sources");
    let vendors: BTreeSet<String> = merged.vibs().map(|v| v.vib.vendor.clone()).collect();
    assert_eq!(vendors, BTreeSet::from(["DEL".to_owned(), "VMW".to_owned()]), "both vendors' VIBs");
    assert_eq!(b.vibs, want.len());
    let record = view::get(&store, "all").unwrap();
    assert!(record.last_error.is_none(), "a successful build clears the failure");

    // VIBs are the stored payloads, linked: same inode as the blob.
    for v in merged.vibs() {
        let path = served.join("all").join(&v.vib.location.as_ref().unwrap().relative_path);
        let sha = &v.vib.location.as_ref().unwrap().checksum.value;
        let blob = store.blob_path(&BlobId::parse(sha).unwrap()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), std::fs::metadata(&blob).unwrap().ino(), "{path:?}");
    }

    // Nothing changed upstream: nothing to rebuild.
    assert!(matches!(internals::refresh_view(&store, "all").unwrap(), Refreshed::Unchanged(b) if b.number == 1));
    assert!(matches!(internals::add_view(&store, "all", &["vmw".into()], None), Err(ViewError::Exists(_))));
    assert!(matches!(internals::add_view(&store, "x", &["nope".into()], None), Err(ViewError::Store(_))));
    internals::remove_view(&store, "all").unwrap();
    assert!(!served.exists() && view::list(&store).unwrap().is_empty());
}

#[test]
fn an_image_view_holds_exactly_the_image_and_keeps_its_build_when_the_spec_stops_resolving() {
    let dir = tempfile::tempdir().unwrap();
    let (up, v1, v2) = (dir.path().join("up"), dir.path().join("v1"), dir.path().join("v2"));
    generate_tree(2, &v1);
    generate_tree(3, &v2);
    generate_tree(3, &up);
    let store = Store::open(&dir.path().join("store")).unwrap();
    add_source(&store, "vmw", &up, 3);
    assert_eq!(sync(&store, "vmw").unwrap().outcome, Outcome::Published);

    // The newest base image: only v2 has it.
    let full = catalog(&v2);
    let old: BTreeSet<String> =
        catalog(&v1).release_units(ReleaseKind::BaseImage).map(|u| u.version.to_string()).collect();
    let newest = full.release_units(ReleaseKind::BaseImage).map(|u| u.version.to_string()).find(|v| !old.contains(v));
    let newest = newest.unwrap();
    let spec_json = format!(r#"{{"base_image": {{"version": "{newest}"}}}}"#);
    internals::add_view(&store, "branch", &["vmw".into()], Some(spec_json.as_bytes())).unwrap();
    let b = built(internals::refresh_view(&store, "branch"));

    let spec = SoftwareSpec::from_json(spec_json.as_bytes()).unwrap();
    let resolution = resolve(&spec.image, &full, &ResolveOptions::default());
    assert!(!resolution.has_errors());
    let image_vibs: BTreeSet<String> = resolution.image.vibs.keys().cloned().collect();
    let served = view::published_dir(store.root()).join("branch");
    let view_catalog = catalog(&served);
    assert_eq!(vib_ids(&view_catalog), image_vibs, "exactly the image's VIBs");
    assert!(vib_ids(&full).len() > image_vibs.len(), "and not the rest of the source");
    let again = resolve(&spec.image, &view_catalog, &ResolveOptions::default());
    assert!(!again.has_errors(), "the spec resolves from the view alone");
    assert_eq!(again.image.vibs.keys().collect::<Vec<_>>(), resolution.image.vibs.keys().collect::<Vec<_>>());
    let before = tree(&served);

    // Upstream loses that base image: the view keeps its build and says why.
    std::fs::remove_dir_all(&up).unwrap();
    copy_dir(&v1, &up);
    assert_eq!(sync(&store, "vmw").unwrap().outcome, Outcome::Published);
    let err = internals::refresh_view(&store, "branch").unwrap_err();
    assert!(matches!(err, ViewError::Unresolved { .. }), "{err}");
    assert!(err.to_string().contains(&newest) && err.to_string().contains("previous build stays"), "{err}");
    let record = view::get(&store, "branch").unwrap();
    assert_eq!(record.build.as_ref().unwrap().number, b.number);
    assert!(record.last_error.unwrap().message.contains(&newest));
    assert_eq!(tree(&served), before, "the previous build is still served");
}

#[test]
fn an_image_view_holds_the_alternative_images_too() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("up");
    generate_tree(3, &up);
    let store = Store::open(&dir.path().join("store")).unwrap();
    add_source(&store, "vmw", &up, 3);
    assert_eq!(sync(&store, "vmw").unwrap().outcome, Outcome::Published);

    // Main image on the newest base image, one alternative on the oldest: a host the
    // alternative selects must find its image in the same view.
    let full = catalog(&up);
    let mut versions: Vec<esxlcm_version::Version> =
        full.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).collect();
    versions.sort();
    let (oldest, newest) = (versions.first().unwrap().to_string(), versions.last().unwrap().to_string());
    assert_ne!(oldest, newest);
    let spec_for = |alternative_base: &str| {
        format!(
            r#"{{"base_image": {{"version": "{newest}"}},
                "alternative_images": {{"old-hw": {{"base_image": {{"version": "{alternative_base}"}},
                  "selection_criteria": {{"selection_type": "HOST_UUID", "host_uuids": ["uuid-1"]}}}}}}}}"#
        )
    };
    let spec_json = spec_for(&oldest);
    internals::add_view(&store, "branch", &["vmw".into()], Some(spec_json.as_bytes())).unwrap();
    built(internals::refresh_view(&store, "branch"));

    let spec = SoftwareSpec::from_json(spec_json.as_bytes()).unwrap();
    let main = resolve(&spec.image, &full, &ResolveOptions::default());
    let alternative = resolve(&spec.alternative_images["old-hw"].image, &full, &ResolveOptions::default());
    assert!(!main.has_errors() && !alternative.has_errors());
    let main_vibs: BTreeSet<String> = main.image.vibs.keys().cloned().collect();
    let alternative_vibs: BTreeSet<String> = alternative.image.vibs.keys().cloned().collect();
    assert!(!alternative_vibs.is_subset(&main_vibs), "the two images differ in VIBs");
    let view_catalog = catalog(&view::published_dir(store.root()).join("branch"));
    assert_eq!(vib_ids(&view_catalog), &main_vibs | &alternative_vibs, "exactly both images' VIBs");
    for image in [&spec.image, &spec.alternative_images["old-hw"].image] {
        assert!(!resolve(image, &view_catalog, &ResolveOptions::default()).has_errors(), "resolves from the view");
    }

    // An alternative that does not resolve fails the view with its ID; the build stays.
    internals::remove_view(&store, "branch").unwrap();
    let broken = spec_for("9.9.9-0.0.1");
    internals::add_view(&store, "branch", &["vmw".into()], Some(broken.as_bytes())).unwrap();
    let err = internals::refresh_view(&store, "branch").unwrap_err();
    assert!(matches!(err, ViewError::Unresolved { .. }), "{err}");
    assert!(err.to_string().contains("alternative image old-hw") && err.to_string().contains("9.9.9-0.0.1"), "{err}");
}

#[test]
fn gc_keeps_the_blobs_a_view_links_after_retention_removes_their_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (up, v1) = (dir.path().join("up"), dir.path().join("v1"));
    generate_tree(3, &up);
    generate_tree(2, &v1);
    let store = Store::open(&dir.path().join("store")).unwrap();
    add_source(&store, "vmw", &up, 1);
    assert_eq!(sync(&store, "vmw").unwrap().outcome, Outcome::Published);
    internals::add_view(&store, "pinned", &["vmw".into()], None).unwrap();
    let b = built(internals::refresh_view(&store, "pinned"));
    let first = *b.snapshots.get("vmw").unwrap();

    // Upstream withdraws a release; retention 1 removes the first snapshot, whose VIBs of
    // that release only the view still uses.
    std::fs::remove_dir_all(&up).unwrap();
    copy_dir(&v1, &up);
    assert_eq!(sync(&store, "vmw").unwrap().outcome, Outcome::Published);
    assert!(store.snapshots(&store.source("vmw").unwrap()).unwrap().iter().all(|s| s.id != first));
    let by_snapshots = referenced_by_snapshots(&store);
    let report = internals::gc(&store).unwrap();
    assert!(report.blobs_deleted >= 1, "the first snapshot's metadata.zip goes: {report:?}");
    for blob in &b.blobs {
        let id = BlobId::parse(blob).unwrap();
        assert!(store.blob_path(&id).unwrap().is_file(), "blob {blob} of the view is kept");
    }
    let alone = b.blobs.iter().filter(|x| !by_snapshots.iter().any(|o| o.as_str() == x.as_str())).count();
    assert!(alone > 5, "the withdrawn release's VIBs are the view's alone ({alone})");

    // Refreshed, the view follows the new snapshot; removed, its blobs are free again.
    let b2 = built(internals::refresh_view(&store, "pinned"));
    assert_ne!(b2.snapshots, b.snapshots);
    internals::remove_view(&store, "pinned").unwrap();
    let after = internals::gc(&store).unwrap();
    assert_eq!(after.blobs_kept, referenced_by_snapshots(&store).len());
}

/// The blobs some snapshot of some source names.
fn referenced_by_snapshots(store: &Store) -> BTreeSet<String> {
    let mut blobs = BTreeSet::new();
    for source in store.sources().unwrap() {
        for snapshot in store.snapshots(&source).unwrap() {
            blobs.extend(store.snapshot_files(snapshot.id).unwrap().into_iter().map(|f| f.blob.as_str().to_owned()));
        }
    }
    blobs
}

fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, bytes).unwrap();
    }
}

/// A store on the cluster backends — a database of the throwaway PostgreSQL cluster and a
/// prefix of the Garage bucket, `dir` as this node's directory — or `None` (the reason
/// printed; a failure when `CI` is set) when the engines are not installed.
fn cluster_store(test: &str, dir: &Path) -> Option<Store> {
    let pg = esxlcm_test_support::postgres::cluster_or_skip(test)?;
    let s3 = esxlcm_test_support::s3::S3Server::shared_or_skip(test)?;
    let database = pg.database(test).unwrap();
    let location = StoreLocation::parse(dir, Some(&database), Some(&s3.url(test))).unwrap();
    let store = Store::open_location_with_env(&location, &s3.env_refs()).unwrap();
    assert!(!store.has_trees());
    Some(store)
}

/// Every file of the build view `name` serves, read through the rows content API
/// (`view_file`, then the blob streamed), each checked against its recorded blob and size.
fn served_view(store: &Store, name: &str) -> BTreeMap<String, Vec<u8>> {
    let number = view::get(store, name).unwrap().build.expect("a published build").number;
    let files = store.view_build_files(name, number).unwrap();
    assert!(!files.is_empty());
    let mut out = BTreeMap::new();
    for f in files {
        let served = store.view_file(name, &f.path).unwrap().unwrap();
        assert_eq!((served.snapshot, &served.file), (i64::try_from(number).unwrap(), &f), "{name}: {}", f.path);
        let mut bytes = Vec::new();
        store.open_blob_at(&f.blob, 0).unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, f.size, "{name}: {}", f.path);
        assert_eq!(BlobId::of_bytes(&bytes), f.blob, "{name}: {} is the blob it names", f.path);
        out.insert(f.path, bytes);
    }
    out
}

/// A served view written out and read as a depot: what a host sees of it.
fn served_catalog(files: &BTreeMap<String, Vec<u8>>, dir: &Path) -> Catalog {
    for (path, bytes) in files {
        let dest = dir.join(path);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, bytes).unwrap();
    }
    catalog(dir)
}

/// The newest base image of `full` that `older` lacks, and a spec for exactly it.
fn newest_image_spec(full: &Catalog, older: &Catalog) -> (String, String) {
    let old: BTreeSet<String> = older.release_units(ReleaseKind::BaseImage).map(|u| u.version.to_string()).collect();
    let newest = full.release_units(ReleaseKind::BaseImage).map(|u| u.version.to_string()).find(|v| !old.contains(v));
    let newest = newest.unwrap();
    let spec = format!(r#"{{"base_image": {{"version": "{newest}"}}}}"#);
    (newest, spec)
}

/// On PostgreSQL and Garage a merged view and an image view are rows over blobs: built,
/// served file by file byte for byte, rebuilt when a source changes, kept (and still
/// served) when a rebuild fails, kept by gc with the previous build, checked by verify,
/// and listed and removed like on one node. Nothing is written under the node's directory.
#[test]
fn views_on_the_cluster_backends_are_rows_over_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = cluster_store("views_on_the_cluster_backends", &dir.path().join("node")) else { return };
    let (up, v1, oem) = (dir.path().join("up"), dir.path().join("v1"), dir.path().join("oem"));
    generate_tree(3, &up);
    generate_tree(2, &v1);
    generate_to_tree(&oem_config(), &oem).unwrap();
    add_source(&store, "vmw", &up, 1);
    add_source(&store, "oem", &oem, 3);
    assert_eq!(sync(&store, "vmw").unwrap().outcome, Outcome::Published);
    assert_eq!(sync(&store, "oem").unwrap().outcome, Outcome::Published);

    internals::add_view(&store, "all", &["vmw".into(), "oem".into()], None).unwrap();
    let (newest, spec_json) = newest_image_spec(&catalog(&up), &catalog(&v1));
    internals::add_view(&store, "branch", &["vmw".into()], Some(spec_json.as_bytes())).unwrap();
    assert!(matches!(internals::add_view(&store, "all", &["vmw".into()], None), Err(ViewError::Exists(_))));
    let all1 = built(internals::refresh_view(&store, "all"));
    let branch1 = built(internals::refresh_view(&store, "branch"));
    assert_eq!((all1.number, branch1.number), (1, 1));

    // The merged view: every VIB of both sources, each file the blob its row names.
    let all_files = served_view(&store, "all");
    let merged = served_catalog(&all_files, &dir.path().join("all-1"));
    let want: BTreeSet<String> = &vib_ids(&catalog(&up)) | &vib_ids(&catalog(&oem));
    assert_eq!(vib_ids(&merged), want);
    assert_eq!(all1.vibs, want.len());
    for name in ["index.xml", "vmw-depot-index.xml", "all/metadata.zip"] {
        assert!(all_files.keys().any(|p| p.ends_with(name)), "{name} in {:?}", all_files.keys().take(5));
    }
    // The image view: exactly the image's VIBs.
    let branch_files = served_view(&store, "branch");
    let image = served_catalog(&branch_files, &dir.path().join("branch-1"));
    let spec = SoftwareSpec::from_json(spec_json.as_bytes()).unwrap();
    let resolution = resolve(&spec.image, &catalog(&up), &ResolveOptions::default());
    assert_eq!(vib_ids(&image), resolution.image.vibs.keys().cloned().collect::<BTreeSet<_>>());
    assert!(!resolve(&spec.image, &image, &ResolveOptions::default()).has_errors(), "resolves from the view");
    assert!(matches!(internals::refresh_view(&store, "all").unwrap(), Refreshed::Unchanged(b) if b.number == 1));

    // Upstream withdraws the newest release: the merged view follows in build 2; the
    // image view no longer resolves, keeps build 1 served and records why.
    std::fs::remove_dir_all(&up).unwrap();
    copy_dir(&v1, &up);
    assert_eq!(sync(&store, "vmw").unwrap().outcome, Outcome::Published);
    let all2 = built(internals::refresh_view(&store, "all"));
    assert_eq!(all2.number, 2);
    let all2_files = served_view(&store, "all");
    let merged2 = served_catalog(&all2_files, &dir.path().join("all-2"));
    assert_eq!(vib_ids(&merged2), &vib_ids(&catalog(&v1)) | &vib_ids(&catalog(&oem)));
    assert_ne!(all2_files, all_files);
    let err = internals::refresh_view(&store, "branch").unwrap_err();
    assert!(matches!(err, ViewError::Unresolved { .. }) && err.to_string().contains(&newest), "{err}");
    let record = view::get(&store, "branch").unwrap();
    assert_eq!(record.build.as_ref().map(|b| b.number), Some(1));
    assert!(record.last_error.unwrap().message.contains(&newest));
    assert_eq!(served_view(&store, "branch"), branch_files, "the previous build is still served whole");

    // gc: retention removed the first snapshot of vmw, yet the views' blobs stay — the
    // published builds' and the merged view's previous build's.
    let report = internals::gc(&store).unwrap();
    assert!(report.blobs_deleted >= 1, "{report:?}");
    for blob in all1.blobs.iter().chain(&all2.blobs).chain(&branch1.blobs) {
        assert!(store.has_blob(&BlobId::parse(blob).unwrap()).unwrap(), "blob {blob} of a view is kept");
    }
    assert_eq!(served_view(&store, "branch"), branch_files);
    let verified = store.verify(LockWait::NONE, &esxlcm_store::sync::NoProgress).unwrap();
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    assert_eq!(verified.views_checked, 2);

    // Listed from the rows; removed, a view is no longer served and its blobs are free.
    let names: Vec<String> = view::list(&store).unwrap().into_iter().map(|r| r.definition.name).collect();
    assert_eq!(names, ["all", "branch"]);
    internals::remove_view(&store, "all").unwrap();
    assert!(matches!(view::get(&store, "all"), Err(ViewError::Unknown(_))));
    let index = all2_files.keys().find(|p| p.ends_with("index.xml")).unwrap();
    assert!(store.view_file("all", index).unwrap().is_err());
    internals::gc(&store).unwrap();
    let only_all: Vec<&String> = all2.blobs.iter().filter(|b| !branch1.blobs.contains(b)).collect();
    assert!(only_all.iter().any(|b| !store.has_blob(&BlobId::parse(b).unwrap()).unwrap()), "freed by gc");
    assert!(!dir.path().join("node/named-views").exists(), "no view state on the node's disk");
}

/// `store migrate` moves a single-node store's views into the cluster: each definition
/// becomes a row, and the view is built there from the migrated snapshots — the same
/// files as the local build, byte for byte. A second run changes nothing.
#[test]
fn migrate_moves_views_into_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let Some(to) = cluster_store("migrate_moves_views_into_the_cluster", &dir.path().join("node")) else { return };
    let (up, oem) = (dir.path().join("up"), dir.path().join("oem"));
    generate_tree(3, &up);
    generate_to_tree(&oem_config(), &oem).unwrap();
    let from = Store::open(&dir.path().join("local")).unwrap();
    add_source(&from, "vmw", &up, 3);
    add_source(&from, "oem", &oem, 3);
    assert_eq!(sync(&from, "vmw").unwrap().outcome, Outcome::Published);
    assert_eq!(sync(&from, "oem").unwrap().outcome, Outcome::Published);
    let v1 = dir.path().join("v1");
    generate_tree(2, &v1);
    let (_, spec_json) = newest_image_spec(&catalog(&up), &catalog(&v1));
    internals::add_view(&from, "all", &["vmw".into(), "oem".into()], None).unwrap();
    internals::add_view(&from, "branch", &["vmw".into()], Some(spec_json.as_bytes())).unwrap();
    built(internals::refresh_view(&from, "all"));
    built(internals::refresh_view(&from, "branch"));

    let report = from.migrate_into(&to, &esxlcm_store::migrate::Quiet).unwrap();
    assert_eq!(report.views_moved, ["all", "branch"]);
    assert!(report.views_unbuilt.is_empty(), "{:?}", report.views_unbuilt);
    for name in ["all", "branch"] {
        let local = tree(&view::published_dir(from.root()).join(name));
        assert_eq!(served_view(&to, name), local, "view {name} serves what the single-node store served");
        let (a, b) = (view::get(&from, name).unwrap(), view::get(&to, name).unwrap());
        assert_eq!(a.definition, b.definition);
    }
    let again = from.migrate_into(&to, &esxlcm_store::migrate::Quiet).unwrap();
    assert_eq!(again.views_moved, ["all", "branch"]);
    assert_eq!(view::get(&to, "all").unwrap().build.unwrap().number, 1, "an up-to-date build is kept");
    let verified = to.verify(LockWait::NONE, &esxlcm_store::sync::NoProgress).unwrap();
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
}

/// `verify` checks a view kept as rows against the blob store: a build file whose blob is
/// gone is named with its view and path (here on a tree-less store over local blobs).
#[test]
fn verify_names_the_view_file_whose_blob_is_gone_on_a_store_without_trees() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("up");
    generate_tree(2, &up);
    let store = Store::open_without_trees(&dir.path().join("store")).unwrap();
    add_source(&store, "vmw", &up, 3);
    assert_eq!(sync(&store, "vmw").unwrap().outcome, Outcome::Published);
    internals::add_view(&store, "all", &["vmw".into()], None).unwrap();
    let b = built(internals::refresh_view(&store, "all"));
    let clean = store.verify(LockWait::NONE, &esxlcm_store::sync::NoProgress).unwrap();
    assert!(clean.problems.is_empty() && clean.views_checked == 1, "{:?}", clean.problems);

    let files = store.view_build_files("all", b.number).unwrap();
    let metadata = files.iter().find(|f| f.path.ends_with("metadata.zip")).unwrap();
    std::fs::remove_file(store.blob_path(&metadata.blob).unwrap()).unwrap();
    let report = store.verify(LockWait::NONE, &esxlcm_store::sync::NoProgress).unwrap();
    let named = format!("view 'all': {} needs blob {}, which is missing", metadata.path, metadata.blob);
    assert!(report.problems.iter().any(|p| p.starts_with(&named)), "{:?}", report.problems);
}
